using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Reprogram.Cli.Tests;

/// <summary>
/// The Jupyter-protocol fuzz harness (<c>tests/fuzz/jupyter_fuzz.py</c>, Debian's jupyter_client under /usr/bin/python3)
/// against the freshly packed extension in the real dotnet-interactive kernel: every magic command fuzzed at CI size,
/// and a long session of experiment cells whose resident memory must stay flat.
/// <c>REPROGRAM_FUZZ=nightly</c> in the environment makes the fuzz test run the nightly size (1,000 inputs per command).
/// </summary>
[Collection(PackedCollection.Name)]
public sealed class FuzzHarnessTests(PackedPackages packages, ITestOutputHelper log)
{
    public static readonly string[] Directives =
        ["#!taxonomy", "#!manipulation", "#!device", "#!reprogram", "#!soft-prompt", "#!icl", "#!cot", "#!compare"];

    private static bool Nightly => string.Equals(Environment.GetEnvironmentVariable("REPROGRAM_FUZZ"), "nightly", StringComparison.OrdinalIgnoreCase);

    [Fact]
    public async Task Every_magic_command_takes_generated_inputs_without_a_death_hang_trace_or_injection()
    {
        var json = Path.Combine(Repo.NewTempFolder("reprogram-fuzz-out"), "fuzz.json");
        var (run, seconds) = await Harness.RunAsync(["fuzz", "--feed", packages.Feed, "--version", packages.Version, "--json", json],
            Nightly ? TimeSpan.FromHours(4) : TimeSpan.FromMinutes(20));
        TestReport.Write(log, $"fuzz harness ({(Nightly ? "nightly" : "CI")} size): {seconds:0} s\n" + Harness.Summary(run.Output, "fuzz summary:"));
        Assert.False(run.TimedOut, "the fuzz harness did not finish:\n" + Harness.Tail(run.Output));
        Assert.True(run.ExitCode == 0, $"the fuzz harness failed (exit code {run.ExitCode}):\n" + Harness.Tail(run.Output));

        // What the harness reports, checked here too: every command fuzzed at least at CI size, and nothing went wrong.
        var report = JsonNode.Parse(await File.ReadAllTextAsync(json))!;
        var rows = report["rows"]!.AsArray().ToDictionary(r => r!["directive"]!.GetValue<string>());
        Assert.Equal(Directives.Order(), rows.Keys.Order());
        foreach (var (directive, row) in rows)
        {
            Assert.True(row!["inputs"]!.GetValue<int>() >= (Nightly ? 1000 : 200), $"{directive}: only {row["inputs"]} inputs");
            foreach (var count in new[] { "deaths", "hangs", "traces", "injections" })
            {
                Assert.True(row[count]!.GetValue<int>() == 0, $"{directive}: {row[count]} {count}");
            }
            // Both kinds of outcome happened: valid runs that finished and bad inputs refused with a message.
            Assert.True(row["ok"]!.GetValue<int>() > 0, $"{directive}: no input ran");
            Assert.True(row["clear"]!.GetValue<int>() > 0, $"{directive}: no input was refused");
        }
        Assert.Equal(0, report["keepalive_failures"]!.GetValue<int>());
        Assert.Empty(report["failures"]!.AsArray());
    }

    /// <summary>
    /// 30 experiment cells of every kind in one kernel: each result in a new variable (all 30 kept, as a notebook that
    /// names its runs keeps them), or each kind rerun under one name (the previous result replaced and freed).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Thirty_experiment_cells_in_one_kernel_keep_resident_memory_flat(bool sameNames)
    {
        var json = Path.Combine(Repo.NewTempFolder("reprogram-memory-out"), "memory.json");
        string[] args = ["memory", "--feed", packages.Feed, "--version", packages.Version, "--cells", "30", "--json", json];
        var (run, seconds) = await Harness.RunAsync(sameNames ? [.. args, "--same-names"] : args, TimeSpan.FromMinutes(20));
        TestReport.Write(log, $"memory harness ({(sameNames ? "each kind rerun under one name" : "a new variable per cell")}): {seconds:0} s\n" + Harness.Summary(run.Output, "cell  1"));
        Assert.False(run.TimedOut, "the memory harness did not finish:\n" + Harness.Tail(run.Output));

        var report = JsonNode.Parse(await File.ReadAllTextAsync(json))!;
        var curve = report["curve"]!.AsArray();
        Assert.Empty(report["failures"]!.AsArray());
        Assert.Equal(30, curve.Count);
        // Every kind of experiment cell ran in the session (the harness cycles through them).
        var cells = curve.Select(point => point![1]!.GetValue<string>()).ToList();
        foreach (var directive in Directives.Skip(3)) Assert.Contains(cells, c => c.StartsWith(directive + " ", StringComparison.Ordinal));
        Assert.Contains(cells, c => c.Contains("--load", StringComparison.Ordinal));
        double Rss(int cell) => curve[cell - 1]![2]!.GetValue<double>();
        var growth = Rss(30) - Rss(5);
        TestReport.Write(log, string.Create(CultureInfo.InvariantCulture, $"resident memory: {Rss(5):0.0} MB after cell 5, {Rss(30):0.0} MB after cell 30, {growth:+0.0;-0.0} MB"));
        Assert.True(growth < 100, $"resident memory grew by {growth:0.0} MB between the 5th and the 30th cell:\n" + Harness.Tail(run.Output));
        Assert.True(run.ExitCode == 0, $"the memory harness failed (exit code {run.ExitCode}):\n" + Harness.Tail(run.Output));
    }
}

/// <summary>The harness's own detectors, on known outputs: no kernel needed.</summary>
public sealed class FuzzHarnessSelfTests(ITestOutputHelper log)
{
    [Fact]
    public async Task The_detectors_find_injections_and_stack_traces_and_pass_escaped_output_and_clear_errors()
    {
        var (run, _) = await Harness.RunAsync(["selftest"], TimeSpan.FromMinutes(2));
        log.WriteLine(run.Output);
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("0 problems", run.Output);
    }
}

internal static class Harness
{
    public static string Script => Path.Combine(Repo.Root, "tests", "fuzz", "jupyter_fuzz.py");

    public static async Task<(ProcessResult Run, double Seconds)> RunAsync(string[] args, TimeSpan timeout)
    {
        Assert.True(File.Exists("/usr/bin/python3"), "/usr/bin/python3 is missing: .ci/setup installs Debian's python3 with jupyter-client.");
        var clock = Stopwatch.StartNew();
        var run = await ProcessResult.RunAsync("/usr/bin/python3", [Script, .. args], Repo.Root,
            new Dictionary<string, string>
            {
                ["PATH"] = ProcessResult.PathWithDotnetTools,
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
                ["OMP_WAIT_POLICY"] = "PASSIVE",
                ["PYTHONUNBUFFERED"] = "1",
            },
            timeout);
        return (run, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The harness's output from the line starting with <paramref name="start"/> on (its summary table or curve).</summary>
    public static string Summary(string output, string start)
    {
        var lines = output.Split('\n');
        var first = Array.FindIndex(lines, l => l.StartsWith(start, StringComparison.Ordinal));
        return first < 0 ? Tail(output) : string.Join('\n', lines[first..]);
    }

    public static string Tail(string output, int characters = 12_000) => output.Length <= characters ? output : "..." + output[^characters..];
}
