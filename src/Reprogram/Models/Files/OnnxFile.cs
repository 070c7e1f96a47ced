using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace Reprogram.Models.Files;

/// <summary>
/// Reading ONNX models for their weights: the protobuf parsed with errors that name the file (truncated, not protobuf,
/// no graph), initializers by name (a name used twice is refused), and float initializers as tensors with their
/// value count checked against their dims (weights kept in an external file, another data type or a count that does not
/// match are refused by name). ONNX holds no code; nothing in it is run.
/// </summary>
public static class OnnxFile
{
    /// <summary>An ONNX model from a file.</summary>
    public static ModelProto Read(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"No ONNX model at {full}.", path);
        try
        {
            using var stream = File.OpenRead(path);
            return Parse(stream, full);
        }
        catch (Exception e) when (e is IOException and not FileNotFoundException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{full} cannot be read: {e.Message}", e);
        }
    }

    /// <summary>An ONNX model from a stream; <paramref name="source"/> names it in messages.</summary>
    public static ModelProto Parse(Stream stream, string source)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{source} is not a readable ONNX model ({e.Message}); it may be truncated or corrupt.", e);
        }
        // Protobuf reads many byte strings as some message: a model without a graph is what a non-ONNX file becomes.
        if (model.Graph is null || model.Graph.Node.Count == 0)
            throw new InvalidDataException($"{source} is not an ONNX model: it has no graph{(model.Graph is null ? "" : " nodes")} (a truncated file, or another kind of file).");
        return model;
    }

    /// <summary>The graph's initializers by name; a name given twice is refused.</summary>
    public static Dictionary<string, TensorProto> Initializers(GraphProto graph, string source)
    {
        var byName = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var initializer in graph.Initializer)
        {
            if (!byName.TryAdd(initializer.Name, initializer))
                throw new InvalidDataException($"{source}: the graph has two initializers named '{initializer.Name}'.");
        }
        return byName;
    }

    /// <summary>A float initializer (float_data or raw_data, little-endian) as a tensor of its dims.</summary>
    public static Tensor FloatTensor(TensorProto proto, string source, string node)
    {
        if (proto.DataType != (int)TensorProto.Types.DataType.Float)
            throw new InvalidDataException($"{source}: the constant '{proto.Name}' of node '{node}' has ONNX data type {proto.DataType}, not float (1).");
        if (proto.DataLocation == TensorProto.Types.DataLocation.External)
            throw new InvalidDataException($"{source}: the constant '{proto.Name}' of node '{node}' keeps its values in an external file, which is not read; save the model with its weights inside.");
        var dims = proto.Dims.ToArray();
        if (dims.Any(d => d < 0)) throw new InvalidDataException($"{source}: the constant '{proto.Name}' of node '{node}' has negative dims [{string.Join(", ", dims)}].");
        long count;
        try { count = dims.Aggregate(1L, (a, d) => checked(a * d)); }
        catch (OverflowException) { throw new InvalidDataException($"{source}: the constant '{proto.Name}' of node '{node}' has dims [{string.Join(", ", dims)}], too many values."); }
        if (!BitConverter.IsLittleEndian && proto.FloatData.Count == 0)
            throw new PlatformNotSupportedException("Reading raw ONNX tensors needs a little-endian machine.");
        long given = proto.FloatData.Count > 0 ? proto.FloatData.Count : proto.RawData.Length / 4;
        if (given != count || proto.FloatData.Count == 0 && proto.RawData.Length % 4 != 0)
        {
            throw new InvalidDataException($"{source}: the constant '{proto.Name}' of node '{node}' has {(proto.FloatData.Count > 0 ? $"{given}" : $"{proto.RawData.Length} bytes of")} values " +
                                           $"for dims [{string.Join(", ", dims)}] ({count} floats); the file may be truncated or corrupt.");
        }
        float[] data = proto.FloatData.Count > 0
            ? proto.FloatData.ToArray()
            : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(proto.RawData.Span).ToArray();
        return tensor(data, dims);
    }
}
