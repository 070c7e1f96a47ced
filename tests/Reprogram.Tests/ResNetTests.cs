using Microsoft.ML.OnnxRuntime;
using DenseTensorF = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using Onnx;
using Reprogram.Models.Vision;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using Xunit.Abstractions;
using Tensor = TorchSharp.torch.Tensor;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>The CNTK ResNet-18 and ONNX Runtime sessions on its two ONNX files, loaded once for the class.</summary>
public sealed class CntkResNetFixture : IDisposable
{
    public string OnnxPath { get; }
    public string PreprocessPath { get; }
    public ResNet Model { get; }
    public InferenceSession Preprocess { get; }
    public InferenceSession Network { get; }

    public CntkResNetFixture()
    {
        OnnxPath = ResNetLoader.FindCntkResNet18Onnx() ?? throw new FileNotFoundException(ResNetLoader.CntkResNet18MissingMessage);
        PreprocessPath = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(OnnxPath)!, "..", "ResNetPrepOnnx", "ResNetPreprocess.onnx"));
        Model = ResNetLoader.LoadCntkResNet18(OnnxPath);
        Preprocess = new InferenceSession(PreprocessPath);
        Network = new InferenceSession(OnnxPath);
    }

    public void Dispose()
    {
        Model.Dispose();
        Preprocess.Dispose();
        Network.Dispose();
    }
}

public sealed class ResNetTests(CntkResNetFixture cntk, ITestOutputHelper output) : IClassFixture<CntkResNetFixture>
{
    // ---------------------------------------------------------------------------------------------------------------
    // The CNTK ResNet-18 against ONNX Runtime
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>Deterministic RGB pixels in [0, 1], [1, 3, 224, 224].</summary>
    private static Tensor Pixels(int seed, int size = 224)
    {
        using var generator = new Generator((ulong)seed);
        return rand([1, 3, size, size], generator: generator);
    }

