using static TorchSharp.torch;

namespace Reprogram.Models.Vision;

/// <summary>
/// A strict map from the tensor names of a checkpoint layout (torchvision's, Hugging Face's) to a model's parameters
/// and buffers. Each expected file tensor has a shape and a way to copy it in (whole, transposed, or sliced into several
/// parameters, as torchvision's fused in_proj_weight is). <see cref="CopyFrom"/> reports every missing, unexpected or
/// wrong-shape tensor at once, in the file's names, before copying anything.
/// </summary>
internal sealed class WeightMap
{
    private readonly Dictionary<string, (long[] Shape, Action<Tensor> Copy)> expected = new(StringComparer.Ordinal);
    private readonly HashSet<string> optional = new(StringComparer.Ordinal);
    private readonly List<Func<string, bool>> ignored = [];

    public IReadOnlyCollection<string> Names => expected.Keys;
    /// <summary>Every expected file tensor with its shape.</summary>
    public IReadOnlyDictionary<string, long[]> Shapes => expected.ToDictionary(e => e.Key, e => e.Value.Shape, StringComparer.Ordinal);

    /// <summary>The file tensor <paramref name="name"/> is copied into <paramref name="target"/> (same shape).</summary>
    public void Add(string name, Tensor target) => Add(name, target.shape, t => target.copy_(t));

    /// <summary>The file tensor <paramref name="name"/> of shape <paramref name="shape"/> is given to <paramref name="copy"/>.</summary>
    public void Add(string name, long[] shape, Action<Tensor> copy)
    {
        if (!expected.TryAdd(name, (shape, copy))) throw new InvalidOperationException($"The tensor '{name}' is mapped twice.");
    }

    /// <summary>The file tensor [parts * n, ...] is cut along dimension 0 into the targets, in order (fused q, k, v).</summary>
    public void Split(string name, params Tensor[] targets)
    {
        var shape = targets[0].shape.ToArray();
        shape[0] *= targets.Length;
        Add(name, shape, t =>
        {
            var parts = t.chunk(targets.Length, 0);
            for (var i = 0; i < targets.Length; i++) targets[i].copy_(parts[i]);
        });
    }

    /// <summary>A mapped tensor that may be absent from a file (e.g. a pooler some checkpoints lack).</summary>
    public void MarkOptional(string name) => optional.Add(name);

    /// <summary>File tensors that are not weights (position_ids buffers, num_batches_tracked) and are skipped.</summary>
    public void Ignore(Func<string, bool> predicate) => ignored.Add(predicate);

    /// <summary>
    /// Copies the file's tensors in, or throws <see cref="InvalidDataException"/> naming every problem: missing tensors
    /// (with the shape expected), unexpected ones (with their shape) and wrong shapes (both shapes), with the file.
    /// </summary>
    /// <remarks><paramref name="hints"/> adds sentences to the message, computed from the missing and unexpected names.</remarks>
    public void CopyFrom(IReadOnlyDictionary<string, Tensor> file, string path, string described,
                         Func<IReadOnlyList<string>, IReadOnlyList<string>, IEnumerable<string>>? hints = null)
    {
        var missing = expected.Keys.Where(k => !file.ContainsKey(k) && !optional.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var unexpected = file.Keys.Where(k => !expected.ContainsKey(k) && !ignored.Any(i => i(k))).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var wrong = expected.Where(e => file.TryGetValue(e.Key, out var t) && !t.shape.SequenceEqual(e.Value.Shape))
            .OrderBy(e => e.Key, StringComparer.Ordinal)
            .Select(e => $"'{e.Key}' is {Shape(file[e.Key].shape)} in the file, expected {Shape(e.Value.Shape)}").ToList();
        // Every mapped weight is floating point: an integer or boolean file tensor (quantized, or another file) is refused.
        var notWeights = expected.Keys.Where(k => file.TryGetValue(k, out var t) && !t.is_floating_point()).OrderBy(k => k, StringComparer.Ordinal)
            .Select(k => $"'{k}' is {file[k].dtype}, not floating point (quantized or integer weights are not read: save the model in float32, float16 or bfloat16)").ToList();
        if (missing.Count + unexpected.Count + wrong.Count + notWeights.Count > 0)
        {
            var problems = new List<string>();
            if (missing.Count > 0) problems.Add($"missing {missing.Count} tensor(s): {Few(missing.Select(m => $"'{m}' {Shape(expected[m].Shape)}").ToList())}");
            if (unexpected.Count > 0) problems.Add($"{unexpected.Count} unexpected tensor(s): {Few(unexpected.Select(u => $"'{u}' {Shape(file[u].shape)}").ToList())}");
            if (wrong.Count > 0) problems.Add($"{wrong.Count} wrong shape(s): {Few(wrong)}");
            if (notWeights.Count > 0) problems.Add($"{notWeights.Count} tensor(s) of the wrong type: {Few(notWeights)}");
            if (unexpected.Count > 0 && unexpected.All(k => k.StartsWith("module.", StringComparison.Ordinal)))
                problems.Add("every unexpected name starts with 'module.' (a DataParallel model's state dict): save model.module.state_dict() instead");
            if (hints is not null) problems.AddRange(hints(missing, unexpected));
            throw new InvalidDataException($"{path} does not fit {described}: {string.Join("; ", problems)}.");
        }
        using var noGrad = no_grad();
        foreach (var (name, (_, copy)) in expected)
        {
            // copy_ converts the dtype itself; the scope frees a fused tensor's chunks as soon as they are copied.
            using var scope = NewDisposeScope();
            if (file.TryGetValue(name, out var t)) copy(t);
        }
    }

    public static string Shape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    private static string Few(IReadOnlyList<string> items) =>
        string.Join(", ", items.Take(8)) + (items.Count > 8 ? $", and {items.Count - 8} more" : "");
}
