using System.Text.Json;
using Microsoft.ML.Tokenizers;
using Reprogram.Frozen;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Reprogram.Models.Causal;

/// <summary>
/// The shape of a pretrained decoder, read from a Hugging Face config.json. GPT-2 uses LayerNorm, learned positions,
/// GELU (tanh) and KeyValueHeads = Heads; Llama-family models use RMSNorm, rotary positions, SwiGLU and grouped-query attention.
/// <see cref="SlidingWindow"/> (Mistral): each position attends to itself and the window - 1 positions before it.
/// </summary>
public sealed record CausalLmConfig(
    string ModelType, int VocabularySize, int HiddenSize, int Layers, int Heads, int KeyValueHeads, int HeadSize,
    int IntermediateSize, int MaxPositions, double NormEpsilon, double RopeTheta = 10000, bool TieWordEmbeddings = true,
    bool AttentionBias = false, int? SlidingWindow = null);

/// <summary>A pretrained decoder: the token-model interface plus a cached forward over token ids.</summary>
public interface ICausalLm : ITokenModel, IDisposable
{
    CausalLmConfig Config { get; }
    /// <summary>
    /// Token ids [B, T] to logits [B, T, V]. With a cache, positions continue from what it holds and the new keys and
    /// values are appended to it. <paramref name="attentionMask"/> is [B, T] for the new tokens (1 = real) or
    /// [B, cache + T] (Hugging Face style, only its last T columns are read: the cache remembers its own mask).
    /// With <paramref name="lastPositions"/> only the last n positions get logits [B, n, V] (the output head is the
    /// largest matrix of a small model; scoring and generation read one position per row).
    /// </summary>
    Tensor Forward(Tensor ids, KvCache? cache = null, Tensor? attentionMask = null, int? lastPositions = null);
    /// <summary>Embeddings [B, T, D] to logits, with a hidden manipulation and/or a cache.</summary>
    Tensor ForwardEmbeddings(Tensor embeddings, IHiddenManipulation? hidden, Tensor? attentionMask, KvCache? cache, int? lastPositions = null);
    /// <summary>The underlying module (for .to(device), eval(), parameters()).</summary>
    nn.Module Module { get; }
}

/// <summary>
/// Keys and values of the positions seen so far, per layer: keys/values [B, kvHeads, L, headDim] and a key mask
/// [B, L] (true = may be attended). Prefix keys from an <see cref="IHiddenManipulation"/> are kept apart (they are
/// visible to every position and take no position). Compute it once for a shared prefix and <see cref="Clone"/> or
/// <see cref="Expand"/> it for several continuations.
/// </summary>
public sealed class KvCache : IDisposable
{
    internal readonly Tensor?[] Keys, Values, Masks;
    internal readonly (Tensor Keys, Tensor Values)?[] Prefixes;
    /// <summary>The position the next token of each row takes [B] (counts real tokens only).</summary>
    internal Tensor? NextPosition;

    public KvCache(int layers)
    {
        Keys = new Tensor?[layers];
        Values = new Tensor?[layers];
        Masks = new Tensor?[layers];
        Prefixes = new (Tensor, Tensor)?[layers];
    }

    public int Layers => Keys.Length;
    /// <summary>Positions held (of the first layer; padding included, prefix keys excluded).</summary>
    public long Length => Keys[0]?.shape[2] ?? 0;
    public long Batch => Keys[0]?.shape[0] ?? NextPosition?.shape[0] ?? 0;
    public bool IsEmpty => NextPosition is null;

    /// <summary>An independent copy (detached from autograd; tensors are cloned).</summary>
    public KvCache Clone() => Map(t => t.detach().clone());

    /// <summary>
    /// A batch-1 cache repeated to <paramref name="batch"/> rows (a shared prefix for a batch of continuations). The rows
    /// are views of this cache's tensors, so expanding copies nothing; appending to them writes new tensors and leaves
    /// this cache as it was.
    /// </summary>
    public KvCache Expand(long batch)
    {
        if (Batch != 1) throw new InvalidOperationException($"Only a batch-1 cache can be expanded; this one holds {Batch} rows.");
        return Map(t => t.detach().expand([batch, .. t.shape.Skip(1)]));
    }

