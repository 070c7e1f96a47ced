using System.Buffers.Binary;
using System.Text.Json;
using static TorchSharp.torch;

namespace Reprogram.Models.Files;

/// <summary>One tensor of a safetensors header: its name, dtype, shape and byte range in the data section.</summary>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long Bytes => End - Begin;
}

/// <summary>A checked safetensors header: the tensors in data order, the <c>__metadata__</c> strings, and where the data starts.</summary>
public sealed record SafetensorsHeader(IReadOnlyList<SafetensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart, long DataLength);

/// <summary>
/// The one reader of safetensors files (8-byte little-endian header length N, N bytes of UTF-8 JSON, then the tensor
/// data; https://github.com/huggingface/safetensors). Every file is checked before a byte of tensor data is read or a
/// tensor allocated, as the format's reference implementation checks it: N within the file and at most 100,000,000
/// bytes, a UTF-8 JSON object, every entry with a known dtype, a shape of non-negative integers and data offsets whose
/// length is the shape's size in that dtype, the tensors tiling the data from its start (no overlap, no gap, nothing past
/// the end), no name twice. One leniency: bytes after the last tensor are ignored (TorchSharp.PyBridge's
/// <c>Safetensors.SaveStateDict(path, ...)</c> leaves them when it overwrites a longer file). A file that fails any check throws <see cref="InvalidDataException"/> naming the file (full path)
/// and the first problem. Nothing in a safetensors file is code, so nothing is executed.
/// </summary>
public static class SafetensorsFile
{
    /// <summary>The largest header accepted: the limit of the format's reference implementation (MAX_HEADER_SIZE).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Nesting depth allowed in a header (a real one nests 3 deep).</summary>
    private const int MaxJsonDepth = 16;

    /// <summary>Every dtype of the format, with its size in bytes and the TorchSharp type (null: not readable here).</summary>
    private static readonly Dictionary<string, (int Size, ScalarType? Type)> DTypes = new(StringComparer.Ordinal)
    {
        ["F64"] = (8, ScalarType.Float64), ["F32"] = (4, ScalarType.Float32), ["F16"] = (2, ScalarType.Float16),
        ["BF16"] = (2, ScalarType.BFloat16), ["I64"] = (8, ScalarType.Int64), ["I32"] = (4, ScalarType.Int32),
        ["I16"] = (2, ScalarType.Int16), ["I8"] = (1, ScalarType.Int8), ["U8"] = (1, ScalarType.Byte),
        ["BOOL"] = (1, ScalarType.Bool),
        ["U64"] = (8, null), ["U32"] = (4, null), ["U16"] = (2, null), ["F8_E4M3"] = (1, null), ["F8_E5M2"] = (1, null),
    };

    /// <summary>The dtypes this reader turns into tensors.</summary>
    public static IReadOnlyList<string> ReadableDTypes { get; } = DTypes.Where(d => d.Value.Type is not null).Select(d => d.Key).ToArray();

    /// <summary>Whether the file's first bytes can be a safetensors header length and a JSON object (a cheap sniff, not a check).</summary>
    public static bool LooksLikeSafetensors(ReadOnlySpan<byte> start) =>
        start.Length >= 9 && BinaryPrimitives.ReadUInt64LittleEndian(start) is > 1 and <= (ulong)MaxHeaderBytes && start[8] == (byte)'{';

    /// <summary>Reads and checks the header of a file (the tensor data is not read).</summary>
    public static SafetensorsHeader ReadHeader(string path)
    {
        var full = FullPath(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"No safetensors file at {full}.", path);
        try
        {
            using var stream = File.OpenRead(path);
            return ReadHeader(stream, full);
        }
        catch (Exception e) when (e is IOException and not FileNotFoundException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{full} cannot be read: {e.Message}", e);
        }
    }

    /// <summary>Checks the header of an in-memory file; <paramref name="path"/> names it in messages.</summary>
    public static SafetensorsHeader ParseHeader(ReadOnlySpan<byte> file, string path)
    {
        var full = FullPath(path);
        var length = HeaderLength(file.Length >= 8 ? file[..8] : file, file.Length, full);
        return Parse(file.Slice(8, (int)length), file.Length, full);
    }

    /// <summary>
    /// The tensors of a file, by name, on the CPU, after every check (<paramref name="keep"/>: only the names it accepts).
    /// The caller owns (and disposes) the tensors.
    /// </summary>
    public static Dictionary<string, Tensor> Read(string path, Func<string, bool>? keep = null)
    {
        var full = FullPath(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"No safetensors file at {full}.", path);
        try
        {
            using var stream = File.OpenRead(path);
            var header = ReadHeader(stream, full);
            return ReadTensors(header, keep, (entry, tensor) =>
            {
                stream.Position = header.DataStart + entry.Begin;
                ReadExactly(stream, tensor, entry, full);
            });
        }
        catch (Exception e) when (e is IOException and not FileNotFoundException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{full} cannot be read: {e.Message}", e);
        }
    }

