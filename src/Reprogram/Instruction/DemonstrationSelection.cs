using Reprogram.Experiments;
using Reprogram.Models.Text;
using static TorchSharp.torch;

namespace Reprogram.Instruction;

/// <summary>
/// How k demonstrations are chosen from a task's pool. Query-independent strategies choose one set per seed and shot
/// count, shared by every query (so its key/values can be cached once); the sets are nested (the first k of one seeded
/// order), so a curve over shots adds demonstrations rather than redrawing them.
/// </summary>
public interface IDemonstrationSelection
{
    /// <summary>random, balanced or similar.</summary>
    string Name { get; }
    bool DependsOnQuery { get; }
    /// <summary>Pool indices of the demonstrations for <paramref name="query"/>, best first where there is a "best".</summary>
    IReadOnlyList<int> Select(InstructionTask task, TaskExample query, int shots, int seed);
}

public static class DemonstrationSelectionExtensions
{
    /// <summary>Pool indices of the demonstrations for the task's query number <paramref name="query"/>.</summary>
    public static IReadOnlyList<int> Select(this IDemonstrationSelection selection, InstructionTask task, int query, int shots, int seed) =>
        selection.Select(task, task.Queries[query], shots, seed);
}

/// <summary>Demonstrations drawn at random from the pool (the usual few-shot prompt; Brown et al. 2020).</summary>
public sealed class RandomDemonstrations : IDemonstrationSelection
{
    public string Name => "random";
    public bool DependsOnQuery => false;

    public IReadOnlyList<int> Select(InstructionTask task, TaskExample query, int shots, int seed) =>
        Demonstrations.Permutation(task.Pool.Count, seed).Take(shots).ToArray();
}

/// <summary>
/// Class-balanced demonstrations: labels take turns (in a seeded order), each label's examples in a seeded order, so
/// k shots show as many labels as they can and no label twice before every label once.
/// </summary>
public sealed class BalancedDemonstrations : IDemonstrationSelection
{
    public string Name => "balanced";
    public bool DependsOnQuery => false;

    public IReadOnlyList<int> Select(InstructionTask task, TaskExample query, int shots, int seed)
    {
        var order = Demonstrations.Permutation(task.Pool.Count, seed);
        var byLabel = order.GroupBy(i => task.Pool[i].Answer, StringComparer.Ordinal).Select(g => new Queue<int>(g)).ToList();
        var labelOrder = Demonstrations.Permutation(byLabel.Count, seed + 1);
        var chosen = new List<int>();
        while (chosen.Count < Math.Min(shots, task.Pool.Count))
        {
            foreach (var l in labelOrder)
            {
                if (chosen.Count == shots) break;
                if (byLabel[l].Count > 0) chosen.Add(byLabel[l].Dequeue());
            }
        }
        return chosen;
    }
}

/// <summary>
/// KATE (Liu et al., DeeLIO 2022): the k pool examples whose inputs are nearest the query's by cosine similarity of
/// sentence embeddings (all-MiniLM-L6-v2 here), most similar first. Ties keep pool order.
/// </summary>
public sealed class SimilarDemonstrations(ISentenceEmbedder embedder) : IDemonstrationSelection
{
    private readonly Dictionary<InstructionTask, float[][]> pools = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, float[]> queries = new(StringComparer.Ordinal);

    public string Name => "similar";
    public bool DependsOnQuery => true;
    public ISentenceEmbedder Embedder => embedder;

    public IReadOnlyList<int> Select(InstructionTask task, TaskExample query, int shots, int seed)
    {
        if (!pools.TryGetValue(task, out var pool))
        {
            pool = pools[task] = embedder.Embed(task.Pool.Select(p => p.Input).ToArray());
            // The task's queries are embedded together (one batch), as most selections are for them.
            var missing = task.Queries.Select(q => q.Input).Where(t => !queries.ContainsKey(t)).Distinct().ToArray();
            foreach (var (text, vector) in missing.Zip(embedder.Embed(missing))) queries[text] = vector;
        }
        if (!queries.TryGetValue(query.Input, out var q)) q = queries[query.Input] = embedder.Embed([query.Input])[0];
        return Enumerable.Range(0, task.Pool.Count)
            .Select(i => (Index: i, Similarity: Dot(q, pool[i])))
            .OrderByDescending(p => p.Similarity).ThenBy(p => p.Index)
            .Take(shots).Select(p => p.Index).ToArray();
    }

