using Google.Protobuf;
using Onnx;
using Reprogram.Models.Files;
using Reprogram.Models.Text;
using Reprogram.Models.Vision;
using Xunit;
using Xunit.Abstractions;

namespace Reprogram.Tests;

/// <summary>
/// ONNX files are read where weights come from ONNX: the CNTK ResNet-18 (and its preprocessing graph) and all-MiniLM-L6-v2.
/// A truncated file, a file that is not protobuf, an empty file and a graph that lacks an initializer are each refused
/// with the file's name and what is wrong.
/// </summary>
public sealed class OnnxHostileTests(ITestOutputHelper output) : IDisposable
{
    private readonly string temp = Directory.CreateTempSubdirectory("reprogram-hostile-onnx-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    private static readonly Lazy<string> ResNetOnnx = new(() => ResNetLoader.FindCntkResNet18Onnx() ?? throw new FileNotFoundException(ResNetLoader.CntkResNet18MissingMessage));
    private static string PreprocessOnnx => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(ResNetOnnx.Value)!, "..", "ResNetPrepOnnx", "ResNetPreprocess.onnx"));

    /// <summary>The kinds of broken bytes, made from a real model's bytes.</summary>
    private static IEnumerable<(string Case, byte[] Bytes, string Expected)> Broken(byte[] real)
    {
        yield return ("truncated", real[..(real.Length / 3)], "truncated or corrupt");
        yield return ("not protobuf", "this is a text file, not an ONNX model\n"u8.ToArray(), "ONNX");
        yield return ("random bytes", Enumerable.Range(0, 5000).Select(i => (byte)(i * 73 + 29)).ToArray(), "ONNX");
        yield return ("empty", [], "has no graph");
    }

    private void Refused(Action load, params string[] expected)
    {
        var e = Assert.Throws<InvalidDataException>(load);
        output.WriteLine(e.Message);
        foreach (var phrase in expected) Assert.Contains(phrase, e.Message);
    }

    [Fact]
    public void The_cntk_resnet18_loader_refuses_broken_files_and_a_missing_initializer()
    {
        var real = File.ReadAllBytes(ResNetOnnx.Value);
        foreach (var (name, bytes, expected) in Broken(real))
        {
            var path = Path.Combine(temp, $"resnet-{name.Replace(' ', '-')}.onnx");
            File.WriteAllBytes(path, bytes);
            Refused(() => ResNetLoader.LoadCntkResNet18(path, PreprocessOnnx), path, expected);
            // The preprocessing graph is ONNX too.
            Refused(() => ResNetLoader.LoadCntkResNet18(ResNetOnnx.Value, path), path, expected);
        }

        var model = ModelProto.Parser.ParseFrom(real);
        var conv1 = model.Graph.Node.First(n => n.OpType == "Conv");
        var weight = model.Graph.Initializer.Single(i => i.Name == conv1.Input[1]);
        model.Graph.Initializer.Remove(weight);
        var missing = Path.Combine(temp, "resnet-missing-initializer.onnx");
        File.WriteAllBytes(missing, model.ToByteArray());
        Refused(() => ResNetLoader.LoadCntkResNet18(missing, PreprocessOnnx), missing, $"'{weight.Name}'", "should be the constant conv1.weight but is computed");
    }

    [Fact]
    public void The_minilm_loader_refuses_broken_files_and_a_missing_initializer()
    {
        var real = MiniLmLoader.ReadOnnxBytes();
        foreach (var (name, bytes, expected) in Broken(real))
        {
            var path = Path.Combine(temp, $"minilm-{name.Replace(' ', '-')}.onnx");
            File.WriteAllBytes(path, bytes);
            Refused(() => MiniLmLoader.FromOnnxFile(path), path, expected);
        }

        var model = ModelProto.Parser.ParseFrom(real);
        model.Graph.Initializer.Remove(model.Graph.Initializer.Single(i => i.Name.EndsWith("embeddings.word_embeddings.weight", StringComparison.Ordinal)));
        var missing = Path.Combine(temp, "minilm-missing-initializer.onnx");
        File.WriteAllBytes(missing, model.ToByteArray());
        Refused(() => MiniLmLoader.FromOnnxFile(missing), missing, "missing 1 tensor(s): embeddings.word_embeddings.weight");
    }

    [Fact]
    public void Initializers_with_too_few_values_external_data_or_a_repeated_name_are_refused()
    {
        var proto = new TensorProto { Name = "w", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 2, 3 }, RawData = ByteString.CopyFrom(new byte[20]) };
        var e = Assert.Throws<InvalidDataException>(() => OnnxFile.FloatTensor(proto, "/models/x.onnx", "Conv_0"));
        Assert.Contains("/models/x.onnx: the constant 'w' of node 'Conv_0' has 20 bytes of values for dims [2, 3]", e.Message);

        var external = new TensorProto { Name = "big", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 4 }, DataLocation = TensorProto.Types.DataLocation.External };
        Assert.Contains("external file", Assert.Throws<InvalidDataException>(() => OnnxFile.FloatTensor(external, "/models/x.onnx", "MatMul_1")).Message);

        var graph = new GraphProto { Initializer = { new TensorProto { Name = "a" }, new TensorProto { Name = "a" } } };
        Assert.Contains("two initializers named 'a'", Assert.Throws<InvalidDataException>(() => OnnxFile.Initializers(graph, "/models/x.onnx")).Message);
    }
}
