using Reprogram.Experiments;
using Reprogram.Models.Zoo;
using Reprogram.Taxonomy;

namespace Reprogram.Tests;

[Collection("zoo")]
public class VisualReprogrammingTests
{
    private static readonly ReprogramOptions Tiny = new() { TrainCount = 64, TestCount = 40, Epochs = 1, BatchSize = 16, Seed = 1 };

    [Theory]
    [InlineData("pad")]
    [InlineData("watermark")]
    [InlineData("patch")]
    [InlineData("parametric")]
    public void Resnet18_reprograms_to_fashion_mnist_with_each_input_manipulation(string manipulation)
    {
        var result = VisualReprogramming.Run(Tiny with { Model = "resnet18", Manipulation = manipulation, ImageSize = 48, PatchSize = 8 });
        var main = result.Main;
        Assert.True(main.FrozenUnchanged);
        Assert.Equal(main.ChecksumBefore, main.ChecksumAfter);
        Assert.Equal(OutputAlignment.Linear, main.AlignmentKind);
        Assert.Equal(Location.Input, main.Coordinates!.Location);
        Assert.InRange(main.Metric("test accuracy")!.Value, 0, 1);
        Assert.True(main.FrozenParameters > 11_000_000, $"ResNet-18 has ~11.7M parameters, got {main.FrozenParameters}");
        Assert.Equal(4, main.Curve.Count); // 64 examples / 16 per batch, 1 epoch
        Assert.Null(result.Mapping);
        if (manipulation != "parametric") Assert.Equal(48, result.PromptImage!.GetLength(1));
    }

    [Theory]
    [InlineData("rlm")]
    [InlineData("flm")]
    [InlineData("ilm")]
    [InlineData("blm")]
    [InlineData("blm+")]
    public void A_source_classifier_reprograms_to_digits_with_each_label_mapping(string alignment)
    {
        var result = VisualReprogramming.Run(Tiny with { Model = SourceClassifiers.FashionCnnName, Dataset = "digits", Alignment = alignment });
        Assert.True(result.Main.FrozenUnchanged);
        Assert.Equal(OutputAlignment.Statistical, result.Main.Coordinates!.Alignment);
        Assert.NotNull(result.Mapping);
        Assert.Equal(10, result.Mapping!.GetLength(0));
        Assert.Equal(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], result.TargetLabels);
        Assert.Equal("T-shirt/top", result.SourceLabels![0]);
        Assert.Equal(0, result.Main.TrainableParameters - 1 * 28 * 28); // the padding prompt only: mappings are counted, not trained
    }

    [Fact]
    public void Baselines_run_without_the_manipulation_and_with_the_untrained_prompt()
    {
        var result = VisualReprogramming.Run(Tiny with { Model = SourceClassifiers.FashionCnnName, Dataset = "digits", Alignment = "ilm", Baselines = true });
        Assert.Equal(["baseline: no input manipulation", "baseline: untrained prompt"], result.Baselines.Select(b => b.Name));
        Assert.Equal(0, result.Baselines[1].TrainableParameters);
        Assert.Equal("none", result.Baselines[0].Manipulation);
        Assert.Null(result.Baselines[0].Coordinates); // a run without an input manipulation has only an alignment
        Assert.Equal(OutputAlignment.Statistical, result.Baselines[0].AlignmentKind);
        Assert.All(result.All, r => Assert.True(r.FrozenUnchanged));
    }

    [Fact]
    public void Saved_runs_evaluate_to_the_same_accuracy()
    {
        var options = Tiny with { Model = SourceClassifiers.FashionCnnName, Dataset = "digits", Alignment = "ilm" };
        var result = VisualReprogramming.Run(options);
        var path = Path.Combine(Path.GetTempPath(), $"rp-{Guid.NewGuid():N}.safetensors");
        result.Save(path);
        Assert.Equal(result.Main.Metric("test accuracy")!.Value, VisualReprogramming.Evaluate(path, options), 6);
    }

    [Fact]
    public void Label_mapping_over_resnet_features_needs_to_be_asked_for_and_says_what_it_is()
    {
        var e = Assert.Throws<ArgumentException>(() => VisualReprogramming.Run(Tiny with { Alignment = "ilm", ImageSize = 48 }));
        Assert.Contains("features, not classes", e.Message);
        var result = VisualReprogramming.Run(Tiny with { Alignment = "ilm", ImageSize = 48, FeatureChannelsAsLabels = true });
        Assert.Contains("feature channels", result.Caveat);
        Assert.Equal(512, result.Mapping!.GetLength(0));
    }

    [Theory]
    [InlineData("Model", "vgg16", "is not a model")]
    [InlineData("Dataset", "cifar10", "Allowed")]
    [InlineData("Manipulation", "blur", "not an input manipulation")]
    [InlineData("Alignment", "softmax", "not an output alignment")]
    [InlineData("Schedule", "warmup", "not a learning-rate schedule")]
    [InlineData("Device", "tpu", "auto, cpu, cuda or cuda:N")]
    public void Bad_options_give_clear_errors(string option, string value, string expected)
    {
        var options = option switch
        {
            "Model" => Tiny with { Model = value },
            "Dataset" => Tiny with { Dataset = value },
            "Manipulation" => Tiny with { Manipulation = value },
            "Alignment" => Tiny with { Alignment = value },
            "Schedule" => Tiny with { Schedule = value },
            _ => Tiny with { Device = value },
        };
        var e = Assert.ThrowsAny<Exception>(() => VisualReprogramming.Run(options));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Impossible_shapes_are_refused()
    {
        Assert.Contains("takes 28 px", Assert.Throws<ArgumentException>(() =>
            VisualReprogramming.Run(Tiny with { Model = SourceClassifiers.FashionCnnName, Dataset = "digits", ImageSize = 32 })).Message);
        Assert.Contains("leaves no room", Assert.Throws<ArgumentException>(() =>
            VisualReprogramming.Run(Tiny with { Model = SourceClassifiers.FashionCnnName, Dataset = "digits", PadWidth = 13 })).Message);
        Assert.Throws<ArgumentException>(() => VisualReprogramming.Run(Tiny with { TrainCount = 0 }));
    }
}

