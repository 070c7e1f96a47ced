using System.Collections;
using System.Text.Json;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using Reprogram.Models.Files;
using static TorchSharp.torch;

namespace Reprogram.Models.Vision;

/// <summary>
/// Pretrained weights for <see cref="ResNet"/>: the CNTK ResNet-18 that ML.NET's DnnImageFeaturizer ships as ONNX
/// (ImageNet-pretrained, features only), and torchvision-style state dicts (.safetensors or torch.save .pt/.pth).
/// </summary>
public static class ResNetLoader
{
    /// <summary>Blocks per stage of the CNTK ResNet-18: its last stage has three blocks, torchvision's two.</summary>
    public static readonly int[] CntkResNet18Blocks = [2, 2, 2, 3];

    public const string CntkResNet18Identity = "resnet18-imagenet (CNTK export, ML.NET DnnImageFeaturizer.ResNet18 0.23.1)";
    public const string CntkResNet18PackageId = "Microsoft.ML.DnnImageFeaturizer.ResNet18";
    public const string CntkResNet18PackageVersion = "0.23.1";

    /// <summary>What to tell a person when <see cref="FindCntkResNet18Onnx"/> finds nothing.</summary>
    public const string CntkResNet18MissingMessage =
        "The CNTK ResNet-18 (ResNet18.onnx, ImageNet-pretrained, shipped by ML.NET's DnnImageFeaturizer) is not on this machine. " +
        "Restore it into the NuGet cache with `dotnet add package Microsoft.ML.DnnImageFeaturizer.ResNet18 --version 0.23.1` " +
        "in any project, or `#r \"nuget: Microsoft.ML.DnnImageFeaturizer.ResNet18, 0.23.1\"` in a notebook; it is then found " +
        "under $NUGET_PACKAGES (or ~/.nuget/packages)/microsoft.ml.dnnimagefeaturizer.resnet18/0.23.1/tools/DnnImageModels/.";

    // ---------------------------------------------------------------------------------------------------------------
    // Finding the CNTK ResNet-18
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// ResNet18.onnx next to the app (DnnImageModels/ResNet18Onnx/, where the package's build props copy it) or in the
    /// NuGet cache ($NUGET_PACKAGES, else ~/.nuget/packages; version 0.23.1 first); when absent, the package is downloaded
    /// into the cache first (<see cref="Runtime.ModelPackages"/>); null when that fails too (show <see cref="CntkResNet18MissingMessage"/>).
    /// </summary>
    public static string? FindCntkResNet18Onnx() =>
        FindCntkResNet18OnnxHere() ?? (Runtime.ModelPackages.Download(CntkResNet18PackageId, CntkResNet18PackageVersion) ? FindCntkResNet18OnnxHere() : null);

    private static string? FindCntkResNet18OnnxHere()
    {
        var relative = Path.Combine("DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");
        var candidates = new List<string>
        {
            Path.Combine(AppContext.BaseDirectory, relative),
            Path.Combine(AppContext.BaseDirectory, "ResNet18.onnx"),
        };
        candidates.AddRange(Runtime.NuGetCache.VersionFolders(CntkResNet18PackageId, CntkResNet18PackageVersion)
            .Select(v => Path.Combine(v, "tools", relative)));
        return candidates.FirstOrDefault(File.Exists);
    }

    /// <summary>Finds (<see cref="FindCntkResNet18Onnx"/>) and loads the CNTK ResNet-18; throws with how to get it when absent.</summary>
    public static ResNet LoadCntkResNet18() =>
        LoadCntkResNet18(FindCntkResNet18Onnx() ?? throw new FileNotFoundException(CntkResNet18MissingMessage + Runtime.ModelPackages.FailureNote));

