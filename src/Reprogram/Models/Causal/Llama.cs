using System.Text.Json;
using Reprogram.Frozen;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Reprogram.Models.Causal;

/// <summary>
/// The Llama decoder (Touvron et al. 2023), which Qwen2, Mistral and SmolLM share up to sizes and q/k/v biases, with
/// Hugging Face parameter names: RMSNorm, rotary positions (rotate_half layout on the full head), grouped-query
/// attention, SwiGLU MLP, output head tied to the embeddings when tie_word_embeddings is set, and Mistral's sliding
/// window of attention when its config sets one.
/// </summary>
public sealed class Llama : Module<Tensor, Tensor>, ICausalLm
{
    private readonly CausalLmConfig config;
    // Field names are the state-dict names: model.embed_tokens.weight, model.layers.0.self_attn.q_proj.weight, lm_head.weight.
    private readonly LlamaBackbone model;
    private readonly Linear? lm_head;
    private readonly Tensor inverseFrequencies;   // [hd / 2], not a parameter and not in the state dict

    public Llama(CausalLmConfig config) : base(nameof(Llama))
    {
        if (config.Heads % config.KeyValueHeads != 0) throw new ArgumentException($"{config.Heads} heads cannot share {config.KeyValueHeads} key/value heads.");
        if (config.HeadSize % 2 != 0) throw new ArgumentException($"Rotary positions need an even head size, not {config.HeadSize}.");
        this.config = config;
        model = new LlamaBackbone(config);
        if (!config.TieWordEmbeddings) lm_head = Linear(config.HiddenSize, config.VocabularySize, hasBias: false);
        RegisterComponents();
        // theta^(-2j/d), j = 0 .. d/2 - 1, computed in float64 then kept in float32.
        inverseFrequencies = pow(config.RopeTheta, -arange(0, config.HeadSize, 2, dtype: ScalarType.Float64) / config.HeadSize)
            .to(ScalarType.Float32).DetachFromDisposeScope();
    }

    /// <summary>The shape from a Llama / Qwen2 / Mistral / SmolLM config.json.</summary>
    public static CausalLmConfig ReadConfig(JsonElement root, string path = "config.json")
    {
        var type = CheckpointLoader.String(root, "model_type", path) ?? "llama";
        var hidden = CheckpointLoader.Positive(root, "hidden_size", path: path);
        var heads = CheckpointLoader.Positive(root, "num_attention_heads", path: path);
        var keyValueHeads = CheckpointLoader.Positive(root, "num_key_value_heads", heads, path);
        if (heads % keyValueHeads != 0) throw new InvalidDataException($"{path}: num_attention_heads {heads} is not a multiple of num_key_value_heads {keyValueHeads}.");
        if (root.TryGetProperty("rope_scaling", out var scaling) && scaling.ValueKind == JsonValueKind.Object)
            throw new NotSupportedException($"{path}: rope_scaling ({scaling.GetRawText()}) is not supported.");
        var act = CheckpointLoader.String(root, "hidden_act", path) ?? "silu";
        if (act != "silu") throw new NotSupportedException($"{path}: hidden_act '{act}' is not supported (only silu).");
        // Mistral's sliding_window is applied in attention (null: full attention). Qwen2 carries one too, used only with
        // use_sliding_window and then only from layer max_window_layers on: that layer split is not implemented.
        int? window = null;
        if (root.TryGetProperty("sliding_window", out var sw) && sw.ValueKind == JsonValueKind.Number)
        {
            if (type == "qwen2")
            {
                if (CheckpointLoader.Bool(root, "use_sliding_window", false))
                    throw new NotSupportedException($"{path}: Qwen2 with use_sliding_window (a window on the layers from max_window_layers on) is not supported.");
            }
            else window = CheckpointLoader.Int(root, "sliding_window", path: path);
            if (window is < 1) throw new InvalidDataException($"{path}: sliding_window must be positive, not {window}.");
        }
        return new CausalLmConfig(type, CheckpointLoader.Positive(root, "vocab_size", path: path), hidden,
            CheckpointLoader.Positive(root, "num_hidden_layers", path: path), heads, keyValueHeads,
            CheckpointLoader.Positive(root, "head_dim", hidden / heads, path), CheckpointLoader.Positive(root, "intermediate_size", path: path),
            CheckpointLoader.Positive(root, "max_position_embeddings", 2048, path), CheckpointLoader.Double(root, "rms_norm_eps", 1e-6),
            CheckpointLoader.Double(root, "rope_theta", 10000), CheckpointLoader.Bool(root, "tie_word_embeddings", false),
            // Qwen2 always has q/k/v biases; Llama has them when attention_bias is set.
            type == "qwen2" || CheckpointLoader.Bool(root, "attention_bias", false), window);
    }