    private KvCache Map(Func<Tensor, Tensor> f)
    {
        var copy = new KvCache(Layers);
        for (var i = 0; i < Layers; i++)
        {
            copy.Keys[i] = Keys[i] is { } k ? Keep(f(k)) : null;
            copy.Values[i] = Values[i] is { } v ? Keep(f(v)) : null;
            copy.Masks[i] = Masks[i] is { } m ? Keep(f(m)) : null;
            if (Prefixes[i] is { } p) copy.Prefixes[i] = (Keep(f(p.Keys)), Keep(f(p.Values)));
        }
        copy.NextPosition = NextPosition is { } n ? Keep(f(n)) : null;
        return copy;
    }

    internal static Tensor Keep(Tensor t) => t.DetachFromDisposeScope();

    /// <summary>Appends a layer's new keys/values [B, kvHeads, T, hd] and mask [B, T]; returns everything held.</summary>
    internal (Tensor Keys, Tensor Values, Tensor Mask) Append(int layer, Tensor k, Tensor v, Tensor mask)
    {
        var (oldK, oldV, oldM) = (Keys[layer], Values[layer], Masks[layer]);
        Keys[layer] = Keep(oldK is null ? k.alias() : cat([oldK, k], 2));
        Values[layer] = Keep(oldV is null ? v.alias() : cat([oldV, v], 2));
        Masks[layer] = Keep(oldM is null ? mask.alias() : cat([oldM, mask], 1));
        oldK?.Dispose(); oldV?.Dispose(); oldM?.Dispose();
        return (Keys[layer]!, Values[layer]!, Masks[layer]!);
    }

    internal void SetPrefix(int layer, (Tensor Keys, Tensor Values) prefix) =>
        Prefixes[layer] = (Keep(prefix.Keys.alias()), Keep(prefix.Values.alias()));

    internal void SetNextPosition(Tensor next)
    {
        var old = NextPosition;
        NextPosition = Keep(next.alias());
        old?.Dispose();
    }

    public void Dispose()
    {
        for (var i = 0; i < Layers; i++)
        {
            Keys[i]?.Dispose(); Values[i]?.Dispose(); Masks[i]?.Dispose();
            if (Prefixes[i] is { } p) { p.Keys.Dispose(); p.Values.Dispose(); }
            Keys[i] = Values[i] = Masks[i] = null;
            Prefixes[i] = null;
        }
        NextPosition?.Dispose();
        NextPosition = null;
    }
}

/// <summary>Shared decoding pieces: positions and masks, attention, generation and continuation scoring.</summary>
public static class CausalLm
{
    /// <summary>
    /// Positions [B, T] of new tokens and their key mask [B, T] (bool). Positions count real tokens only, continuing from
    /// the cache: a left-padded row starts at 0 at its first real token (as Hugging Face's generate does).
    /// </summary>
    internal static (Tensor Positions, Tensor Mask) PositionsAndMask(long batch, long time, Tensor? attentionMask, KvCache? cache, Device device)
    {
        var start = cache?.NextPosition ?? zeros(batch, dtype: ScalarType.Int64, device: device);
        if (attentionMask is null)
        {
            return (start.unsqueeze(1) + arange(time, dtype: ScalarType.Int64, device: device).unsqueeze(0), ones(batch, time, dtype: ScalarType.Bool, device: device));
        }
        if (attentionMask.dim() != 2 || attentionMask.shape[0] != batch || attentionMask.shape[1] < time)
        {
            throw new ArgumentException($"The attention mask is [{string.Join(", ", attentionMask.shape)}]; expected [{batch}, {time}] (or [{batch}, cache + {time}]).");
        }
        var m = attentionMask[.., (int)(attentionMask.shape[1] - time)..].to(ScalarType.Int64, device);
        var positions = start.unsqueeze(1) + (m.cumsum(1) - 1).clamp_min(0);
        return (positions, m.to(ScalarType.Bool));
    }