    // ---------------------------------------------------------------------------------------------------------------
    // The CNTK ResNet-18 from ONNX
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// The CNTK ResNet-18 as ResNet([2, 2, 2, 3], classes: null, CntkBgr), in eval mode: every conv and batch norm
    /// tensor is mapped from the ONNX graph by walking its nodes in order (stem, then per block its Conv/BatchNormalization
    /// pairs, the shortcut and the residual Add), never by initializer names. The mean image comes from
    /// ResNetPreprocess.onnx, which the package ships next to it (../ResNetPrepOnnx/), or from
    /// <paramref name="preprocessOnnxPath"/>. Throws <see cref="InvalidDataException"/> naming the node when the graph
    /// is not the expected ResNet.
    /// </summary>
    public static ResNet LoadCntkResNet18(string onnxPath, string? preprocessOnnxPath = null)
    {
        var graph = ReadOnnx(onnxPath).Graph;
        preprocessOnnxPath ??= FindPreprocessOnnx(onnxPath) ?? throw new FileNotFoundException(
            $"ResNetPreprocess.onnx (the CNTK ResNet's mean image) is neither in {Path.GetFullPath(Path.Combine(Path.GetDirectoryName(onnxPath) ?? ".", "..", "ResNetPrepOnnx"))} " +
            $"nor next to {onnxPath}; the package {CntkResNet18PackageId} ships both. Pass its path explicitly.");
        var meanImage = ReadCntkMeanImage(ReadOnnx(preprocessOnnxPath).Graph, preprocessOnnxPath);
        var weights = new Dictionary<string, (Tensor Tensor, string Source)>();
        ResNet? model = null;
        try
        {
            weights = new CntkGraphWalk(graph, onnxPath).Walk(CntkResNet18Blocks);
            model = new ResNet(CntkResNet18Blocks, classes: null, ResNetPreprocessing.CntkBgr, meanImage: meanImage);
            CopyWeights(model, weights, onnxPath, "the CNTK ResNet-18 ([2, 2, 2, 3], features only)");
        }
        catch
        {
            model?.Dispose();
            throw;
        }
        finally
        {
            meanImage.Dispose();
            foreach (var (t, _) in weights.Values) t.Dispose();
        }
        model.eval();
        return model;
    }

