using Reprogram.Frozen;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Reprogram.Models.Vision;

/// <summary>The shape of a Vision Transformer (Dosovitskiy et al., ICLR 2021).</summary>
/// <param name="ImageSize">Side of the square input in pixels; the position embeddings fix it.</param>
/// <param name="PatchSize">Side of a square patch in pixels.</param>
/// <param name="Layers">Transformer blocks.</param>
/// <param name="Heads">Attention heads per block.</param>
/// <param name="HiddenSize">Width of the tokens (D).</param>
/// <param name="MlpSize">Width of the MLP inside each block.</param>
/// <param name="Channels">Input channels (3).</param>
/// <param name="LayerNormEpsilon">1e-6 in torchvision, 1e-12 in Hugging Face's ViT.</param>
/// <param name="QkvBias">Whether the query, key and value projections have biases.</param>
/// <param name="Classes">Classes of the classification head, or null for the class-token features.</param>
/// <param name="RepresentationSize">torchvision's optional pre-logits layer (Linear + tanh) before the head.</param>
/// <param name="Pooler">Hugging Face ViTModel's pooler (Linear + tanh on the class token), exposed by <see cref="VisionTransformer.Pooled"/>.</param>
public sealed record ViTConfig(
    int ImageSize, int PatchSize, int Layers, int Heads, int HiddenSize, int MlpSize,
    int Channels = 3, double LayerNormEpsilon = 1e-6, bool QkvBias = true,
    int? Classes = null, int? RepresentationSize = null, bool Pooler = false)
{
    public int Patches => (ImageSize / PatchSize) * (ImageSize / PatchSize);

    /// <summary>torchvision's vit_b_16: 224 px, 16 px patches, 12 layers, 12 heads, width 768, MLP 3072, 1000 classes.</summary>
    public static ViTConfig B16 { get; } = new(224, 16, 12, 12, 768, 3072, Classes: 1000);
    /// <summary>torchvision's vit_b_32 (SMM's ViT): as B16 with 32 px patches.</summary>
    public static ViTConfig B32 { get; } = new(224, 32, 12, 12, 768, 3072, Classes: 1000);

    public void Validate()
    {
        if (ImageSize <= 0 || PatchSize <= 0 || ImageSize % PatchSize != 0)
            throw new ArgumentException($"A ViT needs the image size ({ImageSize}) to be a positive multiple of the patch size ({PatchSize}).");
        if (Layers < 1 || Heads < 1 || HiddenSize < 1 || MlpSize < 1 || Channels < 1)
            throw new ArgumentException($"A ViT needs positive sizes: {this}.");
        if (HiddenSize % Heads != 0) throw new ArgumentException($"The width {HiddenSize} is not divisible by {Heads} heads.");
        if (Classes is < 1) throw new ArgumentException($"A classification head needs at least one class, not {Classes}.");
        if (RepresentationSize is not null && Classes is null) throw new ArgumentException("A pre-logits layer belongs to a classification head.");
    }
}

/// <summary>
/// A Vision Transformer in the nanoGPT manner: pixels in [0, 1] are normalised by the model itself, cut into patches by
/// a strided convolution, a learned class token is put in front, position embeddings are added, then pre-norm blocks,
/// a final LayerNorm, and the class token is read out: features [B, D], or logits [B, classes] through the head.
/// Shapes: [B, C, S, S] -> normalise -> conv p x p / p -> [B, D, S/p, S/p] -> [B, N, D] -> [cls; patches] + pos
/// -> [B, 1 + N, D] -> blocks -> LN -> [:, 0] -> [B, D] -> (pre-logits, tanh) -> head -> [B, classes].
/// The same module holds torchvision's vit_b_16 and Hugging Face's ViTModel / ViTForImageClassification weights
/// (<see cref="ViTLoader"/> maps their names). Its embedding and hidden interfaces are <see cref="IPatchTokenModel"/>'s.
/// </summary>
public sealed class VisionTransformer : Module<Tensor, Tensor>, IPatchTokenModel
{
    private readonly Parameter class_token, position_embedding;
    private readonly Conv2d patch_embedding;
    private readonly ModuleList<PreNormBlock> blocks;
    private readonly LayerNorm norm;
    private readonly Linear? pre_logits, head, pooler;
    private readonly ImageNormalization normalization;

    public ViTConfig Config { get; }
    public int InputChannels => Config.Channels;
    public int InputSize => Config.ImageSize;
    public int OutputSize => Config.Classes ?? Config.HiddenSize;
    public IReadOnlyList<string>? OutputLabels { get; }
    public int HiddenSize => Config.HiddenSize;
    public int Layers => Config.Layers;
    public int Heads => Config.Heads;
    public int PatchSize => Config.PatchSize;
    public int ClassTokens => 1;
    public int Patches => Config.Patches;
    public IReadOnlyList<float> Mean => normalization.Mean;
    public IReadOnlyList<float> Std => normalization.Std;

