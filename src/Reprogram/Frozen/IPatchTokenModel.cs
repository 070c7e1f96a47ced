using static TorchSharp.torch;

namespace Reprogram.Frozen;

/// <summary>
/// A patch-token image model (a Vision Transformer, CLIP's image tower). It is an <see cref="IImageModel"/> (pixels in
/// [0, 1] in, its own normalisation) whose embedding and hidden interfaces are exposed as well: <see cref="Embed"/>
/// turns pixels into the token sequence [class token, patch tokens] with position embeddings added, and
/// <see cref="ForwardEmbeddings"/> runs any token sequence through the layers and reads the output at the class token.
/// <para>
/// Not an <see cref="ITokenModel"/>: a ViT has no vocabulary (no token ids, no embedding table to initialise prompts
/// from or look up), its embedding interface takes pixels, its sequence length is fixed by the image size, and its
/// output is one pooled vector per image, not a distribution per position. What the two share, the hidden interface,
/// is the same <see cref="IHiddenManipulation"/>.
/// </para>
/// Forward(images) == ForwardEmbeddings(Embed(images)).
/// </summary>
public interface IPatchTokenModel : IImageModel
{
    /// <summary>Width of the tokens (D).</summary>
    int HiddenSize { get; }
    int Layers { get; }
    int Heads { get; }
    /// <summary>Side of a square patch in pixels.</summary>
    int PatchSize { get; }
    /// <summary>Tokens in front of the patch tokens: 1, the class token, read out at position 0.</summary>
    int ClassTokens { get; }
    /// <summary>Patch tokens per image at <see cref="IImageModel.InputSize"/>: (InputSize / PatchSize)².</summary>
    int Patches { get; }

    /// <summary>
    /// The embedding interface: pixels [B, C, S, S] in [0, 1] (S = InputSize) -> tokens [B, 1 + Patches, D]: the class
    /// token then the patch embeddings, position embeddings added, nothing else applied yet.
    /// </summary>
    Tensor Embed(Tensor images);

    /// <summary>
    /// Tokens [B, T, D] (T may exceed 1 + Patches: VPT inserts prompts after the class token) through every layer to the
    /// output [B, OutputSize], read at the class token (position 0). <paramref name="hidden"/> is asked for each layer's
    /// input (deep prompts) and for key/value prefixes.
    /// </summary>
    Tensor ForwardEmbeddings(Tensor tokens, IHiddenManipulation? hidden = null);
}
