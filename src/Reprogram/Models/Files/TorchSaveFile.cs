using System.Collections;
using System.IO.Compression;
using Razorvine.Pickle;
using Razorvine.Pickle.Objects;
using static TorchSharp.torch;

namespace Reprogram.Models.Files;

/// <summary>
/// Reads a state dict from a <c>torch.save</c> file (.pt/.pth/.bin: a zip holding <c>data.pkl</c>, a pickle, and one
/// entry per tensor storage) as data only. A pickle is a program: <c>torch.load</c> without <c>weights_only</c> runs
/// whatever callable it names. Here it is interpreted by Razorvine.Pickle, a .NET unpickler that cannot call Python;
/// the globals a state dict needs (<c>collections.OrderedDict</c>, <c>torch._utils._rebuild_tensor_v2</c> and its kin,
/// the <c>torch.*Storage</c> types) are given constructors that only record what they are asked, and anything else
/// (<c>os.system</c>, <c>builtins.eval</c>, a pickled model class) stays an inert record that is refused by name. Every
/// tensor's storage entry, size, offset and strides are checked before memory is allocated, and the tensors together
/// must fit in this machine's memory (a small zip can declare gigabytes). Every refusal is an
/// <see cref="InvalidDataException"/> naming the file (full path) and what is wrong.
/// </summary>
public static class TorchSaveFile
{
    /// <summary>The largest data.pkl read (a real state dict's is about 100 bytes per tensor).</summary>
    public const long MaxPickleBytes = 100_000_000;

    /// <summary>How far the tensors may expand beyond the file's size once past 1 GiB (zip bombs).</summary>
    public const long MaxExpansion = 64;

    private const string TorchUtils = "torch._utils";

    private static readonly Dictionary<string, ScalarType> StorageTypes = new(StringComparer.Ordinal)
    {
        ["DoubleStorage"] = ScalarType.Float64, ["FloatStorage"] = ScalarType.Float32, ["HalfStorage"] = ScalarType.Float16,
        ["BFloat16Storage"] = ScalarType.BFloat16, ["LongStorage"] = ScalarType.Int64, ["IntStorage"] = ScalarType.Int32,
        ["ShortStorage"] = ScalarType.Int16, ["CharStorage"] = ScalarType.Int8, ["ByteStorage"] = ScalarType.Byte,
        ["BoolStorage"] = ScalarType.Bool, ["ComplexDoubleStorage"] = ScalarType.ComplexFloat64, ["ComplexFloatStorage"] = ScalarType.ComplexFloat32,
    };

    private static readonly object Gate = new();

    /// <summary>Whether these bytes start a zip file (what torch.save has written since PyTorch 1.6).</summary>
    public static bool IsZip(ReadOnlySpan<byte> start) => start.Length >= 4 && start[0] == 0x50 && start[1] == 0x4B && start[2] == 0x03 && start[3] == 0x04;

