using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Reprogram.Cli.Tests;

/// <summary>
/// The same notebook run twice by <c>reprogram run</c>, in two fresh processes, on the CPU, gives identical result
/// files: every experiment directive (<c>#!reprogram #!soft-prompt #!icl #!cot #!compare</c>) at tiny settings writes
/// its own <c>--export</c> (the JSON has the options, every run's metrics, training curve, checksums, settings, test
/// ids and every per-example record; the CSVs are the tables and the per-query records), and one C# cell trains a
/// short run of each zoo language model's recipe (first-use training, which the directives otherwise take from the
/// shared cache) and writes its checksum and curve. The files are compared byte for byte once the fields that
/// measure time are taken out. Those are excluded because they are the clock, not the result: any JSON property
/// whose name ends in Seconds, Time, Elapsed, PerSecond, At or Timestamp (wallSeconds, trainingSeconds,
/// evaluationSeconds), any <c>provenance</c> object (when, where and with what a run was made: its timestamp and
/// working folder differ by design), and the CSV columns named *_seconds or timestamp* (the provenance columns of a table). Nothing else is excluded.
/// </summary>
[Collection(PackedCollection.Name)]
public class DeterminismTests(PackedPackages packages, ITestOutputHelper output)
{
    /// <summary>Every experiment directive at tiny settings, each exporting its result into the working folder.</summary>
    public const string Notebook = """
        #!csharp

        #r "nuget: Reprogram.Interactive"

        #!csharp

        #!reprogram --model fashion-cnn --dataset digits --manipulation pad --alignment ilm --train 48 --test 24 --epochs 2 --batch 16 --baseline --name rp --export reprogram.json

        #!csharp

        #!reprogram --model resnet18 --dataset digits --manipulation pad --alignment linear --train 32 --test 16 --epochs 1 --batch 16 --image-size 64 --name rp18 --export reprogram-resnet18.json

        #!csharp

        #!reprogram --model fashion-cnn --dataset digits --manipulation pad --alignment flm --train 32 --test 16 --epochs 1 --batch 16 --name rpTable --export reprogram.csv

        #!csharp

        #!soft-prompt --model minilm --task sentiment --train 16 --test 8 --epochs 2 --batch 8 --tokens 4 --name spEncoder --export soft-prompt-minilm.json

        #!csharp

        #!soft-prompt --model icl-rules --method prefix --task sentiment --train 16 --test 8 --epochs 1 --batch 8 --tokens 4 --name spDecoder --export soft-prompt-prefix.json

        #!csharp

        #!icl --model icl-rules --shots 0,2 --selection random,balanced,similar --calibration both --seeds 2 --queries 12 --pool 16 --export icl.json

        #!csharp

        #!icl --model icl-rules --shots 2 --selection random --scoring generation --seeds 2 --queries 6 --export icl-generation.csv

        #!csharp

        #!cot --model arith-cot --task addition --mode direct,zero-shot,few-shot --shots 1 --samples 3 --seeds 1 --queries 4 --export cot.json

        #!csharp

        #!compare --methods icl+verbalizer,soft-prompt+verbalizer,embedding-perturbation+linear,none+ilm --examples 4 --seeds 2 --test 8 --epochs 1 --export compare.json

        #!csharp

        #!compare --methods icl+verbalizer,soft-prompt+verbalizer --examples 4 --seeds 1 --test 8 --epochs 1 --export compare.csv

        #!csharp

        // First-use training of each zoo language model: a short run of its recipe (the full ones take about a minute each).
        using System.Text.Json;
        using Reprogram.Models.Zoo;
        var zoo = LanguageZoo.Names.ToDictionary(n => n, n =>
        {
            var (model, report) = LanguageZoo.Train(LanguageZoo.Recipe(n) with { TrainSequences = 640 });
            using (model) return new { Checksum = Reprogram.Frozen.ParameterChecksum.Of(model), report.Stop, report.Steps, report.ExamplesSeen, report.TokensSeen, report.Curve, report.Epochs };
        });
        System.IO.File.WriteAllText("zoo-training.json", JsonSerializer.Serialize(zoo));
        """;

