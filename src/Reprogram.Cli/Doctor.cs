using Reprogram.Runtime;

namespace Reprogram.Cli;

/// <summary>
/// <c>reprogram doctor</c>: says whether TorchSharp's native library can load on this system, for every copy a
/// notebook or program may load (the NuGet package cache, TorchSharp's consolidated copies, and this program's own), and repairs them
/// with <c>--fix</c>.
/// </summary>
public static class Doctor
{
    public static int Run(bool fix, string? packagesFolder, TextWriter output)
    {
        var libStdCxx = LibTorchCompatibility.FindSystemLibStdCxx();
        output.WriteLine($"system libstdc++: {libStdCxx ?? "not found"}");
        if (libStdCxx is not null)
        {
            var newest = LibTorchCompatibility.ReadVersionDefinitions(libStdCxx)
                .Where(v => v.StartsWith("GLIBCXX_", StringComparison.Ordinal))
                .OrderBy(v => new Version(v["GLIBCXX_".Length..])).LastOrDefault();
            output.WriteLine($"  newest version it defines: {newest ?? "?"}");
        }
        var folder = packagesFolder ?? LibTorchCompatibility.PackagesFolder();
        var copies = LibTorchCompatibility.FindInPackageCache(folder);
        output.WriteLine($"NuGet package cache: {folder}");
        if (copies.Count == 0)
        {
            output.WriteLine("  no libLibTorchSharp.so in it (TorchSharp not restored yet: nothing to check).");
        }
        var needsFix = 0;
        foreach (var path in copies)
        {
            var status = fix ? LibTorchCompatibility.Repair(path) : LibTorchCompatibility.Inspect(path);
            if (status.State == PatchState.NeedsPatch) needsFix++;
            output.WriteLine($"  {Label(status.State),-12} {path}");
            output.WriteLine($"               {status.Detail}");
        }
        // The program's own copy: the installed tool carries libtorch for Linux x64 next to itself.
        var own = OwnCopies();
        if (own.Count > 0) output.WriteLine($"This program ({AppContext.BaseDirectory}):");
        foreach (var path in own)
        {
            var status = fix ? LibTorchCompatibility.Repair(path) : LibTorchCompatibility.Inspect(path);
            if (status.State == PatchState.NeedsPatch) needsFix++;
            output.WriteLine($"  {Label(status.State),-12} {path}");
            output.WriteLine($"               {status.Detail}");
        }
        WriteAllocator(output);
        if (needsFix > 0)
        {
            output.WriteLine(fix
                ? $"{needsFix} cop{(needsFix == 1 ? "y" : "ies")} could not be repaired (see above)."
                : $"{needsFix} cop{(needsFix == 1 ? "y" : "ies")} will not load here. Run `{TorchRuntime.DoctorCommand}` to repair (a backup .orig is kept).");
            return 1;
        }
        output.WriteLine("TorchSharp's native library can load from every copy found.");
        return 0;
    }

    /// <summary>The allocator line: what keeps tensor memory from page-faulting at every step, and what to do where it cannot.</summary>
    public static void WriteAllocator(TextWriter output)
    {
        var status = NativeAllocator.Status();
        var effect = status.Mode switch
        {
            AllocatorMode.Jemalloc => "in effect on every thread",
            AllocatorMode.GlibcTuned => status.EffectiveOnComputeThread ? "in effect for experiments (library compute thread on glibc's main arena)" : "NOT in effect: no main-arena thread found",
            _ => "NOT in effect",
        };
        output.WriteLine($"allocator: {status.Allocator}, {effect}.");
        output.WriteLine($"  {status.Detail}");
        if (status.Advice.Length > 0) output.WriteLine($"  {status.Advice}");
        if (status.Mode == AllocatorMode.GlibcTuned) output.WriteLine($"  Switch off: {NativeAllocator.EnvironmentVariable}=off (or NativeAllocator.Enabled = false in code).");
        output.WriteLine($"OpenMP wait policy: {OpenMpWaitPolicy.Status}.");
        WriteMkl(output);
    }

    /// <summary>The MKL lines: the CPU, whether the shim is in effect and, once libtorch is loaded, MKL's own branch.</summary>
    public static void WriteMkl(TextWriter output)
    {
        var cpu = CpuFeatures.Current;
        output.WriteLine($"CPU: {(cpu is null ? "unknown (no /proc/cpuinfo)" : $"{cpu.Describe()}; {cpu.VectorFlags()}")}.");
        var mkl = MklOnAmd.Status();
        output.WriteLine($"MKL on AMD: {mkl.Summary}.");
        output.WriteLine($"  dlsym(RTLD_DEFAULT, \"{MklOnAmd.SymbolName}\") -> {mkl.ResolvedTo ?? "not in the global scope (MKL's own answer inside libtorch_cpu.so)"}");
        output.WriteLine(mkl.MklBranch is { } branch
            ? $"  MKL's branch (mkl_serv_cbwr_get_auto_branch): {branch}"
            : "  MKL's branch: libtorch is not loaded in this process (reprogram bench and #!device show it).");
        if (mkl.Advice.Length > 0) output.WriteLine($"  {mkl.Advice}");
        output.WriteLine($"  {MklOnAmd.EnvironmentVariable}=off switches it off; =force loads the shim on any CPU.");
    }

    /// <summary>libLibTorchSharp.so next to this program (an installed tool, or a build output), if any.</summary>
    public static IReadOnlyList<string> OwnCopies() =>
        new[]
        {
            Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", LibTorchCompatibility.LibTorchSharpFileName),
            Path.Combine(AppContext.BaseDirectory, LibTorchCompatibility.LibTorchSharpFileName),
        }.Where(File.Exists).ToArray();

    private static string Label(PatchState state) => state switch
    {
        PatchState.NotNeeded => "ok",
        PatchState.Patched => "repaired",
        PatchState.NeedsPatch => "NEEDS FIX",
        _ => "not ELF/x64",
    };
}
