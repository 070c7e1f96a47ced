using Reprogram.Frozen;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Reprogram.Models.Causal;

/// <summary>The shape of a GPT-style decoder.</summary>
public sealed record GptConfig(int VocabularySize, int MaxPositions = 128, int Layers = 2, int Heads = 2, int HiddenSize = 32)
{
    public int HeadSize => HiddenSize / Heads;
}

/// <summary>
/// A GPT-2-shaped decoder in the nanoGPT manner: token + position embeddings, pre-norm blocks of causal
/// self-attention and an MLP, a final LayerNorm and an untied output head. Each layer asks an optional
/// <see cref="IHiddenManipulation"/> for its input (deep prompts) and for key/value prefixes (prefix-tuning).
/// It is an <see cref="ICausalLm"/>: a <see cref="KvCache"/> lets a shared prompt prefix be computed once.
/// </summary>
public sealed class TinyGpt : Module<Tensor, Tensor>, ICausalLm
{
    private readonly GptConfig config;
    private readonly Embedding wte, wpe;
    private readonly ModuleList<GptBlock> blocks;
    private readonly LayerNorm lnF;
    private readonly Linear head;

    public TinyGpt(GptConfig config) : base(nameof(TinyGpt))
    {
        if (config.HiddenSize % config.Heads != 0) throw new ArgumentException($"Hidden size {config.HiddenSize} must be divisible by the {config.Heads} heads.");
        this.config = config;
        wte = Embedding(config.VocabularySize, config.HiddenSize);
        wpe = Embedding(config.MaxPositions, config.HiddenSize);
        blocks = new ModuleList<GptBlock>(Runtime.Cancellation.Build(config.Layers, _ => new GptBlock(config)));
        lnF = LayerNorm(config.HiddenSize);
        head = Linear(config.HiddenSize, config.VocabularySize, hasBias: false);
        RegisterComponents();
    }

    public GptConfig Config => config;
    CausalLmConfig ICausalLm.Config => new("tinygpt", config.VocabularySize, config.HiddenSize, config.Layers, config.Heads, config.Heads,
        config.HeadSize, 4 * config.HiddenSize, config.MaxPositions, 1e-5, TieWordEmbeddings: false, AttentionBias: true);
    public nn.Module Module => this;
    public int VocabularySize => config.VocabularySize;
    public int HiddenSize => config.HiddenSize;
    public int Layers => config.Layers;
    public int Heads => config.Heads;
    public int MaxPositions => config.MaxPositions;
    public Tensor TokenEmbeddings => wte.weight!;

    public Tensor Embed(Tensor tokenIds) => wte.forward(tokenIds);

    public override Tensor forward(Tensor tokenIds) => ForwardEmbeddings(Embed(tokenIds));

    public Tensor Forward(Tensor ids, KvCache? cache = null, Tensor? attentionMask = null, int? lastPositions = null) =>
        ForwardEmbeddings(Embed(ids), null, attentionMask, cache, lastPositions);

    public Tensor ForwardEmbeddings(Tensor embeddings, IHiddenManipulation? hidden = null, Tensor? attentionMask = null) =>
        ForwardEmbeddings(embeddings, hidden, attentionMask, null);

    public Tensor ForwardEmbeddings(Tensor embeddings, IHiddenManipulation? hidden, Tensor? attentionMask, KvCache? cache, int? lastPositions = null)
    {
        using var scope = NewDisposeScope();
        var (b, t) = (embeddings.shape[0], embeddings.shape[1]);
        // Padding counted: a conservative bound that needs no device sync.
        var held = cache?.Length ?? 0;
        if (held + t > config.MaxPositions)
        {
            throw new ArgumentException($"A sequence of {held + t} positions is longer than the model's {config.MaxPositions}.");
        }
        var (positions, mask) = CausalLm.PositionsAndMask(b, t, attentionMask, cache, embeddings.device);   // [B, T] each
        var h = embeddings + wpe.forward(positions);                                                       // [B, T, C]
        h = CausalLm.RunLayers(h, positions, mask, hidden, cache, config.Layers,
            (i, x, _, m, prefix, c) => blocks[i].Forward(x, m, prefix, c, i));
        return head.forward(lnF.forward(CausalLm.LastPositions(h, lastPositions))).MoveToOuterDisposeScope();  // [B, T' or n, V]
    }
}

/// <summary>One pre-norm transformer block: h + attn(ln1(h)), then h + mlp(ln2(h)).</summary>
internal sealed class GptBlock : Module<Tensor, Tensor>
{
    private readonly GptConfig config;
    private readonly LayerNorm ln1, ln2;
    private readonly Linear qkv, proj, fc, fcOut;

    public GptBlock(GptConfig config) : base(nameof(GptBlock))
    {
        this.config = config;
        ln1 = LayerNorm(config.HiddenSize);
        qkv = Linear(config.HiddenSize, 3 * config.HiddenSize);
        proj = Linear(config.HiddenSize, config.HiddenSize);
        ln2 = LayerNorm(config.HiddenSize);
        fc = Linear(config.HiddenSize, 4 * config.HiddenSize);
        fcOut = Linear(4 * config.HiddenSize, config.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor h) => Forward(h, ones(h.shape[0], h.shape[1], dtype: ScalarType.Bool, device: h.device), null, null, 0);

    /// <summary>h [B, T, C]; mask [B, T] (true = real key); prefix keys/values and the cache as in <see cref="CausalLm.Attend"/>.</summary>
    public Tensor Forward(Tensor h, Tensor mask, (Tensor Keys, Tensor Values)? prefix, KvCache? cache, int layer)
    {
        h = h + Attention(ln1.forward(h), mask, prefix, cache, layer);
        return h + fcOut.forward(functional.gelu(fc.forward(ln2.forward(h))));
    }

    private Tensor Attention(Tensor x, Tensor mask, (Tensor Keys, Tensor Values)? prefix, KvCache? cache, int layer)
    {
        var (b, t) = (x.shape[0], x.shape[1]);
        var parts = qkv.forward(x).view(b, t, 3, config.Heads, config.HeadSize).permute(2, 0, 3, 1, 4); // [3, B, H, T, hd]
        Tensor q = parts[0], k = parts[1], v = parts[2];
        if (cache is not null) (k, v, mask) = cache.Append(layer, k, v, mask);                         // [B, H, L+T, hd]
        var y = CausalLm.Attend(q, k, v, mask, prefix);                                                 // [B, H, T, hd]
        return proj.forward(y.transpose(1, 2).contiguous().view(b, t, config.HiddenSize));
    }
}
