using System.Diagnostics;
using System.Text.Json;
using Microsoft.Data.Analysis;
using Reprogram.Experiments;
using Reprogram.Models.Vision;
using Reprogram.Runtime;
using Xunit.Abstractions;
using static TorchSharp.torch;
using static Reprogram.Tests.EngineFixtures;

namespace Reprogram.Tests;

/// <summary>Results that last: provenance in every result, JSON exports read back into the same table, DataFrames.</summary>
[Collection("zoo")]
public class ResultsTests(ITestOutputHelper output) : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("rp-results-").FullName;

    public void Dispose() => Directory.Delete(folder, true);

    private string File(string name) => Path.Combine(folder, name);

    /// <summary>The table without the column that says where rows came from (in memory there is no file).</summary>
    private static string Table(ResultSet set) => new ResultSet(set.Rows.Select(r => r with { Source = null }).ToArray()).ToCsv();

    private static void AssertSameRows(ResultSet expected, ResultSet loaded)
    {
        Assert.Equal(Table(expected), Table(loaded));
        Assert.Equal(expected.Count, loaded.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var (e, l) = (expected[i], loaded[i]);
            Assert.Equal(e.Metrics.OrderBy(kv => kv.Key), l.Metrics.OrderBy(kv => kv.Key));      // exactly: doubles round-trip
            Assert.Equal(e.TestAccuracyPerSeed, l.TestAccuracyPerSeed);
            Assert.Equal(e.Coordinates, l.Coordinates);
            Assert.Equal(e.Settings.OrderBy(kv => kv.Key), l.Settings.OrderBy(kv => kv.Key));
            Assert.Equal(e.Provenance, l.Provenance);
            Assert.Equal(e.TestIds.Keys, l.TestIds.Keys);
            foreach (var seed in e.TestIds.Keys) Assert.Equal(e.TestIds[seed], l.TestIds[seed]);
            Assert.Equal(e.Records, l.Records);
        }
    }

    private static ComparisonResult SmallComparison(string modelName) => Comparison.Run(new ComparisonOptions
    {
        Model = modelName, Methods = ["icl+verbalizer", "soft-prompt+verbalizer", "none+ilm"],
        Examples = [2, 4], Seeds = [0, 1], TestExamples = 6, Epochs = 1,
    });

    [Fact]
    public void A_comparison_exported_as_json_loads_back_into_the_same_table()
    {
        using var model = new RegisteredCharGpt();
        var result = SmallComparison(model.Name);
        var path = File("comparison.json");
        result.Export(path);
        var memory = result.ToResultSet();
        var loaded = Results.Load(path);
        output.WriteLine(loaded.ToCsv());
        Assert.Equal(6, loaded.Count);
        AssertSameRows(memory, loaded);
        Assert.All(loaded.Rows, r => Assert.Equal(Path.GetFullPath(path), r.Source));
        Assert.All(loaded.Rows, r => Assert.Equal("comparison", r.Kind));
        Assert.Equal([2, 4, 2, 4, 2, 4], loaded.Rows.Select(r => r.Budget!.Value));
        Assert.Equal("icl + verbalizer", loaded[0].Name);
        Assert.Equal(result.Rows[1].TestAccuracy, loaded[1].TestAccuracy);
        Assert.Equal(12, loaded[0].Records.Count);                       // 6 test examples x 2 seeds
        Assert.All(loaded.Rows, r => Assert.True(r.FrozenUnchanged));
        // The comparison itself carries provenance, and the JSON keeps its own keys beside the common ones.
        Assert.NotNull(result.Provenance);
        using var json = JsonDocument.Parse(System.IO.File.ReadAllText(path));
        Assert.Equal(ResultExport.FormatTag, json.RootElement.GetProperty("format").GetString());
        Assert.Equal("soft-prompt", json.RootElement.GetProperty("rows")[2].GetProperty("manipulation").GetString());
        Assert.True(json.RootElement.GetProperty("rows")[2].GetProperty("spec").GetProperty("seeds").GetArrayLength() == 2);
        Assert.Equal("test_accuracy_best_epoch", ResultSet.MetricColumn(MetricNames.BestEpochTestAccuracy));
    }

    [Fact]
    public void An_in_context_run_exported_as_json_loads_back_with_its_records_by_test_id()
    {
        using var model = CharGpt(seed: 4);
        var result = InContextLearning.Run(model, new InContextOptions { Shots = [0, 1], Seeds = [0, 1], Queries = 5, Pool = 4 });
        var path = File("icl.json");
        result.Export(path);
        var loaded = Results.Load(path);
        AssertSameRows(result.ToResultSet(), loaded);
        Assert.Equal(2, loaded.Count);
        Assert.All(loaded.Rows, r => Assert.Equal("in-context learning", r.Kind));
        Assert.Equal(10, loaded[1].Records.Count);
        // Each record names its test example: the seed's test ids, in order.
        Assert.Equal(loaded[1].TestIds[1], loaded[1].Records.Where(r => r.Seed == 1).Select(r => r.Id));
        Assert.NotNull(result.Provenance);
        using var json = JsonDocument.Parse(System.IO.File.ReadAllText(path));
        Assert.Equal(20, json.RootElement.GetProperty("records").GetArrayLength());     // the records are written once
        Assert.False(json.RootElement.GetProperty("rows")[0].TryGetProperty("records", out _));
        Assert.Equal("InContextOptions", json.RootElement.GetProperty("options").TryGetProperty("shots", out var shots) ? "InContextOptions" : "?");
        Assert.Equal(2, shots.GetArrayLength());
        // The template and label words each seed used.
        var seedRun = json.RootElement.GetProperty("rows")[1].GetProperty("seedRuns")[0];
        Assert.True(seedRun.GetProperty("labels").GetArrayLength() > 0);
        Assert.Contains("{input}", seedRun.GetProperty("template").GetProperty("queryFormat").GetString());
    }

    [Fact]
    public void Every_result_carries_its_provenance()
    {
        using var backbone = DigitsCnn();
        var spec = new ExperimentSpec
        {
            Model = "random digits cnn", Task = "digits", Manipulation = "pad", Alignment = "ilm", Seeds = [0],
            Budget = new Budget { TrainExamples = 8, TestExamples = 6, Epochs = 1, BatchSize = 4 }, Options = new MethodOptions { PadWidth = 2 },
        };
        var before = DateTimeOffset.UtcNow;
        var run = Experiment.Run(backbone, spec);
        var p = run.Result.Provenance!;
        output.WriteLine(p.Describe());
        Assert.Equal(RunProvenance.VersionOf(typeof(RunProvenance).Assembly), p.LibraryVersion);
        Assert.Equal("0.107.0", p.TorchSharpVersion);
        Assert.Equal(TorchSharp.torch.__version__, p.LibTorchVersion);
        Assert.Equal(System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription, p.DotNetVersion);
        Assert.Equal("cpu", p.Device);
        Assert.InRange(p.TimestampUtc, before, DateTimeOffset.UtcNow);
        Assert.Equal(TimeSpan.Zero, p.TimestampUtc.Offset);
        Assert.Equal(CpuFeatures.Current?.Describe(), p.Cpu);
        Assert.Equal(CpuFeatures.Current?.VectorFlags(), p.CpuFlags);
        Assert.Null(p.Gpu);                                               // no CUDA libtorch is referenced here
        Assert.Equal(Environment.CurrentDirectory, p.Folder);
        Assert.Equal(GitHead(Environment.CurrentDirectory), p.GitCommit);
        // The image run's JSON export has it too, and loads back into the same row.
        var path = File("run.json");
        run.Export(path);
        AssertSameRows(run.ToResultSet(), Results.Load(path));
        var text = System.IO.File.ReadAllText(path);
        Assert.Contains("\"libTorchVersion\"", text);
        if (p.GitCommit is { } commit) Assert.Contains(commit, text);
        run.Export(File("run.csv"));
        var csv = System.IO.File.ReadAllLines(File("run.csv"));
        Assert.Equal(2, csv.Length);
        Assert.Contains("library_version", csv[0]);
        Assert.Contains(p.LibraryVersion, csv[1]);
    }

    [Fact]
    public void The_git_commit_is_read_from_the_repository_files_where_git_is_missing_and_is_null_outside_one()
    {
        const string commit = "0123456789abcdef0123456789abcdef01234567";
        const string other = "89abcdef0123456789abcdef0123456789abcdef";
        // A repository whose branch is only in packed-refs.
        var repo = Directory.CreateDirectory(File("repo")).FullName;
        Directory.CreateDirectory(Path.Combine(repo, ".git"));
        System.IO.File.WriteAllText(Path.Combine(repo, ".git", "HEAD"), "ref: refs/heads/main\n");
        System.IO.File.WriteAllText(Path.Combine(repo, ".git", "packed-refs"), $"# pack-refs with: peeled fully-peeled sorted\n{commit} refs/heads/main\n");
        var notebooks = Directory.CreateDirectory(Path.Combine(repo, "notebooks", "deep")).FullName;
        Assert.Equal(commit, RunProvenance.ReadGitHead(notebooks));
        // A loose ref wins over packed-refs; a detached HEAD is the commit itself.
        Directory.CreateDirectory(Path.Combine(repo, ".git", "refs", "heads"));
        System.IO.File.WriteAllText(Path.Combine(repo, ".git", "refs", "heads", "main"), other + "\n");
        Assert.Equal(other, RunProvenance.ReadGitHead(repo));
        // A worktree: ".git" is a file pointing at its folder, whose branches live in the common folder.
        var worktree = Directory.CreateDirectory(File("worktree")).FullName;
        var gitDir = Directory.CreateDirectory(Path.Combine(repo, ".git", "worktrees", "wt")).FullName;
        System.IO.File.WriteAllText(Path.Combine(worktree, ".git"), $"gitdir: {gitDir}\n");
        System.IO.File.WriteAllText(Path.Combine(gitDir, "HEAD"), "ref: refs/heads/main\n");
        System.IO.File.WriteAllText(Path.Combine(gitDir, "commondir"), "../..\n");
        Assert.Equal(other, RunProvenance.ReadGitHead(worktree));
        System.IO.File.WriteAllText(Path.Combine(gitDir, "HEAD"), commit + "\n");
        Assert.Equal(commit, RunProvenance.ReadGitHead(worktree));
        // Outside any repository: null, and capturing provenance there does not fail.
        var outside = Directory.CreateTempSubdirectory("rp-no-git-").FullName;
        try
        {
            Assert.Null(RunProvenance.ReadGitHead(outside));
            var p = RunProvenance.Capture("cpu", outside);
            Assert.Null(p.GitCommit);
            Assert.Equal(outside, p.Folder);
        }
        finally
        {
            Directory.Delete(outside, true);
        }
    }

    [Fact]
    public void Exports_from_several_files_load_into_one_set_side_by_side_and_a_set_exports_and_loads_back()
    {
        using var model = new RegisteredCharGpt();
        var first = SmallComparison(model.Name);
        using var gpt = CharGpt(seed: 5);
        var icl = InContextLearning.Run(gpt, new InContextOptions { Shots = [1], Seeds = [0], Queries = 4, Pool = 3 });
        first.Export(File("a.json"));
        icl.Export(File("b.json"));
        var set = Results.Load(File("a.json"), File("b.json"));
        Assert.Equal(7, set.Count);
        Assert.Equal([Path.GetFullPath(File("a.json")), Path.GetFullPath(File("b.json"))], set.Sources);
        Assert.Equal(set.ToCsv(), Results.Load(folder).ToCsv());          // a folder reads every .json in it, in name order
        // The set's own export keeps each row's source and loads back the same.
        set.Export(File("set.json"));
        var again = Results.Load(File("set.json"));
        Assert.Equal(set.ToCsv(), again.ToCsv());
        set.Export(File("set.csv"));
        Assert.Equal(set.ToCsv(), System.IO.File.ReadAllText(File("set.csv")));
    }

    [Fact]
    public void A_result_set_becomes_a_data_frame_with_typed_columns()
    {
        using var model = new RegisteredCharGpt();
        var result = SmallComparison(model.Name);
        var set = result.ToResultSet();
        DataFrame frame = result.ToDataFrame();
        Assert.Equal(set.Count, frame.Rows.Count);
        Assert.Equal(set.Columns, frame.Columns.Select(c => c.Name));
        Assert.IsType<StringDataFrameColumn>(frame.Columns["name"]);
        Assert.IsType<DoubleDataFrameColumn>(frame.Columns["test_accuracy"]);
        Assert.IsType<Int64DataFrameColumn>(frame.Columns["trainable_parameters"]);
        Assert.IsType<BooleanDataFrameColumn>(frame.Columns["frozen_unchanged"]);
        for (var i = 0; i < set.Count; i++)
        {
            Assert.Equal(set[i].Name, frame.Columns["name"][i]);
            Assert.Equal(set[i].TestAccuracy, (double?)frame.Columns["test_accuracy"][i]);
            Assert.Equal(set[i].TestAccuracySd, (double?)frame.Columns["test_accuracy_sd"][i]);
            Assert.Equal(set[i].TrainableParameters, (long?)frame.Columns["trainable_parameters"][i]);
            Assert.Equal((long?)set[i].Budget, (long?)frame.Columns["budget"][i]);
            Assert.Equal(true, frame.Columns["frozen_unchanged"][i]);
            Assert.Equal(set[i].Provenance!.TimestampUtc.UtcDateTime, (DateTime?)frame.Columns["timestamp_utc"][i]);
        }
        // Rows without input manipulation have no coordinates: null, not "".
        var ilm = set.Rows.ToList().FindIndex(r => r.Name == "none + ilm");
        Assert.Null(frame.Columns["format"][ilm]);
        Assert.Equal("Statistical", frame.Columns["output_alignment"][ilm]);
        // A loaded set gives the same frame.
        result.Export(File("c.json"));
        var loaded = Results.Load(File("c.json")).ToDataFrame();
        Assert.Equal(frame.Columns["test_accuracy"].Cast<double?>(), loaded.Columns["test_accuracy"].Cast<double?>());
    }

    [Fact]
    public void Files_that_are_not_exports_are_refused_with_a_message_naming_them()
    {
        Assert.Contains("at least one", Assert.Throws<ArgumentException>(() => Results.Load()).Message);
        Assert.Contains("no results export at", Assert.Throws<FileNotFoundException>(() => Results.Load(File("missing.json"))).Message);
        System.IO.File.WriteAllText(File("table.csv"), "name\nx\n");
        Assert.Contains("is a CSV table", Assert.Throws<ArgumentException>(() => Results.Load(File("table.csv"))).Message);
        System.IO.File.WriteAllText(File("broken.json"), "{ \"rows\": [");
        Assert.Contains("not valid JSON", Assert.Throws<InvalidDataException>(() => Results.Load(File("broken.json"))).Message);
        System.IO.File.WriteAllText(File("other.json"), "{ \"name\": \"a model card\" }");
        Assert.Contains("has no \"rows\"", Assert.Throws<InvalidDataException>(() => Results.Load(File("other.json"))).Message);
        System.IO.File.WriteAllText(File("bad-row.json"), "{ \"rows\": [ { \"name\": \"x\", \"alignmentKind\": \"Sideways\" } ] }");
        var message = Assert.Throws<InvalidDataException>(() => Results.Load(File("bad-row.json"))).Message;
        Assert.Contains("row 1", message);
        Assert.Contains("bad-row.json", message);
    }

    private static string? GitHead(string folder)
    {
        try
        {
            using var git = Process.Start(new ProcessStartInfo("git", ["rev-parse", "--verify", "HEAD"])
            {
                WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true,
            })!;
            var head = git.StandardOutput.ReadToEnd().Trim();
            git.WaitForExit();
            // git may refuse the folder ("dubious ownership" of a clone owned by another user); provenance then reads .git itself.
            return git.ExitCode == 0 ? head : RunProvenance.ReadGitHead(folder);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return RunProvenance.ReadGitHead(folder);
        }
    }

    /// <summary>A random tiny image classifier over the digits' 10 classes, 28 px grey.</summary>
    private static ImageBackbone DigitsCnn()
    {
        manual_seed(3);
        return new ImageBackbone(new SmallCnn(1, 28, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], width: 4), "random digits cnn", CPU, null, ownsModel: true);
    }

    /// <summary>A random char GPT registered as a model for the test's lifetime.</summary>
    private sealed class RegisteredCharGpt : IDisposable
    {
        public string Name { get; } = "results-char-gpt-" + Guid.NewGuid().ToString("N")[..6];
        public RegisteredCharGpt() => Registries.Models.Add(new ModelEntry
        {
            Name = Name, Kind = "text decoder", Modality = TaskModality.Text, Description = "a random character GPT (tests)",
            Load = _ => new DecoderBackbone(CharGpt(positions: 64)),
        });
        public void Dispose() { }
    }
}
