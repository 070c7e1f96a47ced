using Reprogram.Frozen;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Reprogram.Models.Text;

/// <summary>
/// The shape of a BERT encoder. The defaults are all-MiniLM-L6-v2's. <see cref="PositionOffset"/> is where positions
/// start in the position table: 0 for BERT, padding_idx + 1 for RoBERTa (its rows 0..padding_idx are never used for
/// real tokens), so a RoBERTa with 514 position rows and padding_idx 1 holds 512 tokens.
/// </summary>
public sealed record BertConfig(
    int VocabularySize = 30522,
    int HiddenSize = 384,
    int Layers = 6,
    int Heads = 12,
    int IntermediateSize = 1536,
    int MaxPositions = 512,
    int TokenTypes = 2,
    double LayerNormEpsilon = 1e-12,
    int PositionOffset = 0)
{
    public int HeadSize => HiddenSize / Heads;
    /// <summary>The longest sequence the position table holds.</summary>
    public int UsablePositions => MaxPositions - PositionOffset;

    /// <summary>sentence-transformers/all-MiniLM-L6-v2: 6 layers, hidden 384, 12 heads, intermediate 1536, 22.7M parameters.</summary>
    public static BertConfig MiniLmL6 { get; } = new();
}

/// <summary>
/// A BERT encoder (and RoBERTa, the same network with positions from padding_idx + 1) in the nanoGPT manner:
/// word + position + token-type embeddings and a LayerNorm, then post-norm blocks
/// (h = LN(h + attn(h)), h = LN(h + mlp(h)), GELU with erf) of bidirectional self-attention over the positions the
/// attention mask allows. Parameter names follow Hugging Face's BertModel (<c>embeddings.word_embeddings.weight</c>,
/// <c>encoder.layer.0.attention.self.query.weight</c>, ...); there is no pooler (sentence-transformers mean-pools).
/// <para>
/// As an <see cref="ITokenModel"/> it is an encoder: <see cref="ForwardEmbeddings"/> and <see cref="Module{T, TResult}.forward"/>
/// return the final hidden states [batch, time, <see cref="HiddenSize"/>], not logits over the vocabulary;
/// <see cref="VocabularySize"/> is the size of the input vocabulary (of <see cref="TokenEmbeddings"/>). Read sentences out
/// with <see cref="MeanPooled"/> (or <see cref="SentenceEmbeddings(IReadOnlyList{string}, int)"/>) and put an output
/// alignment on top.
/// </para>
/// Each layer asks an optional <see cref="IHiddenManipulation"/> for its input (deep prompts; positions it inserts in
/// front are treated as real tokens) and for key/value prefixes (prefix-tuning; always visible to every query).
/// </summary>
public sealed class BertEncoder : Module<Tensor, Tensor>, ITokenModel
{
    private readonly BertConfig config;
    private readonly Embedding wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings;
    private readonly LayerNorm embeddingNorm;
    private readonly ModuleList<BertLayer> layers;

