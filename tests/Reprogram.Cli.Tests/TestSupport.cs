using System.Diagnostics;
using System.Text;

[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]

namespace Reprogram.Cli.Tests;

public static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string NotebooksFolder => Path.Combine(Root, "notebooks");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Reprogram.Interactive.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("Cannot find the repository root above " + AppContext.BaseDirectory);
    }

    public static string NewTempFolder(string prefix)
    {
        var path = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)]);
        Directory.CreateDirectory(path);
        return path;
    }
}

/// <summary>A process run to completion with its output; on timeout its whole process group is killed.</summary>
public sealed record ProcessResult(int ExitCode, string Output, bool TimedOut)
{
    public static async Task<ProcessResult> RunAsync(string file, IEnumerable<string> args, string workingDirectory,
        IDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        // setsid gives the child its own process group, so a kernel it starts can be ended with it.
        var psi = new ProcessStartInfo("setsid") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("--wait");
        psi.ArgumentList.Add(file);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var process = Process.Start(psi)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(5));
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
        }
        finally
        {
            // End the whole group (kernels included) whether or not the run finished.
            using var kill = Process.Start(new ProcessStartInfo("kill", ["-9", "--", $"-{process.Id}"]) { RedirectStandardError = true });
            kill?.WaitForExit();
        }
        return new ProcessResult(timedOut ? -1 : process.ExitCode, output.ToString(), timedOut);
    }

    public static string DotnetToolsPath => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools");

    public static string PathWithDotnetTools => $"{Environment.GetEnvironmentVariable("PATH")}:{DotnetToolsPath}";
}

/// <summary>
/// Packs Reprogram and Reprogram.Interactive once per test run, with a version never used before, into a folder
/// that acts as a NuGet feed: what <c>#r "nuget: Reprogram.Interactive"</c> then loads is this build.
/// </summary>
public sealed class PackedPackages : IAsyncLifetime
{
    public string Feed { get; } = Repo.NewTempFolder("reprogram-feed");
    public string Version { get; } = $"0.1.{DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 1767225600}";

    /// <summary>What <c>dotnet pack</c> printed (its warnings included).</summary>
    public string PackOutput { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var result = await ProcessResult.RunAsync("dotnet",
            ["pack", Path.Combine(Repo.Root, "src", "packages.slnf"), "-c", "Release", $"-p:PackageVersion={Version}", "-o", Feed, "--nologo"],
            Repo.Root, timeout: TimeSpan.FromMinutes(8));
        Assert.True(result.ExitCode == 0, "dotnet pack failed:\n" + result.Output);
        Assert.True(File.Exists(Path.Combine(Feed, $"Reprogram.Interactive.{Version}.nupkg")), "No package was written:\n" + result.Output);
        PackOutput = result.Output;
    }

    public Task DisposeAsync() => Task.CompletedTask;
}

[CollectionDefinition(Name)]
public sealed class PackedCollection : ICollectionFixture<PackedPackages>
{
    public const string Name = "packed packages";
}