    /// <summary>The result files the notebook writes.</summary>
    public static readonly string[] Files =
    [
        "reprogram.json", "reprogram-resnet18.json", "reprogram.csv", "soft-prompt-minilm.json", "soft-prompt-prefix.json",
        "icl.json", "icl-generation.csv", "cot.json", "compare.json", "compare.csv", "zoo-training.json",
    ];

    private static readonly Regex TimingName = new("(Seconds|Time|Elapsed|PerSecond|At|Timestamp)$", RegexOptions.IgnoreCase);
    private static readonly Regex TimingColumn = new("(_seconds|^timestamp.*)$");

    [Fact]
    public async Task Two_fresh_processes_give_identical_results_for_every_directive()
    {
        var root = Repo.NewTempFolder("reprogram-determinism");
        var notebook = Path.Combine(root, "determinism.dib");
        await File.WriteAllTextAsync(notebook, Notebook);
        var runs = new List<string>();
        for (var i = 1; i <= 2; i++)
        {
            var folder = Directory.CreateDirectory(Path.Combine(root, $"run{i}")).FullName;
            var cli = Path.Combine(AppContext.BaseDirectory, "Reprogram.Cli.dll");
            var result = await ProcessResult.RunAsync("dotnet", [cli, "run", notebook, "--source", packages.Feed, "--out", folder], folder,
                new Dictionary<string, string> { ["OMP_WAIT_POLICY"] = "PASSIVE" }, TimeSpan.FromMinutes(12));
            output.WriteLine($"run {i}: exit {result.ExitCode}\n{result.Output}");
            Assert.False(result.TimedOut, $"run {i} took over 12 minutes");
            Assert.Equal(0, result.ExitCode);
            runs.Add(folder);
        }

        var differences = new List<string>();
        foreach (var file in Files)
        {
            var (a, b) = (Path.Combine(runs[0], file), Path.Combine(runs[1], file));
            Assert.True(File.Exists(a) && File.Exists(b), $"{file} was not written by both runs");
            var (left, right) = (Comparable(a), Comparable(b));
            Assert.True(left.Length > 100, $"{file} is nearly empty: the comparison would prove little");
            // Every directive's export carries its per-example records: the comparison covers them, not just the means.
            var records = Records(a);
            if (file != "zoo-training.json") Assert.True(records > 0, $"{file} has no per-example records");
            if (left != right) differences.Add($"{file}: {FirstDifference(left, right)}");
            else output.WriteLine($"{file}: identical ({left.Length:N0} characters; {records} {(file.EndsWith(".csv", StringComparison.Ordinal) ? "rows" : "per-example records")})");
        }
        Assert.True(differences.Count == 0, $"The two runs differ (files kept in {root}):\n" + string.Join("\n", differences));
        Directory.Delete(root, recursive: true);
    }