    /// <summary>
    /// ONNX Runtime on the package's own two graphs, which is how ML.NET runs them: ResNetPreprocess.onnx takes
    /// "OriginalInput", RGB on the 0..255 scale [1, 3, 224, 224], and returns BGR minus the mean image; ResNet18.onnx
    /// takes that as "Input247" and returns the pooled features [1, 512, 1, 1]. Returns (preprocessed, features).
    /// </summary>
    private (float[] Preprocessed, float[] Features) OnnxRuntime(Tensor pixels)
    {
        var rgb255 = (pixels * 255f).contiguous().data<float>().ToArray();
        var prepInput = cntk.Preprocess.InputMetadata.Single();
        Assert.Equal("OriginalInput", prepInput.Key);
        Assert.Equal([1, 3, 224, 224], prepInput.Value.Dimensions);
        using var prepared = cntk.Preprocess.Run([NamedOnnxValue.CreateFromTensor(prepInput.Key, new DenseTensorF(rgb255, [1, 3, 224, 224]))]);
        var preprocessed = prepared.Single().AsEnumerable<float>().ToArray();

        var netInput = cntk.Network.InputMetadata.Single();
        Assert.Equal("Input247", netInput.Key);
        Assert.Equal([1, 3, 224, 224], netInput.Value.Dimensions);
        using var result = cntk.Network.Run([NamedOnnxValue.CreateFromTensor(netInput.Key, new DenseTensorF(preprocessed, [1, 3, 224, 224]))]);
        var features = result.Single();
        Assert.Equal([1, 512, 1, 1], features.AsTensor<float>().Dimensions.ToArray());
        return (preprocessed, features.AsEnumerable<float>().ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void CntkResNet18_FeaturesMatchOnnxRuntime(int seed)
    {
        // The honest path: the same RGB pixels in [0, 1] go into our model (which preprocesses itself: x*255, BGR,
        // minus the mean image) and, scaled to 0..255, into ONNX Runtime's ResNetPreprocess.onnx -> ResNet18.onnx chain.
        using var scope = NewDisposeScope();
        var pixels = Pixels(seed);
        var (_, expected) = OnnxRuntime(pixels);
        float[] ours;
        using (no_grad()) ours = cntk.Model.Forward(pixels).data<float>().ToArray();

        Assert.Equal(512, ours.Length);
        var maxDiff = ours.Zip(expected, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"seed {seed}: max |ours - onnxruntime| = {maxDiff:E2}, largest feature {expected.Max():F3}, mean {expected.Average():F4}");
        Assert.True(expected.Max() > 0.1f, "ONNX Runtime's features are all near zero: the comparison would prove nothing.");
        Assert.True(maxDiff < 1e-4f, $"max abs diff {maxDiff:E2} vs ONNX Runtime");
    }

    [Fact]
    public void CntkPreprocessing_MatchesResNetPreprocessOnnx()
    {
        using var scope = NewDisposeScope();
        var pixels = Pixels(3);
        var (expected, _) = OnnxRuntime(pixels);
        var ours = cntk.Model.Preprocess(pixels).data<float>().ToArray();
        var maxDiff = ours.Zip(expected, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"preprocessing: max |ours - onnxruntime| = {maxDiff:E2} on the 0..255 scale");
        Assert.True(maxDiff < 1e-4f, $"max abs diff {maxDiff:E2}");
    }

    [Fact]
    public void CntkResNet18_BatchesAndOtherSizes()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var one = cntk.Model.Forward(Pixels(1));
        var two = cntk.Model.Forward(Pixels(2));
        var both = cntk.Model.Forward(cat([Pixels(1), Pixels(2)], 0));
        Assert.Equal([2, 512], both.shape);
        Assert.True((both - cat([one, two], 0)).abs().max().item<float>() < 1e-5f);
        Assert.Equal([1, 512], cntk.Model.Forward(Pixels(4, size: 160)).shape);
        Assert.Equal(3, cntk.Model.InputChannels);
        Assert.Equal(224, cntk.Model.InputSize);
        Assert.Equal(512, cntk.Model.OutputSize);
        Assert.Null(cntk.Model.OutputLabels);
    }

    [Fact]
    public void CntkResNet18_FirstConvFiltersLookTrained()
    {
        // Trained first-layer filters are smooth (edge and colour blobs); a fresh init is i.i.d. noise. Compare the mean
        // difference between horizontally adjacent taps with the mean tap, for the loaded and a fresh model.
        using var scope = NewDisposeScope();
        static double Roughness(Tensor w) =>
            (w[.., .., .., 1..] - w[.., .., .., ..^1]).abs().mean().item<float>() / w.abs().mean().item<float>();
        var trained = cntk.Model.state_dict()["conv1.weight"];
        using var fresh = new ResNet(ResNetLoader.CntkResNet18Blocks, null, ResNetPreprocessing.CntkBgr);
        var random = fresh.state_dict()["conv1.weight"];
        output.WriteLine($"conv1 mean |w| {trained.abs().mean().item<float>():F4}; roughness trained {Roughness(trained):F3}, fresh {Roughness(random):F3}");
        Assert.Equal([64, 3, 7, 7], trained.shape);
        Assert.True(trained.abs().mean().item<float>() > 1e-3f);
        Assert.True(Roughness(trained) < 0.8 * Roughness(random));
        // Running variances are positive and not the fresh 1s: the batch norms were really mapped.
        var variance = cntk.Model.state_dict()["layer4.2.bn2.running_var"];
        Assert.True(variance.min().item<float>() > 0 && (variance - 1).abs().max().item<float>() > 1e-3f);
    }

    [Fact]
    public void CntkLoader_NamesTheNodeWhenTheGraphIsNotAResNet()
    {
        var folder = Directory.CreateTempSubdirectory("resnet-graph-");
        try
        {
            var model = ModelProto.Parser.ParseFromFile(cntk.OnnxPath);
            var add = model.Graph.Node.First(n => n.OpType == "Add");
            // Break the first block's residual: the Add now adds the main path to itself.
            add.Input[1] = add.Input[0];
            var broken = Path.Combine(folder.FullName, "broken.onnx");
            model.WriteToFile(broken);
            var e = Assert.Throws<InvalidDataException>(() => ResNetLoader.LoadCntkResNet18(broken, cntk.PreprocessPath));
            output.WriteLine(e.Message);
            Assert.Contains(add.Name, e.Message);
            Assert.Contains("layer1.0", e.Message);

            var notOnnx = Path.Combine(folder.FullName, "garbage.onnx");
            File.WriteAllBytes(notOnnx, [0xff, 0xff, 0xff, 0xff, 0x01, 0x02]);
            var g = Assert.Throws<InvalidDataException>(() => ResNetLoader.LoadCntkResNet18(notOnnx, cntk.PreprocessPath));
            Assert.Contains("garbage.onnx", g.Message);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // torchvision state dicts
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>torchvision's resnet18 state dict names, written out from torchvision's module structure.</summary>
    private static List<string> TorchvisionNames(int[] blocks, bool fc)
    {
        string[] bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"];
        var names = new List<string> { "conv1.weight" };
        names.AddRange(bn.Select(b => $"bn1.{b}"));
        for (int stage = 1; stage <= 4; stage++)
        {
            for (int block = 0; block < blocks[stage - 1]; block++)
            {
                var p = $"layer{stage}.{block}";
                names.Add($"{p}.conv1.weight");
                names.AddRange(bn.Select(b => $"{p}.bn1.{b}"));
                names.Add($"{p}.conv2.weight");
                names.AddRange(bn.Select(b => $"{p}.bn2.{b}"));
                if (stage > 1 && block == 0)
                {
                    names.Add($"{p}.downsample.0.weight");
                    names.AddRange(bn.Select(b => $"{p}.downsample.1.{b}"));
                }
            }
        }
        if (fc) names.AddRange(["fc.weight", "fc.bias"]);
        return names;
    }

    [Fact]
    public void StateDict_HasTorchvisionNames()
    {
        using var resnet18 = new ResNet([2, 2, 2, 2], 1000);
        var names = resnet18.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        Assert.Equal(122, names.Count); // torchvision's resnet18: 62 parameters, 60 batch norm buffers
        Assert.Equal(TorchvisionNames([2, 2, 2, 2], fc: true).OrderBy(k => k, StringComparer.Ordinal), names);
        Assert.Equal([1000, 512], resnet18.state_dict()["fc.weight"].shape);
        Assert.Equal([128, 64, 1, 1], resnet18.state_dict()["layer2.0.downsample.0.weight"].shape);

        var names2223 = cntk.Model.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal);
        Assert.Equal(TorchvisionNames([2, 2, 2, 3], fc: false).OrderBy(k => k, StringComparer.Ordinal), names2223);
    }

    [Fact]
    public void StateDict_StaysTorchvisionsAfterConversion()
    {
        // The preprocessing constants are not buffers: the state dict stays torchvision's after .to(), and Preprocess
        // follows the images' dtype (and device).
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var model = new ResNet([2, 2, 2, 2], 10, ResNetPreprocessing.CntkBgr);
        model.eval();
        var pixels = rand(2, 3, 64, 64);
        var single = model.Forward(pixels);
        model.to(float64);
        Assert.Equal(TorchvisionNames([2, 2, 2, 2], fc: true).OrderBy(k => k, StringComparer.Ordinal),
                     model.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Equal(float64, model.Preprocess(pixels.to(float64)).dtype);
        var @double = model.Forward(pixels.to(float64));
        Assert.Equal(float64, @double.dtype);
        Assert.True((@double - single.to(float64)).abs().max().item<double>() < 1e-3);
    }

    /// <summary>A resnet18 with random weights and random batch norm statistics (so that loading buffers is tested too).</summary>
    private static ResNet RandomResNet18(int seed)
    {
        manual_seed(seed);
        var model = new ResNet([2, 2, 2, 2], 1000);
        using var noGrad = no_grad();
        foreach (var (name, tensor) in model.state_dict())
        {
            if (name.EndsWith("running_mean")) tensor.normal_(0, 0.1);
            else if (name.EndsWith("running_var")) tensor.uniform_(0.5, 1.5);
            else if (name.EndsWith("num_batches_tracked")) tensor.fill_(7);
            else if (name.Contains("bn") || name.Contains("downsample.1")) tensor.normal_(name.EndsWith("weight") ? 1 : 0, 0.1);
        }
        model.eval();
        return model;
    }

    [Fact]
    public void Torchvision_LoadsSafetensorsAndTorchSaveBitIdentically()
    {
        var folder = Directory.CreateTempSubdirectory("resnet-torchvision-");
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            using var source = RandomResNet18(seed: 1);
            var safetensors = Path.Combine(folder.FullName, "resnet18.safetensors");
            var pt = Path.Combine(folder.FullName, "resnet18.pt");
            source.save_safetensors(safetensors);
            source.save_py(pt);

            var pixels = Pixels(5, size: 64);
            var expected = source.Forward(pixels);
            Assert.Equal([1, 1000], expected.shape);
            using (var other = RandomResNet18(seed: 2))
            {
                Assert.False(other.Forward(pixels).eq(expected).all().item<bool>(), "two random inits gave the same logits: the test would prove nothing");
            }

            var labels = Enumerable.Range(0, 1000).Select(i => $"class {i}").ToArray();
            foreach (var file in new[] { safetensors, pt })
            {
                manual_seed(3); // a different init inside the loader
                using var loaded = ResNetLoader.LoadTorchvision(file, [2, 2, 2, 2], 1000, labels);
                Assert.False(loaded.training);
                Assert.True(loaded.Forward(pixels).eq(expected).all().item<bool>(), $"{Path.GetFileName(file)}: the logits are not bit-identical");
                Assert.Equal(7, loaded.state_dict()["layer3.1.bn2.num_batches_tracked"].item<long>());
                Assert.Equal(1000, loaded.OutputSize);
                Assert.Equal("class 999", loaded.OutputLabels![999]);
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Torchvision_NamesTheMissingUnexpectedOrMisshapenTensorAndTheFile()
    {
        var folder = Directory.CreateTempSubdirectory("resnet-strict-");
        try
        {
            using var scope = NewDisposeScope();
            using var source = RandomResNet18(seed: 1);
            void Save(string path, Action<Dictionary<string, Tensor>> change)
            {
                var dict = new Dictionary<string, Tensor>(source.state_dict());
                change(dict);
                using var stream = File.Create(path);
                if (path.EndsWith(".safetensors")) Safetensors.SaveStateDict(stream, dict);
                else PyTorchPickler.PickleStateDict(stream, dict);
            }

            var missing = Path.Combine(folder.FullName, "missing.safetensors");
            Save(missing, d => d.Remove("layer3.1.bn2.running_var"));
            var e = Assert.Throws<InvalidDataException>(() => ResNetLoader.LoadTorchvision(missing, [2, 2, 2, 2], 1000, null));
            output.WriteLine(e.Message);
            Assert.Contains("layer3.1.bn2.running_var", e.Message);
            Assert.Contains(missing, e.Message);

            var shape = Path.Combine(folder.FullName, "shape.pt");
            Save(shape, d => d["fc.weight"] = randn(10, 512));
            e = Assert.Throws<InvalidDataException>(() => ResNetLoader.LoadTorchvision(shape, [2, 2, 2, 2], 1000, null));
            output.WriteLine(e.Message);
            Assert.Contains("fc.weight is [10, 512]", e.Message);
            Assert.Contains(shape, e.Message);

            var unexpected = Path.Combine(folder.FullName, "unexpected.pt");
            Save(unexpected, d => d["fc2.weight"] = randn(3, 3));
            e = Assert.Throws<InvalidDataException>(() => ResNetLoader.LoadTorchvision(unexpected, [2, 2, 2, 2], 1000, null));
            Assert.Contains("fc2.weight", e.Message);

            // A classifier's file into a features-only model: fc.* are unexpected, and the message says what to pass.
            var full = Path.Combine(folder.FullName, "full.safetensors");
            Save(full, _ => { });
            e = Assert.Throws<InvalidDataException>(() => ResNetLoader.LoadTorchvision(full, [2, 2, 2, 2], null, null));
            output.WriteLine(e.Message);
            Assert.Contains("fc.weight", e.Message);
            Assert.Contains("number of classes", e.Message);

            Assert.Throws<FileNotFoundException>(() => ResNetLoader.LoadTorchvision(Path.Combine(folder.FullName, "absent.pt"), [2, 2, 2, 2], 1000, null));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Torchvision_CorruptFilesGiveAClearMessage()
    {
        var folder = Directory.CreateTempSubdirectory("resnet-corrupt-");
        try
        {
            using var source = RandomResNet18(seed: 1);
            var files = new[] { "truncated.safetensors", "truncated.pt" }.Select(f => Path.Combine(folder.FullName, f)).ToArray();
            source.save_safetensors(files[0]);
            source.save_py(files[1]);
            foreach (var file in files)
            {
                using (var stream = new FileStream(file, FileMode.Open)) stream.SetLength(stream.Length / 2);
            }
            var garbage = Path.Combine(folder.FullName, "garbage.pth");
            File.WriteAllBytes(garbage, Enumerable.Range(0, 4096).Select(i => (byte)(i * 37 + 11)).ToArray());
            var legacy = Path.Combine(folder.FullName, "legacy.pth");
            File.WriteAllBytes(legacy, [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8]);

            foreach (var file in files.Append(garbage).Append(legacy))
            {
                var e = Assert.Throws<InvalidDataException>(() => ResNetLoader.LoadTorchvision(file, [2, 2, 2, 2], 1000, null));
                output.WriteLine(e.Message);
                Assert.Contains(file, e.Message);
                Assert.True(e.Message.Contains("corrupt") || e.Message.Contains("truncated") || e.Message.Contains("legacy"), e.Message);
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
