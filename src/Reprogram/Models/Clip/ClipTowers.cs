using Reprogram.Frozen;
using Reprogram.Models.Vision;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Reprogram.Models.Clip;

/// <summary>
/// CLIP's text tower: token embeddings, learned positions, causal pre-norm blocks (quick GELU, or GELU), a final LayerNorm, the
/// hidden state at each text's &lt;|endoftext|&gt; projected into the shared space. As an <see cref="ITokenModel"/> it
/// is a causal encoder: <see cref="ForwardEmbeddings"/> returns the final hidden states [B, T, D], not logits; read a
/// text's feature with <see cref="Pool"/>.
/// Shapes: ids [B, T] -> embed [B, T, D] -> + positions 0..T-1 -> blocks (causal) -> LN -> [B, T, D] -> at the end
/// token [B, D] -> projection [B, E].
/// </summary>
public sealed class ClipTextTower : Module<Tensor, Tensor>, ITokenModel
{
    private readonly Embedding token_embedding, position_embedding;
    private readonly ModuleList<PreNormBlock> blocks;
    private readonly LayerNorm final_norm;
    private readonly Linear projection;

    public ClipTextConfig Config { get; }
    public int VocabularySize => Config.VocabularySize;
    public int HiddenSize => Config.HiddenSize;
    public int Layers => Config.Layers;
    public int Heads => Config.Heads;
    public int MaxPositions => Config.MaxPositions;
    public int ProjectionSize { get; }
    public Tensor TokenEmbeddings => token_embedding.weight!;

    public ClipTextTower(ClipTextConfig config, int projectionSize) : base(nameof(ClipTextTower))
    {
        Config = config;
        ProjectionSize = projectionSize;
        token_embedding = Embedding(config.VocabularySize, config.HiddenSize);
        position_embedding = Embedding(config.MaxPositions, config.HiddenSize);
        blocks = new ModuleList<PreNormBlock>(Runtime.Cancellation.Build(config.Layers,
            _ => new PreNormBlock(config.HiddenSize, config.Heads, config.MlpSize, config.LayerNormEpsilon, config.Activation)));
        final_norm = LayerNorm(config.HiddenSize, config.LayerNormEpsilon);
        projection = Linear(config.HiddenSize, projectionSize, hasBias: false);
        RegisterComponents();
    }

    /// <summary>Token ids [B, T] to token embeddings [B, T, D]; positions are added by <see cref="ForwardEmbeddings"/>.</summary>
    public Tensor Embed(Tensor tokenIds) => token_embedding.forward(tokenIds);

    /// <summary>
    /// Token embeddings [B, T, D] (soft prompts and CoOp's context included) plus positions 0..T-1, through the causal
    /// blocks and the final LayerNorm: [B, T', D], T' = T plus any positions <paramref name="hidden"/> put in front
    /// (they are visible to every later position). <paramref name="attentionMask"/> [B, T] marks real tokens (1); with
    /// right padding it changes nothing at the end token, which attends only to earlier positions.
    /// </summary>
    public Tensor ForwardEmbeddings(Tensor embeddings, IHiddenManipulation? hidden = null, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var t = embeddings.shape[1];
        if (t > Config.MaxPositions) throw new ArgumentException($"A text of {t} positions is longer than CLIP's {Config.MaxPositions}.");
        var h = embeddings + position_embedding.forward(arange(t, dtype: ScalarType.Int64, device: embeddings.device));
        var mask = attentionMask?.to(ScalarType.Bool);
        for (var i = 0; i < blocks.Count; i++)
        {
            if (hidden is not null)
            {
                h = hidden.LayerInput(i, h);
                if (mask is not null && h.shape[1] > mask.shape[1])
                    mask = cat([ones(mask.shape[0], h.shape[1] - mask.shape[1], dtype: ScalarType.Bool, device: mask.device), mask], 1);
            }
            h = blocks[i].Forward(h, causal: true, hidden?.PrefixKeyValues(i, h.shape[0]), mask);
        }
        return final_norm.forward(h).MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor tokenIds) => ForwardEmbeddings(Embed(tokenIds));

    /// <summary>
    /// Where each row's end token is, [B], as Hugging Face reads it: the first &lt;|endoftext|&gt;, or, for configs with
    /// the legacy eos_token_id 2, the largest id (the end token has the highest id in CLIP's vocabulary).
    /// </summary>
    public Tensor EndPositions(Tensor tokenIds) =>
        Config.EndOfTextId == 2 ? tokenIds.argmax(-1) : tokenIds.eq(Config.EndOfTextId).to(ScalarType.Int32).argmax(-1);

    /// <summary>
    /// A text's feature: the final hidden state [B, T', D] at its end token, projected, [B, E]. <paramref name="endPositions"/>
    /// [B] index the embeddings given to <see cref="ForwardEmbeddings"/>; positions a hidden manipulation put in front
    /// (T' - T) shift them.
    /// </summary>
    public Tensor Pool(Tensor hidden, Tensor endPositions, long inputLength)
    {
        using var scope = NewDisposeScope();
        var (b, t) = (hidden.shape[0], hidden.shape[1]);
        var at = endPositions.to(ScalarType.Int64).to(hidden.device) + (t - inputLength);                 // [B]
        var rows = arange(b, dtype: ScalarType.Int64, device: hidden.device) * t + at;                    // [B] in [B * T', D]
        return projection.forward(hidden.reshape(b * t, -1).index_select(0, rows)).MoveToOuterDisposeScope(); // [B, E]
    }