    /// <param name="config">The shape.</param>
    /// <param name="mean">Per-channel mean of the model's normalisation (ImageNet's for torchvision, 0.5 for Hugging Face's default).</param>
    /// <param name="std">Per-channel standard deviation.</param>
    /// <param name="labels">Class names of the head (as many as the classes), or null.</param>
    public VisionTransformer(ViTConfig config, IReadOnlyList<float> mean, IReadOnlyList<float> std, IReadOnlyList<string>? labels = null)
        : base(nameof(VisionTransformer))
    {
        config.Validate();
        if (labels is not null && labels.Count != config.Classes)
            throw new ArgumentException($"{labels.Count} labels for {(config.Classes is null ? "a features-only ViT" : $"{config.Classes} classes")}.");
        if (mean.Count != config.Channels) throw new ArgumentException($"{mean.Count} channel means for {config.Channels} channels.");
        Config = config;
        OutputLabels = labels;
        var d = config.HiddenSize;
        class_token = Parameter(zeros(1, 1, d));
        patch_embedding = Conv2d(config.Channels, d, kernel_size: config.PatchSize, stride: config.PatchSize);
        position_embedding = Parameter(normal(0, 0.02, [1, 1 + config.Patches, d]));
        blocks = new ModuleList<PreNormBlock>(Runtime.Cancellation.Build(config.Layers,
            _ => new PreNormBlock(d, config.Heads, config.MlpSize, config.LayerNormEpsilon, BlockActivation.Gelu, config.QkvBias)));
        norm = LayerNorm(d, config.LayerNormEpsilon);
        if (config.RepresentationSize is int r) pre_logits = Linear(d, r);
        if (config.Classes is int classes) head = Linear(config.RepresentationSize ?? d, classes);
        if (config.Pooler) pooler = Linear(d, d);
        normalization = new ImageNormalization(mean, std);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public Tensor Embed(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != Config.Channels || images.shape[2] != Config.ImageSize || images.shape[3] != Config.ImageSize)
        {
            throw new ArgumentException(
                $"This ViT takes images [batch, {Config.Channels}, {Config.ImageSize}, {Config.ImageSize}] (its position embeddings fix the size), not {WeightMap.Shape(images.shape)}.");
        }
        using var scope = NewDisposeScope();
        var b = images.shape[0];
        var x = patch_embedding.forward(normalization.Apply(images));                // [B, D, S/p, S/p]
        x = x.flatten(2).transpose(1, 2);                                              // [B, N, D]
        x = cat([class_token.expand(b, -1, -1), x], 1) + position_embedding;           // [B, 1 + N, D]
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Tokens [B, T, D] through the blocks and the final LayerNorm: [B, T, D] (every position).</summary>
    public Tensor Encode(Tensor tokens, IHiddenManipulation? hidden = null)
    {
        using var scope = NewDisposeScope();
        var h = tokens;
        for (var i = 0; i < blocks.Count; i++)
        {
            Runtime.Cancellation.ThrowIfRequested();   // a batch through ViT-B takes seconds on a CPU: a cancelled cell stops between layers
            if (hidden is not null) h = hidden.LayerInput(i, h);
            h = blocks[i].Forward(h, causal: false, hidden?.PrefixKeyValues(i, h.shape[0]), keyMask: null);
        }
        return norm.forward(h).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public Tensor ForwardEmbeddings(Tensor tokens, IHiddenManipulation? hidden = null)
    {
        using var scope = NewDisposeScope();
        var x = Encode(tokens, hidden)[.., 0];                                         // [B, D]
        if (pre_logits is not null) x = tanh(pre_logits.forward(x));                  // [B, r]
        if (head is not null) x = head.forward(x);                                     // [B, classes]
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>The class-token features after the final LayerNorm, [B, D], with or without a head.</summary>
    public Tensor Features(Tensor images)
    {
        using var scope = NewDisposeScope();
        return Encode(Embed(images))[.., 0].MoveToOuterDisposeScope();
    }

    /// <summary>Hugging Face ViTModel's pooler_output: tanh(dense(class-token features)), [B, D]; only for checkpoints with a pooler.</summary>
    public Tensor Pooled(Tensor images)
    {
        if (pooler is null) throw new InvalidOperationException("This ViT has no pooler (its checkpoint had no pooler.dense weights).");
        using var scope = NewDisposeScope();
        return tanh(pooler.forward(Features(images))).MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor images) => ForwardEmbeddings(Embed(images));

    public Tensor Forward(Tensor images) => forward(images);

    // Used by the loaders to map checkpoint names onto the parameters.
    internal Tensor ClassToken => class_token;
    internal Tensor PositionEmbedding => position_embedding;
    internal Conv2d PatchEmbedding => patch_embedding;
    internal IList<PreNormBlock> Blocks => blocks;
    internal LayerNorm Norm => norm;
    internal Linear? PreLogits => pre_logits;
    internal Linear? Head => head;
    internal Linear? Pooler => pooler;

    protected override void Dispose(bool disposing)
    {
        if (disposing) normalization.Dispose();
        base.Dispose(disposing);
    }
}