[CollectionDefinition("zoo")]
public sealed class ZooCollection;

[Collection("zoo")]
public class ReprogrammingCombinationTests
{
    public static TheoryData<string, string> Combinations()
    {
        var data = new TheoryData<string, string>();
        // What applies to a small CNN classifier: pixel manipulations, label mappings and a linear head (prompts among patch
        // tokens need a ViT, CLIP's text heads a CLIP model: refused below).
        foreach (var m in ReprogramOptions.Manipulations.Where(m => Registries.Manipulations.Find(m).Location is null or Location.Input))
            foreach (var a in ReprogramOptions.Alignments.Where(a => a is not ("clip-zero-shot" or "coop")))
                data.Add(m, a);
        return data;
    }

    [Fact]
    public void What_a_small_cnn_does_not_have_is_refused_with_the_reason()
    {
        var options = new ReprogramOptions { Model = Models.Zoo.SourceClassifiers.FashionCnnName, Dataset = "digits", TrainCount = 8, TestCount = 4, Epochs = 1 };
        Assert.Contains("does not expose", Assert.Throws<ArgumentException>(() => VisualReprogramming.Run(options with { Manipulation = "vpt-shallow", Alignment = "linear" })).Message);
        Assert.Contains("not a CLIP model", Assert.Throws<ArgumentException>(() => VisualReprogramming.Run(options with { Alignment = "clip-zero-shot" })).Message);
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public void Every_manipulation_and_alignment_combination_runs_a_few_steps(string manipulation, string alignment)
    {
        var result = VisualReprogramming.Run(new ReprogramOptions
        {
            Model = Models.Zoo.SourceClassifiers.FashionCnnName, Dataset = "digits", Manipulation = manipulation, Alignment = alignment,
            TrainCount = 32, TestCount = 20, Epochs = 1, BatchSize = 16, PatchSize = 8, Seed = 2,
        });
        Assert.True(result.Main.FrozenUnchanged);
        Assert.Equal(manipulation == "none", result.Main.Coordinates is null);
        Assert.InRange(result.Main.Metric("test accuracy")!.Value, 0, 1);
        Assert.Equal(alignment == "linear" ? Taxonomy.OutputAlignment.Linear : Taxonomy.OutputAlignment.Statistical, result.Main.AlignmentKind);
    }
}