    public CausalLmConfig Config => config;
    public nn.Module Module => this;
    public int VocabularySize => config.VocabularySize;
    public int HiddenSize => config.HiddenSize;
    public int Layers => config.Layers;
    public int Heads => config.Heads;
    public int MaxPositions => config.MaxPositions;
    public Tensor TokenEmbeddings => model.embed_tokens.weight!;

    public Tensor Embed(Tensor tokenIds) => model.embed_tokens.forward(tokenIds);

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
        var h = CausalLm.RunLayers(embeddings, positions, mask, hidden, cache, config.Layers,
            (i, x, pos, m, prefix, c) =>
            {
                var (cos, sin) = Rotary(pos, x.dtype);                                                     // [B, 1, T, hd]
                return model.layers[i].Forward(x, cos, sin, m, prefix, c, i);
            });
        h = model.norm.Forward(CausalLm.LastPositions(h, lastPositions));
        var logits = lm_head is null ? h.matmul(model.embed_tokens.weight!.t()) : lm_head.forward(h);       // [B, T', V]
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>cos and sin of position * inverse frequency, the half repeated: [B, 1, T, hd] (float32, then the model's dtype).</summary>
    private (Tensor Cos, Tensor Sin) Rotary(Tensor positions, ScalarType dtype)
    {
        var freqs = positions.to(ScalarType.Float32).unsqueeze(-1) * inverseFrequencies.to(positions.device).unsqueeze(0).unsqueeze(0); // [B, T, hd/2]
        var angles = cat([freqs, freqs], -1).unsqueeze(1);                                                   // [B, 1, T, hd]
        return (angles.cos().to(dtype), angles.sin().to(dtype));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inverseFrequencies.Dispose();
        base.Dispose(disposing);
    }
}

internal sealed class LlamaBackbone : Module
{
    public readonly Embedding embed_tokens;
    public readonly ModuleList<LlamaBlock> layers;
    public readonly RmsNorm norm;

    public LlamaBackbone(CausalLmConfig config) : base("model")
    {
        embed_tokens = Embedding(config.VocabularySize, config.HiddenSize);
        layers = new ModuleList<LlamaBlock>(Runtime.Cancellation.Build(config.Layers, _ => new LlamaBlock(config)));
        norm = new RmsNorm(config.HiddenSize, config.NormEpsilon);
        RegisterComponents();
    }
}

/// <summary>RMSNorm: x / sqrt(mean(x^2) + eps) * weight, the statistic in float32.</summary>
internal sealed class RmsNorm : Module
{
    private readonly Parameter weight;
    private readonly double eps;

    public RmsNorm(int size, double eps) : base(nameof(RmsNorm))
    {
        this.eps = eps;
        weight = Parameter(ones(size));
        RegisterComponents();
    }

