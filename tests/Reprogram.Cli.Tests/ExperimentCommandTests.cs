using Reprogram.Experiments;

namespace Reprogram.Cli.Tests;

/// <summary>reprogram compare and reprogram eval: the table printed, --export written and read back, exit codes 0/1/2.</summary>
public class ExperimentCommandTests : IDisposable
{
    private readonly string folder = Repo.NewTempFolder("rp-cli-results");

    public void Dispose() => Directory.Delete(folder, true);

    private string PathOf(string name) => Path.Combine(folder, name);

    /// <summary>Runs the program in this process, with its output and errors captured.</summary>
    private static async Task<(int Exit, string Output, string Error)> Cli(params string[] args)
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        var (before, beforeError) = (Console.Out, Console.Error);
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            var exit = await Program.Main(args);
            return (exit, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(before);
            Console.SetError(beforeError);
        }
    }

    [Fact]
    public async Task Compare_prints_the_table_and_writes_every_export()
    {
        var (json, csv) = (PathOf("cmp.json"), PathOf("cmp.csv"));
        var (exit, output, error) = await Cli("compare", "--methods", "icl+verbalizer,soft-prompt+verbalizer,none+ilm", "--examples", "2,4", "--seeds", "2",
            "--test", "8", "--epochs", "1", "--export", json, "--export", csv);
        Assert.True(exit == 0, error);
        Assert.Contains("Comparison on rule-family", output);
        Assert.Contains("method", output);
        Assert.Contains("soft-prompt + verbalizer  4", output);
        Assert.Contains("Learnable · Embedding · Concatenative", output);
        Assert.Contains("unchanged", output);
        Assert.Contains($"Wrote {json}", output);
        Assert.Equal(1 + 6, File.ReadAllLines(csv).Length);
        var loaded = Results.Load(json);
        Assert.Equal(6, loaded.Count);
        Assert.All(loaded.Rows, r => Assert.Equal(16, r.Records.Count));                    // 8 test examples x 2 seeds
        Assert.Equal(["icl", "icl", "soft-prompt", "soft-prompt", "none", "none"], loaded.Rows.Select(r => r.Manipulation));
        Assert.NotNull(loaded[0].Provenance);
    }

    [Theory]
    [InlineData("compare --bogus 1", "bogus")]
    [InlineData("compare --model gpt-17", "'gpt-17' is not a model. Allowed:")]
    [InlineData("compare --methods soft-prompt+lora", "'lora' is not an output alignment")]
    [InlineData("compare --examples 2,x", "--examples: 'x' is not a whole number")]
    [InlineData("compare --seeds 1,1", "repeats a seed")]
    [InlineData("compare --test many", "--test: 'many' is not a whole number")]
    [InlineData("compare --export out.txt", "give a file name ending in .csv")]
    [InlineData("eval", "Required argument missing")]
    [InlineData("eval /no/such/prompt.safetensors", "There is no saved manipulation at /no/such/prompt.safetensors")]
    public async Task Bad_usage_exits_2_with_a_message(string commandLine, string expected)
    {
        var (exit, _, error) = await Cli(commandLine.Split(' '));
        Assert.Equal(2, exit);
        Assert.Contains(expected, error);
    }

    [Fact]
    public async Task Eval_scores_a_saved_manipulation_on_the_same_test_examples_and_exports_it()
    {
        // Learn a padding prompt and a label mapping on the frozen fashion-cnn (tiny), save them, then evaluate the file.
        var learned = VisualReprogramming.Run(new ReprogramOptions
        {
            Model = "fashion-cnn", Dataset = "digits", TrainCount = 48, TestCount = 24, Epochs = 1, BatchSize = 16, Alignment = "ilm",
        });
        var file = PathOf("pad.safetensors");
        learned.Save(file);
        var export = PathOf("eval.json");
        var (exit, output, error) = await Cli("eval", file, "--test", "24", "--export", export);
        Assert.True(exit == 0, error);
        Assert.Contains("test accuracy", output);
        Assert.Contains("unchanged", output);
        var row = Assert.Single(Results.Load(export).Rows);
        // The same test examples as the run that learned it, and so the same accuracy (CPU runs repeat exactly).
        Assert.Equal(learned.Runs[0].Seeds[0].TestIds, row.TestIds[0]);
        Assert.Equal(learned.Main.Metric(MetricNames.TestAccuracy), row.TestAccuracy);
        Assert.Equal(learned.Main.ChecksumBefore, row.ChecksumBefore);
        Assert.Equal(0, row.TrainableParameters);                                            // nothing was learned again
        Assert.Equal("pad", row.Settings["manipulation"]);
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(export));
        Assert.Equal(file, json.RootElement.GetProperty("rows")[0].GetProperty("spec").GetProperty("load").GetString());   // the spec reruns it
    }

    [Fact]
    public async Task Eval_of_a_corrupt_file_fails_with_exit_1()
    {
        var file = PathOf("broken.safetensors");
        File.WriteAllBytes(file, [1, 2, 3]);
        var (exit, _, error) = await Cli("eval", file, "--model", "fashion-cnn", "--task", "digits");
        Assert.Equal(1, exit);
        Assert.Contains("broken.safetensors", error);
        Assert.Contains("a safetensors file starts with an 8-byte header length", error);
    }
}
