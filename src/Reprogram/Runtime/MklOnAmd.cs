using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Reprogram.Runtime;

/// <summary>
/// Makes libtorch's bundled oneMKL take its fast GEMM kernels on AMD CPUs. MKL asks one exported function,
/// <c>mkl_serv_intel_cpu_true</c>, whether the CPU is Intel's and otherwise dispatches a slow non-Intel path, even
/// on CPUs with AVX2 or AVX-512 (Zen 5, 2 cores: 88-155 GFLOP/s fp32 against 287-422 with the shim, issue 13).
/// libtorch_cpu.so calls it through its symbol table, so a one-function library (native/mkl_intel_cpu_true.c)
/// opened with RTLD_GLOBAL before libtorch loads answers instead. MKL still checks the instruction sets itself.
/// Loaded only where it helps: AMD with AVX-512 (F, BW, DQ, VL), or AVX2 and FMA (measured on Zen 2, see the
/// README's speed section); <c>REPROGRAM_MKL_AMD=off</c> switches it off, <c>force</c> loads it on any CPU.
/// <see cref="Apply"/> runs before libtorch loads (with <see cref="NativeAllocator.Apply"/>: at extension load, in
/// the CLI, on the compute thread and at the library's first torch use) and says once what it did.
/// </summary>
public static class MklOnAmd
{
    public const string EnvironmentVariable = "REPROGRAM_MKL_AMD";
    public const string SymbolName = "mkl_serv_intel_cpu_true";
    public const string ShimResource = "Reprogram.Native.linux-x64.libreprogram_mkl_amd.so";

    private const int RTLD_LAZY = 0x1, RTLD_NOW = 0x2, RTLD_NOLOAD = 0x4, RTLD_GLOBAL = 0x100;

    private static readonly object Gate = new();
    private static State? _state;

    private sealed record State(MklAmdDecision Decision, bool Loaded, string? ShimPath, string? Problem, string Advice, string Line);

    /// <summary>The mode REPROGRAM_MKL_AMD asks for, and a note when its value is not one of auto, off, force.</summary>
    public static (MklAmdMode Mode, string? Note) ParseMode(string? value)
    {
        var v = value?.Trim().ToLowerInvariant();
        return v switch
        {
            null or "" or "auto" or "on" => (MklAmdMode.Auto, null),
            "off" or "0" or "false" or "no" => (MklAmdMode.Off, null),
            "force" => (MklAmdMode.Force, null),
            _ => (MklAmdMode.Auto, $"{EnvironmentVariable}='{value}' is not one of auto, off, force: taken as auto."),
        };
    }

    public static MklAmdMode Mode => ParseMode(Environment.GetEnvironmentVariable(EnvironmentVariable)).Mode;

    /// <summary>
    /// The gate, a pure function of the CPU and the mode: AMD with AVX-512 F/BW/DQ/VL (MKL's AVX-512 kernels) or with
    /// AVX2 and FMA (its AVX2 kernels); never on other vendors (Intel CPUs already get MKL's fast paths) unless forced.
    /// </summary>
    public static MklAmdDecision Decide(CpuFeatures? cpu, MklAmdMode mode)
    {
        var isa = cpu is null ? "unknown" : cpu.HasAvx512 ? "AVX-512" : cpu.HasAvx2Fma ? "AVX2" : "none";
        if (mode == MklAmdMode.Off) return new(false, isa, $"switched off ({EnvironmentVariable}=off)");
        if (cpu is null) return mode == MklAmdMode.Force
            ? new(true, isa, $"forced ({EnvironmentVariable}=force); the CPU's features could not be read")
            : new(false, isa, "the CPU's features could not be read (/proc/cpuinfo)");
        if (mode == MklAmdMode.Force) return new(true, isa, $"forced ({EnvironmentVariable}=force) on {cpu.Describe()}");
        if (!cpu.IsAmd)
        {
            return new(false, isa, cpu.IsIntel
                ? $"not needed: {cpu.Describe()} is an Intel CPU, which MKL already gives its fast code paths"
                : $"not an AMD CPU ({cpu.Describe()}): left to MKL");
        }
        if (cpu.HasAvx512) return new(true, isa, $"{cpu.Describe()} has AVX-512 F/BW/DQ/VL: MKL's AVX-512 kernels");
        if (cpu.HasAvx2Fma) return new(true, isa, $"{cpu.Describe()} has AVX2 and FMA (no AVX-512): MKL's AVX2 kernels");
        return new(false, isa, $"{cpu.Describe()} has neither AVX-512 nor AVX2+FMA: MKL's generic path is the right one");
    }