    private static double Dot(float[] a, float[] b)
    {
        var s = 0.0;
        for (var i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}

/// <summary>The order demonstrations appear in the prompt (order changes few-shot accuracy a lot: Lu et al. 2022).</summary>
public enum DemonstrationOrder
{
    /// <summary>As the selection returns them (for similar: most similar first).</summary>
    AsSelected,
    /// <summary>A seeded shuffle.</summary>
    Shuffled,
    /// <summary>Reversed: for similar selection the most similar sits next to the query (KATE's better order).</summary>
    Reversed,
}

/// <summary>Unit-length sentence embeddings [texts][dimensions].</summary>
public interface ISentenceEmbedder
{
    string Name { get; }
    float[][] Embed(IReadOnlyList<string> texts);
}

/// <summary>all-MiniLM-L6-v2 (the real pretrained sentence encoder shipped with the library), mean-pooled and normalised.</summary>
public sealed class MiniLmSentenceEmbedder : ISentenceEmbedder
{
    private static readonly object Gate = new();

    public string Name => "all-MiniLM-L6-v2";

    public float[][] Embed(IReadOnlyList<string> texts)
    {
        lock (Gate)
        {
            var (model, _) = MiniLmLoader.Shared();
            using var noGrad = no_grad();
            var result = new float[texts.Count][];
            for (var start = 0; start < texts.Count; start += 64)
            {
                Runtime.Cancellation.ThrowIfRequested();   // KATE embeds whole pools: a cancelled cell stops between batches
                using var scope = NewDisposeScope();
                var chunk = texts.Skip(start).Take(64).ToArray();
                var vectors = model.SentenceEmbeddings(chunk).cpu();
                var dims = (int)vectors.shape[1];
                var data = vectors.data<float>().ToArray();
                for (var i = 0; i < chunk.Length; i++) result[start + i] = data.AsSpan(i * dims, dims).ToArray();
            }
            return result;
        }
    }
}

/// <summary>Selection and ordering, by name.</summary>
public static class Demonstrations
{
    public static IReadOnlyList<string> Selections { get; } = ["random", "balanced", "similar"];
    public static IReadOnlyList<string> Orders { get; } = ["as-selected", "shuffled", "reversed"];

    public static IDemonstrationSelection Selection(string name, ISentenceEmbedder? embedder = null) => name.Trim().ToLowerInvariant() switch
    {
        "random" => new RandomDemonstrations(),
        "balanced" => new BalancedDemonstrations(),
        "similar" or "kate" => new SimilarDemonstrations(embedder ?? new MiniLmSentenceEmbedder()),
        _ => throw new ArgumentException($"'{name}' is not a demonstration selection. Allowed: {string.Join(", ", Selections)} (similar = KATE)."),
    };

    public static DemonstrationOrder Order(string name) => name.Trim().ToLowerInvariant() switch
    {
        "as-selected" or "selected" => DemonstrationOrder.AsSelected,
        "shuffled" or "shuffle" => DemonstrationOrder.Shuffled,
        "reversed" or "similar-last" => DemonstrationOrder.Reversed,
        _ => throw new ArgumentException($"'{name}' is not a demonstration order. Allowed: {string.Join(", ", Orders)}."),
    };

    /// <summary>Applies an order to chosen demonstrations (the shuffle is seeded, and the same for every query).</summary>
    public static IReadOnlyList<int> Arrange(IReadOnlyList<int> chosen, DemonstrationOrder order, int seed) => order switch
    {
        DemonstrationOrder.Shuffled => Permutation(chosen.Count, seed + 7).Select(i => chosen[i]).ToArray(),
        DemonstrationOrder.Reversed => chosen.Reverse().ToArray(),
        _ => chosen,
    };

    /// <summary>A seeded permutation of 0..n-1 (Fisher-Yates with System.Random, so it repeats across runs and machines).</summary>
    public static int[] Permutation(int n, int seed)
    {
        var p = Enumerable.Range(0, n).ToArray();
        var random = new Random(seed);
        for (var i = n - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }
}