    /// <summary>Token ids [B, T] (end positions found as Hugging Face does) to text embeddings [B, E] (not normalised).</summary>
    public Tensor TextEmbeddings(Tensor tokenIds, Tensor? endPositions = null)
    {
        using var scope = NewDisposeScope();
        var hidden = ForwardEmbeddings(Embed(tokenIds));
        return Pool(hidden, endPositions ?? EndPositions(tokenIds), tokenIds.shape[1]).MoveToOuterDisposeScope();
    }

    internal Embedding TokenEmbedding => token_embedding;
    internal Embedding PositionEmbedding => position_embedding;
    internal IList<PreNormBlock> Blocks => blocks;
    internal LayerNorm FinalNorm => final_norm;
    internal Linear Projection => projection;
}

/// <summary>
/// CLIP's image tower: a ViT whose patch projection has no bias, with a LayerNorm before the blocks ("pre_layrnorm"),
/// quick GELU (or GELU), and the class token's final state LayerNorm'd and projected into the shared space.
/// Shapes: [B, 3, S, S] -> normalise -> conv p x p / p -> [B, N, D] -> [cls; patches] + pos -> [B, 1 + N, D] (the
/// embedding interface) -> LN -> blocks -> [:, 0] -> LN -> projection -> [B, E].
/// </summary>
public sealed class ClipVisionTower : Module<Tensor, Tensor>, IPatchTokenModel
{
    private readonly Parameter class_embedding;
    private readonly Conv2d patch_embedding;
    private readonly Embedding position_embedding;
    private readonly LayerNorm pre_norm, post_norm;
    private readonly ModuleList<PreNormBlock> blocks;
    private readonly Linear projection;
    private readonly ImageNormalization normalization;

    public ClipVisionConfig Config { get; }
    public int InputChannels => Config.Channels;
    public int InputSize => Config.ImageSize;
    /// <summary>The image embedding's width (the shared space), not a number of classes.</summary>
    public int OutputSize { get; }
    public IReadOnlyList<string>? OutputLabels => null;
    public int HiddenSize => Config.HiddenSize;
    public int Layers => Config.Layers;
    public int Heads => Config.Heads;
    public int PatchSize => Config.PatchSize;
    public int ClassTokens => 1;
    public int Patches => Config.Patches;
    public IReadOnlyList<float> Mean => normalization.Mean;
    public IReadOnlyList<float> Std => normalization.Std;

    public ClipVisionTower(ClipVisionConfig config, int projectionSize, IReadOnlyList<float> mean, IReadOnlyList<float> std) : base(nameof(ClipVisionTower))
    {
        if (config.ImageSize % config.PatchSize != 0) throw new ArgumentException($"CLIP's image size {config.ImageSize} is not a multiple of its patch size {config.PatchSize}.");
        Config = config;
        OutputSize = projectionSize;
        var d = config.HiddenSize;
        class_embedding = Parameter(normal(0, 0.02, [d]));
        patch_embedding = Conv2d(config.Channels, d, kernel_size: config.PatchSize, stride: config.PatchSize, bias: false);
        position_embedding = Embedding(config.Patches + 1, d);
        pre_norm = LayerNorm(d, config.LayerNormEpsilon);
        blocks = new ModuleList<PreNormBlock>(Runtime.Cancellation.Build(config.Layers,
            _ => new PreNormBlock(d, config.Heads, config.MlpSize, config.LayerNormEpsilon, config.Activation)));
        post_norm = LayerNorm(d, config.LayerNormEpsilon);
        projection = Linear(d, projectionSize, hasBias: false);
        normalization = new ImageNormalization(mean, std);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public Tensor Embed(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != Config.Channels || images.shape[2] != Config.ImageSize || images.shape[3] != Config.ImageSize)
        {
            throw new ArgumentException(
                $"CLIP's image tower takes images [batch, {Config.Channels}, {Config.ImageSize}, {Config.ImageSize}] (its position embeddings fix the size), not {WeightMap.Shape(images.shape)}.");
        }
        using var scope = NewDisposeScope();
        var b = images.shape[0];
        var x = patch_embedding.forward(normalization.Apply(images)).flatten(2).transpose(1, 2);   // [B, N, D]
        x = cat([class_embedding.view(1, 1, -1).expand(b, 1, -1), x], 1);                         // [B, 1 + N, D]
        return (x + position_embedding.weight!.unsqueeze(0)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public Tensor ForwardEmbeddings(Tensor tokens, IHiddenManipulation? hidden = null)
    {
        using var scope = NewDisposeScope();
        var h = pre_norm.forward(tokens);
        for (var i = 0; i < blocks.Count; i++)
        {
            Runtime.Cancellation.ThrowIfRequested();   // a batch through a CLIP image tower takes seconds on a CPU: a cancelled cell stops between layers
            if (hidden is not null) h = hidden.LayerInput(i, h);
            h = blocks[i].Forward(h, causal: false, hidden?.PrefixKeyValues(i, h.shape[0]), keyMask: null);
        }
        return projection.forward(post_norm.forward(h[.., 0])).MoveToOuterDisposeScope();           // [B, E]
    }

    public override Tensor forward(Tensor images) => ForwardEmbeddings(Embed(images));

    public Tensor Forward(Tensor images) => forward(images);

    internal Tensor ClassEmbedding => class_embedding;
    internal Conv2d PatchEmbedding => patch_embedding;
    internal Embedding PositionEmbedding => position_embedding;
    internal LayerNorm PreNorm => pre_norm;
    internal LayerNorm PostNorm => post_norm;
    internal IList<PreNormBlock> Blocks => blocks;
    internal Linear Projection => projection;

    protected override void Dispose(bool disposing)
    {
        if (disposing) normalization.Dispose();
        base.Dispose(disposing);
    }
}