    /// <summary>
    /// Whether <see cref="Attend"/> uses libtorch's fused scaled_dot_product_attention (one operator, and on the CPU a
    /// flash-attention kernel that never materialises the [T, S] scores) instead of matmul, mask, softmax, matmul. Both
    /// compute the same function; the switch exists for comparisons (reprogram bench, the decoder parity tests), and
    /// REPROGRAM_FUSED_ATTENTION=off sets it off for a whole process.
    /// </summary>
    public static bool FusedAttention { get; set; } =
        Environment.GetEnvironmentVariable("REPROGRAM_FUSED_ATTENTION")?.Trim().ToLowerInvariant() is not ("off" or "0" or "false" or "no");

    /// <summary>
    /// Causal attention of q [B, H, T, hd] over prefix keys [B, H or kvH, P, hd] (always visible) and keys [B, kvH, S, hd]
    /// whose last T are the queries' own (key j is visible to query i when j &lt;= S - T + i and its mask is set). With a
    /// sliding window W (Mistral) key j must also be one of the query's last W real positions (itself included), counted
    /// in real tokens as Mistral's reference code counts them for each sequence alone. Hugging Face counts cache slots,
    /// padding included: the two agree except for left-padded rows, where this way a row's result does not depend on its batch.
    /// </summary>
    internal static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor keyMask, (Tensor Keys, Tensor Values)? prefix, int? slidingWindow = null)
    {
        var (b, heads, t) = (q.shape[0], q.shape[1], q.shape[2]);
        var s = k.shape[2];
        k = RepeatHeads(k, heads);
        v = RepeatHeads(v, heads);
        // Plain causal self-attention (no cache, no prefix, no padding, no window shorter than the keys) needs no mask at
        // all. The padding check reads one value back, so it is made only on the CPU, where that costs nothing.
        if (FusedAttention && prefix is null && t == s && (slidingWindow is null || slidingWindow >= s) &&
            q.device.type == DeviceType.CPU && keyMask.all().item<bool>())
        {
            return nn.functional.scaled_dot_product_attention(q, k, v, null, 0, true);             // [B, H, T, hd]
        }
        var allowed = ones(t, s, dtype: ScalarType.Bool, device: q.device).tril(s - t).unsqueeze(0) & keyMask.unsqueeze(1); // [B, T, S]
        if (slidingWindow is { } w)
        {
            var realUpTo = keyMask.to(ScalarType.Int64).cumsum(1);                                           // [B, S] real keys up to j
            var distance = realUpTo[.., (int)(s - t)..].unsqueeze(2) - realUpTo.unsqueeze(1);                  // [B, T, S] real positions from j to i
            allowed &= distance < w;
        }
        if (prefix is { } p)
        {
            var pk = RepeatHeads(p.Keys, heads).to(k.dtype);
            var pv = RepeatHeads(p.Values, heads).to(v.dtype);
            if (pk.shape[0] != b) throw new ArgumentException($"Prefix keys have batch {pk.shape[0]}, the input {b}.");
            k = cat([pk, k], 2);
            v = cat([pv, v], 2);
            allowed = cat([ones(b, t, pk.shape[2], dtype: ScalarType.Bool, device: q.device), allowed], 2);
        }
        // The dtype's minimum rather than -inf: a fully padded query row stays finite (uniform) instead of NaN.
        var blocked = finfo(q.dtype).min;
        if (FusedAttention)
        {
            var bias = zeros(allowed.shape, dtype: q.dtype, device: q.device).masked_fill(allowed.logical_not(), blocked);
            return nn.functional.scaled_dot_product_attention(q, k, v, bias.unsqueeze(1), 0, false);   // [B, H, T, hd]
        }
        var scores = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(q.shape[3]);                  // [B, H, T, P+S]
        scores = scores.masked_fill(allowed.unsqueeze(1).logical_not(), blocked);
        return nn.functional.softmax(scores, -1).matmul(v);                                     // [B, H, T, hd]
    }

    /// <summary>The last <paramref name="n"/> positions of hidden states [B, T, C] (all of them when n is null or covers T).</summary>
    internal static Tensor LastPositions(Tensor h, int? n) => n is { } k && k > 0 && k < h.shape[1] ? h.narrow(1, h.shape[1] - k, k) : h;

    /// <summary>[B, kvH, S, hd] to [B, H, S, hd]: query head h reads key/value head h / (H / kvH).</summary>
    internal static Tensor RepeatHeads(Tensor x, long heads)
    {
        var kv = x.shape[1];
        if (kv == heads) return x;
        if (heads % kv != 0) throw new ArgumentException($"{heads} query heads cannot share {kv} key/value heads.");
        return x.repeat_interleave(heads / kv, dim: 1);
    }

    /// <summary>
    /// The shared layer loop of both decoders: asks the manipulation for each layer's input (growing the mask and
    /// positions in front when it inserts positions) and prefix keys (stored in the cache on its first pass).
    /// </summary>
    internal static Tensor RunLayers(Tensor h, Tensor positions, Tensor mask, IHiddenManipulation? hidden, KvCache? cache,
        int layers, Func<int, Tensor, Tensor, Tensor, (Tensor, Tensor)?, KvCache?, Tensor> layer)
    {
        var first = cache is null || cache.IsEmpty;
        for (var i = 0; i < layers; i++)
        {
            if (hidden is not null && first)
            {
                h = hidden.LayerInput(i, h);
                var grown = h.shape[1] - mask.shape[1];
                if (grown > 0)
                {
                    var b = h.shape[0];
                    mask = cat([ones(b, grown, dtype: ScalarType.Bool, device: mask.device), mask], 1);
                    positions = cat([positions[.., ..1] + arange(grown, device: positions.device).unsqueeze(0), positions + grown], 1);
                }
                else if (grown < 0) throw new InvalidOperationException($"Layer {i}'s input manipulation removed positions ({mask.shape[1]} -> {h.shape[1]}).");
            }
            (Tensor, Tensor)? prefix = null;
            if (hidden is not null && first)
            {
                prefix = hidden.PrefixKeyValues(i, h.shape[0]);
                if (prefix is { } p && cache is not null) cache.SetPrefix(i, p);
            }
            else if (cache?.Prefixes[i] is { } cached) prefix = cached;
            h = layer(i, h, positions, mask, prefix, cache);
        }
        cache?.SetNextPosition(positions[.., -1] + 1);
        return h;
    }

    /// <summary>
    /// Generates <paramref name="maxNewTokens"/> tokens after ids [B, T]: greedy at temperature 0, otherwise sampling
    /// from softmax(logits / temperature) (restricted to the top k when given) with a generator seeded by
    /// <paramref name="seed"/>. Returns [B, T + new]. Without the cache every step reruns the whole sequence (slow; the
    /// same tokens). <paramref name="attentionMask"/> [B, T] allows left-padded prompts.
    /// </summary>
    public static Tensor Generate(ICausalLm model, Tensor ids, int maxNewTokens, double temperature = 0, int? topK = null,
        long seed = 0, bool useCache = true, Tensor? attentionMask = null)
    {
        if (ids.dim() != 2) throw new ArgumentException("Generation takes token ids [batch, time].");
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var generator = temperature > 0 ? new Generator((ulong)seed, device: CPU) : null;
        using var cache = useCache ? new KvCache(model.Layers) : null;
        var sequence = ids;
        var mask = attentionMask;
        var next = ids;
        for (var step = 0; step < maxNewTokens; step++)
        {
            var logits = useCache ? model.Forward(next, cache, mask, lastPositions: 1) : model.Forward(sequence, null, mask, lastPositions: 1);
            var token = NextToken(logits[.., -1], temperature, topK, generator);
            sequence = cat([sequence, token], 1);
            next = token;
            if (mask is not null) mask = cat([mask, ones(mask.shape[0], 1, dtype: mask.dtype, device: mask.device)], 1);
        }
        return sequence.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The next token [B, 1] (int64) from the last position's logits [B, V]: argmax at temperature 0, otherwise a draw
    /// from softmax(logits / temperature), restricted to the top k when given. Shared by <see cref="Generate(ICausalLm, Tensor, int, double, int?, long, bool, Tensor?)"/>
    /// and the chat adapter, so both pick the same tokens.
    /// </summary>
    internal static Tensor NextToken(Tensor lastLogits, double temperature, int? topK, Generator? generator)
    {
        var last = lastLogits.to(ScalarType.Float32);                                           // [B, V]
        if (temperature <= 0) return last.argmax(-1, keepdim: true).to(ScalarType.Int64);
        var scaled = last / temperature;
        if (topK is { } k && k > 0 && k < scaled.shape[1])
        {
            var threshold = scaled.topk(k, -1).values[.., -1].unsqueeze(1);                    // [B, 1]
            scaled = scaled.masked_fill(scaled < threshold, float.NegativeInfinity);
        }
        // Sampling on the CPU: the seeded generator lives there, so a seed gives the same tokens on every device.
        var probs = nn.functional.softmax(scaled, -1).cpu();
        return multinomial(probs, 1, generator: generator).to(ScalarType.Int64).to(lastLogits.device);
    }

    /// <summary>Generate on plain ids (batch 1).</summary>
    public static long[] Generate(ICausalLm model, long[] ids, int maxNewTokens, double temperature = 0, int? topK = null, long seed = 0, bool useCache = true)
    {
        using var input = tensor(ids, device: model.TokenEmbeddings.device).unsqueeze(0);
        using var output = Generate(model, input, maxNewTokens, temperature, topK, seed, useCache);
        return output[0].cpu().data<long>().ToArray();
    }

    /// <summary>
    /// Sum of log p(continuation | prefix) for each continuation. Batched: the prefix is run once into a cache, expanded
    /// to all continuations, which run right-padded in one batch. Unbatched: each prefix + continuation runs alone.
    /// </summary>
    public static double[] ScoreContinuations(ICausalLm model, IReadOnlyList<long> prefixIds, IReadOnlyList<long[]> continuations, bool batch = true)
    {
        if (prefixIds.Count == 0) throw new ArgumentException("Scoring needs a non-empty prefix (for example a BOS token) to predict the first continuation token.");
        if (continuations.Any(c => c.Length == 0)) throw new ArgumentException("Every continuation needs at least one token.");
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var device = model.TokenEmbeddings.device;
        var scores = new double[continuations.Count];
        if (!batch)
        {
            for (var i = 0; i < continuations.Count; i++)
            {
                var all = prefixIds.Concat(continuations[i]).ToArray();
                var logp = nn.functional.log_softmax(model.Forward(tensor(all, device: device).unsqueeze(0))[0].to(ScalarType.Float64), -1); // [T, V]
                var p = prefixIds.Count;
                var targets = tensor(continuations[i], device: device);
                var rows = logp[(p - 1)..(all.Length - 1)];                                              // predicts all[p..]
                scores[i] = rows.gather(1, targets.unsqueeze(1)).sum().item<double>();
            }
            return scores;
        }
        using var prefixCache = new KvCache(model.Layers);
        var prefixLogits = model.Forward(tensor(prefixIds.ToArray(), device: device).unsqueeze(0), prefixCache); // [1, P, V]
        var n = continuations.Count;
        var width = continuations.Max(c => c.Length);
        var padded = new long[n * width];
        var maskData = new long[n * width];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < continuations[i].Length; j++)
            {
                padded[i * width + j] = continuations[i][j];
                maskData[i * width + j] = 1;
            }
        }
        var ids = tensor(padded, [n, width], device: device);
        var mask = tensor(maskData, [n, width], device: device);
        using var cache = prefixCache.Expand(n);
        var logits = model.Forward(ids, cache, mask);                                                   // [N, W, V]
        // Token j of a continuation is predicted by the prefix's last logits (j = 0) or the continuation's logits at j - 1.
        var predicting = cat([prefixLogits.narrow(1, prefixLogits.shape[1] - 1, 1).expand(n, 1, -1), logits.narrow(1, 0, width - 1)], 1);          // [N, W, V]
        var logp2 = nn.functional.log_softmax(predicting.to(ScalarType.Float64), -1);
        var picked = logp2.gather(2, ids.unsqueeze(2)).squeeze(2) * mask.to(ScalarType.Float64);       // [N, W]
        var sums = picked.sum(1).cpu().data<double>().ToArray();
        return sums;
    }
}