    /// <summary>Loads the shim if the gate says so and libtorch is not loaded yet; says once what happened. Safe to call often.</summary>
    public static void Apply()
    {
        lock (Gate)
        {
            if (_state is not null) return;
            _state = Load();
            Console.Error.WriteLine("Reprogram: MKL on AMD: " + _state.Line);
        }
    }

    private static State Load()
    {
        var (mode, note) = ParseMode(Environment.GetEnvironmentVariable(EnvironmentVariable));
        var prefix = note is null ? "" : note + " ";
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            var d0 = new MklAmdDecision(false, "unknown", $"no shim for {RuntimeInformation.OSDescription} on {RuntimeInformation.ProcessArchitecture} (it exists for Linux x86-64, where libtorch bundles MKL)");
            return new State(d0, false, null, null, "", prefix + d0.Reason + ".");
        }
        var decision = Decide(CpuFeatures.Current, mode);
        if (!decision.Load) return new State(decision, false, null, null, "", prefix + decision.Reason + ".");
        if (!NativeAllocator.IsGlibc)
        {
            const string musl = "not loaded: this process does not run on glibc (musl?), and libtorch's Linux builds need glibc";
            return new State(decision, false, null, musl, "", prefix + musl + ".");
        }
        string? path = null;
        try
        {
            path = ExtractShim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            var problem = $"not loaded: the shim could not be written ({e.Message})";
            return new State(decision, false, null, problem, $"Set REPROGRAM_CACHE to a writable folder.", prefix + problem + ".");
        }
        if (LoadedLibTorchCpu() is { } torchPath)
        {
            var problem = $"not loaded: libtorch ({torchPath}) was loaded before Reprogram could put the shim in front of it";
            var advice = $"Load Reprogram before the first TorchSharp call (#r \"nuget: Reprogram.Interactive\" first, or Reprogram.Runtime.MklOnAmd.Apply()), or start the process with LD_PRELOAD={path}.";
            return new State(decision, false, path, problem, advice, prefix + problem + ". " + advice);
        }
        var handle = DynamicLinker.Open(path, RTLD_NOW | RTLD_GLOBAL);
        if (handle == IntPtr.Zero)
        {
            var problem = $"not loaded: dlopen({path}) failed: {DynamicLinker.Error()}";
            return new State(decision, false, path, problem, "", prefix + problem + ".");
        }
        return new State(decision, true, path, null, "",
            prefix + $"{decision.Reason}; the shim {path} answers {SymbolName} (loaded before libtorch); {EnvironmentVariable}=off switches it off.");
    }

    /// <summary>What is in effect and why; with libtorch loaded, also MKL's own branch.</summary>
    public static MklAmdStatus Status()
    {
        Apply();
        var s = _state!;
        var resolved = ResolvedLibrary();
        var inEffect = s.Loaded && resolved is not null && s.ShimPath is not null && SameFile(resolved, s.ShimPath);
        var branch = MklBranch();
        var summary = inEffect ? $"in effect: {s.Decision.Reason}; {SymbolName} resolves to the shim"
            : s.Loaded ? $"NOT in effect: the shim is loaded but {SymbolName} resolves to {resolved ?? "nothing in the global scope"}"
            : s.Problem is { } p ? $"NOT in effect ({s.Decision.Reason}): {p}"
            : $"not in effect: {s.Decision.Reason}";
        return new MklAmdStatus(Mode, inEffect, summary, s.Advice, s.ShimPath, resolved, branch);
    }

    /// <summary>The file that <c>dlsym(RTLD_DEFAULT, "mkl_serv_intel_cpu_true")</c> lies in, or null when the global scope has none.</summary>
    public static string? ResolvedLibrary()
    {
        if (!OperatingSystem.IsLinux()) return null;
        var address = DynamicLinker.Symbol(IntPtr.Zero, SymbolName);
        if (address == IntPtr.Zero) return null;
        return DynamicLinker.Address(address, out var info) != 0 ? Marshal.PtrToStringUTF8(info.FileName) : null;
    }

    /// <summary>
    /// MKL's instruction-set branch as MKL reports it (mkl_serv_cbwr_get_auto_branch, exported by libtorch_cpu.so), e.g.
    /// "AVX2 (10)" or "AVX512 (12)"; "AUTO (2)" where MKL names no Intel branch (its non-Intel dispatch). Null before
    /// libtorch is loaded or where the function is missing.
    /// </summary>
    public static string? MklBranch()
    {
        if (LoadedLibTorchCpu() is not { } torchPath) return null;
        var handle = DynamicLinker.Open(torchPath, RTLD_LAZY | RTLD_NOLOAD);
        if (handle == IntPtr.Zero) return null;
        try
        {
            var function = DynamicLinker.Symbol(handle, "mkl_serv_cbwr_get_auto_branch");
            if (function == IntPtr.Zero) return null;
            var value = Marshal.GetDelegateForFunctionPointer<IntFunction>(function)();
            return $"{BranchName(value)} ({value})";
        }
        finally
        {
            DynamicLinker.Close(handle);
        }
    }

    /// <summary>mkl_cbwr.h's branch constants.</summary>
    public static string BranchName(int value) => value switch
    {
        1 => "BRANCH_OFF", 2 => "AUTO", 3 => "COMPATIBLE", 4 => "SSE2", 5 => "SSE3", 6 => "SSSE3", 7 => "SSE4_1", 8 => "SSE4_2",
        9 => "AVX", 10 => "AVX2", 11 => "AVX512_MIC", 12 => "AVX512", 13 => "AVX512_MIC_E1", 14 => "AVX512_E1",
        _ => "unknown",
    };

    /// <summary>The libtorch_cpu.so this process has mapped, if any.</summary>
    public static string? LoadedLibTorchCpu()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            return File.ReadLines("/proc/self/maps")
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(p => p.Length >= 6 && p[5].EndsWith("/libtorch_cpu.so", StringComparison.Ordinal))
                .Select(p => p[5]).FirstOrDefault();
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The embedded shim's bytes (compiled by the build, or its prebuilt copy).</summary>
    public static byte[] ShimBytes()
    {
        using var stream = typeof(MklOnAmd).Assembly.GetManifestResourceStream(ShimResource)
            ?? throw new InvalidOperationException($"This build of Reprogram.dll carries no {ShimResource}.");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    /// <summary>
    /// Writes the embedded shim to the cache folder once (named by its content hash, so versions never clash) and
    /// returns its path; the temporary folder where the cache cannot be written.
    /// </summary>
    public static string ExtractShim()
    {
        var bytes = ShimBytes();
        var name = $"libreprogram_mkl_amd-{Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]}.so";
        IOException? last = null;
        foreach (var folder in new[] { Path.Combine(ReprogramPaths.CacheFolder, "native"), Path.Combine(Path.GetTempPath(), $"reprogram-native-{Environment.UserName}") })
        {
            try
            {
                var path = Path.Combine(folder, name);
                if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes)) return path;
                Directory.CreateDirectory(folder);
                // Written aside and renamed into place: another process may be extracting the same file.
                var temporary = path + "." + Environment.ProcessId + ".tmp";
                File.WriteAllBytes(temporary, bytes);
                File.Move(temporary, path, overwrite: true);
                return path;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                last = e as IOException ?? new IOException(e.Message, e);
            }
        }
        throw last!;
    }

    private static bool SameFile(string a, string b)
    {
        try
        {
            return Path.GetFullPath(a) == Path.GetFullPath(b) ||
                   (File.ResolveLinkTarget(a, true)?.FullName ?? a) == (File.ResolveLinkTarget(b, true)?.FullName ?? b);
        }
        catch (IOException)
        {
            return a == b;
        }
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int IntFunction();
}
