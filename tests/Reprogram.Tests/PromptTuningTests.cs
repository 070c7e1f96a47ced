using Reprogram.Data;
using Reprogram.Experiments;
using Reprogram.Taxonomy;

namespace Reprogram.Tests;

public class PromptTuningTests
{
    private static readonly PromptTuningOptions Tiny = new() { Task = "sentiment", TrainCount = 32, TestCount = 16, Tokens = 3, Epochs = 1, BatchSize = 8, MaxLength = 24 };

    [Theory]
    [InlineData("soft", Location.Embedding)]
    [InlineData("deep", Location.Hidden)]
    [InlineData("vpt-deep", Location.Hidden)]
    [InlineData("prefix", Location.Hidden)]
    [InlineData("p-tuning-v2", Location.Hidden)]
    public void Each_method_trains_on_the_frozen_minilm_and_leaves_it_unchanged(string method, Location location)
    {
        var result = PromptTuning.Run(Tiny with { Method = method });
        Assert.True(result.Main.FrozenUnchanged);
        Assert.Equal(location, result.Main.Coordinates!.Location);
        Assert.Equal(Operator.Concatenative, result.Main.Coordinates.Operator);
        Assert.Equal(Paradigm.PromptTuning, result.Main.Paradigm);
        Assert.True(result.Main.FrozenParameters > 22_000_000, $"{result.Main.Model}: {result.Main.FrozenParameters:N0} frozen parameters");
        Assert.True(result.Main.TokensProcessed > 0);
        Assert.Equal(method == "soft", result.Nearest.Count == 3);
    }

    [Fact]
    public void Soft_tokens_initialised_from_text_are_nearest_to_that_text_and_round_trip_through_a_file()
    {
        var result = PromptTuning.Run(Tiny with { Init = "text", InitText = "wonderful terrible", LearningRate = 1e-6 });
        Assert.Equal("wonderful", result.Nearest[0].Tokens[0].Token);
        Assert.Equal("terrible", result.Nearest[1].Tokens[0].Token);
        var path = Path.Combine(Path.GetTempPath(), $"soft-{Guid.NewGuid():N}.safetensors");
        result.Save(path);
        var (metadata, tensors) = LearnedManipulationFile.Read(path);
        Assert.Equal("Learnable · Embedding · Concatenative · Linear", metadata["coordinates"]);
        Assert.Equal(result.Main.ChecksumBefore, metadata["model.checksum"]);
        Assert.Equal([3L, 384], tensors["manipulation.prompt"].shape);
    }

    [Theory]
    [InlineData("Method", "lora", "not a prompt-tuning method")]
    [InlineData("Init", "zeros", "not an initialisation")]
    [InlineData("Task", "imdb", "not a text task")]
    [InlineData("Task", "/missing/file.csv", "No data file")]
    public void Bad_options_give_clear_errors(string option, string value, string expected)
    {
        var options = option switch
        {
            "Method" => Tiny with { Method = value },
            "Init" => Tiny with { Init = value },
            _ => Tiny with { Task = value },
        };
        Assert.Contains(expected, Assert.ThrowsAny<Exception>(() => PromptTuning.Run(options)).Message);
    }

    [Fact]
    public void Text_files_and_fortunes_load_with_clear_errors()
    {
        var csv = Path.Combine(Path.GetTempPath(), $"t-{Guid.NewGuid():N}.csv");
        File.WriteAllText(csv, "text,label\n\"hello, world\",greeting\nbye,farewell\n");
        var data = TextDataSets.FromFile(csv);
        Assert.Equal(["hello, world", "bye"], data.Texts);
        Assert.Equal(["farewell", "greeting"], data.ClassNames);
        var jsonl = Path.ChangeExtension(csv, ".jsonl");
        File.WriteAllText(jsonl, "{\"text\": \"a\", \"label\": \"x\"}\nnot json\n");
        Assert.Contains("line 2", Assert.Throws<InvalidDataException>(() => TextDataSets.FromFile(jsonl)).Message);
        Assert.Contains("apt-get install fortunes", Assert.Throws<DataSetNotFoundException>(() => TextDataSets.Fortunes(["no-such-category"])).Message);
    }
}
