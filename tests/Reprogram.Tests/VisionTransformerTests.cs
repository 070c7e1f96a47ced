using System.Text.Json;
using System.Text.Json.Nodes;
using Reprogram.Models.Vision;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>ViT in torchvision's and Hugging Face's layouts against the independent PyTorch reference; strict loading.</summary>
public sealed class VisionTransformerTests(ITestOutputHelper output)
{
    private static VisionCheckpoints Checkpoints => VisionCheckpoints.Shared;
    private static string TorchvisionFile => Path.Combine(Checkpoints.Folder("vit_tv"), "model.pth");

    [Fact]
    public void Torchvision_layout_matches_the_reference_logits_and_features()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var reference = Checkpoints.Reference("vit_tv");
        using var model = ViTLoader.Load(TorchvisionFile, heads: 4);
        Assert.Equal(new ViTConfig(32, 8, 2, 4, 64, 128, Classes: 10), model.Config);
        Assert.Equal(10, model.OutputSize);
        Assert.Null(model.OutputLabels);                 // 10 classes: no names guessed
        Assert.Equal(ImageNormalizationMean, model.Mean);
        var d = VisionCheckpoints.AssertParity(model.Forward(reference["images"]), reference["logits"], "torchvision ViT logits");
        VisionCheckpoints.AssertParity(model.Features(reference["images"]), reference["features"], "torchvision ViT features");
        output.WriteLine($"torchvision ViT: max |logits - reference| = {d:E3}");