    public Tensor Forward(Tensor x)
    {
        var x32 = x.to(ScalarType.Float32);
        var normed = x32 * rsqrt(x32.pow(2).mean([-1], keepdim: true) + eps);
        return weight * normed.to(x.dtype);
    }
}

/// <summary>One pre-norm block: x + attn(input_layernorm(x)), then x + mlp(post_attention_layernorm(x)).</summary>
internal sealed class LlamaBlock : Module
{
    private readonly RmsNorm input_layernorm, post_attention_layernorm;
    private readonly LlamaAttention self_attn;
    private readonly LlamaMlp mlp;

    public LlamaBlock(CausalLmConfig config) : base(nameof(LlamaBlock))
    {
        input_layernorm = new RmsNorm(config.HiddenSize, config.NormEpsilon);
        self_attn = new LlamaAttention(config);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.NormEpsilon);
        mlp = new LlamaMlp(config);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, (Tensor, Tensor)? prefix, KvCache? cache, int layer)
    {
        x = x + self_attn.Forward(input_layernorm.Forward(x), cos, sin, mask, prefix, cache, layer);
        return x + mlp.Forward(post_attention_layernorm.Forward(x));
    }
}

internal sealed class LlamaAttention : Module
{
    private readonly CausalLmConfig config;
    private readonly Linear q_proj, k_proj, v_proj, o_proj;

    public LlamaAttention(CausalLmConfig config) : base(nameof(LlamaAttention))
    {
        this.config = config;
        var bias = config.AttentionBias;
        q_proj = Linear(config.HiddenSize, config.Heads * config.HeadSize, hasBias: bias);
        k_proj = Linear(config.HiddenSize, config.KeyValueHeads * config.HeadSize, hasBias: bias);
        v_proj = Linear(config.HiddenSize, config.KeyValueHeads * config.HeadSize, hasBias: bias);
        // Qwen2's o_proj has no bias; Llama's attention_bias would give it one, which no supported checkpoint uses.
        o_proj = Linear(config.Heads * config.HeadSize, config.HiddenSize, hasBias: false);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, (Tensor, Tensor)? prefix, KvCache? cache, int layer)
    {
        var (b, t, hd) = (x.shape[0], x.shape[1], config.HeadSize);
        var q = q_proj.forward(x).view(b, t, config.Heads, hd).transpose(1, 2);             // [B, H, T, hd]
        var k = k_proj.forward(x).view(b, t, config.KeyValueHeads, hd).transpose(1, 2);     // [B, kvH, T, hd]
        var v = v_proj.forward(x).view(b, t, config.KeyValueHeads, hd).transpose(1, 2);
        q = q * cos + RotateHalf(q) * sin;
        k = k * cos + RotateHalf(k) * sin;
        if (cache is not null) (k, v, mask) = cache.Append(layer, k, v, mask);             // [B, kvH, L+T, hd], rotated
        var y = CausalLm.Attend(q, k, v, mask, prefix, config.SlidingWindow);               // [B, H, T, hd]
        return o_proj.forward(y.transpose(1, 2).contiguous().view(b, t, config.Heads * hd));
    }

    /// <summary>(x1, x2) -> (-x2, x1) on the two halves of the head.</summary>
    private static Tensor RotateHalf(Tensor x)
    {
        var half = (int)(x.shape[^1] / 2);
        return cat([-x[.., .., .., half..], x[.., .., .., ..half]], -1);
    }
}

/// <summary>SwiGLU: down(silu(gate(x)) * up(x)).</summary>
internal sealed class LlamaMlp : Module
{
    private readonly Linear gate_proj, up_proj, down_proj;

    public LlamaMlp(CausalLmConfig config) : base(nameof(LlamaMlp))
    {
        gate_proj = Linear(config.HiddenSize, config.IntermediateSize, hasBias: false);
        up_proj = Linear(config.HiddenSize, config.IntermediateSize, hasBias: false);
        down_proj = Linear(config.IntermediateSize, config.HiddenSize, hasBias: false);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x) => down_proj.forward(functional.silu(gate_proj.forward(x)) * up_proj.forward(x));
}