    /// <param name="config">The shape.</param>
    /// <param name="tokenizer">The tokenizer <see cref="SentenceEmbeddings(IReadOnlyList{string}, int)"/> uses, or null.</param>
    public BertEncoder(BertConfig config, IEncoderTokenizer? tokenizer = null) : base(nameof(BertEncoder))
    {
        if (config.HiddenSize % config.Heads != 0) throw new ArgumentException($"Hidden size {config.HiddenSize} must be divisible by the {config.Heads} heads.");
        if (config.UsablePositions < 1) throw new ArgumentException($"Positions start at {config.PositionOffset}, past the {config.MaxPositions} rows of the position table.");
        this.config = config;
        Tokenizer = tokenizer;
        wordEmbeddings = Embedding(config.VocabularySize, config.HiddenSize);
        positionEmbeddings = Embedding(config.MaxPositions, config.HiddenSize);
        tokenTypeEmbeddings = Embedding(config.TokenTypes, config.HiddenSize);
        embeddingNorm = LayerNorm(config.HiddenSize, config.LayerNormEpsilon);
        layers = new ModuleList<BertLayer>(Runtime.Cancellation.Build(config.Layers, _ => new BertLayer(config)));
        // Hugging Face's names: embeddings.*, encoder.layer.N.*.
        register_module("embeddings", new ModuleGroup("embeddings",
            ("word_embeddings", wordEmbeddings), ("position_embeddings", positionEmbeddings),
            ("token_type_embeddings", tokenTypeEmbeddings), ("LayerNorm", embeddingNorm)));
        register_module("encoder", new ModuleGroup("encoder", ("layer", layers)));
        // A model outlives the dispose scope it may be built in (the shared MiniLM is loaded on first use, possibly
        // inside a run's scope): without this, that scope's end disposed the embedding tables.
        foreach (var p in parameters()) p.DetachFromDisposeScope();
        foreach (var b in buffers()) b.DetachFromDisposeScope();
    }

    /// <summary>Children are registered by hand under Hugging Face's names; the fields must not be registered a second time.</summary>
    protected override void RegisterComponents() { }

    public BertConfig Config => config;
    /// <summary>The size of the input vocabulary (rows of <see cref="TokenEmbeddings"/>); the outputs are hidden states, not logits over it.</summary>
    public int VocabularySize => config.VocabularySize;
    public int HiddenSize => config.HiddenSize;
    public int Layers => config.Layers;
    public int Heads => config.Heads;
    /// <summary>The longest sequence (position rows after the offset).</summary>
    public int MaxPositions => config.UsablePositions;
    /// <summary>The word embeddings [vocabulary, hidden] (without position or token-type embeddings).</summary>
    public Tensor TokenEmbeddings => wordEmbeddings.weight!;
    /// <summary>The tokenizer that <see cref="SentenceEmbeddings(IReadOnlyList{string}, int)"/> uses (set by <see cref="MiniLmLoader.Load()"/> and <see cref="EncoderCheckpoint.Load"/>).</summary>
    public IEncoderTokenizer? Tokenizer { get; set; }

    /// <summary>Token ids [batch, time] to word embeddings [batch, time, hidden]; positions and token types are added by <see cref="ForwardEmbeddings"/>.</summary>
    public Tensor Embed(Tensor tokenIds) => wordEmbeddings.forward(tokenIds);

    /// <summary>Token ids [batch, time] to final hidden states [batch, time, hidden], every position real.</summary>
    public override Tensor forward(Tensor tokenIds) => ForwardEmbeddings(Embed(tokenIds));

    /// <summary>Token ids and attention mask [batch, time] to final hidden states [batch, time, hidden].</summary>
    public Tensor Forward(Tensor tokenIds, Tensor attentionMask) => ForwardEmbeddings(Embed(tokenIds), null, attentionMask);

