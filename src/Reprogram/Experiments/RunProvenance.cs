using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using Reprogram.Runtime;

namespace Reprogram.Experiments;

/// <summary>
/// Where and with what a result was made, so that results from two sessions (or two machines) can be compared and a
/// run repeated: the library, TorchSharp, libtorch and .NET versions, the git commit of the folder the run started in
/// (a notebook's folder), the CPU and its vector flags, the GPU if any, the device used, and when it finished (UTC).
/// Nothing here can fail a run: what cannot be read is null.
/// </summary>
public sealed record RunProvenance
{
    /// <summary>Reprogram's version (the assembly's informational version, which is the package version).</summary>
    public required string LibraryVersion { get; init; }
    public required string TorchSharpVersion { get; init; }
    /// <summary>libtorch's own version (<c>torch.__version__</c>); null where libtorch could not be loaded.</summary>
    public string? LibTorchVersion { get; init; }
    /// <summary>The .NET runtime, e.g. ".NET 10.0.0".</summary>
    public required string DotNetVersion { get; init; }
    public required string OperatingSystem { get; init; }
    /// <summary>The folder the run started in (the notebook's folder in a kernel).</summary>
    public string? Folder { get; init; }
    /// <summary>The commit checked out in <see cref="Folder"/>'s git repository; null outside one.</summary>
    public string? GitCommit { get; init; }
    /// <summary>Whether tracked files differ from that commit; null where git itself is not installed.</summary>
    public bool? GitDirty { get; init; }
    /// <summary>"AMD EPYC ... (AuthenticAMD, family 26 model 2)"; null where /proc/cpuinfo cannot be read.</summary>
    public string? Cpu { get; init; }
    /// <summary>The CPU's flags that decide GEMM speed (avx2 fma avx512f ...).</summary>
    public string? CpuFlags { get; init; }
    public int LogicalCores { get; init; }
    /// <summary>libtorch's intra-op threads.</summary>
    public int? Threads { get; init; }
    /// <summary>The GPU(s) libtorch can use, e.g. "NVIDIA H200 (CUDA, 1 device)"; null without CUDA.</summary>
    public string? Gpu { get; init; }
    /// <summary>The device the run used (cpu, cuda:0).</summary>
    public required string Device { get; init; }
    /// <summary>When the result was made (UTC).</summary>
    public required DateTimeOffset TimestampUtc { get; init; }

    /// <summary>This process and machine now, for a run on <paramref name="device"/> started in <paramref name="folder"/> (default: the current folder).</summary>
    public static RunProvenance Capture(string device, string? folder = null)
    {
        var machine = Machine.Value;
        var where = folder ?? SafeCurrentDirectory();
        var git = where is null ? default : Git.Of(where);
        return machine with { Device = device, TimestampUtc = DateTimeOffset.UtcNow, Folder = where, GitCommit = git.Commit, GitDirty = git.Dirty };
    }

    /// <summary>One line for a table's caption: versions, commit, CPU/GPU, device and time.</summary>
    public string Describe() =>
        $"Reprogram {LibraryVersion}, TorchSharp {TorchSharpVersion}, libtorch {LibTorchVersion ?? "not loaded"}, {DotNetVersion}; " +
        (GitCommit is { } c ? $"git {c[..Math.Min(12, c.Length)]}{(GitDirty == true ? " (modified)" : "")}; " : "") +
        $"{Cpu ?? "CPU unknown"}{(Gpu is { } g ? $", {g}" : "")}; device {Device}; {TimestampUtc.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC";

