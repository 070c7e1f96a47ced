using static TorchSharp.torch;

namespace Reprogram.Frozen;

// The interfaces of a frozen model that manipulations act on, one per location of the taxonomy.
// A model implements the ones it has; a manipulation asks for the one it needs.

/// <summary>An image model. Its input space is pixels in [0, 1], [batch, channels, height, width]; the model applies its own normalisation, so input manipulations act on what a person sees.</summary>
public interface IImageModel
{
    int InputChannels { get; }
    int InputSize { get; }
    /// <summary>Size of the output: class logits, or features for a features-only model.</summary>
    int OutputSize { get; }
    /// <summary>Class names of the output when it is a classifier's logits; null for features.</summary>
    IReadOnlyList<string>? OutputLabels { get; }
    /// <summary>Whether it takes images of any size (a CNN with global pooling), not only <see cref="InputSize"/>.</summary>
    bool TakesAnySize => false;
    Tensor Forward(Tensor images);
}

/// <summary>
/// A token model (encoder or decoder): the embedding interface and the hidden layers are exposed separately, so that
/// soft prompts act on embeddings and deep prompts or prefixes act inside the layers.
/// </summary>
public interface ITokenModel
{
    int VocabularySize { get; }
    int HiddenSize { get; }
    int Layers { get; }
    int Heads { get; }
    int MaxPositions { get; }
    /// <summary>The input embedding matrix [vocabulary, hidden] (for initialising soft prompts and nearest-token lookups).</summary>
    Tensor TokenEmbeddings { get; }
    /// <summary>Token ids [batch, time] to input embeddings [batch, time, hidden].</summary>
    Tensor Embed(Tensor tokenIds);
    /// <summary>
    /// Embeddings [batch, time, hidden] through every layer to output logits [batch, time, vocabulary].
    /// <paramref name="hidden"/> acts inside the layers; <paramref name="attentionMask"/> [batch, time] is 1 for real tokens.
    /// </summary>
    Tensor ForwardEmbeddings(Tensor embeddings, IHiddenManipulation? hidden = null, Tensor? attentionMask = null);
}

/// <summary>What a model asks a hidden-location manipulation at each layer.</summary>
public interface IHiddenManipulation
{
    /// <summary>The layer's input hidden states, possibly changed (deep prompts replace their positions' states).</summary>
    Tensor LayerInput(int layer, Tensor hidden);
    /// <summary>Keys and values [batch, heads, prefix, headDim] to put in front of the layer's own, or null.</summary>
    (Tensor Keys, Tensor Values)? PrefixKeyValues(int layer, long batch);
}