/// <summary>Loads a Hugging Face causal LM folder (config.json + model.safetensors, or a sharded index).</summary>
public static class CheckpointLoader
{
    /// <summary>GPT-2's attention buffers in older checkpoints and Llama's rotary buffer: not weights.</summary>
    private static bool Ignorable(string name) =>
        name.EndsWith(".attn.bias", StringComparison.Ordinal) && !name.Contains("c_attn") ||
        name.EndsWith(".attn.masked_bias", StringComparison.Ordinal) ||
        name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal);

    public static ICausalLm Load(string folder, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var configPath = Path.GetFullPath(Path.Combine(folder, "config.json"));
        using var json = Files.CheckpointFolder.ReadConfig(folder);
        var root = json.RootElement;
        var kind = Family(root, configPath);
        var config = kind == "gpt2" ? Gpt2.ReadConfig(root, configPath) : Llama.ReadConfig(root, configPath);
        CheckSize(config, folder, configPath);
        ICausalLm model = kind == "gpt2" ? new Gpt2(config) : new Llama(config);
        try
        {
            var (tensors, files) = ReadTensors(folder);
            CopyWeights(model, tensors, files, kind == "gpt2");
            foreach (var t in tensors.Values) t.Dispose();
            model.Module.to(dtype);
            if (device is not null) model.Module.to(device);
            model.Module.eval();
            foreach (var p in model.Module.parameters()) p.requires_grad = false;
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Refuses a config.json whose sizes cannot be those of the weight files (checked from their headers, before the
    /// model is built): a corrupt or hostile config would otherwise allocate whatever it asks for. The bound is loose
    /// (the embeddings and the layers' smallest matrices against four times the values the files hold).
    /// </summary>
    private static void CheckSize(CausalLmConfig config, string folder, string configPath)
    {
        var values = Files.CheckpointFolder.WeightFiles(folder)
            .Sum(f => Files.SafetensorsFile.ReadHeader(f).Entries.Sum(e => e.Shape.Aggregate(1.0, (a, d) => a * d)));
        double d = config.HiddenSize, layers = config.Layers;
        var least = config.VocabularySize * d + layers * (2 * d * d + 2 * d * config.IntermediateSize);
        if (least > 4 * values + 1e6)
        {
            throw new InvalidDataException($"{configPath} describes a model of at least {least:N0} parameters (vocabulary {config.VocabularySize}, hidden {config.HiddenSize}, " +
                                           $"{config.Layers} layers, intermediate {config.IntermediateSize}), but the weight files hold {values:N0} values: config.json does not belong to these weights.");
        }
    }

    /// <summary>"gpt2" or "llama" (Llama, Qwen2, Mistral, SmolLM: the same decoder up to biases and sizes).</summary>
    private static string Family(JsonElement root, string configPath)
    {
        var type = String(root, "model_type", configPath) ?? "";
        var arch = root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0 && a[0].ValueKind == JsonValueKind.String ? a[0].GetString() ?? "" : "";
        if (type == "gpt2" || arch == "GPT2LMHeadModel") return "gpt2";
        if (type is "llama" or "qwen2" or "mistral" or "smollm" or "smollm2" ||
            arch is "LlamaForCausalLM" or "Qwen2ForCausalLM" or "MistralForCausalLM") return "llama";
        throw new NotSupportedException(
            $"{configPath}: model_type '{type}' (architecture '{arch}') is not supported; supported: gpt2, llama, qwen2, mistral, smollm.");
    }

    /// <summary>The folder's weights (model.safetensors or its shards), every file checked (<see cref="Files.CheckpointFolder"/>).</summary>
    private static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Files) ReadTensors(string folder) =>
        Files.CheckpointFolder.ReadTensors(folder);

    private static string Shape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>GPT-2's Conv1D layers store [in, out]; the modules here are nn.Linear, [out, in].</summary>
    private static bool IsConv1D(string name) =>
        name.EndsWith(".weight", StringComparison.Ordinal) &&
        (name.Contains(".attn.c_attn.") || name.Contains(".attn.c_proj.") || name.Contains(".mlp.c_fc.") || name.Contains(".mlp.c_proj."));

    private static void CopyWeights(ICausalLm model, Dictionary<string, Tensor> tensors, Dictionary<string, string> files, bool gpt2)
    {
        var target = model.Module.state_dict();
        var problems = new List<string>();
        var used = new HashSet<string>();
        using (no_grad())
        {
            foreach (var (name, parameter) in target)
            {
                // Some GPT-2 files (the original "gpt2") name tensors without the "transformer." prefix.
                var source = tensors.ContainsKey(name) ? name
                    : gpt2 && name.StartsWith("transformer.", StringComparison.Ordinal) && tensors.ContainsKey(name["transformer.".Length..]) ? name["transformer.".Length..]
                    : null;
                var conv = gpt2 && IsConv1D(name);
                var expected = conv ? parameter.shape.Reverse().ToArray() : parameter.shape;
                if (source is null)
                {
                    problems.Add($"missing tensor '{name}' (expected shape {Shape(expected)}) in {string.Join(", ", files.Values.Distinct().DefaultIfEmpty("the checkpoint"))}");
                    continue;
                }
                used.Add(source);
                var t = tensors[source];
                if (!t.shape.SequenceEqual(expected))
                {
                    problems.Add($"tensor '{source}' in {files[source]}: expected shape {Shape(expected)}, found {Shape(t.shape)}");
                    continue;
                }
                if (Files.CheckpointFolder.NotAWeight(source, t, parameter) is { } notAWeight)
                {
                    problems.Add($"tensor {notAWeight} in {files[source]}");
                    continue;
                }
                parameter.copy_(conv ? t.t() : t);  // copy_ converts the dtype in place: no converted copy to leak
            }
        }
        var tied = model.Config.TieWordEmbeddings;
        foreach (var name in tensors.Keys.Where(k => !used.Contains(k)).OrderBy(k => k, StringComparer.Ordinal))
        {
            if (Ignorable(name)) continue;
            if (tied && name == "lm_head.weight") continue;   // the tied head repeats the embeddings
            problems.Add($"unexpected tensor '{name}' (shape {Shape(tensors[name].shape)}) in {files[name]}");
        }
        if (problems.Count > 0)
        {
            throw new InvalidDataException($"The checkpoint does not fit the {model.Config.ModelType} model built from its config.json: " + string.Join("; ", problems) + ".");
        }
    }

    internal static int Int(JsonElement root, string name, int? fallback = null, string? path = null)
    {
        if (root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number)
        {
            return v.TryGetInt32(out var value) ? value : throw new InvalidDataException($"{path ?? "config.json"}: '{name}' is {v.GetRawText()}, not a whole number.");
        }
        return fallback ?? throw new InvalidDataException($"{path ?? "config.json"} lacks '{name}'.");
    }

    /// <summary>A size of the model (layers, widths, heads, vocabulary): a whole number of at least 1.</summary>
    internal static int Positive(JsonElement root, string name, int? fallback = null, string? path = null)
    {
        var value = Int(root, name, fallback, path);
        return value >= 1 ? value : throw new InvalidDataException($"{path ?? "config.json"}: '{name}' is {value}; a model size must be at least 1.");
    }

    /// <summary>A string setting, or null when absent or null; any other JSON type is an error naming the file.</summary>
    internal static string? String(JsonElement root, string name, string? path = null)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw new InvalidDataException($"{path ?? "config.json"}: '{name}' is {v.GetRawText()}, not a string.");
    }

    internal static double Double(JsonElement root, string name, double fallback) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : fallback;

    internal static bool Bool(JsonElement root, string name, bool fallback) =>
        root.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;
}
