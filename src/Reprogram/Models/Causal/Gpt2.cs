using System.Text.Json;
using Reprogram.Frozen;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Reprogram.Models.Causal;

/// <summary>
/// GPT-2 (Radford et al. 2019) with Hugging Face parameter names, so a GPT2LMHeadModel state dict loads directly
/// (Conv1D weights are transposed by <see cref="CheckpointLoader"/>): learned positions, pre-LayerNorm blocks,
/// GELU (tanh approximation), output head tied to the token embeddings unless the config says otherwise.
/// </summary>
public sealed class Gpt2 : Module<Tensor, Tensor>, ICausalLm
{
    private readonly CausalLmConfig config;
    // Field names are the state-dict names: transformer.wte.weight, transformer.h.0.attn.c_attn.weight, lm_head.weight.
    private readonly Gpt2Transformer transformer;
    private readonly Linear? lm_head;

    public Gpt2(CausalLmConfig config) : base(nameof(Gpt2))
    {
        if (config.HiddenSize % config.Heads != 0) throw new ArgumentException($"Hidden size {config.HiddenSize} must be divisible by the {config.Heads} heads.");
        this.config = config;
        transformer = new Gpt2Transformer(config);
        if (!config.TieWordEmbeddings) lm_head = Linear(config.HiddenSize, config.VocabularySize, hasBias: false);
        RegisterComponents();
    }

    /// <summary>The shape from a GPT-2 config.json (n_embd, n_layer, n_head, n_positions, vocab_size, layer_norm_epsilon).</summary>
    public static CausalLmConfig ReadConfig(JsonElement root, string path = "config.json")
    {
        var hidden = CheckpointLoader.Positive(root, "n_embd", path: path);
        var heads = CheckpointLoader.Positive(root, "n_head", path: path);
        if (hidden % heads != 0) throw new InvalidDataException($"{path}: n_embd {hidden} is not a multiple of n_head {heads}.");
        var act = CheckpointLoader.String(root, "activation_function", path) ?? "gelu_new";
        if (act is not ("gelu_new" or "gelu_pytorch_tanh" or "gelu_fast"))
            throw new NotSupportedException($"{path}: GPT-2 activation '{act}' is not supported (only the tanh GELU, gelu_new).");
        return new CausalLmConfig("gpt2", CheckpointLoader.Positive(root, "vocab_size", path: path), hidden, CheckpointLoader.Positive(root, "n_layer", path: path), heads, heads,
            hidden / heads, CheckpointLoader.Positive(root, "n_inner", 4 * hidden, path), CheckpointLoader.Positive(root, "n_positions", path: path),
            CheckpointLoader.Double(root, "layer_norm_epsilon", 1e-5), TieWordEmbeddings: CheckpointLoader.Bool(root, "tie_word_embeddings", true));
    }

    public CausalLmConfig Config => config;
    public nn.Module Module => this;
    public int VocabularySize => config.VocabularySize;
    public int HiddenSize => config.HiddenSize;
    public int Layers => config.Layers;
    public int Heads => config.Heads;
    public int MaxPositions => config.MaxPositions;
    public Tensor TokenEmbeddings => transformer.wte.weight!;

    public Tensor Embed(Tensor tokenIds) => transformer.wte.forward(tokenIds);

    public override Tensor forward(Tensor ids) => Forward(ids);

    public Tensor Forward(Tensor ids, KvCache? cache = null, Tensor? attentionMask = null, int? lastPositions = null) =>
        ForwardEmbeddings(Embed(ids), null, attentionMask, cache, lastPositions);

    public Tensor ForwardEmbeddings(Tensor embeddings, IHiddenManipulation? hidden = null, Tensor? attentionMask = null) =>
        ForwardEmbeddings(embeddings, hidden, attentionMask, null);

