using Reprogram.Frozen;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Reprogram.Models.Clip;

/// <summary>
/// CLIP (Radford et al., ICML 2021): an image tower and a text tower whose outputs are compared in a shared space,
/// logits = exp(logit_scale) · norm(image) · norm(text)ᵀ. One module, so that one <see cref="FrozenModel{TModel}"/>
/// checksum covers both towers and the scale.
/// <para>
/// Its interfaces: as an <see cref="IImageModel"/> it takes pixels in [0, 1] (its own normalisation) and outputs the
/// image embeddings [B, E] (features, not classes: put a <see cref="Alignments.ClipTextHead"/> on them for zero-shot
/// classes, or use <see cref="ZeroShotClassifier"/> for a classifier with labels); as an <see cref="IPatchTokenModel"/>
/// it exposes the image tower's patch tokens and layers (VPT); <see cref="Text"/> is the text tower, an
/// <see cref="ITokenModel"/> (CoOp, soft and deep prompts); <see cref="Tokenizer"/> its BPE tokenizer.
/// </para>
/// </summary>
public sealed class ClipModel : Module<Tensor, Tensor>, IPatchTokenModel
{
    private readonly ClipVisionTower vision;
    private readonly ClipTextTower text;
    private readonly Parameter logit_scale;

    public ClipConfig Config { get; }
    public ClipVisionTower Vision => vision;
    public ClipTextTower Text => text;
    /// <summary>The tokenizer of the checkpoint folder, or null when the model was built without one.</summary>
    public ClipTokenizer? Tokenizer { get; }
    /// <summary>The learned temperature's logarithm (a frozen parameter); logits are scaled by its exponential.</summary>
    public Tensor LogitScale => logit_scale;

    public int InputChannels => vision.InputChannels;
    public int InputSize => vision.InputSize;
    /// <summary>The width E of the shared embedding space.</summary>
    public int OutputSize => Config.ProjectionSize;
    public IReadOnlyList<string>? OutputLabels => null;
    public int HiddenSize => vision.HiddenSize;
    public int Layers => vision.Layers;
    public int Heads => vision.Heads;
    public int PatchSize => vision.PatchSize;
    public int ClassTokens => 1;
    public int Patches => vision.Patches;

    public ClipModel(ClipConfig config, IReadOnlyList<float> mean, IReadOnlyList<float> std, ClipTokenizer? tokenizer = null) : base(nameof(ClipModel))
    {
        Config = config;
        Tokenizer = tokenizer;
        vision = new ClipVisionTower(config.Vision, config.ProjectionSize, mean, std);
        text = new ClipTextTower(config.Text, config.ProjectionSize);
        logit_scale = Parameter(tensor(MathF.Log(1 / 0.07f)));
        RegisterComponents();
    }

    public Tensor Embed(Tensor images) => vision.Embed(images);
    public Tensor ForwardEmbeddings(Tensor tokens, IHiddenManipulation? hidden = null) => vision.ForwardEmbeddings(tokens, hidden);

    /// <summary>Pixels [B, 3, S, S] in [0, 1] to image embeddings [B, E] (not normalised).</summary>
    public override Tensor forward(Tensor images) => vision.forward(images);
    public Tensor Forward(Tensor images) => forward(images);
    public Tensor ImageEmbeddings(Tensor images) => vision.forward(images);

    /// <summary>Texts to text embeddings [N, E] (not normalised), through <see cref="Tokenizer"/>, on the model's device.</summary>
    public Tensor TextEmbeddings(IReadOnlyList<string> texts)
    {
        var tokenizer = Tokenizer ?? throw new InvalidOperationException("This CLIP model has no tokenizer (ClipLoader.Load gives it the folder's vocab.json and merges.txt).");
        using var scope = NewDisposeScope();
        var (ids, ends) = tokenizer.EncodeBatch(texts);
        var device = text.TokenEmbeddings.device;
        return text.TextEmbeddings(ids.to(device), ends.to(device)).MoveToOuterDisposeScope();
    }

    /// <summary>CLIP's logits_per_image [B, N]: exp(logit_scale) · norm(image embeddings [B, E]) · norm(text embeddings [N, E])ᵀ.</summary>
    public Tensor Logits(Tensor imageEmbeddings, Tensor textEmbeddings)
    {
        using var scope = NewDisposeScope();
        var i = functional.normalize(imageEmbeddings, p: 2, dim: -1);
        var t = functional.normalize(textEmbeddings, p: 2, dim: -1);
        return (logit_scale.exp() * i.matmul(t.t())).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// CLIP as a frozen source classifier whose labels are prompts (each template filled with each class name), for
    /// the label mappings of the BLM and ILM-VP papers' CLIP rows; see <see cref="ClipZeroShotClassifier"/>.
    /// </summary>
    public ClipZeroShotClassifier ZeroShotClassifier(IReadOnlyList<string> classNames, IReadOnlyList<string>? templates = null) =>
        new(this, classNames, templates ?? ClipZeroShotClassifier.DefaultTemplates);
}
