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
/// </summary>
public sealed class TinyGpt : Module<Tensor, Tensor>, ITokenModel
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
        blocks = new ModuleList<GptBlock>(Enumerable.Range(0, config.Layers).Select(_ => new GptBlock(config)).ToArray());
        lnF = LayerNorm(config.HiddenSize);
        head = Linear(config.HiddenSize, config.VocabularySize, hasBias: false);
        RegisterComponents();
    }

    public GptConfig Config => config;
    public int VocabularySize => config.VocabularySize;
    public int HiddenSize => config.HiddenSize;
    public int Layers => config.Layers;
    public int Heads => config.Heads;
    public int MaxPositions => config.MaxPositions;
    public Tensor TokenEmbeddings => wte.weight!;

    public Tensor Embed(Tensor tokenIds) => wte.forward(tokenIds);

    public override Tensor forward(Tensor tokenIds) => ForwardEmbeddings(Embed(tokenIds));

    public Tensor ForwardEmbeddings(Tensor embeddings, IHiddenManipulation? hidden = null, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var time = embeddings.shape[1];
        if (time > config.MaxPositions)
        {
            throw new ArgumentException($"A sequence of {time} positions is longer than the model's {config.MaxPositions}.");
        }
        var positions = arange(time, device: embeddings.device);
        var h = embeddings + wpe.forward(positions);
        for (var layer = 0; layer < blocks.Count; layer++)
        {
            if (hidden is not null)
            {
                h = hidden.LayerInput(layer, h);
                // Positions a manipulation inserted in front are real: extend the mask with ones.
                if (attentionMask is not null && h.shape[1] > attentionMask.shape[1])
                {
                    attentionMask = cat([ones(attentionMask.shape[0], h.shape[1] - attentionMask.shape[1], dtype: attentionMask.dtype, device: attentionMask.device), attentionMask], 1);
                }
            }
            var prefix = hidden?.PrefixKeyValues(layer, h.shape[0]);
            h = blocks[layer].Forward(h, prefix, attentionMask);
        }
        return head.forward(lnF.forward(h)).MoveToOuterDisposeScope();
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

    public override Tensor forward(Tensor h) => Forward(h, null, null);

    public Tensor Forward(Tensor h, (Tensor Keys, Tensor Values)? prefix, Tensor? attentionMask)
    {
        h = h + Attention(ln1.forward(h), prefix, attentionMask);
        return h + fcOut.forward(functional.gelu(fc.forward(ln2.forward(h))));
    }

    private Tensor Attention(Tensor x, (Tensor Keys, Tensor Values)? prefix, Tensor? attentionMask)
    {
        var (b, t) = (x.shape[0], x.shape[1]);
        var parts = qkv.forward(x).view(b, t, 3, config.Heads, config.HeadSize).permute(2, 0, 3, 1, 4); // [3, B, H, T, hd]
        Tensor q = parts[0], k = parts[1], v = parts[2];
        var p = 0L;
        if (prefix is { } kv)
        {
            p = kv.Keys.shape[2];
            k = cat([kv.Keys, k], 2);
            v = cat([kv.Values, v], 2);
        }
        // Query i sees every prefix position and sequence positions j <= i.
        var allowed = ones(t, p + t, dtype: ScalarType.Bool, device: x.device).tril(p);
        if (attentionMask is not null)
        {
            var keyMask = cat([ones(b, p, dtype: ScalarType.Bool, device: x.device), attentionMask.to(ScalarType.Bool)], 1); // [B, P+T]
            allowed = allowed.unsqueeze(0) & keyMask.unsqueeze(1); // [B, T, P+T]
            allowed = allowed.unsqueeze(1);                        // [B, 1, T, P+T]
        }
        var scores = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(config.HeadSize);
        scores = scores.masked_fill(allowed.logical_not(), float.NegativeInfinity);
        var y = functional.softmax(scores, -1).matmul(v);          // [B, H, T, hd]
        return proj.forward(y.transpose(1, 2).contiguous().view(b, t, config.HiddenSize));
    }
}
