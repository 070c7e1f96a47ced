using System.Text.Json;
using static TorchSharp.torch;

namespace Reprogram.Models.Files;

/// <summary>
/// The files of a Hugging Face checkpoint folder, read strictly: its JSON files (config.json, the shard index, tokenizer
/// files) with errors that name the file, and its weights from <c>model.safetensors</c> or the shards a
/// <c>model.safetensors.index.json</c> lists (plain file names inside the folder; every shard through
/// <see cref="SafetensorsFile"/>'s checks). Pickle weights (<c>pytorch_model.bin</c>, <c>*.pt</c>, <c>*.pth</c>,
/// <c>*.ckpt</c>) are never read: unpickling runs code a file names; such a folder is refused with how to convert it.
/// </summary>
public static class CheckpointFolder
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    /// <summary>Weight files in pickle formats that a folder may hold instead of safetensors.</summary>
    private static readonly string[] PickleExtensions = [".bin", ".pt", ".pth", ".ckpt", ".pkl"];

    /// <summary>A JSON file's root, with errors naming the file: missing, not UTF-8 JSON, or not a JSON object.</summary>
    public static JsonDocument ReadJson(string path, string? purpose = null)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{Path.GetDirectoryName(full)} has no {Path.GetFileName(path)}{(purpose is null ? "" : $" ({purpose})")}.", path);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{full} cannot be read: {e.Message}", e);
        }
        JsonDocument document;
        try
        {
            // A UTF-8 byte-order mark is allowed (some editors write one); anything else must be JSON.
            document = JsonDocument.Parse(bytes.AsMemory(bytes is [0xEF, 0xBB, 0xBF, ..] ? 3 : 0), new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{full} is not valid JSON ({e.Message}); the file may be truncated or corrupt.", e);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{full} is not UTF-8 JSON ({e.Message}).", e);
        }
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            var kind = document.RootElement.ValueKind.ToString().ToLowerInvariant();
            document.Dispose();
            throw new InvalidDataException($"{full} is a JSON {kind}, not an object.");
        }
        return document;
    }

    /// <summary>The folder's config.json (see <see cref="ReadJson"/>).</summary>
    public static JsonDocument ReadConfig(string folder) => ReadJson(Path.Combine(folder, "config.json"), "the model's configuration");

    /// <summary>
    /// The safetensors files that hold the folder's weights: model.safetensors, or the distinct shards of
    /// model.safetensors.index.json's weight_map (each a plain file name in the folder that exists). A folder with only
    /// pickle weights is refused, naming them.
    /// </summary>
    public static IReadOnlyList<string> WeightFiles(string folder)
    {
        var full = Path.GetFullPath(folder);
        var single = Path.Combine(folder, SingleFile);
        var index = Path.Combine(folder, IndexFile);
        if (File.Exists(single)) return [single];
        if (File.Exists(index))
        {
            using var document = ReadJson(index);
            if (!document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{Path.GetFullPath(index)} has no weight_map object (tensor name -> shard file).");
            var shards = new List<string>();
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{Path.GetFullPath(index)}: the weight_map entry '{entry.Name}' is not a file name.");
                var name = entry.Value.GetString()!;
                // A shard is a file of this folder: a path that leaves it (../, /etc/...) is refused, not followed.
                if (name.Length == 0 || name != Path.GetFileName(name) || name is "." or ".." || name.Contains('\\'))
                    throw new InvalidDataException($"{Path.GetFullPath(index)}: the shard '{name}' of '{entry.Name}' is not a plain file name in {full}.");
                if (!name.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
                    throw new InvalidDataException($"{Path.GetFullPath(index)}: the shard '{name}' is not a .safetensors file{(PickleExtensions.Contains(Path.GetExtension(name).ToLowerInvariant()) ? " (pickle files are never read: they can run code)" : "")}.");
                var path = Path.Combine(folder, name);
                if (!shards.Contains(path)) shards.Add(path);
            }
            if (shards.Count == 0) throw new InvalidDataException($"{Path.GetFullPath(index)}: the weight_map is empty.");
            var missing = shards.Where(s => !File.Exists(s)).Select(Path.GetFileName).ToList();
            if (missing.Count > 0) throw new FileNotFoundException($"{full}: the shard{(missing.Count == 1 ? "" : "s")} {string.Join(", ", missing)} listed in {IndexFile} {(missing.Count == 1 ? "is" : "are")} missing.", Path.Combine(folder, missing[0]!));
            return shards;
        }
        var pickles = Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder).Where(f => PickleExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList()
            : [];
        if (pickles.Count > 0)
        {
            throw new InvalidDataException(
                $"{full} holds its weights only as {string.Join(", ", pickles)} (PyTorch pickle), which is never read here: unpickling a file can run any code it names. " +
                $"Convert it to {SingleFile} (in Python: safetensors.torch.save_file(torch.load(path, weights_only=True), \"{SingleFile}\"), " +
                "or transformers' save_pretrained(folder, safe_serialization=True)).");
        }
        throw new FileNotFoundException($"{full} has neither {SingleFile} nor {IndexFile}.", single);
    }

    /// <summary>
    /// Why the file tensor <paramref name="name"/> cannot be copied into a floating-point weight, or null when it can.
    /// An integer or boolean tensor in a weight's place (a quantized checkpoint's packed int8/4-bit values, or a file of
    /// another kind) would otherwise be converted silently into numbers that mean nothing.
    /// </summary>
    public static string? NotAWeight(string name, Tensor source, Tensor target) =>
        target.is_floating_point() && !source.is_floating_point()
            ? $"'{name}' is {source.dtype}, not floating point (quantized or integer weights are not read: save the model in float32, float16 or bfloat16)"
            : null;

    /// <summary>
    /// Every tensor of the folder's weight files, with the file each came from. A name found in two shards is refused.
    /// The caller owns the tensors.
    /// </summary>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Files) ReadTensors(string folder)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            foreach (var shard in WeightFiles(folder))
            {
                var part = SafetensorsFile.Read(shard);
                foreach (var (name, t) in part)
                {
                    if (!tensors.TryAdd(name, t))
                    {
                        foreach (var rest in part.Values) if (!tensors.ContainsValue(rest)) rest.Dispose();
                        throw new InvalidDataException($"The tensor '{name}' is in both {files[name]} and {Path.GetFullPath(shard)}.");
                    }
                    files[name] = Path.GetFullPath(shard);
                }
            }
            return (tensors, files);
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
    }
}