    [Fact]
    public void The_comparison_ignores_the_clock_and_nothing_else()
    {
        var folder = Repo.NewTempFolder("reprogram-comparable");
        string Write(string name, string text) { var path = Path.Combine(folder, name); File.WriteAllText(path, text); return path; }
        const string json = """{"rows":[{"wallSeconds":W,"metrics":{"test accuracy":0.5},"seedRuns":[{"trainingSeconds":W,"evaluationSeconds":W}],"records":[{"id":"3","predicted":"P","correct":true}],"provenance":{"timestampUtc":"T","folder":"F"}}],"provenance":{"timestampUtc":"T"}}""";
        string Json(string w, string t, string predicted) => json.Replace("W", w).Replace("T", t).Replace("F", t).Replace("P", predicted);
        Assert.Equal(Comparable(Write("a.json", Json("1.5", "2026-01-01", "cat"))), Comparable(Write("b.json", Json("9.25", "2027-12-31", "cat"))));
        Assert.NotEqual(Comparable(Write("c.json", Json("1.5", "2026-01-01", "cat"))), Comparable(Write("d.json", Json("1.5", "2026-01-01", "dog"))));
        Assert.Equal(1, Records(Path.Combine(folder, "a.json")));

        const string csv = "method,\"test accuracy, mean\",training_seconds,loss,timestamp_utc\n\"a, b\",0.5,S,0.25,T\n";
        string Csv(string seconds, string loss, string t) => csv.Replace("S", seconds).Replace("0.25", loss).Replace("T", t);
        Assert.Equal(Comparable(Write("a.csv", Csv("1.5", "0.25", "x"))), Comparable(Write("b.csv", Csv("7", "0.25", "y"))));
        Assert.NotEqual(Comparable(Write("c.csv", Csv("1.5", "0.25", "x"))), Comparable(Write("d.csv", Csv("1.5", "0.2500001", "x"))));
        Directory.Delete(folder, recursive: true);
    }

    /// <summary>Per-example records in a result file: the elements of every JSON array named records, or a CSV's rows.</summary>
    public static int Records(string path)
    {
        if (path.EndsWith(".csv", StringComparison.Ordinal)) return File.ReadAllLines(path).Count(l => l.Length > 0) - 1;
        static int Count(JsonNode? node) => node switch
        {
            JsonObject o => o.Sum(p => p.Key == "records" && p.Value is JsonArray a ? a.Count : Count(p.Value)),
            JsonArray a => a.Sum(Count),
            _ => 0,
        };
        return Count(JsonNode.Parse(File.ReadAllText(path)));
    }

    /// <summary>A result file without its timing fields (see the class summary), as text.</summary>
    public static string Comparable(string path)
    {
        var text = File.ReadAllText(path);
        if (path.EndsWith(".csv", StringComparison.Ordinal))
        {
            var lines = text.Split('\n');
            var header = Fields(lines[0]);
            var keep = Enumerable.Range(0, header.Count).Where(i => !TimingColumn.IsMatch(header[i].Trim('"', ' '))).ToArray();
            // Fields are split on commas outside quotes. (A quoted field holding a line break would be split across lines:
            // the files with such fields, the per-query records, have no timing column and are compared whole.)
            return string.Join('\n', lines.Select(l => keep.Length == header.Count ? l : string.Join(',', keep.Select(i => Fields(l).ElementAtOrDefault(i)))));
        }
        var node = JsonNode.Parse(text);
        Strip(node);
        return node!.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static List<string> Fields(string line)
    {
        var fields = new List<string>();
        var current = new System.Text.StringBuilder();
        var quoted = false;
        foreach (var c in line)
        {
            if (c == '"') quoted = !quoted;
            if (c == ',' && !quoted) { fields.Add(current.ToString()); current.Clear(); }
            else current.Append(c);
        }
        fields.Add(current.ToString());
        return fields;
    }

    private static void Strip(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var key in obj.Select(p => p.Key).Where(k => TimingName.IsMatch(k) || k.Equals("provenance", StringComparison.OrdinalIgnoreCase)).ToList())
                    obj.Remove(key);
                foreach (var (_, value) in obj) Strip(value);
                break;
            case JsonArray array:
                foreach (var item in array) Strip(item);
                break;
        }
    }

    private static string FirstDifference(string a, string b)
    {
        var i = 0;
        while (i < a.Length && i < b.Length && a[i] == b[i]) i++;
        string Around(string s) => s.Substring(Math.Max(0, i - 200), Math.Min(s.Length - Math.Max(0, i - 200), 300));
        return $"first difference at character {i}:\n--- run 1 ---\n{Around(a)}\n--- run 2 ---\n{Around(b)}";
    }
}
