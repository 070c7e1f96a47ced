using Reprogram.Models.Causal;
using static TorchSharp.torch;

namespace Reprogram.Instruction;

/// <summary>
/// One query to score: the prompt's shared prefix (the demonstrations), the query's own tokens, and its answer choices.
/// The model reads prefix ++ query ++ choice; a choice's score is the sum of its tokens' log-probabilities.
/// </summary>
public sealed record ScoringRequest(long[] Prefix, long[] Query, IReadOnlyList<long[]> Choices);

/// <summary>What a scoring pass cost: positions run through the model and forward passes.</summary>
public sealed record ScoringCost(long Tokens, int ForwardPasses);

/// <summary>
/// Log-likelihood scoring of answer choices with shared-prefix caching: requests with the same prefix (the same
/// demonstrations) share one key/value cache, computed once and expanded over a batch of their continuations. Without
/// the cache each row carries its whole prompt. Both read the same tokens, so predictions agree (scores to float32
/// rounding). Queries whose choices are all one token take one row; others one row per choice. Rows are left-padded
/// so that only the last columns, the ones read, go through the output head.
/// </summary>
public static class LikelihoodScoring
{
    /// <summary>Scores [request][choice]; <paramref name="batchRows"/> bounds the rows run together (and the expanded cache's size).</summary>
    public static (double[][] Scores, ScoringCost Cost) Score(ICausalLm model, IReadOnlyList<ScoringRequest> requests, bool useCache = true,
        int batchRows = 32, CancellationToken cancellationToken = default)
    {
        if (batchRows < 1) throw new ArgumentException($"batchRows must be at least 1, not {batchRows}.");
        for (var r = 0; r < requests.Count; r++)
        {
            var request = requests[r];
            if (request.Choices.Count == 0) throw new ArgumentException($"Query {r} has no answer choices to score.");
            if (request.Choices.Any(c => c.Length == 0)) throw new ArgumentException($"Query {r} has an answer choice that encodes to no tokens.");
            var longest = request.Prefix.Length + request.Query.Length + request.Choices.Max(c => c.Length) - 1;
            if (longest > model.MaxPositions)
            {
                throw new ArgumentException($"A prompt and its answer take {longest} tokens, more than the model's {model.MaxPositions} positions " +
                                            "(fewer shots, shorter demonstrations or a shorter template).");
            }
        }
        var scores = requests.Select(r => new double[r.Choices.Count]).ToArray();
        long tokens = 0;
        var passes = 0;
        using var noGrad = no_grad();
        var device = model.TokenEmbeddings.device;
        foreach (var group in Enumerable.Range(0, requests.Count).GroupBy(i => requests[i].Prefix, SequenceComparer.Instance))
        {
            cancellationToken.ThrowIfCancellationRequested();
            Runtime.Cancellation.ThrowIfRequested();
            var prefix = group.Key;
            var cached = useCache && prefix.Length > 0;
            using var scope = NewDisposeScope();
            KvCache? cache = null;
            Tensor? prefixLast = null;                                                                       // [V]
            try
            {
                if (cached)
                {
                    cache = new KvCache(model.Layers);
                    prefixLast = model.Forward(tensor(prefix, device: device).unsqueeze(0), cache, lastPositions: 1)[0, -1]; // only its last position is read
                    tokens += prefix.Length;
                    passes++;
                }
                var rows = new List<Row>();
                foreach (var r in group)
                {
                    var request = requests[r];
                    var context = cached ? request.Query : [.. request.Prefix, .. request.Query];
                    if (context.Length == 0 && !cached)
                    {
                        throw new ArgumentException("A prompt is empty: there is nothing to condition the answer on (0 shots with an empty query format?).");
                    }
                    // Position p of a row predicts the token after it; -1 stands for the cached prefix's last position.
                    if (request.Choices.All(c => c.Length == 1))
                    {
                        rows.Add(new Row(context, [.. request.Choices.Select((c, j) => new Read(context.Length - 1, c[0], r, j))]));
                    }
                    else
                    {
                        for (var j = 0; j < request.Choices.Count; j++)
                        {
                            var choice = request.Choices[j];
                            rows.Add(new Row([.. context, .. choice[..^1]],
                                [.. choice.Select((t, k) => new Read(context.Length - 1 + k, t, r, j))]));
                        }
                    }
                }
                foreach (var chunk in rows.Chunk(batchRows))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    Runtime.Cancellation.ThrowIfRequested();
                    using var chunkScope = NewDisposeScope();
                    // Left-padded, so every row ends in the last column and only the columns that are read get logits.
                    var width = chunk.Max(c => c.Tokens.Length);
                    var need = chunk.SelectMany(c => c.Reads.Where(r => r.Position >= 0).Select(r => c.Tokens.Length - r.Position)).DefaultIfEmpty(0).Max();
                    Tensor? logits = null;                                                                   // [N, need, V]
                    if (width > 0 && need > 0)
                    {
                        var ids = new long[chunk.Length * width];
                        var mask = new long[chunk.Length * width];
                        for (var i = 0; i < chunk.Length; i++)
                        {
                            var pad = width - chunk[i].Tokens.Length;
                            chunk[i].Tokens.CopyTo(ids, i * width + pad);
                            for (var k = pad; k < width; k++) mask[i * width + k] = 1;
                        }
                        var idsTensor = tensor(ids, [chunk.Length, width], device: device);
                        var maskTensor = tensor(mask, [chunk.Length, width], device: device);
                        using var rowsCache = cache?.Expand(chunk.Length);
                        logits = model.Forward(idsTensor, rowsCache, maskTensor, lastPositions: need);
                        tokens += chunk.Sum(c => c.Tokens.Length);
                        passes++;
                    }
                    // Gather the positions that are read (in a row, or the cached prefix's last), then normalise in float64.
                    var reads = chunk.SelectMany((row, i) => row.Reads.Select(read => (Row: i, Read: read, row.Tokens.Length))).ToArray();
                    var inRows = reads.Where(r => r.Read.Position >= 0).ToArray();
                    var atPrefix = reads.Where(r => r.Read.Position < 0).ToArray();
                    if (inRows.Length > 0)
                    {
                        var flat = logits!.reshape(-1, logits.shape[2]);                                     // [N * need, V]
                        // Row position p of a row of length L sits in column need - L + p of the logits.
                        var at = tensor(inRows.Select(r => (long)r.Row * need + need - r.Length + r.Read.Position).ToArray(), device: device);
                        Accumulate(scores, inRows.Select(r => r.Read).ToArray(), flat.index_select(0, at), device);
                    }
                    if (atPrefix.Length > 0)
                    {
                        Accumulate(scores, atPrefix.Select(r => r.Read).ToArray(), prefixLast!.unsqueeze(0).expand(atPrefix.Length, -1), device);
                    }
                }
            }
            finally
            {
                cache?.Dispose();
            }
        }
        return (scores, new ScoringCost(tokens, passes));
    }

    /// <summary>Adds log p(target) of each read, from its logits [reads, V], to its choice's score.</summary>
    private static void Accumulate(double[][] scores, Read[] reads, Tensor logits, Device device)
    {
        var logp = nn.functional.log_softmax(logits.to(ScalarType.Float64), -1);
        var targets = tensor(reads.Select(r => r.Target).ToArray(), device: device);
        var values = logp.gather(1, targets.unsqueeze(1)).squeeze(1).cpu().data<double>().ToArray();
        for (var k = 0; k < reads.Length; k++) scores[reads[k].Request][reads[k].Choice] += values[k];
    }

    private sealed record Read(int Position, long Target, int Request, int Choice);
    private sealed record Row(long[] Tokens, Read[] Reads);

    /// <summary>Groups prefixes by content.</summary>
    private sealed class SequenceComparer : IEqualityComparer<long[]>
    {
        public static readonly SequenceComparer Instance = new();
        public bool Equals(long[]? x, long[]? y) => x is not null && y is not null && x.AsSpan().SequenceEqual(y);
        public int GetHashCode(long[] obj)
        {
            var h = new HashCode();
            foreach (var v in obj) h.Add(v);
            return h.ToHashCode();
        }
    }
}
