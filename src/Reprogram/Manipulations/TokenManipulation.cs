using Reprogram.Frozen;
using static TorchSharp.torch;

namespace Reprogram.Manipulations;

/// <summary>
/// What a token model is about to read: input embeddings [B, T, D], their mask [B, T] (1 = real token), which of those
/// positions are the prompt (1) rather than the answer being scored (0) [B, T], and what acts inside the layers.
/// <see cref="Prepended"/> counts the positions in front of the text in the model's output (the answer's positions move
/// right by that much); <see cref="GrownInside"/> those of them a hidden manipulation inserts inside the layers (deep
/// prompts at layer 0), which the output has but the embeddings and masks here do not.
/// </summary>
public sealed record TokenInput(Tensor Embeddings, Tensor Mask, Tensor PromptMask, IHiddenManipulation? Hidden = null, int Prepended = 0, int GrownInside = 0)
{
    /// <summary>The mask of the model's output positions [B, T + grown]: inserted positions are real.</summary>
    public Tensor OutputMask => GrownInside == 0 ? Mask : cat([Mask.new_ones(Mask.shape[0], GrownInside), Mask], 1);
}

/// <summary>
/// A manipulation at a token model's embedding or hidden interface (soft prompts, prefixes, deep prompts, additive
/// perturbations of the embeddings): it changes what the frozen model reads, never the model.
/// </summary>
public interface ITokenManipulation : IManipulation
{
    /// <summary>Positions it puts in front of the text (virtual tokens), which the model's context must have room for.</summary>
    int PositionsAdded { get; }
    /// <summary>Positions every query attends over beyond its own (virtual tokens, or prefix keys and values, which take no position).</summary>
    int PositionsAttended => PositionsAdded;
    TokenInput Apply(TokenInput input, ITokenModel model);
}

/// <summary>
/// A manipulation at a patch-token image model's embedding or hidden interface (visual prompt tuning): it reads the
/// images through the model's own embedding, changes the token sequence or the layers, and returns the model's output.
/// </summary>
public interface IPatchTokenManipulation : IManipulation
{
    Tensor Forward(IPatchTokenModel model, Tensor images);
}