    /// <summary>The tensors of a torch.save state dict, by name, on the CPU. The caller owns (and disposes) them.</summary>
    public static Dictionary<string, Tensor> Read(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"No torch.save file at {full}.", path);
        try
        {
            using var archive = ZipFile.OpenRead(path);
            return Read(archive, full, new FileInfo(path).Length);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(full, StringComparison.Ordinal))
        {
            // ZipArchive's own messages (a damaged central directory, a bad entry) do not name the file.
            throw Invalid(full, $"it is not a readable zip ({e.Message}); it may be truncated or corrupt");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Invalid(full, $"it cannot be read ({e.GetType().Name}: {e.Message}); it may be truncated or corrupt");
        }
    }

    private static Dictionary<string, Tensor> Read(ZipArchive archive, string full, long fileLength)
    {
        var pickles = archive.Entries.Where(e => e.FullName == "data.pkl" || e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal)).ToList();
        if (pickles.Count != 1)
        {
            throw Invalid(full, pickles.Count == 0
                ? $"the zip has no data.pkl, so it is not a torch.save file (its first entries: {string.Join(", ", archive.Entries.Take(5).Select(e => e.FullName))})"
                : $"the zip has {pickles.Count} data.pkl entries ({string.Join(", ", pickles.Select(p => p.FullName))})");
        }
        var pickle = pickles[0];
        var prefix = pickle.FullName[..^"data.pkl".Length];
        if (archive.GetEntry(prefix + "byteorder") is { } order)
        {
            using var reader = new StreamReader(order.Open());
            var text = reader.ReadToEnd().Trim();
            if (text != "little") throw Invalid(full, $"its tensors are stored {text}-endian; only little-endian files are read");
        }
        if (pickle.Length > MaxPickleBytes) throw Invalid(full, $"its data.pkl is {pickle.Length:N0} bytes, over the {MaxPickleBytes:N0} a state dict could need");
        var bytes = ReadAll(pickle, full);

        object root;
        var unpickler = new DataOnlyUnpickler(archive, prefix, full);
        lock (Gate)
        {
            // Razorvine's constructor table is process-wide: (re)claim the names a state dict uses, in case another
            // reader (TorchSharp.PyBridge) registered its own since.
            Register();
            try
            {
                root = unpickler.loads(bytes);
            }
            catch (InvalidDataException)
            {
                throw;
            }
            catch (PickleException e) when (System.Text.RegularExpressions.Regex.Match(e.Message, @"construction of ClassDict \(for ([^)]+)\)") is { Success: true } called)
            {
                // Razorvine refuses to call a global it does not know (os.system, builtins.eval, a model class).
                throw Invalid(full, $"its pickle calls {called.Groups[1].Value}, which a state dict never does; the pickle is read as data, so nothing in it was run");
            }
            catch (Exception e) when (e is PickleException or InvalidCastException or IndexOutOfRangeException or ArgumentException
                                          or InvalidOperationException or OverflowException or NullReferenceException or KeyNotFoundException
                                          or FormatException or EndOfStreamException or System.Reflection.TargetInvocationException)
            {
                throw Invalid(full, $"its data.pkl is not a state dict pickle this reader understands ({e.GetType().Name}: {e.Message}); " +
                                    "the pickle is read as data, so nothing in it was run");
            }
            finally
            {
                unpickler.close();
            }
        }
        var refs = StateDict(root, full);
        var needed = refs.Values.Select(r => r.Storage).Distinct().Sum(s => s.Bytes);
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (needed > available)
            throw Invalid(full, $"its tensors declare {needed:N0} bytes, more than this machine's {available:N0} bytes of memory (a corrupt file, or a zip that expands far beyond its size)");
        // Real weights hardly compress; a file whose tensors expand to over 64 times its size (and past 1 GiB) is a zip bomb.
        if (needed > MaxExpansion * fileLength && needed > 1L << 30)
            throw Invalid(full, $"its tensors declare {needed:N0} bytes from a {fileLength:N0}-byte file, over {MaxExpansion} times its size: a zip that expands far beyond its size is refused");
        return Materialize(archive, refs, full);
    }

    /// <summary>The top-level object must be a dict of names to tensors; anything else is named and refused.</summary>
    private static Dictionary<string, TensorRef> StateDict(object? root, string full)
    {
        if (root is not Hashtable table)
        {
            throw Invalid(full, $"it holds {Describe(root)}, not a state dict (a dict of names to tensors); " +
                                "save model.state_dict() with torch.save, or as safetensors (the pickle was read as data: nothing in it was run)");
        }
        var refs = new Dictionary<string, TensorRef>(StringComparer.Ordinal);
        var others = new List<string>();
        foreach (DictionaryEntry entry in table)
        {
            if (entry.Key is not string name) throw Invalid(full, $"its dict has the key {Describe(entry.Key)}, not a tensor name");
            if (entry.Value is TensorRef tensor) refs[name] = tensor;
            else others.Add($"'{name}' ({Describe(entry.Value)})");
        }
        if (others.Count > 0)
        {
            var hint = others.Any(o => o.Contains("state_dict", StringComparison.Ordinal)) ? "; it looks like a training checkpoint: save its 'state_dict' alone" : "";
            throw Invalid(full, $"its dict holds {others.Count} entr{(others.Count == 1 ? "y" : "ies")} that {(others.Count == 1 ? "is" : "are")} not a tensor: " +
                                $"{string.Join(", ", others.Take(5))}{(others.Count > 5 ? $", and {others.Count - 5} more" : "")}{hint} (the pickle was read as data: nothing in it was run)");
        }
        if (refs.Count == 0) throw Invalid(full, "its state dict is empty");
        return refs;
    }

    private static Dictionary<string, Tensor> Materialize(ZipArchive archive, Dictionary<string, TensorRef> refs, string full)
    {
        var storages = new Dictionary<StorageRef, Tensor>();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var storage in refs.Values.Select(r => r.Storage).Distinct())
            {
                Runtime.Cancellation.ThrowIfRequested();
                var flat = empty([storage.Elements], storage.Type, device: CPU);
                storages[storage] = flat;
                if (storage.Bytes == 0) continue;
                using var stream = storage.Entry.Open();
                try
                {
                    flat.ReadBytesFromStream(stream, 1 << 20);
                }
                catch (Exception e) when (e is IOException or InvalidDataException)
                {
                    throw Invalid(full, $"the storage '{storage.Entry.FullName}' cannot be read ({e.Message}); the file may be truncated or corrupt");
                }
            }
            foreach (var (name, r) in refs) tensors[name] = storages[r.Storage].as_strided(r.Shape, r.Strides, r.Offset);
            return tensors;
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        finally
        {
            foreach (var s in storages.Values) s.Dispose();
        }
    }

    private static byte[] ReadAll(ZipArchiveEntry entry, string full)
    {
        using var stream = entry.Open();
        using var memory = new MemoryStream();
        var buffer = new byte[81920];
        int n;
        while ((n = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            memory.Write(buffer, 0, n);
            if (memory.Length > MaxPickleBytes) throw Invalid(full, $"its data.pkl expands past {MaxPickleBytes:N0} bytes");
        }
        return memory.ToArray();
    }

    private static string Describe(object? value) => value switch
    {
        null => "None",
        ClassDict d => $"a pickled {d.ClassName} object",
        ClassDictConstructor c => $"the Python callable {c.module}.{c.name}",
        IObjectConstructor c => $"a Python callable ({c.GetType().Name})",
        PythonException p => $"a Python exception ({p.Message})",
        TensorRef => "a tensor",
        string s => $"the string '{(s.Length > 40 ? s[..37] + "..." : s)}'",
        Hashtable => "a dict",
        object[] => "a tuple",
        ArrayList => "a list",
        IDictionary => "a dict",
        _ => $"a {value.GetType().Name}",
    };

    private static InvalidDataException Invalid(string full, string what) => new($"{full} is not a readable torch.save state dict: {what}.");

    private static void Register()
    {
        Unpickler.registerConstructor("collections", "OrderedDict", new OrderedDictConstructor());
        Unpickler.registerConstructor(TorchUtils, "_rebuild_tensor", new RebuildTensor(v2: false));
        Unpickler.registerConstructor(TorchUtils, "_rebuild_tensor_v2", new RebuildTensor(v2: true));
        Unpickler.registerConstructor(TorchUtils, "_rebuild_parameter", new RebuildParameter());
    }

    // ---- what the pickle builds: records, never code ---------------------------------------------------------------

    /// <summary>A storage entry of the zip: its dtype and element count, checked against the entry's size.</summary>
    private sealed record StorageRef(string Key, ZipArchiveEntry Entry, ScalarType Type, long Elements, long Bytes);

    /// <summary>A tensor: a view (shape, strides, offset) of a storage, checked to lie inside it.</summary>
    private sealed record TensorRef(StorageRef Storage, long Offset, long[] Shape, long[] Strides);

    /// <summary>collections.OrderedDict: a Hashtable; its pickled state (torch's _metadata) is ignored.</summary>
    private sealed class OrderedDict : Hashtable
    {
        public void __setstate__(Hashtable state) { }
    }

    /// <summary>OrderedDict() or OrderedDict(pairs) (TorchSharp.PyBridge writes OrderedDict([]) for backward hooks).</summary>
    private sealed class OrderedDictConstructor : IObjectConstructor
    {
        public object construct(object[] args)
        {
            var dict = new OrderedDict();
            if (args.Length == 0) return dict;
            IEnumerable? pairs = args.Length == 1 ? args[0] as object[] ?? (IEnumerable?)(args[0] as ArrayList) : null;
            if (pairs is null) throw new PickleException($"collections.OrderedDict is called with {args.Length} arguments that are not a list of pairs");
            foreach (var pair in pairs)
            {
                if (pair is not object[] { Length: 2 } kv || kv[0] is null) throw new PickleException("collections.OrderedDict is given an item that is not a (key, value) pair");
                dict[kv[0]] = kv[1];
            }
            return dict;
        }
    }

    /// <summary>torch._utils._rebuild_tensor(_v2)(storage, offset, size, stride[, requires_grad, backward_hooks[, metadata]]).</summary>
    private sealed class RebuildTensor(bool v2) : IObjectConstructor
    {
        public object construct(object[] args)
        {
            var name = v2 ? "_rebuild_tensor_v2" : "_rebuild_tensor";
            if (args.Length < 4 || args[0] is not StorageRef storage)
                throw new PickleException($"torch._utils.{name} is called with {args.Length} arguments, the first {(args.Length > 0 ? DescribeShort(args[0]) : "missing")}; a tensor's are a storage, offset, size and stride");
            var offset = Integer(args[1], "storage offset");
            var shape = Integers(args[2], "size");
            var strides = Integers(args[3], "stride");
            if (shape.Length != strides.Length) throw new PickleException($"a tensor has size ({string.Join(", ", shape)}) but stride ({string.Join(", ", strides)})");
            if (v2 && args.Length >= 6 && args[5] is Hashtable { Count: > 0 }) throw new PickleException("a tensor carries backward hooks; a state dict's tensors have none");
            long elements = 1, last = offset;
            try
            {
                for (var i = 0; i < shape.Length; i++)
                {
                    if (shape[i] < 0 || strides[i] < 0) throw new PickleException($"a tensor has size ({string.Join(", ", shape)}) and stride ({string.Join(", ", strides)}); negative values are not allowed");
                    elements = checked(elements * shape[i]);
                    if (shape[i] > 0) last = checked(last + (shape[i] - 1) * strides[i]);
                }
            }
            catch (OverflowException)
            {
                throw new PickleException($"a tensor's size ({string.Join(", ", shape)}) and stride overflow");
            }
            if (offset < 0 || elements > 0 && last >= storage.Elements)
                throw new PickleException($"a tensor of size ({string.Join(", ", shape)}), stride ({string.Join(", ", strides)}) and offset {offset} reaches past its storage '{storage.Key}' of {storage.Elements} elements");
            return new TensorRef(storage, offset, shape, strides);
        }
    }

    /// <summary>torch._utils._rebuild_parameter(data, requires_grad, backward_hooks): the data (a parameter is a tensor here).</summary>
    private sealed class RebuildParameter : IObjectConstructor
    {
        public object construct(object[] args) =>
            args.Length >= 1 && args[0] is TensorRef tensor ? tensor
            : throw new PickleException("torch._utils._rebuild_parameter is not called on a tensor");
    }

    private sealed class DataOnlyUnpickler(ZipArchive archive, string prefix, string full) : Unpickler
    {
        protected override object persistentLoad(object pid)
        {
            // torch.save's persistent ids: ("storage", torch.FloatStorage, key, location, element count).
            if (pid is not object[] { Length: >= 5 } id || id[0] is not "storage")
                throw new PickleException($"a persistent id {DescribeShort(pid)} is not a torch storage");
            if (id[1] is not ClassDictConstructor { module: "torch" } type || !StorageTypes.TryGetValue(type.name, out var dtype))
                throw new PickleException($"the storage type {DescribeShort(id[1])} is not one of torch's ({string.Join(", ", StorageTypes.Keys)})");
            if (id[2] is not string key || key.Length == 0 || key.Contains('/') || key.Contains(".."))
                throw new PickleException($"the storage key {DescribeShort(id[2])} is not a plain name");
            var elements = Integer(id[4], "storage size");
            if (elements < 0) throw new PickleException($"the storage '{key}' has {elements} elements");
            var entry = archive.GetEntry($"{prefix}data/{key}")
                ?? throw new InvalidDataException($"{full} is not a readable torch.save state dict: its pickle refers to the storage '{prefix}data/{key}', which the zip does not hold (a truncated file?).");
            var size = (long)ElementSize(dtype);
            long bytes;
            try { bytes = checked(elements * size); }
            catch (OverflowException) { throw new PickleException($"the storage '{key}' declares {elements} elements"); }
            if (entry.Length != bytes)
                throw new InvalidDataException($"{full} is not a readable torch.save state dict: the storage '{entry.FullName}' holds {entry.Length:N0} bytes, its pickle says {elements:N0} {type.name} elements ({bytes:N0} bytes).");
            return new StorageRef(key, entry, dtype, elements, bytes);
        }
    }

    private static int ElementSize(ScalarType type) => type switch
    {
        ScalarType.Float64 or ScalarType.Int64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };

    private static long Integer(object? value, string what) => value switch
    {
        int i => i,
        long l => l,
        System.Numerics.BigInteger b when b >= long.MinValue && b <= long.MaxValue => (long)b,
        _ => throw new PickleException($"the {what} is {DescribeShort(value)}, not an integer"),
    };

    private static long[] Integers(object? value, string what) =>
        value is object[] items ? items.Select(i => Integer(i, what)).ToArray() : throw new PickleException($"the {what} is {DescribeShort(value)}, not a tuple of integers");

    private static string DescribeShort(object? value) => value switch
    {
        null => "None",
        string s => $"'{(s.Length > 40 ? s[..37] + "..." : s)}'",
        ClassDictConstructor c => $"{c.module}.{c.name}",
        _ => value.GetType().Name,
    };
}
