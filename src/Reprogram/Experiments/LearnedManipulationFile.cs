using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Reprogram.Alignments;
using Reprogram.Manipulations;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>A saved manipulation file that cannot be used: corrupt, foreign, or made for another model.</summary>
public sealed class LearnedFileException(string message) : Exception(message);

/// <summary>
/// What was learned (a manipulation and its output alignment) in one safetensors file. Tensors are written by
/// TorchSharp.PyBridge; the file's own <c>__metadata__</c> carries the coordinates, the model's identity and checksum,
/// shapes, training settings and a SHA-256 of the tensor data, so a corrupt file or the wrong model is refused.
/// </summary>
public static class LearnedManipulationFile
{
    public const string FormatTag = "reprogram.learned-manipulation/1";

    public static void Save(string path, LearnableManipulation manipulation, IOutputAlignment alignment, string modelIdentity,
                            string modelChecksum, IReadOnlyDictionary<string, string>? training = null, IReadOnlyDictionary<string, string>? extra = null)
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, t) in StateOf(manipulation)) tensors["manipulation." + name] = t;
        if (alignment is nn.Module module)
        {
            foreach (var (name, t) in StateOf(module)) tensors["alignment." + name] = t;
        }
        using var buffer = new MemoryStream();
        Safetensors.SaveStateDict(buffer, tensors, leaveOpen: true);
        var (header, data) = Split(buffer.ToArray(), "(in memory)");

        var coordinates = new Taxonomy.Coordinates(manipulation.Format, manipulation.Location, manipulation.Operator, alignment.Kind);
        var metadata = new JsonObject
        {
            ["format"] = FormatTag,
            ["manipulation"] = manipulation.Name,
            ["manipulation.type"] = manipulation.GetType().Name,
            ["manipulation.settings"] = JsonSerializer.Serialize(manipulation.Settings),
            ["alignment"] = alignment.Name,
            ["alignment.type"] = alignment.GetType().Name,
            ["alignment.labels"] = JsonSerializer.Serialize(alignment.TargetLabels),
            ["coordinates"] = coordinates.ToString(),
            ["model"] = modelIdentity,
            ["model.checksum"] = modelChecksum,
            ["training"] = JsonSerializer.Serialize(training ?? new Dictionary<string, string>()),
            ["data.sha256"] = Convert.ToHexStringLower(SHA256.HashData(data)),
        };
        // More about the run (the experiment to rebuild it from, see SavedExperiment); never replaces a key above.
        foreach (var (key, value) in extra ?? new Dictionary<string, string>()) metadata.TryAdd(key, value);
        header["__metadata__"] = metadata;
        File.WriteAllBytes(path, Join(header, data));
    }

    /// <summary>Reads a file's metadata and tensors, refusing anything that is not an intact file of this kind.</summary>
    public static (IReadOnlyDictionary<string, string> Metadata, Dictionary<string, Tensor> Tensors) Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"No saved manipulation at {Path.GetFullPath(path)}.", path);
        var bytes = File.ReadAllBytes(path);
        // Every structural check of the format (Models.Files.SafetensorsFile) before anything else is looked at.
        Models.Files.SafetensorsHeader header;
        try { header = Models.Files.SafetensorsFile.ParseHeader(bytes, path); }
        catch (InvalidDataException e) { throw new LearnedFileException(e.Message); }
        var metadata = header.Metadata;
        if (metadata.GetValueOrDefault("format") != FormatTag)
        {
            throw new LearnedFileException($"{Path.GetFullPath(path)} is a safetensors file but not a saved Reprogram manipulation (no '{FormatTag}' metadata).");
        }
        var missing = new[] { "model", "model.checksum", "manipulation", "manipulation.type", "alignment", "alignment.type", "data.sha256" }
            .Where(k => !metadata.ContainsKey(k)).ToList();
        if (missing.Count > 0) throw new LearnedFileException($"{Path.GetFullPath(path)} is corrupt: its metadata lacks {string.Join(", ", missing)}.");
        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan((int)header.DataStart)));
        if (hash != metadata["data.sha256"])
        {
            throw new LearnedFileException($"{Path.GetFullPath(path)} is corrupt: its tensor data does not match the checksum written when it was saved.");
        }
        try
        {
            return (metadata, Models.Files.SafetensorsFile.Read(bytes, path));
        }
        catch (InvalidDataException e)
        {
            throw new LearnedFileException(e.Message);
        }
    }

    /// <summary>
    /// Loads a file into a manipulation and alignment of the same kind and shapes, for the model with this checksum.
    /// Returns the metadata.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Load(string path, LearnableManipulation manipulation, IOutputAlignment alignment,
                                                          string modelIdentity, string modelChecksum)
    {
        var (metadata, tensors) = Read(path);
        try
        {
            if (metadata["model.checksum"] != modelChecksum)
            {
                throw new LearnedFileException(
                    $"{path} was learned on '{metadata["model"]}' (parameter checksum {Prefix(metadata["model.checksum"])}), " +
                    $"not on '{modelIdentity}' ({Prefix(modelChecksum)}); a manipulation only means something for the model it was learned on.");
            }
            if (metadata["manipulation.type"] != manipulation.GetType().Name || metadata["alignment.type"] != alignment.GetType().Name)
            {
                throw new LearnedFileException(
                    $"{path} holds a {metadata["manipulation"]} with a {metadata["alignment"]}, not a {manipulation.Name} with a {alignment.Name}.");
            }
            Restore(manipulation, "manipulation.", tensors, path);
            if (alignment is nn.Module module) Restore(module, "alignment.", tensors, path);
            return metadata;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    private static void Restore(nn.Module module, string prefix, Dictionary<string, Tensor> tensors, string path)
    {
        using var _ = no_grad();
        foreach (var (name, target) in StateOf(module))
        {
            if (!tensors.TryGetValue(prefix + name, out var source))
            {
                throw new LearnedFileException($"{Path.GetFullPath(path)} has no tensor '{prefix + name}'.");
            }
            if (!source.shape.SequenceEqual(target.shape))
            {
                throw new LearnedFileException($"Tensor '{prefix + name}' in {Path.GetFullPath(path)} is [{string.Join(", ", source.shape)}], but this {module.GetName()} needs [{string.Join(", ", target.shape)}].");
            }
            if (source.dtype != target.dtype)
            {
                throw new LearnedFileException($"Tensor '{prefix + name}' in {Path.GetFullPath(path)} is {source.dtype}, but this {module.GetName()} needs {target.dtype}; the file was not written by this library.");
            }
            target.copy_(source);
        }
    }

    private static string Prefix(string checksum) => checksum.Length <= 12 ? checksum : checksum[..12];

    private static IEnumerable<(string Name, Tensor Tensor)> StateOf(nn.Module module) =>
        module.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(module.named_buffers());

    // safetensors: 8-byte little-endian header length, a JSON header, then the tensor data.
    internal static (JsonObject Header, byte[] Data) Split(byte[] bytes, string path)
    {
        if (bytes.Length < 8) throw new LearnedFileException($"{path} is too short to be a safetensors file.");
        var length = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (length > (ulong)(bytes.Length - 8)) throw new LearnedFileException($"{path} is corrupt: its header length is past the end of the file.");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)length)) as JsonObject
                     ?? throw new LearnedFileException($"{path} is corrupt: its header is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new LearnedFileException($"{path} is corrupt: its header is not valid JSON ({e.Message}).");
        }
        return (header, bytes[(8 + (int)length)..]);
    }

    internal static byte[] Join(JsonObject header, byte[] data)
    {
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var result = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)json.Length);
        json.CopyTo(result, 8);
        data.CopyTo(result, 8 + json.Length);
        return result;
    }
}
