using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Models.Zoo;
using Reprogram.Taxonomy;
using Xunit.Abstractions;

namespace Reprogram.Tests;

/// <summary>The source classifier on the real ImageNet ResNet-18: frozen features, a Fashion-MNIST linear head, real classes to map.</summary>
[Collection("zoo")]
public class ResNet18FashionTests(ITestOutputHelper output)
{
    [Fact]
    public void The_head_is_trained_on_frozen_resnet_features_cached_with_the_resnets_checksum_and_refused_on_another()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"rp-zoo-{Guid.NewGuid():N}");
        var (model, card) = ResNet18Fashion.Load(cacheFolder: folder);
        output.WriteLine($"{card.Name}: test accuracy {card.TestAccuracy:P1} on {card.TestExamples}, trained in {card.TrainingSeconds} s (first use, load varies)");
        Assert.True(card.TestAccuracy > 0.75, $"test accuracy {card.TestAccuracy}");
        Assert.Equal(ParameterChecksum.Of(model.Backbone), card.BaseModelChecksum);
        Assert.Equal(ParameterChecksum.Of(model.Head), card.Checksum);
        Assert.Equal(10, model.OutputSize);
        Assert.Equal("T-shirt/top", model.OutputLabels![0]);
        Assert.Equal(ResNet18Fashion.ImageSize, model.InputSize);
        Assert.True(File.Exists(Path.Combine(folder, "resnet18-fashion-v1.safetensors")));
        Assert.Same(model, ResNet18Fashion.Load(cacheFolder: folder).Model);   // one instance per process and folder

        // A head whose card names another backbone is refused, with what to do.
        var other = folder + "-other";
        Directory.CreateDirectory(other);
        File.Copy(Path.Combine(folder, "resnet18-fashion-v1.safetensors"), Path.Combine(other, "resnet18-fashion-v1.safetensors"));
        File.WriteAllText(Path.Combine(other, "resnet18-fashion-v1.json"),
            File.ReadAllText(Path.Combine(folder, "resnet18-fashion-v1.json")).Replace(card.BaseModelChecksum!, new string('0', 64)));
        var e = Assert.Throws<InvalidDataException>(() => ResNet18Fashion.Load(cacheFolder: other));
        Assert.Contains("delete resnet18-fashion-v1.safetensors", e.Message);
    }

    [Fact]
    public void Label_mapping_from_its_clothing_classes_to_digits_runs_on_the_real_resnet()
    {
        var result = VisualReprogramming.Run(new ReprogramOptions
        {
            Model = ResNet18Fashion.Name, Dataset = "digits", Alignment = "blm", TrainCount = 48, TestCount = 32, Epochs = 1, BatchSize = 16, Seed = 1,
        });
        Assert.True(result.Main.FrozenUnchanged);
        Assert.Null(result.Caveat);                                             // real classes, not feature channels
        Assert.Equal(OutputAlignment.Statistical, result.Main.AlignmentKind);
        Assert.Equal(10, result.Mapping!.GetLength(0));
        Assert.Equal("Ankle boot", result.SourceLabels![9]);
        Assert.Contains("resnet18-fashion", result.Main.Model);
        Assert.True(result.Main.FrozenParameters > 11_000_000);
    }
}