    /// <summary>
    /// Word embeddings [batch, time, hidden] (soft prompts included) plus position embeddings offset..offset+time-1
    /// (<see cref="BertConfig.PositionOffset"/>) and token type 0,
    /// LayerNorm, then every layer, to the final hidden states [batch, time', hidden] (time' = time plus any positions
    /// <paramref name="hidden"/> inserted in front). <paramref name="attentionMask"/> [batch, time] is 1 for real tokens;
    /// padded positions are never attended to, but still get (meaningless) hidden states.
    /// </summary>
    public Tensor ForwardEmbeddings(Tensor embeddings, IHiddenManipulation? hidden = null, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var (batch, time) = (embeddings.shape[0], embeddings.shape[1]);
        if (time > config.UsablePositions)
        {
            throw new ArgumentException($"A sequence of {time} positions is longer than the model's {config.UsablePositions}.");
        }
        if (attentionMask is not null && (attentionMask.dim() != 2 || attentionMask.shape[0] != batch || attentionMask.shape[1] != time))
        {
            throw new ArgumentException($"The attention mask is [{string.Join(", ", attentionMask.shape)}], the embeddings [{string.Join(", ", embeddings.shape)}]: it must be [{batch}, {time}].");
        }
        // RoBERTa numbers real tokens from padding_idx + 1; padded positions get numbers too, but are never attended to.
        var positions = arange(config.PositionOffset, config.PositionOffset + time, dtype: ScalarType.Int64, device: embeddings.device);
        var types = zeros(time, dtype: ScalarType.Int64, device: embeddings.device);
        var h = embeddingNorm.forward(embeddings + positionEmbeddings.forward(positions) + tokenTypeEmbeddings.forward(types));
        for (var layer = 0; layer < layers.Count; layer++)
        {
            Runtime.Cancellation.ThrowIfRequested();   // a batch through a 12-layer encoder takes seconds on a CPU: a cancelled cell stops between layers
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
            h = layers[layer].Forward(h, prefix, attentionMask);
        }
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// sentence-transformers mean pooling: the mean of the hidden states [batch, time, hidden] over the positions where
    /// <paramref name="mask"/> [batch, time] is 1, [batch, hidden]. A mask shorter than the hidden states (a manipulation
    /// inserted positions in front) is extended with ones in front, as the model does.
    /// </summary>
    public static Tensor MeanPooled(Tensor hidden, Tensor mask)
    {
        using var scope = NewDisposeScope();
        if (hidden.shape[1] > mask.shape[1])
        {
            mask = cat([ones(mask.shape[0], hidden.shape[1] - mask.shape[1], dtype: mask.dtype, device: mask.device), mask], 1);
        }
        var weights = mask.to(hidden.dtype).to(hidden.device).unsqueeze(-1);                 // [B, T, 1]
        var sum = (hidden * weights).sum(1);                                                  // [B, D]
        var count = weights.sum(1).clamp_min(1e-9);                                           // [B, 1]
        return (sum / count).MoveToOuterDisposeScope();
    }

    /// <summary>Token ids and mask [batch, time] to unit-length sentence embeddings [batch, hidden] (mean pooling, then L2 normalisation).</summary>
    public Tensor SentenceEmbeddings(Tensor tokenIds, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var pooled = MeanPooled(Forward(tokenIds, attentionMask), attentionMask);
        return functional.normalize(pooled, p: 2, dim: 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// What all-MiniLM-L6-v2 gives for sentences: tokenised (truncated to <paramref name="maxLength"/> tokens, 256 as in
    /// sentence-transformers), mean-pooled and L2-normalised, [texts, hidden], on the model's device.
    /// </summary>
    public Tensor SentenceEmbeddings(IReadOnlyList<string> texts, int maxLength = 256)
    {
        var tokenizer = Tokenizer ?? throw new InvalidOperationException("This BertEncoder has no tokenizer: set Tokenizer (MiniLmLoader.Load() does) or pass token ids.");
        var device = wordEmbeddings.weight!.device;
        var (ids, mask) = tokenizer.Encode(texts, Math.Min(maxLength, config.UsablePositions));
        using (ids)
        using (mask)
        {
            using var idsOnDevice = ids.to(device);
            using var maskOnDevice = mask.to(device);
            return SentenceEmbeddings(idsOnDevice, maskOnDevice);
        }
    }
}

/// <summary>A module that only names its children (Hugging Face's nesting: attention.self.query, output.LayerNorm, ...).</summary>
internal sealed class ModuleGroup : Module
{
    public ModuleGroup(string name, params (string Name, Module Module)[] children) : base(name)
    {
        foreach (var (child, module) in children) register_module(child, module);
    }

    protected override void RegisterComponents() { }
}

/// <summary>One post-norm BERT layer: h = LN(h + attention(h)), then h = LN(h + dense(gelu(intermediate(h)))).</summary>
internal sealed class BertLayer : Module<Tensor, Tensor>
{
    private readonly BertConfig config;
    private readonly Linear query, key, value, attentionDense, intermediate, outputDense;
    private readonly LayerNorm attentionNorm, outputNorm;

    public BertLayer(BertConfig config) : base(nameof(BertLayer))
    {
        this.config = config;
        query = Linear(config.HiddenSize, config.HiddenSize);
        key = Linear(config.HiddenSize, config.HiddenSize);
        value = Linear(config.HiddenSize, config.HiddenSize);
        attentionDense = Linear(config.HiddenSize, config.HiddenSize);
        attentionNorm = LayerNorm(config.HiddenSize, config.LayerNormEpsilon);
        intermediate = Linear(config.HiddenSize, config.IntermediateSize);
        outputDense = Linear(config.IntermediateSize, config.HiddenSize);
        outputNorm = LayerNorm(config.HiddenSize, config.LayerNormEpsilon);
        register_module("attention", new ModuleGroup("attention",
            ("self", new ModuleGroup("self", ("query", query), ("key", key), ("value", value))),
            ("output", new ModuleGroup("output", ("dense", attentionDense), ("LayerNorm", attentionNorm)))));
        register_module("intermediate", new ModuleGroup("intermediate", ("dense", intermediate)));
        register_module("output", new ModuleGroup("output", ("dense", outputDense), ("LayerNorm", outputNorm)));
    }

    /// <summary>Children are registered by hand under Hugging Face's names; the fields must not be registered a second time.</summary>
    protected override void RegisterComponents() { }

    public override Tensor forward(Tensor h) => Forward(h, null, null);

    public Tensor Forward(Tensor h, (Tensor Keys, Tensor Values)? prefix, Tensor? attentionMask)
    {
        h = attentionNorm.forward(h + attentionDense.forward(Attention(h, prefix, attentionMask)));
        return outputNorm.forward(h + outputDense.forward(functional.gelu(intermediate.forward(h))));
    }

    private Tensor Attention(Tensor x, (Tensor Keys, Tensor Values)? prefix, Tensor? attentionMask)
    {
        var (b, t) = (x.shape[0], x.shape[1]);
        Tensor Heads(Linear projection) => projection.forward(x).view(b, t, config.Heads, config.HeadSize).transpose(1, 2); // [B, H, T, hd]
        Tensor q = Heads(query), k = Heads(key), v = Heads(value);
        var p = 0L;
        if (prefix is { } kv)
        {
            var expected = new[] { b, config.Heads, kv.Keys.shape[2], config.HeadSize };
            if (!kv.Keys.shape.SequenceEqual(expected) || !kv.Values.shape.SequenceEqual(expected))
            {
                throw new ArgumentException($"Prefix keys [{string.Join(", ", kv.Keys.shape)}] and values [{string.Join(", ", kv.Values.shape)}] must be [batch {b}, heads {config.Heads}, prefix, head size {config.HeadSize}].");
            }
            p = kv.Keys.shape[2];
            k = cat([kv.Keys, k], 2);
            v = cat([kv.Values, v], 2);
        }
        var scores = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(config.HeadSize);                 // [B, H, T, P+T]
        if (attentionMask is not null)
        {
            // Bidirectional: every query sees the prefix and the real tokens. The most negative float (not -inf) keeps a
            // row with no real key finite, as Hugging Face does.
            var keyMask = cat([ones(b, p, dtype: ScalarType.Bool, device: x.device), attentionMask.to(ScalarType.Bool)], 1); // [B, P+T]
            scores = scores.masked_fill(keyMask.logical_not().view(b, 1, 1, p + t), float.MinValue);
        }
        var y = functional.softmax(scores, -1).matmul(v);                                          // [B, H, T, hd]
        return y.transpose(1, 2).contiguous().view(b, t, config.HiddenSize);
    }
}
