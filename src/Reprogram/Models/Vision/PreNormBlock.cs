using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Reprogram.Models.Vision;

/// <summary>The MLP non-linearity of a transformer block.</summary>
public enum BlockActivation
{
    /// <summary>GELU with erf (ViT, torchvision and Hugging Face).</summary>
    Gelu,
    /// <summary>x * sigmoid(1.702 x) (OpenAI CLIP's "quick_gelu").</summary>
    QuickGelu,
}

/// <summary>
/// One pre-norm transformer block (ViT, CLIP's towers): h = h + attn(LN1(h)), h = h + fc2(act(fc1(LN2(h)))), with
/// bidirectional or causal multi-head self-attention and optional key/value prefixes (prefix-tuning) that every query
/// sees. Shapes: [B, T, D] -> [B, T, D].
/// </summary>
internal sealed class PreNormBlock : Module<Tensor, Tensor>
{
    private readonly int heads, headSize;
    private readonly BlockActivation activation;
    public readonly LayerNorm ln_1, ln_2;
    public readonly Linear q, k, v, proj, fc1, fc2;

    public PreNormBlock(int hidden, int heads, int mlp, double epsilon, BlockActivation activation, bool qkvBias = true) : base(nameof(PreNormBlock))
    {
        if (hidden % heads != 0) throw new ArgumentException($"The width {hidden} is not divisible by {heads} heads.");
        (this.heads, headSize, this.activation) = (heads, hidden / heads, activation);
        ln_1 = LayerNorm(hidden, epsilon);
        q = Linear(hidden, hidden, hasBias: qkvBias);
        k = Linear(hidden, hidden, hasBias: qkvBias);
        v = Linear(hidden, hidden, hasBias: qkvBias);
        proj = Linear(hidden, hidden);
        ln_2 = LayerNorm(hidden, epsilon);
        fc1 = Linear(hidden, mlp);
        fc2 = Linear(mlp, hidden);
        RegisterComponents();
    }

    public override Tensor forward(Tensor h) => Forward(h, causal: false, prefix: null, keyMask: null);

    /// <param name="h">Hidden states [B, T, D].</param>
    /// <param name="causal">Each position attends to itself and earlier positions only (CLIP's text tower).</param>
    /// <param name="prefix">Keys and values [B, heads, P, headSize] in front of the layer's own; visible to every query.</param>
    /// <param name="keyMask">[B, T], true for positions that may be attended to (padding false), or null.</param>
    public Tensor Forward(Tensor h, bool causal, (Tensor Keys, Tensor Values)? prefix, Tensor? keyMask)
    {
        using var scope = NewDisposeScope();
        h = h + proj.forward(Attention(ln_1.forward(h), causal, prefix, keyMask));            // [B, T, D]
        var m = fc1.forward(ln_2.forward(h));                                                   // [B, T, mlp]
        m = activation == BlockActivation.Gelu ? functional.gelu(m) : m * sigmoid(1.702 * m);
        return (h + fc2.forward(m)).MoveToOuterDisposeScope();                                 // [B, T, D]
    }

    private Tensor Attention(Tensor x, bool causal, (Tensor Keys, Tensor Values)? prefix, Tensor? keyMask)
    {
        var (b, t) = (x.shape[0], x.shape[1]);
        Tensor Split(Linear projection) => projection.forward(x).view(b, t, heads, headSize).transpose(1, 2); // [B, H, T, hd]
        Tensor queries = Split(q), keys = Split(k), values = Split(v);
        long p = 0;
        if (prefix is { } kv)
        {
            var expected = new[] { b, (long)heads, kv.Keys.shape[2], headSize };
            if (!kv.Keys.shape.SequenceEqual(expected) || !kv.Values.shape.SequenceEqual(expected))
            {
                throw new ArgumentException($"Prefix keys {WeightMap.Shape(kv.Keys.shape)} and values {WeightMap.Shape(kv.Values.shape)} must be [batch {b}, heads {heads}, prefix, head size {headSize}].");
            }
            p = kv.Keys.shape[2];
            keys = cat([kv.Keys, keys], 2);
            values = cat([kv.Values, values], 2);
        }
        var scores = queries.matmul(keys.transpose(-2, -1)) / Math.Sqrt(headSize);              // [B, H, T, P+T]
        if (causal || keyMask is not null)
        {
            var allowed = ones(b, 1, t, p + t, dtype: ScalarType.Bool, device: x.device);
            if (causal)
            {
                var lower = ones(t, t, dtype: ScalarType.Bool, device: x.device).tril();          // [T, T]
                allowed = allowed.logical_and(cat([ones(t, p, dtype: ScalarType.Bool, device: x.device), lower], 1).view(1, 1, t, p + t));
            }
            if (keyMask is not null)
            {
                var keys2 = cat([ones(b, p, dtype: ScalarType.Bool, device: x.device), keyMask.to(ScalarType.Bool)], 1); // [B, P+T]
                allowed = allowed.logical_and(keys2.view(b, 1, 1, p + t));
            }
            scores = scores.masked_fill(allowed.logical_not(), float.MinValue);
        }
        var y = functional.softmax(scores, -1).matmul(values);                                   // [B, H, T, hd]
        return y.transpose(1, 2).contiguous().view(b, t, heads * headSize);                      // [B, T, D]
    }
}