    private static string? FindPreprocessOnnx(string onnxPath)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(onnxPath))!;
        return new[]
        {
            Path.Combine(folder, "..", "ResNetPrepOnnx", "ResNetPreprocess.onnx"),
            Path.Combine(folder, "ResNetPreprocess.onnx"),
        }.Select(Path.GetFullPath).FirstOrDefault(File.Exists);
    }

    private static ModelProto ReadOnnx(string path) => OnnxFile.Read(path);

    /// <summary>
    /// ResNetPreprocess.onnx: OriginalInput (RGB, 0..255) -> Split(axis 1) into R, G, B -> Concat B, G, R -> Sub MeanImage.
    /// Returns the mean image [1, 3, 224, 224], BGR, 0..255 scale (it varies per pixel: it is not three constants).
    /// </summary>
    private static Tensor ReadCntkMeanImage(GraphProto graph, string file)
    {
        var initializers = OnnxFile.Initializers(graph, file);
        var input = graph.Input.FirstOrDefault(i => !initializers.ContainsKey(i.Name))?.Name
                    ?? throw new InvalidDataException($"{file}: the preprocessing graph has no input.");
        var nodes = graph.Node;
        InvalidDataException Error(string what) => new($"{file} is not the CNTK ResNet preprocessing (Split RGB, Concat BGR, Sub mean image): {what}.");
        if (nodes.Count != 3) throw Error($"it has {nodes.Count} nodes, not 3");
        var (split, concat, sub) = (nodes[0], nodes[1], nodes[2]);
        if (split.OpType != "Split" || split.Input[0] != input || IntAttribute(split, "axis") != 1 || split.Output.Count != 3)
            throw Error($"node '{split.Name}' ({split.OpType}) does not split the input's channels in three");
        if (concat.OpType != "Concat" || IntAttribute(concat, "axis") != 1 || concat.Input.Count != 3 ||
            concat.Input[0] != split.Output[2] || concat.Input[1] != split.Output[1] || concat.Input[2] != split.Output[0])
            throw Error($"node '{concat.Name}' ({concat.OpType}) does not concatenate the channels in reverse (RGB -> BGR)");
        if (sub.OpType != "Sub" || sub.Input[0] != concat.Output[0] || !initializers.TryGetValue(sub.Input[1], out var mean))
            throw Error($"node '{sub.Name}' ({sub.OpType}) does not subtract a constant from the BGR channels");
        if (graph.Output.Count != 1 || graph.Output[0].Name != sub.Output[0])
            throw Error($"the graph's output is not node '{sub.Name}''s");
        var image = ToTensor(mean, file, sub.Name);
        if (image.dim() != 4 || image.shape[0] != 1 || image.shape[1] != 3)
            throw Error($"the mean '{mean.Name}' subtracted by '{sub.Name}' is [{string.Join(", ", image.shape)}], not [1, 3, h, w]");
        return image;
    }

    /// <summary>
    /// Walks the CNTK ResNet graph node by node and names each weight by the torchvision parameter it becomes.
    /// Expected: Conv 7x7/2 -> BatchNormalization -> Relu -> MaxPool 3x3/2; per block the Conv/BatchNormalization pairs
    /// (CNTK puts a downsampling block's 1x1 shortcut conv before its first 3x3), Relu, Add, Relu; then the average pool.
    /// </summary>
    private sealed class CntkGraphWalk(GraphProto graph, string file)
    {
        private readonly Dictionary<string, TensorProto> initializers = OnnxFile.Initializers(graph, file);
        private readonly Dictionary<string, (Tensor Tensor, string Source)> weights = new();
        private int next;

        public Dictionary<string, (Tensor Tensor, string Source)> Walk(IReadOnlyList<int> blocks)
        {
            var input = graph.Input.FirstOrDefault(i => !initializers.ContainsKey(i.Name))?.Name
                        ?? throw Error("the graph has no input that is not a constant");
            // Stem: [1, 3, 224, 224] -> conv1 -> bn1 -> relu -> maxpool -> [1, 64, 56, 56]
            var conv = Take("Conv", "the stem's 7x7 convolution");
            Expect(conv.Input[0] == input, conv, $"its input is '{conv.Input[0]}', not the graph input '{input}'");
            Conv(conv, "conv1", kernel: 7, stride: 2);
            var x = BatchNorm(Take("BatchNormalization", "the stem's batch norm"), conv, "bn1");
            var relu = Take("Relu", "the stem's relu");
            Expect(relu.Input[0] == x, relu, $"its input is '{relu.Input[0]}', not the stem batch norm's output '{x}'");
            var pool = Take("MaxPool", "the stem's 3x3 max pool");
            Expect(pool.Input[0] == relu.Output[0], pool, "it does not follow the stem's relu");
            Window(pool, kernel: 3, stride: 2);
            x = pool.Output[0];

            // Blocks: the first block of layer2..4 halves the size and doubles the width, so it has a 1x1 downsample shortcut.
            for (int stage = 0; stage < 4; stage++)
            {
                for (int block = 0; block < blocks[stage]; block++)
                {
                    int stride = stage > 0 && block == 0 ? 2 : 1;
                    x = Block(x, $"layer{stage + 1}.{block}", stride, downsample: stride != 1);
                }
            }

            // Global average pool: [1, 512, 7, 7] -> [1, 512, 1, 1], the graph's output.
            var average = Take(next < graph.Node.Count && graph.Node[next].OpType == "GlobalAveragePool" ? "GlobalAveragePool" : "AveragePool",
                               "the global average pool");
            Expect(average.Input[0] == x, average, $"its input is '{average.Input[0]}', not the last block's output '{x}'");
            if (average.OpType == "AveragePool")
            {
                var kernel = IntsAttribute(average, "kernel_shape");
                Expect(kernel is [7, 7] && (PadsAttribute(average) ?? [0, 0, 0, 0]).All(p => p == 0), average,
                       $"it pools {(kernel is null ? "?" : string.Join("x", kernel))} with padding, not the 7x7 of a 224 input");
            }
            Expect(graph.Output.Count == 1 && graph.Output[0].Name == average.Output[0], average, "its output is not the graph's output");
            if (next != graph.Node.Count) throw Error($"node '{graph.Node[next].Name}' ({graph.Node[next].OpType}) follows the final pool");
            return weights;
        }

        /// <summary>One basic block from input x; returns the name of its output.</summary>
        private string Block(string x, string prefix, int stride, bool downsample)
        {
            // The block's nodes in graph order: Conv/BatchNormalization pairs and one Relu, up to the Add; then a Relu.
            var pairs = new List<(NodeProto Conv, NodeProto Bn)>();
            NodeProto? innerRelu = null;
            NodeProto add;
            while (true)
            {
                if (next >= graph.Node.Count) throw Error($"the graph ends inside block {prefix}");
                var node = graph.Node[next];
                if (node.OpType == "Conv")
                {
                    var conv = Take("Conv", $"a convolution of block {prefix}");
                    var bn = Take("BatchNormalization", $"the batch norm after node '{conv.Name}' in block {prefix}");
                    Expect(bn.Input[0] == conv.Output[0], bn, $"it does not normalise the output of the Conv '{conv.Name}' before it");
                    pairs.Add((conv, bn));
                }
                else if (node.OpType == "Relu" && innerRelu is null) innerRelu = Take("Relu", $"the relu inside block {prefix}");
                else if (node.OpType == "Add") { add = Take("Add", $"the residual add of block {prefix}"); break; }
                else throw Error($"node '{node.Name}' ({node.OpType}) is not part of a basic block (block {prefix})");
            }
            var outRelu = Take("Relu", $"the relu after the residual add of block {prefix}");
            Expect(outRelu.Input[0] == add.Output[0], outRelu, $"it does not follow the residual Add '{add.Name}'");
            if (innerRelu is null) throw Error($"block {prefix} (ending at Add '{add.Name}') has no relu between its convolutions");
            Expect(pairs.Count == (downsample ? 3 : 2), add,
                   $"block {prefix} has {pairs.Count} convolutions; a basic block {(downsample ? "with a 1x1 downsampling shortcut has 3" : "with an identity shortcut has 2")}");

            // Main path by data flow: x -> conv1 -> bn1 -> relu -> conv2 -> bn2 -> Add.
            var first = pairs.Where(p => p.Conv.Input[0] == x && p.Bn.Output[0] == innerRelu.Input[0]).ToList();
            if (first.Count != 1) throw Error($"in block {prefix}, no Conv on the block input '{x}' feeds the relu '{innerRelu.Name}' through its batch norm");
            var second = pairs.Where(p => p.Conv.Input[0] == innerRelu.Output[0]).ToList();
            if (second.Count != 1) throw Error($"in block {prefix}, no single Conv follows the relu '{innerRelu.Name}'");
            var mainOut = second[0].Bn.Output[0];
            Expect(add.Input.Count == 2 && add.Input.Contains(mainOut), add, $"it does not add the output of block {prefix}'s second batch norm '{second[0].Bn.Name}'");
            var shortcut = add.Input[0] == mainOut ? add.Input[1] : add.Input[0];

            Conv(first[0].Conv, $"{prefix}.conv1", kernel: 3, stride: stride);
            BatchNorm(first[0].Bn, first[0].Conv, $"{prefix}.bn1");
            Conv(second[0].Conv, $"{prefix}.conv2", kernel: 3, stride: 1);
            BatchNorm(second[0].Bn, second[0].Conv, $"{prefix}.bn2");
            if (downsample)
            {
                var ds = pairs.Except([first[0], second[0]]).Single();
                Expect(ds.Conv.Input[0] == x && ds.Bn.Output[0] == shortcut, add,
                       $"its shortcut '{shortcut}' is not the 1x1 Conv '{ds.Conv.Name}' + batch norm '{ds.Bn.Name}' on the block input '{x}'");
                Conv(ds.Conv, $"{prefix}.downsample.0", kernel: 1, stride: stride);
                BatchNorm(ds.Bn, ds.Conv, $"{prefix}.downsample.1");
            }
            else
            {
                Expect(shortcut == x, add, $"its shortcut '{shortcut}' is not the block input '{x}' (an identity shortcut was expected in block {prefix})");
            }
            return outRelu.Output[0];
        }

        private void Conv(NodeProto conv, string name, int kernel, int stride)
        {
            Expect(conv.Input.Count == 2, conv, $"it has {(conv.Input.Count == 3 ? "a bias" : $"{conv.Input.Count} inputs")}; {name} has a weight only");
            Expect((IntAttribute(conv, "group") ?? 1) == 1, conv, "it is a grouped convolution");
            Expect((IntsAttribute(conv, "dilations") ?? [1, 1]).All(d => d == 1), conv, "it is dilated");
            Window(conv, kernel, stride);
            Add($"{name}.weight", conv.Input[1], conv);
        }

        /// <summary>
        /// Kernel, stride, padding of a Conv or MaxPool. torchvision pads k/2 on every side; CNTK's export pads k/2 at the
        /// start and one less at the end of a stride-2 window (pads [3, 3, 2, 2] for conv1). Both give the same output
        /// when the input size is even (any multiple of 32 for the whole network, 224 included), so either is accepted.
        /// </summary>
        private void Window(NodeProto node, int kernel, int stride)
        {
            var kernelShape = IntsAttribute(node, "kernel_shape");
            Expect(kernelShape is null || kernelShape.All(k => k == kernel) && kernelShape.Length == 2, node,
                   $"its kernel is {(kernelShape is null ? "?" : string.Join("x", kernelShape))}, not {kernel}x{kernel}");
            var strides = IntsAttribute(node, "strides") ?? [1, 1];
            Expect(strides.Length == 2 && strides.All(s => s == stride), node, $"its stride is {string.Join("x", strides)}, not {stride}");
            var autoPad = StringAttribute(node, "auto_pad");
            Expect(string.IsNullOrEmpty(autoPad) || autoPad == "NOTSET", node, $"it uses auto_pad {autoPad}");
            var pads = PadsAttribute(node) ?? [0, 0, 0, 0];
            long begin = kernel / 2;
            Expect(pads.Length == 4 && pads[0] == begin && pads[1] == begin &&
                   pads[2] <= begin && pads[3] <= begin && pads[2] >= begin - (stride - 1) && pads[3] >= begin - (stride - 1), node,
                   $"its pads are [{string.Join(", ", pads)}], not {begin} at the start (and {begin} or {begin - (stride - 1)} at the end)");
        }

        /// <summary>BatchNormalization(X, scale, B, mean, var) after <paramref name="conv"/>; returns its output name.</summary>
        private string BatchNorm(NodeProto bn, NodeProto conv, string name)
        {
            Expect(bn.Input[0] == conv.Output[0], bn, $"it does not normalise the output of the Conv '{conv.Name}'");
            Expect(bn.Input.Count == 5 && bn.Output.Count >= 1, bn, "it does not have the inputs scale, bias, mean, variance");
            var epsilon = FloatAttribute(bn, "epsilon") ?? 1e-5f;
            Expect(Math.Abs(epsilon - 1e-5) < 1e-9, bn, $"its epsilon is {epsilon}, torchvision's batch norm uses 1e-5");
            Expect((IntAttribute(bn, "spatial") ?? 1) == 1, bn, "it is not a spatial (per-channel) batch norm");
            Add($"{name}.weight", bn.Input[1], bn);
            Add($"{name}.bias", bn.Input[2], bn);
            Add($"{name}.running_mean", bn.Input[3], bn);
            Add($"{name}.running_var", bn.Input[4], bn);
            return bn.Output[0];
        }

        private void Add(string parameter, string initializer, NodeProto node)
        {
            if (!initializers.TryGetValue(initializer, out var proto))
                throw Error($"input '{initializer}' of node '{node.Name}' ({node.OpType}) should be the constant {parameter} but is computed");
            if (weights.ContainsKey(parameter)) throw Error($"node '{node.Name}' maps to {parameter} a second time");
            weights[parameter] = (ToTensor(proto, file, node.Name), $"'{initializer}' of node '{node.Name}' ({node.OpType})");
        }

        private NodeProto Take(string opType, string what)
        {
            if (next >= graph.Node.Count) throw Error($"the graph ends where {what} ({opType}) was expected");
            var node = graph.Node[next];
            if (node.OpType != opType) throw Error($"node '{node.Name}' is {node.OpType} where {what} ({opType}) was expected");
            next++;
            return node;
        }

        private void Expect(bool condition, NodeProto node, string what)
        {
            if (!condition) throw Error($"node '{node.Name}' ({node.OpType}): {what}");
        }

        private InvalidDataException Error(string what) =>
            new($"{file} is not the expected CNTK ResNet-18 graph: {what}.");
    }

    private static long? IntAttribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.I;
    private static float? FloatAttribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.F;
    private static long[]? IntsAttribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.Ints.ToArray();
    private static string? StringAttribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.S.ToStringUtf8();
    private static long[]? PadsAttribute(NodeProto node) => IntsAttribute(node, "pads");

    private static Tensor ToTensor(TensorProto proto, string file, string node) => OnnxFile.FloatTensor(proto, file, node);

    // ---------------------------------------------------------------------------------------------------------------
    // torchvision state dicts
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Any torchvision ResNet state dict (resnet18, 34, 50, 101, 152; .pth/.pt or .safetensors), its architecture read
    /// from the tensor names: basic or bottleneck blocks (layer1.0.conv3 exists), blocks per stage, and the fc head's
    /// classes. A 1000-class head gets ImageNet's class names (torchvision's order; <see cref="ImageNetClasses"/>)
    /// unless <paramref name="labels"/> are given, so ImageNet weights a user has give ILM-VP's setting: a frozen
    /// classifier whose source labels can be mapped. <paramref name="features"/>: skip the fc head (its tensors are
    /// ignored) and output the pooled features. Strict as <see cref="LoadTorchvision"/>.
    /// </summary>
    public static ResNet Load(string path, bool features = false, IReadOnlyList<string>? labels = null)
    {
        var (blocks, bottleneck, classes) = Architecture(path);
        if (features) classes = null;
        labels ??= classes == 1000 ? ImageNetClasses.Names : null;
        return LoadTorchvision(path, blocks, classes, labels, bottleneck, skipHead: features);
    }

    /// <summary>Blocks per stage, block kind and fc classes of a torchvision ResNet state dict, from its names and shapes.</summary>
    public static (int[] Blocks, bool Bottleneck, int? Classes) Architecture(string path)
    {
        var tensors = ReadStateDict(path);
        try
        {
            if (!tensors.ContainsKey("conv1.weight") || !tensors.ContainsKey("layer1.0.conv1.weight"))
            {
                throw new InvalidDataException($"{path} is not a torchvision ResNet state dict: it has no conv1.weight or layer1.0.conv1.weight " +
                                               $"(its first tensors: {string.Join(", ", tensors.Keys.Take(5))}).");
            }
            var blocks = Enumerable.Range(1, 4).Select(stage => tensors.Keys
                .Where(k => k.StartsWith($"layer{stage}.", StringComparison.Ordinal))
                .Select(k => k.Split('.')[1]).Distinct().Count()).ToArray();
            if (blocks.Any(b => b == 0)) throw new InvalidDataException($"{path}: a stage has no blocks ([{string.Join(", ", blocks)}]); a ResNet has four.");
            int? classes = tensors.TryGetValue("fc.weight", out var fc) ? (int)fc.shape[0] : null;
            return (blocks, tensors.ContainsKey("layer1.0.conv3.weight"), classes);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>
    /// A ResNet(blocks, classes, ImageNetRgb) with the weights of a torchvision-style state dict, in eval mode: a
    /// .safetensors file or a torch.save .pt/.pth file (zip format, a state dict, not a whole model), told apart by their
    /// first bytes. Strict: a missing tensor, an unexpected one or a wrong shape throws <see cref="InvalidDataException"/>
    /// naming the tensors and the file; so does a corrupt or truncated file. Only bn.num_batches_tracked may be absent
    /// (older torchvision checkpoints lack it; inference does not use it).
    /// </summary>
    /// <param name="path">The .safetensors or .pt/.pth file.</param>
    /// <param name="blocks">Blocks per stage.</param>
    /// <param name="classes">Classes of the fc head, or null for features only.</param>
    /// <param name="labels">Class names, or null.</param>
    /// <param name="bottleneck">Bottleneck blocks (resnet50 and deeper).</param>
    /// <param name="skipHead">Ignore fc.* in the file (a features-only model from a classifier's file).</param>
    public static ResNet LoadTorchvision(string path, int[] blocks, int? classes, IReadOnlyList<string>? labels, bool bottleneck = false, bool skipHead = false)
    {
        var model = new ResNet(blocks, classes, ResNetPreprocessing.ImageNetRgb, labels, bottleneck: bottleneck);
        try
        {
            using var scope = NewDisposeScope();
            var tensors = ReadStateDict(path);
            if (skipHead && classes is null)
            {
                foreach (var name in new[] { "fc.weight", "fc.bias" }) tensors.Remove(name);
            }
            var described = $"ResNet [{string.Join(", ", blocks)}] with {(bottleneck ? "bottleneck" : "basic")} blocks {(classes is null ? "without an fc head" : $"and {classes} classes")}";
            CopyWeights(model, tensors.ToDictionary(kv => kv.Key, kv => (kv.Value, "")), path, described);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.eval();
        return model;
    }

    /// <summary>
    /// The tensors of a .safetensors or torch.save (zip) file, by name, told apart by their first bytes; every check of
    /// <see cref="SafetensorsFile"/> or <see cref="TorchSaveFile"/> (which reads the pickle as data, never running it);
    /// a legacy bare-pickle torch.save file is refused. Clear errors naming the file for anything else.
    /// </summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"No state dict at {full}.", path);
        var head = new byte[9];
        int read;
        using (var stream = File.OpenRead(path)) read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        var start = head.AsSpan(0, read);
        if (TorchSaveFile.IsZip(start)) return TorchSaveFile.Read(path);
        if (read >= 2 && head[0] == 0x80 && head[1] <= 5)
        {
            throw new InvalidDataException(
                $"{full} was written by the legacy torch.save format (a bare pickle), which is never read here (unpickling it could run code); " +
                "re-save it in Python with torch.save(model.state_dict(), path) (PyTorch 1.6 or later) or as safetensors.");
        }
        if (!SafetensorsFile.LooksLikeSafetensors(start) && !path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidDataException($"{full} is neither a safetensors file nor a torch.save zip (it starts with {Convert.ToHexString(start)}); " +
                                           "it may be truncated or corrupt.");
        }
        return SafetensorsFile.Read(path);
    }

    /// <summary>
    /// Copies named tensors into the model's state dict, strictly: every name must exist with the same shape, and every
    /// entry of the model's state dict (num_batches_tracked excepted) must be given. Reports all problems at once.
    /// </summary>
    private static void CopyWeights(ResNet model, Dictionary<string, (Tensor Tensor, string Source)> weights, string file, string described)
    {
        var target = model.state_dict();
        var unexpected = weights.Keys.Where(k => !target.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var missing = target.Keys.Where(k => !weights.ContainsKey(k) && !k.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).ToList();
        var wrongShapes = weights.Where(kv => target.TryGetValue(kv.Key, out var t) && !t.shape.SequenceEqual(kv.Value.Tensor.shape))
            .Select(kv => $"{kv.Key} is [{string.Join(", ", kv.Value.Tensor.shape)}] in the file{(kv.Value.Source.Length > 0 ? $" ({kv.Value.Source})" : "")}, the model's is [{string.Join(", ", target[kv.Key].shape)}]")
            .ToList();
        var notWeights = weights.Where(kv => target.TryGetValue(kv.Key, out var t) && t.shape.SequenceEqual(kv.Value.Tensor.shape))
            .Select(kv => Files.CheckpointFolder.NotAWeight(kv.Key, kv.Value.Tensor, target[kv.Key])).OfType<string>().ToList();
        if (unexpected.Count + missing.Count + wrongShapes.Count + notWeights.Count > 0)
        {
            var problems = new List<string>();
            if (missing.Count > 0) problems.Add($"missing {missing.Count} tensor(s): {Few(missing)}");
            if (unexpected.Count > 0) problems.Add($"{unexpected.Count} unexpected tensor(s): {Few(unexpected)}");
            if (wrongShapes.Count > 0) problems.Add($"{wrongShapes.Count} wrong shape(s): {Few(wrongShapes)}");
            if (notWeights.Count > 0) problems.Add($"{notWeights.Count} tensor(s) of the wrong type: {Few(notWeights)}");
            if (unexpected.Count > 0 && unexpected.All(k => k.StartsWith("module.", StringComparison.Ordinal)))
                problems.Add("every name starts with 'module.' (a DataParallel model's state dict): save model.module.state_dict() instead");
            if (model.Classes is null && unexpected.Contains("fc.weight"))
                problems.Add("the file has an fc head: pass the number of classes");
            if (model.Classes is not null && missing.Contains("fc.weight"))
                problems.Add("the file has no fc head: pass classes: null for features only");
            throw new InvalidDataException($"{file} does not fit {described}: {string.Join("; ", problems)}.");
        }
        using var noGrad = no_grad();
        foreach (var (name, (source, _)) in weights) target[name].copy_(source);
    }

    private static string Few(IReadOnlyList<string> items) =>
        string.Join(", ", items.Take(8)) + (items.Count > 8 ? $", and {items.Count - 8} more" : "");
}