    private static string? SafeCurrentDirectory()
    {
        try { return Environment.CurrentDirectory; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    // What does not change within a process: versions, the CPU, the GPU (libtorch's CUDA state is decided once).
    private static readonly Lazy<RunProvenance> Machine = new(() =>
    {
        string? libtorch = null;
        int? threads = null;
        string? gpu = null;
        try
        {
            var info = TorchRuntime.Info();
            libtorch = info.LibTorchVersion;
            threads = info.Threads;
            if (info.CudaAvailable) gpu = $"{GpuName() ?? "CUDA GPU"} (CUDA, {info.CudaDevices} device{(info.CudaDevices == 1 ? "" : "s")})";
        }
        catch (LibTorchUnavailableException)
        {
            // Provenance never fails a run: the version stays unknown.
        }
        var cpu = CpuFeatures.Current;
        return new RunProvenance
        {
            LibraryVersion = VersionOf(typeof(RunProvenance).Assembly),
            TorchSharpVersion = VersionOf(typeof(TorchSharp.torch).Assembly),
            LibTorchVersion = libtorch,
            DotNetVersion = RuntimeInformation.FrameworkDescription,
            OperatingSystem = $"{RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture})",
            Cpu = cpu?.Describe(),
            CpuFlags = cpu?.VectorFlags(),
            LogicalCores = Environment.ProcessorCount,
            Threads = threads,
            Gpu = gpu,
            Device = "",
            TimestampUtc = default,
        };
    });

    /// <summary>An assembly's informational version without a "+commit" suffix (else its assembly version).</summary>
    public static string VersionOf(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? assembly.GetName().Version?.ToString() ?? "unknown";

    // libtorch names no device through TorchSharp; the driver's tool does, where it is installed.
    private static string? GpuName() => Tool.Run("nvidia-smi", ["--query-gpu=name", "--format=csv,noheader"], null)?.Split('\n')[0].Trim() is { Length: > 0 } n ? n : null;

    /// <summary>
    /// The commit HEAD names in the git repository around <paramref name="folder"/>, read from its files (what provenance
    /// uses where git itself is not installed); null outside a repository.
    /// </summary>
    public static string? ReadGitHead(string folder) => Git.ReadHead(folder);

    /// <summary>The git commit of a folder: git itself where installed, else the repository's HEAD read from its files.</summary>
    private static class Git
    {
        // A comparison builds many results in seconds: ask git at most once every few seconds per folder.
        private static readonly Dictionary<string, (DateTime At, (string? Commit, bool? Dirty) Value)> Cache = new(StringComparer.Ordinal);
        private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(10);

        public static (string? Commit, bool? Dirty) Of(string folder)
        {
            lock (Cache)
            {
                if (Cache.TryGetValue(folder, out var c) && DateTime.UtcNow - c.At < Fresh) return c.Value;
                var value = Ask(folder);
                Cache[folder] = (DateTime.UtcNow, value);
                return value;
            }
        }

        private static (string? Commit, bool? Dirty) Ask(string folder)
        {
            var head = Tool.Run("git", ["rev-parse", "--verify", "HEAD"], folder)?.Trim();
            if (head is not null)
            {
                if (!IsHash(head)) return (null, null);
                var status = Tool.Run("git", ["status", "--porcelain", "--untracked-files=no"], folder);
                return (head, status is null ? null : status.Trim().Length > 0);
            }
            // git is not installed (or refused the folder): HEAD from the files, without the modified flag.
            return (ReadHead(folder), null);
        }

        /// <summary>
        /// The commit HEAD names in the repository around <paramref name="folder"/>, from .git's files: HEAD is a commit, or
        /// "ref: refs/heads/x" resolved through the loose ref or packed-refs. A worktree's ".git" file points at its folder.
        /// </summary>
        public static string? ReadHead(string folder)
        {
            try
            {
                for (var dir = new DirectoryInfo(folder); dir is not null; dir = dir.Parent)
                {
                    var dotGit = Path.Combine(dir.FullName, ".git");
                    string? gitDir = Directory.Exists(dotGit) ? dotGit
                        : File.Exists(dotGit) && File.ReadAllText(dotGit).Trim() is var pointer && pointer.StartsWith("gitdir:", StringComparison.Ordinal)
                            ? Path.GetFullPath(pointer["gitdir:".Length..].Trim(), dir.FullName) : null;
                    if (gitDir is null) continue;
                    var head = File.ReadAllText(Path.Combine(gitDir, "HEAD")).Trim();
                    if (IsHash(head)) return head;
                    if (!head.StartsWith("ref:", StringComparison.Ordinal)) return null;
                    var name = head["ref:".Length..].Trim();
                    // A worktree's branches live in the main repository (its "commondir").
                    var common = File.Exists(Path.Combine(gitDir, "commondir"))
                        ? Path.GetFullPath(File.ReadAllText(Path.Combine(gitDir, "commondir")).Trim(), gitDir) : gitDir;
                    foreach (var root in new[] { gitDir, common }.Distinct())
                    {
                        var loose = Path.Combine(root, name.Replace('/', Path.DirectorySeparatorChar));
                        if (File.Exists(loose) && File.ReadAllText(loose).Trim() is var hash && IsHash(hash)) return hash;
                        var packed = Path.Combine(root, "packed-refs");
                        if (!File.Exists(packed)) continue;
                        foreach (var line in File.ReadLines(packed))
                        {
                            var parts = line.Split(' ', 2);
                            if (parts.Length == 2 && parts[1].Trim() == name && IsHash(parts[0])) return parts[0];
                        }
                    }
                    return null;   // a branch with no commit yet
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
            }
            return null;
        }

        private static bool IsHash(string s) => s.Length is 40 or 64 && s.All(Uri.IsHexDigit);
    }

    /// <summary>Runs a small tool with a time limit; null where it is not installed, fails or takes too long.</summary>
    private static class Tool
    {
        public static string? Run(string file, IReadOnlyList<string> arguments, string? folder)
        {
            try
            {
                var start = new ProcessStartInfo(file)
                {
                    RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, CreateNoWindow = true,
                    WorkingDirectory = folder ?? "",
                };
                foreach (var a in arguments) start.ArgumentList.Add(a);
                using var process = Process.Start(start);
                if (process is null) return null;
                var output = process.StandardOutput.ReadToEndAsync();
                _ = process.StandardError.ReadToEndAsync();
                if (!process.WaitForExit(5000))
                {
                    try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                    return null;
                }
                return process.ExitCode == 0 ? output.Result : null;
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
    }
}
