using Reprogram.Alignments;
using Reprogram.Experiments;
using Reprogram.Manipulations;
using Reprogram.Models.Vision;
using Reprogram.Training;
using static TorchSharp.torch;
using static Reprogram.Tests.EngineFixtures;

namespace Reprogram.Tests;

public class LearnedFileTests
{
    private static (string Path, PaddingPrompt Prompt, LabelMapping Mapping, string ModelChecksum) TrainAndSave()
    {
        using var backbone = CnnBackbone();
        using var split = ImageSplit(32, 12, seed: 5);
        var prompt = new PaddingPrompt(3, 16, 12);
        var mapping = new LabelMapping(LabelMappingMethod.Iterative, 10, FourClasses, 2);
        Trainer.Train(new MethodTrainingTask(backbone, prompt, mapping, split), new TrainingOptions { Epochs = 1, BatchSize = 16, Seed = 1 });
        var path = Path.Combine(Path.GetTempPath(), $"learned-{Guid.NewGuid():N}.safetensors");
        LearnedManipulationFile.Save(path, prompt, mapping, backbone.Identity, backbone.ChecksumBefore,
            new Dictionary<string, string> { ["epochs"] = "1" });
        return (path, prompt, mapping, backbone.ChecksumBefore);
    }

    [Fact]
    public void Round_trip_is_bit_exact_and_carries_the_metadata()
    {
        var (path, prompt, mapping, checksum) = TrainAndSave();
        var loadedPrompt = new PaddingPrompt(3, 16, 12);
        var loadedMapping = new LabelMapping(LabelMappingMethod.Iterative, 10, FourClasses, 99);
        var metadata = LearnedManipulationFile.Load(path, loadedPrompt, loadedMapping, "small-cnn-seed1", checksum);

        Assert.True(loadedPrompt.Theta.SameAs(prompt.Theta));
        Assert.Equal(mapping.Omega(), loadedMapping.Omega());
        Assert.Equal("Learnable · Input · Additive · Statistical", metadata["coordinates"]);
        Assert.Equal(checksum, metadata["model.checksum"]);
        Assert.Contains("\"inner\":\"12\"", metadata["manipulation.settings"]);

        var again = path + ".2";
        LearnedManipulationFile.Save(again, loadedPrompt, loadedMapping, "small-cnn-seed1", checksum, new Dictionary<string, string> { ["epochs"] = "1" });
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(again));
    }

    [Fact]
    public void A_corrupt_file_is_refused()
    {
        var (path, _, _, checksum) = TrainAndSave();
        var bytes = File.ReadAllBytes(path);
        bytes[^10] ^= 0x40; // a bit of tensor data
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<LearnedFileException>(() =>
            LearnedManipulationFile.Load(path, new PaddingPrompt(3, 16, 12), new LabelMapping(LabelMappingMethod.Iterative, 10, FourClasses, 1), "m", checksum));
        Assert.Contains("corrupt", e.Message);

        File.WriteAllBytes(path, bytes[..20]);
        Assert.Throws<LearnedFileException>(() => LearnedManipulationFile.Read(path));
        File.WriteAllText(path, "not a safetensors file at all");
        Assert.Throws<LearnedFileException>(() => LearnedManipulationFile.Read(path));
        Assert.Throws<FileNotFoundException>(() => LearnedManipulationFile.Read(path + ".missing"));
    }

    [Fact]
    public void Loading_onto_another_model_or_another_shape_is_refused()
    {
        var (path, _, _, checksum) = TrainAndSave();
        using var other = FrozenCnn(seed: 2);
        var e = Assert.Throws<LearnedFileException>(() =>
            LearnedManipulationFile.Load(path, new PaddingPrompt(3, 16, 12), new LabelMapping(LabelMappingMethod.Iterative, 10, FourClasses, 1), other.Identity, other.ChecksumAtFreeze));
        Assert.Contains("was learned on 'small-cnn-seed1'", e.Message);

        var shape = Assert.Throws<LearnedFileException>(() =>
            LearnedManipulationFile.Load(path, new PaddingPrompt(3, 20, 12), new LabelMapping(LabelMappingMethod.Iterative, 10, FourClasses, 1), "m", checksum));
        Assert.Contains("manipulation.theta", shape.Message);

        var kind = Assert.Throws<LearnedFileException>(() =>
            LearnedManipulationFile.Load(path, new WatermarkPrompt(3, 16), new LabelMapping(LabelMappingMethod.Iterative, 10, FourClasses, 1), "m", checksum));
        Assert.Contains("not a watermark prompt", kind.Message);
    }
}