        // features: true drops the head (its tensors are skipped) and outputs the class-token features.
        using var features = ViTLoader.Load(TorchvisionFile, features: true, heads: 4);
        Assert.Equal(64, features.OutputSize);
        VisionCheckpoints.AssertParity(features.Forward(reference["images"]), reference["features"], "torchvision ViT, features: true");
    }

    private static readonly float[] ImageNormalizationMean = [0.485f, 0.456f, 0.406f];

    [Fact]
    public void HuggingFace_ViTModel_matches_the_reference_features_and_pooler()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var reference = Checkpoints.Reference("vit_hf");
        using var model = ViTLoader.Load(Checkpoints.Folder("vit_hf"));
        Assert.Equal(48, model.OutputSize);
        Assert.Equal([0.4f, 0.5f, 0.6f], model.Mean);   // from preprocessor_config.json
        var d = VisionCheckpoints.AssertParity(model.Forward(reference["images"]), reference["features"], "HF ViTModel features");
        VisionCheckpoints.AssertParity(model.Pooled(reference["images"]), reference["pooled"], "HF ViTModel pooler_output");
        // The layout the loader expects is exactly the file's names and shapes.
        var file = Safetensors.LoadStateDict(Path.Combine(Checkpoints.Folder("vit_hf"), "model.safetensors"));
        var layout = ViTLoader.HuggingFaceLayout(model);
        Assert.Equal(file.Keys.Order(StringComparer.Ordinal), layout.Keys.Order(StringComparer.Ordinal));
        Assert.All(file, kv => Assert.Equal(kv.Value.shape, layout[kv.Key]));
        output.WriteLine($"HF ViTModel: max |features - reference| = {d:E3}");
    }

    [Fact]
    public void HuggingFace_ViTForImageClassification_matches_the_reference_logits_with_its_labels()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var reference = Checkpoints.Reference("vit_hf_cls");
        using var model = ViTLoader.Load(Checkpoints.Folder("vit_hf_cls"));
        Assert.Equal(["cat", "dog", "bird"], model.OutputLabels);
        Assert.Equal([0.5f, 0.5f, 0.5f], model.Mean);   // ViTImageProcessor's default without a preprocessor_config.json
        VisionCheckpoints.AssertParity(model.Forward(reference["images"]), reference["logits"], "HF ViTForImageClassification logits");
        Assert.Throws<InvalidOperationException>(() => model.Pooled(reference["images"]));
    }

    [Fact]
    public void Real_vit_b_16_layout_maps_every_tensor_with_its_shape()
    {
        // The names and shapes of torchvision's own vit_b_16() state dict (written by the reference script from the
        // module, without weights) are exactly what the loader expects of ViTConfig.B16.
        using var layouts = JsonDocument.Parse(File.ReadAllText(Path.Combine(Checkpoints.Root, "layouts.json")));
        var torchvision = layouts.RootElement.GetProperty("vit_b_16").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(x => x.GetInt64()).ToArray());
        using var model = new VisionTransformer(ViTConfig.B16, [0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f], ImageNetClasses.Names);
        var layout = ViTLoader.TorchvisionLayout(model);
        Assert.Equal(torchvision.Keys.Order(StringComparer.Ordinal), layout.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, shape) in torchvision) Assert.True(shape.SequenceEqual(layout[name]), $"{name}: ours [{string.Join(", ", layout[name])}], torchvision's [{string.Join(", ", shape)}]");
        Assert.Equal(86_567_656, model.parameters().Sum(p => p.numel()));   // torchvision's vit_b_16 parameter count
    }

    [Fact]
    public void ImageNet_class_names_are_torchvisions()
    {
        using var layouts = JsonDocument.Parse(File.ReadAllText(Path.Combine(Checkpoints.Root, "layouts.json")));
        var categories = layouts.RootElement.GetProperty("imagenet_categories").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(categories, ImageNetClasses.Names);
        Assert.Equal("tench", ImageNetClasses.Names[0]);
        Assert.Equal("toilet tissue", ImageNetClasses.Names[999]);
    }

    /// <summary>The torchvision state dict with one change, saved as safetensors in a temporary folder.</summary>
    private static string Changed(DirectoryInfo folder, string name, Action<Dictionary<string, Tensor>> change)
    {
        var dict = ResNetLoader.ReadStateDict(TorchvisionFile);
        change(dict);
        var path = Path.Combine(folder.FullName, name);
        using (var stream = File.Create(path)) Safetensors.SaveStateDict(stream, dict);
        return path;
    }

    [Fact]
    public void Torchvision_loader_names_the_missing_unexpected_or_misshapen_tensor_and_the_file()
    {
        var folder = Directory.CreateTempSubdirectory("vit-strict-");
        try
        {
            using var scope = NewDisposeScope();
            var missing = Changed(folder, "missing.safetensors", d => d.Remove("encoder.layers.encoder_layer_1.self_attention.in_proj_bias"));
            var e = Assert.Throws<InvalidDataException>(() => ViTLoader.Load(missing, heads: 4));
            output.WriteLine(e.Message);
            Assert.Contains("missing 1 tensor(s): 'encoder.layers.encoder_layer_1.self_attention.in_proj_bias' [192]", e.Message);
            Assert.Contains(missing, e.Message);

            var shape = Changed(folder, "shape.safetensors", d => d["encoder.layers.encoder_layer_0.mlp.3.weight"] = zeros(64, 100));
            e = Assert.Throws<InvalidDataException>(() => ViTLoader.Load(shape, heads: 4));
            output.WriteLine(e.Message);
            Assert.Contains("'encoder.layers.encoder_layer_0.mlp.3.weight' is [64, 100] in the file, expected [64, 128]", e.Message);

            var unexpected = Changed(folder, "unexpected.safetensors", d => d["encoder.extra.weight"] = zeros(3));
            e = Assert.Throws<InvalidDataException>(() => ViTLoader.Load(unexpected, heads: 4));
            Assert.Contains("1 unexpected tensor(s): 'encoder.extra.weight' [3]", e.Message);

            var notViT = Changed(folder, "resnet.safetensors", d => { d.Clear(); d["conv1.weight"] = zeros(1); });
            e = Assert.Throws<InvalidDataException>(() => ViTLoader.Load(notViT));
            Assert.Contains("not a torchvision VisionTransformer state dict", e.Message);
            Assert.Contains("conv_proj.weight", e.Message);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Torchvision_loader_reads_legacy_mlp_names_and_needs_heads_for_a_non_standard_width()
    {
        var folder = Directory.CreateTempSubdirectory("vit-legacy-");
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            // torchvision before 0.13 saved MLPBlock's linears as linear_1 / linear_2.
            var legacy = Changed(folder, "legacy.safetensors", d =>
            {
                foreach (var key in d.Keys.Where(k => k.Contains(".mlp.")).ToList())
                {
                    var renamed = key.Replace(".mlp.0.", ".mlp.linear_1.").Replace(".mlp.3.", ".mlp.linear_2.");
                    d[renamed] = d[key];
                    d.Remove(key);
                }
            });
            var reference = Checkpoints.Reference("vit_tv");
            using var model = ViTLoader.Load(legacy, heads: 4);
            VisionCheckpoints.AssertParity(model.Forward(reference["images"]), reference["logits"], "legacy MLP names");
            // Width 64 is not a torchvision ViT's (768, 1024, 1280): without heads the message says what to pass.
            var e = Assert.Throws<InvalidDataException>(() => ViTLoader.Load(legacy));
            Assert.Contains("width 64", e.Message);
            Assert.Contains("pass heads", e.Message);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void HuggingFace_loader_is_strict_and_names_the_tensor()
    {
        var folder = Directory.CreateTempSubdirectory("vit-hf-strict-");
        try
        {
            using var scope = NewDisposeScope();
            var source = Checkpoints.Folder("vit_hf");
            foreach (var f in Directory.GetFiles(source)) File.Copy(f, Path.Combine(folder.FullName, Path.GetFileName(f)));
            var weights = Path.Combine(folder.FullName, "model.safetensors");
            var dict = Safetensors.LoadStateDict(weights);
            dict.Remove("encoder.layer.1.attention.attention.key.bias");
            dict["encoder.layer.0.output.dense.weight"] = zeros(48, 7);
            dict["vision_model.extra"] = zeros(2, 2);
            using (var stream = File.Create(weights)) Safetensors.SaveStateDict(stream, dict);
            var e = Assert.Throws<InvalidDataException>(() => ViTLoader.Load(folder.FullName));
            output.WriteLine(e.Message);
            Assert.Contains("'encoder.layer.1.attention.attention.key.bias' [48]", e.Message);
            Assert.Contains("'encoder.layer.0.output.dense.weight' is [48, 7] in the file, expected [48, 96]", e.Message);
            Assert.Contains("'vision_model.extra' [2, 2]", e.Message);
            Assert.Contains(weights, e.Message);

            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder.FullName, "config.json")))!;
            config["model_type"] = "deit";
            File.WriteAllText(Path.Combine(folder.FullName, "config.json"), config.ToJsonString());
            var n = Assert.Throws<NotSupportedException>(() => ViTLoader.Load(folder.FullName));
            Assert.Contains("'deit'", n.Message);
            File.Delete(weights);
            config["model_type"] = "vit";
            File.WriteAllText(Path.Combine(folder.FullName, "config.json"), config.ToJsonString());
            Assert.Throws<FileNotFoundException>(() => ViTLoader.Load(folder.FullName));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Loading_twice_gives_the_same_frozen_checksum()
    {
        foreach (var load in new Func<TorchSharp.torch.nn.Module>[]
                 {
                     () => ViTLoader.Load(TorchvisionFile, heads: 4), () => ViTLoader.Load(Checkpoints.Folder("vit_hf")),
                     () => Reprogram.Models.Clip.ClipLoader.Load(Checkpoints.Folder("clip")),
                 })
        {
            using var a = load();
            using var b = load();
            using var frozenA = new Reprogram.Frozen.FrozenModel<TorchSharp.torch.nn.Module>(a, "a", CPU, ownsModel: false);
            using var frozenB = new Reprogram.Frozen.FrozenModel<TorchSharp.torch.nn.Module>(b, "b", CPU, ownsModel: false);
            Assert.Equal(frozenA.ChecksumAtFreeze, frozenB.ChecksumAtFreeze);
            Assert.False(a.training);
            Assert.Empty(frozenA.ParametersWithGradients());
        }
    }

    [Fact]
    public void Wrong_image_size_is_refused_with_the_expected_shape()
    {
        using var model = ViTLoader.Load(TorchvisionFile, heads: 4);
        var e = Assert.Throws<ArgumentException>(() => model.Forward(rand(1, 3, 64, 64)));
        Assert.Contains("[batch, 3, 32, 32]", e.Message);
        Assert.Contains("[1, 3, 64, 64]", e.Message);
    }
}