    /// <summary>The tensors of an in-memory file, after every check. The caller owns the tensors.</summary>
    public static Dictionary<string, Tensor> Read(byte[] file, string path, Func<string, bool>? keep = null)
    {
        var header = ParseHeader(file, path);
        return ReadTensors(header, keep, (entry, tensor) =>
        {
            using var stream = new MemoryStream(file, (int)(header.DataStart + entry.Begin), (int)entry.Bytes, writable: false);
            ReadExactly(stream, tensor, entry, FullPath(path));
        });
    }

    private static Dictionary<string, Tensor> ReadTensors(SafetensorsHeader header, Func<string, bool>? keep, Action<SafetensorsEntry, Tensor> fill)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var entry in header.Entries)
            {
                Runtime.Cancellation.ThrowIfRequested();
                if (keep is not null && !keep(entry.Name)) continue;
                var tensor = empty(entry.Shape, DTypes[entry.DType].Type!.Value, device: CPU);
                tensors.Add(entry.Name, tensor);
                if (entry.Bytes > 0) fill(entry, tensor);
            }
            return tensors;
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
    }

    private static void ReadExactly(Stream stream, Tensor tensor, SafetensorsEntry entry, string full)
    {
        var start = stream.Position;
        tensor.ReadBytesFromStream(stream);
        if (stream.Position - start != entry.Bytes)
        {
            throw new InvalidDataException($"{full}: the tensor '{entry.Name}' gave {stream.Position - start} of its {entry.Bytes} bytes; the file changed while it was read or is truncated.");
        }
    }

    private static SafetensorsHeader ReadHeader(Stream stream, string full)
    {
        var length = stream.Length;
        Span<byte> prefix = stackalloc byte[8];
        var read = stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false);
        var headerLength = HeaderLength(prefix[..read], length, full);
        // Only now, with the length known to be inside the file and under the limit, is the header buffer allocated.
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        return Parse(header, length, full);
    }

    private static long HeaderLength(ReadOnlySpan<byte> prefix, long fileLength, string full)
    {
        if (fileLength < 8) throw Invalid(full, $"it has {fileLength} byte{(fileLength == 1 ? "" : "s")}; a safetensors file starts with an 8-byte header length");
        var n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n == 0) throw Invalid(full, "its header length is 0");
        if (n > (ulong)MaxHeaderBytes)
            throw Invalid(full, $"its header length field says {n:N0} bytes, over the format's limit of {MaxHeaderBytes:N0} (a corrupt file, or not safetensors)");
        if (n > (ulong)(fileLength - 8))
            throw Invalid(full, $"its header length field says {n:N0} bytes, but only {fileLength - 8:N0} follow (a truncated file, or not safetensors)");
        return (long)n;
    }

    private static SafetensorsHeader Parse(ReadOnlySpan<byte> header, long fileLength, string full)
    {
        if (!System.Text.Unicode.Utf8.IsValid(header))
        {
            var valid = ValidPrefixLength(header);
            throw Invalid(full, $"its header is not UTF-8 text (byte {valid} of the header is not)");
        }
        if (header[0] != (byte)'{') throw Invalid(full, $"its header does not start with '{{' (it starts with 0x{header[0]:X2}): not a JSON object");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { MaxDepth = MaxJsonDepth });
        }
        catch (JsonException e)
        {
            throw Invalid(full, $"its header is not valid JSON ({e.Message})");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Invalid(full, "its header is not a JSON object");
            var dataStart = 8 + (long)header.Length;
            var dataLength = fileLength - dataStart;
            var names = new HashSet<string>(StringComparer.Ordinal);
            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!names.Add(property.Name)) throw Invalid(full, $"the header names '{Shorten(property.Name)}' twice");
                if (property.Name == "__metadata__")
                {
                    if (property.Value.ValueKind != JsonValueKind.Object) throw Invalid(full, "its __metadata__ is not a JSON object of strings");
                    foreach (var item in property.Value.EnumerateObject())
                    {
                        if (item.Value.ValueKind != JsonValueKind.String)
                            throw Invalid(full, $"its __metadata__ entry '{Shorten(item.Name)}' is a JSON {Kind(item.Value)}, not a string");
                        if (!metadata.TryAdd(item.Name, item.Value.GetString()!)) throw Invalid(full, $"its __metadata__ names '{Shorten(item.Name)}' twice");
                    }
                    continue;
                }
                entries.Add(Entry(property, dataLength, full));
            }
            CheckLayout(entries, dataLength, full);
            return new SafetensorsHeader(entries, metadata, dataStart, dataLength);
        }
    }

    private static SafetensorsEntry Entry(JsonProperty property, long dataLength, string full)
    {
        var name = property.Name;
        var shown = Shorten(name);
        var value = property.Value;
        if (value.ValueKind != JsonValueKind.Object) throw Invalid(full, $"the header entry '{shown}' is a JSON {Kind(value)}, not an object with dtype, shape and data_offsets");
        if (!value.TryGetProperty("dtype", out var dtypeJson) || dtypeJson.ValueKind != JsonValueKind.String)
            throw Invalid(full, $"the tensor '{shown}' has no dtype string");
        var dtype = dtypeJson.GetString()!;
        if (!DTypes.TryGetValue(dtype, out var type))
            throw Invalid(full, $"the tensor '{shown}' has dtype '{Shorten(dtype)}', which is not a safetensors dtype (the format's: {string.Join(", ", DTypes.Keys)})");
        if (type.Type is null)
            throw Invalid(full, $"the tensor '{shown}' has dtype {dtype}, which this library cannot read (readable: {string.Join(", ", ReadableDTypes)})");
        if (!value.TryGetProperty("shape", out var shapeJson) || shapeJson.ValueKind != JsonValueKind.Array)
            throw Invalid(full, $"the tensor '{shown}' has no shape array");
        var shape = new long[shapeJson.GetArrayLength()];
        long elements = 1;
        var overflow = false;
        for (var i = 0; i < shape.Length; i++)
        {
            if (shapeJson[i].ValueKind != JsonValueKind.Number || !shapeJson[i].TryGetInt64(out shape[i]) || shape[i] < 0)
                throw Invalid(full, $"the tensor '{shown}' has the shape {Shorten(shapeJson.GetRawText())}; a shape holds non-negative integers");
            try { elements = checked(elements * shape[i]); }
            catch (OverflowException) { overflow = true; }
        }
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2 ||
            !offsets[0].TryGetInt64OrFalse(out var begin) || !offsets[1].TryGetInt64OrFalse(out var end) || begin < 0 || end < begin)
        {
            throw Invalid(full, $"the tensor '{shown}' has data_offsets {(value.TryGetProperty("data_offsets", out var o) ? Shorten(o.GetRawText()) : "(none)")}; " +
                                "they must be [begin, end] with 0 <= begin <= end");
        }
        long bytes = 0;
        if (!overflow)
        {
            try { bytes = checked(elements * type.Size); }
            catch (OverflowException) { overflow = true; }
        }
        var described = $"'{shown}' ({dtype} [{string.Join(", ", shape)}])";
        if (overflow || bytes != end - begin)
        {
            throw Invalid(full, $"the tensor {described} needs {(overflow ? "more bytes than a file can hold" : $"{bytes:N0} bytes")}, " +
                                $"but its data_offsets [{begin}, {end}] hold {end - begin:N0}");
        }
        if (end > dataLength)
            throw Invalid(full, $"the tensor {described} ends at data byte {end:N0}, but the file holds {dataLength:N0} bytes of data (a truncated file?)");
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    /// <summary>The tensors tile the data section from its start: sorted by offset, each starts where the last ended.</summary>
    private static void CheckLayout(List<SafetensorsEntry> entries, long dataLength, string full)
    {
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long covered = 0;
        SafetensorsEntry? previous = null;
        foreach (var entry in entries)
        {
            if (entry.Begin < covered)
            {
                throw Invalid(full, $"the tensors '{Shorten(previous!.Name)}' (data bytes {previous.Begin:N0}..{previous.End:N0}) and " +
                                    $"'{Shorten(entry.Name)}' ({entry.Begin:N0}..{entry.End:N0}) overlap");
            }
            if (entry.Begin > covered)
            {
                throw Invalid(full, $"data bytes {covered:N0}..{entry.Begin:N0} (before the tensor '{Shorten(entry.Name)}') belong to no tensor; " +
                                    "the format allows no gaps");
            }
            covered = entry.End;
            if (entry.Bytes > 0) previous = entry;
        }
        // Bytes after the last tensor are not read. The reference implementation refuses them, but TorchSharp.PyBridge's
        // SaveStateDict(path) leaves the old tail when it overwrites a longer file, so .NET users have such files.
    }

    private static bool TryGetInt64OrFalse(this JsonElement element, out long value)
    {
        value = 0;
        return element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out value);
    }

    private static int ValidPrefixLength(ReadOnlySpan<byte> bytes)
    {
        var status = System.Text.Unicode.Utf8.ToUtf16(bytes, new char[bytes.Length], out var read, out _, replaceInvalidSequences: false);
        return status == System.Buffers.OperationStatus.Done ? bytes.Length : read;
    }

    private static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..57] + "...";

    private static string FullPath(string path)
    {
        try { return Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException) { return path; }
    }

    private static InvalidDataException Invalid(string full, string what) => new($"{full} is not a valid safetensors file: {what}.");
}
