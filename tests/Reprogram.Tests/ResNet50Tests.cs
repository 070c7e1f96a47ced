using System.Text.Json;
using Reprogram.Models.Vision;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>Bottleneck ResNets (torchvision's resnet50) with their fc head and ImageNet class names.</summary>
public sealed class ResNet50Tests(ITestOutputHelper output)
{
    private static VisionCheckpoints Checkpoints => VisionCheckpoints.Shared;

    [Fact]
    public void Torchvision_resnet50_matches_the_reference_logits_with_imagenet_names()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var path = Path.Combine(Checkpoints.Folder("resnet50"), "model.pth");
        var (blocks, bottleneck, classes) = ResNetLoader.Architecture(path);
        Assert.Equal([3, 4, 6, 3], blocks);
        Assert.True(bottleneck);
        Assert.Equal(1000, classes);

        using var model = ResNetLoader.Load(path);
        Assert.True(model.Bottleneck);
        Assert.Equal(1000, model.OutputSize);
        Assert.Equal(2048, model.FeatureSize);
        Assert.Equal(ImageNetClasses.Names, model.OutputLabels);
        Assert.Equal(5, model.state_dict()["layer3.5.bn3.num_batches_tracked"].item<long>());   // the file's buffers were loaded
        var reference = Checkpoints.Reference("resnet50");
        var d = VisionCheckpoints.AssertParity(model.Forward(reference["images"]), reference["logits"], "resnet50 logits");
        output.WriteLine($"resnet50: max |logits - reference| = {d:E3}, largest |logit| {reference["logits"].abs().max().item<float>():F2}");

        // features: true skips fc and returns the 2048 pooled features.
        using var features = ResNetLoader.Load(path, features: true);
        Assert.Equal(2048, features.OutputSize);
        Assert.Null(features.OutputLabels);
        var pooled = features.Forward(reference["images"]);
        Assert.Equal([2, 2048], pooled.shape);
        var fc = model.state_dict();
        var viaHead = pooled.matmul(fc["fc.weight"].t()) + fc["fc.bias"];
        Assert.True(VisionCheckpoints.MaxDifference(viaHead, reference["logits"]) <= 1e-4);
    }

    [Fact]
    public void Resnet50_state_dict_has_torchvisions_names_and_shapes()
    {
        using var layouts = JsonDocument.Parse(File.ReadAllText(Path.Combine(Checkpoints.Root, "layouts.json")));
        var torchvision = layouts.RootElement.GetProperty("resnet50").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(x => x.GetInt64()).ToArray());
        using var model = new ResNet([3, 4, 6, 3], 1000, bottleneck: true);
        var ours = model.state_dict();
        Assert.Equal(torchvision.Keys.Order(StringComparer.Ordinal), ours.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, shape) in torchvision) Assert.True(shape.SequenceEqual(ours[name].shape), $"{name}: [{string.Join(", ", ours[name].shape)}] vs torchvision's [{string.Join(", ", shape)}]");
        Assert.Equal(25_557_032, model.parameters().Sum(p => p.numel()));   // torchvision's resnet50 parameter count
    }

    /// <summary>A small bottleneck ResNet ([1, 1, 1, 1], 10 classes) with random batch-norm statistics, saved by TorchSharp.</summary>
    private static ResNet SmallBottleneck(int seed)
    {
        manual_seed(seed);
        var model = new ResNet([1, 1, 1, 1], 10, bottleneck: true);
        using var noGrad = no_grad();
        foreach (var (name, t) in model.state_dict())
        {
            if (name.EndsWith("running_var")) t.uniform_(0.5, 1.5);
            else if (name.EndsWith("running_mean")) t.normal_(0, 0.1);
        }
        model.eval();
        return model;
    }

    [Fact]
    public void Architecture_is_read_from_the_names_and_loading_is_strict()
    {
        var folder = Directory.CreateTempSubdirectory("resnet-bottleneck-");
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            using var source = SmallBottleneck(1);
            var path = Path.Combine(folder.FullName, "small.pt");
            source.save_py(path);
            using (var loaded = ResNetLoader.Load(path))
            {
                Assert.Equal([1, 1, 1, 1], loaded.Blocks);
                Assert.True(loaded.Bottleneck);
                Assert.Null(loaded.OutputLabels);                // 10 classes: no names
                var x = rand(2, 3, 64, 64);
                Assert.True(loaded.Forward(x).eq(source.Forward(x)).all().item<bool>());
            }

            void Save(string file, Action<Dictionary<string, Tensor>> change)
            {
                var dict = new Dictionary<string, Tensor>(source.state_dict());
                change(dict);
                using var stream = File.Create(file);
                Safetensors.SaveStateDict(stream, dict);
            }
            var missing = Path.Combine(folder.FullName, "missing.safetensors");
            Save(missing, d => d.Remove("layer4.0.bn3.running_var"));
            var e = Assert.Throws<InvalidDataException>(() => ResNetLoader.Load(missing));
            output.WriteLine(e.Message);
            Assert.Contains("layer4.0.bn3.running_var", e.Message);
            Assert.Contains("bottleneck", e.Message);
            Assert.Contains(missing, e.Message);

            var shape = Path.Combine(folder.FullName, "shape.safetensors");
            Save(shape, d => d["layer2.0.conv3.weight"] = zeros(512, 64, 1, 1));
            e = Assert.Throws<InvalidDataException>(() => ResNetLoader.Load(shape));
            output.WriteLine(e.Message);
            Assert.Contains("layer2.0.conv3.weight is [512, 64, 1, 1]", e.Message);

            var unexpected = Path.Combine(folder.FullName, "unexpected.safetensors");
            Save(unexpected, d => d["layer1.0.conv4.weight"] = zeros(1));
            e = Assert.Throws<InvalidDataException>(() => ResNetLoader.Load(unexpected));
            Assert.Contains("layer1.0.conv4.weight", e.Message);

            var notResNet = Path.Combine(folder.FullName, "vit.safetensors");
            Save(notResNet, d => { d.Clear(); d["conv_proj.weight"] = zeros(1); });
            e = Assert.Throws<InvalidDataException>(() => ResNetLoader.Load(notResNet));
            Assert.Contains("not a torchvision ResNet state dict", e.Message);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Reprogramming_a_torchvision_file_maps_imagenet_labels_as_ilm_vp_does()
    {
        // A user's torchvision ImageNet classifier file: #!reprogram's model option loads it with its head and names, so the
        // default alignment is ILM over the 1000 ImageNet classes at 224 px (ILM-VP's setting), not a linear probe.
        var folder = Directory.CreateTempSubdirectory("resnet-reprogram-");
        try
        {
            var path = Path.Combine(folder.FullName, "small-bottleneck.safetensors");
            using (var source = new ResNet([1, 1, 1, 1], 1000, bottleneck: true)) source.save_safetensors(path);
            var result = Reprogram.Experiments.VisualReprogramming.Run(new Reprogram.Experiments.ReprogramOptions
            {
                Model = path, Dataset = "digits", TrainCount = 8, TestCount = 4, Epochs = 1, BatchSize = 8, Seed = 1,
            });
            Assert.Equal(Reprogram.Taxonomy.OutputAlignment.Statistical, result.Main.AlignmentKind);
            Assert.Contains("iterative label mapping", result.Main.Alignment);
            Assert.Equal(ImageNetClasses.Names, result.SourceLabels);
            Assert.Equal(1000, result.Mapping!.GetLength(0));
            Assert.StartsWith("224 px", result.Main.Settings["image size"]);
            Assert.Contains("[1, 1, 1, 1] (bottleneck)", result.Main.Model);
            Assert.True(result.Main.FrozenUnchanged);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Resnet18_from_a_torchvision_file_now_has_imagenet_names()
    {
        var folder = Directory.CreateTempSubdirectory("resnet18-names-");
        try
        {
            using var source = new ResNet([2, 2, 2, 2], 1000);
            var path = Path.Combine(folder.FullName, "resnet18.safetensors");
            source.save_safetensors(path);
            using var loaded = ResNetLoader.Load(path);
            Assert.False(loaded.Bottleneck);
            Assert.Equal([2, 2, 2, 2], loaded.Blocks);
            Assert.Equal("goldfish", loaded.OutputLabels![1]);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