    public Tensor ForwardEmbeddings(Tensor embeddings, IHiddenManipulation? hidden, Tensor? attentionMask, KvCache? cache, int? lastPositions = null)
    {
        using var scope = NewDisposeScope();
        var (b, t) = (embeddings.shape[0], embeddings.shape[1]);
        var (positions, mask) = CausalLm.PositionsAndMask(b, t, attentionMask, cache, embeddings.device);   // [B, T] each
        // Learned positions are added once, before the layers: positions a manipulation inserts later get none.
        if (positions.max().item<long>() >= config.MaxPositions)
            throw new ArgumentException($"Position {positions.max().item<long>()} is beyond the model's {config.MaxPositions}.");
        var h = embeddings + transformer.wpe.forward(positions);                                           // [B, T, C]
        h = CausalLm.RunLayers(h, positions, mask, hidden, cache, config.Layers,
            (i, x, _, m, prefix, c) => transformer.h[i].Forward(x, m, prefix, c, i));
        h = transformer.ln_f.forward(CausalLm.LastPositions(h, lastPositions));
        var logits = lm_head is null ? h.matmul(transformer.wte.weight!.t()) : lm_head.forward(h);          // [B, T', V]
        return logits.MoveToOuterDisposeScope();
    }
}

internal sealed class Gpt2Transformer : Module
{
    public readonly Embedding wte, wpe;
    public readonly ModuleList<Gpt2Block> h;
    public readonly LayerNorm ln_f;

    public Gpt2Transformer(CausalLmConfig config) : base("transformer")
    {
        wte = Embedding(config.VocabularySize, config.HiddenSize);
        wpe = Embedding(config.MaxPositions, config.HiddenSize);
        h = new ModuleList<Gpt2Block>(Runtime.Cancellation.Build(config.Layers, _ => new Gpt2Block(config)));
        ln_f = LayerNorm(config.HiddenSize, config.NormEpsilon);
        RegisterComponents();
    }
}

/// <summary>One pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).</summary>
internal sealed class Gpt2Block : Module
{
    private readonly LayerNorm ln_1, ln_2;
    private readonly Gpt2Attention attn;
    private readonly Gpt2Mlp mlp;

    public Gpt2Block(CausalLmConfig config) : base(nameof(Gpt2Block))
    {
        ln_1 = LayerNorm(config.HiddenSize, config.NormEpsilon);
        attn = new Gpt2Attention(config);
        ln_2 = LayerNorm(config.HiddenSize, config.NormEpsilon);
        mlp = new Gpt2Mlp(config);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor mask, (Tensor, Tensor)? prefix, KvCache? cache, int layer)
    {
        x = x + attn.Forward(ln_1.forward(x), mask, prefix, cache, layer);
        return x + mlp.Forward(ln_2.forward(x));
    }
}

internal sealed class Gpt2Attention : Module
{
    private readonly CausalLmConfig config;
    private readonly Linear c_attn, c_proj;   // Conv1D in the checkpoint: [in, out], transposed at load

    public Gpt2Attention(CausalLmConfig config) : base(nameof(Gpt2Attention))
    {
        this.config = config;
        c_attn = Linear(config.HiddenSize, 3 * config.HiddenSize);
        c_proj = Linear(config.HiddenSize, config.HiddenSize);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor mask, (Tensor, Tensor)? prefix, KvCache? cache, int layer)
    {
        var (b, t) = (x.shape[0], x.shape[1]);
        var parts = c_attn.forward(x).view(b, t, 3, config.Heads, config.HeadSize).permute(2, 0, 3, 1, 4); // [3, B, H, T, hd]
        Tensor q = parts[0], k = parts[1], v = parts[2];
        if (cache is not null) (k, v, mask) = cache.Append(layer, k, v, mask);                             // [B, H, L+T, hd]
        var y = CausalLm.Attend(q, k, v, mask, prefix);                                                     // [B, H, T, hd]
        return c_proj.forward(y.transpose(1, 2).contiguous().view(b, t, config.HiddenSize));
    }
}

internal sealed class Gpt2Mlp : Module
{
    private readonly Linear c_fc, c_proj;

    public Gpt2Mlp(CausalLmConfig config) : base(nameof(Gpt2Mlp))
    {
        c_fc = Linear(config.HiddenSize, config.IntermediateSize);
        c_proj = Linear(config.IntermediateSize, config.HiddenSize);
        RegisterComponents();
    }

    /// <summary>GELU, tanh approximation ("gelu_new"): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).</summary>
    public Tensor Forward(Tensor x)
    {
        var a = c_fc.forward(x);
        a = 0.5 * a * (1.0 + tanh(Math.Sqrt(2.0 / Math.PI) * (a + 0.044715 * a.pow(3))));
        return c_proj.forward(a);
    }
}
