using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Reprogram.Runtime;

namespace Reprogram.Tests;

public class MklOnAmdTests
{
    private static CpuFeatures Recorded(string name) => CpuFeatures.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "cpuinfo", name)));

    [Theory]
    [InlineData("zen2-epyc-kvm.txt", 23, true, "AVX2")]
    [InlineData("zen3-epyc-7763.txt", 25, true, "AVX2")]
    [InlineData("zen4-threadripper-pro-7965wx.txt", 25, true, "AVX-512")]
    [InlineData("zen5-epyc-9575f.txt", 26, true, "AVX-512")]
    [InlineData("intel-xeon-platinum-8457c.txt", 6, false, "AVX-512")]
    public void The_gate_loads_the_shim_on_AMD_with_AVX2_or_AVX512_and_never_on_Intel(string file, int family, bool load, string codePath)
    {
        var cpu = Recorded(file);
        Assert.Equal(family, cpu.Family);
        var auto = MklOnAmd.Decide(cpu, MklAmdMode.Auto);
        Assert.Equal(load, auto.Load);
        Assert.Equal(codePath, auto.CodePath);
        Assert.Contains(cpu.ModelName, auto.Reason);
        if (!load) Assert.Contains("Intel CPU", auto.Reason);
        // The issue's own gate, AMD with AVX-512 F/BW/DQ/VL, is a subset of this one.
        Assert.Equal(cpu.IsAmd && cpu.HasAvx512, auto.Load && auto.CodePath == "AVX-512");

        var off = MklOnAmd.Decide(cpu, MklAmdMode.Off);
        Assert.False(off.Load);
        Assert.Contains("REPROGRAM_MKL_AMD=off", off.Reason);
        Assert.True(MklOnAmd.Decide(cpu, MklAmdMode.Force).Load);
    }

    [Fact]
    public void An_AMD_CPU_without_AVX2_keeps_MKLs_generic_path_and_unknown_features_load_nothing()
    {
        var zen2 = Recorded("zen2-epyc-kvm.txt");
        var old = zen2 with { Flags = zen2.Flags.Where(f => f is not ("avx2" or "fma")).ToHashSet() };
        Assert.False(MklOnAmd.Decide(old, MklAmdMode.Auto).Load);
        Assert.Contains("neither AVX-512 nor AVX2+FMA", MklOnAmd.Decide(old, MklAmdMode.Auto).Reason);
        Assert.False(MklOnAmd.Decide(null, MklAmdMode.Auto).Load);
        Assert.True(MklOnAmd.Decide(null, MklAmdMode.Force).Load);
    }

    [Theory]
    [InlineData(null, MklAmdMode.Auto, false)]
    [InlineData("OFF", MklAmdMode.Off, false)]
    [InlineData("0", MklAmdMode.Off, false)]
    [InlineData("force", MklAmdMode.Force, false)]
    [InlineData("fast", MklAmdMode.Auto, true)]
    public void The_switch_reads_auto_off_force_and_says_when_a_value_is_none_of_them(string? value, MklAmdMode mode, bool noted)
    {
        var (parsed, note) = MklOnAmd.ParseMode(value);
        Assert.Equal(mode, parsed);
        Assert.Equal(noted, note is not null);
        if (noted) Assert.Contains("not one of auto, off, force", note);
    }

    [Fact]
    public void Cpuinfo_that_is_not_cpuinfo_is_refused()
    {
        Assert.Throws<FormatException>(() => CpuFeatures.Parse("hello\nworld"));
        var cpu = CpuFeatures.Parse("vendor_id : AuthenticAMD\ncpu family : 26\nmodel : 2\nmodel name : X\nflags : avx2 fma avx512f avx512bw avx512dq avx512vl avx512_bf16\n\nvendor_id : GenuineIntel\nflags : sse2\n");
        Assert.True(cpu.IsAmd && cpu.HasAvx512 && cpu.HasNativeBf16);
        Assert.Equal("avx2 fma avx512f avx512bw avx512dq avx512vl avx512_bf16", cpu.VectorFlags());
    }

    [Fact]
    public void The_embedded_shim_answers_one_and_needs_no_other_library()
    {
        Assert.True(OperatingSystem.IsLinux());
        var path = MklOnAmd.ExtractShim();
        Assert.Equal(MklOnAmd.ShimBytes(), File.ReadAllBytes(path));
        Assert.Equal(path, MklOnAmd.ExtractShim()); // extracted once, by content
        // RTLD_LOCAL: the test process's own symbol scope is left as it is.
        var handle = dlopen(path, 0x2);
        Assert.NotEqual(IntPtr.Zero, handle);
        try
        {
            var function = dlsym(handle, MklOnAmd.SymbolName);
            Assert.NotEqual(IntPtr.Zero, function);
            Assert.Equal(1, Marshal.GetDelegateForFunctionPointer<IntFunction>(function)());
        }
        finally
        {
            dlclose(handle);
        }
        // No DT_NEEDED entries: it loads whatever the libc.
        var readelf = Run("readelf", ["-d", path]);
        Assert.DoesNotContain("NEEDED", readelf);
        Assert.Contains("mkl_serv_intel_cpu_true", Run("nm", ["-D", "--defined-only", path]));
    }

    [Fact]
    public void Forced_the_shim_is_loaded_before_libtorch_resolves_the_symbol_and_changes_MKLs_branch_but_not_the_results()
    {
        var plain = Probe("off");
        var shim = Probe("force");

        // Neither process had libtorch before the library's own first use of it; both have it after.
        Assert.Null(plain.LibTorchBeforeApply);
        Assert.Null(shim.LibTorchBeforeApply);
        Assert.NotNull(shim.LibTorchAfter);

        // Off: the global scope has no such symbol (MKL asks its own copy inside libtorch_cpu.so).
        Assert.False(plain.InEffect);
        Assert.Null(plain.ResolvedTo);
        Assert.Contains("REPROGRAM_MKL_AMD=off", plain.Summary);

        // Forced: dlsym(RTLD_DEFAULT, ...) resolves into the shim, and MKL reports an instruction-set branch, AVX2 or
        // better (on the Zen 2 machine this was written on, MKL reports AUTO (2) without the shim: no Intel branch).
        Assert.True(shim.InEffect, shim.Summary);
        Assert.NotNull(shim.ShimPath);
        Assert.Equal(Path.GetFullPath(shim.ShimPath!), Path.GetFullPath(shim.ResolvedTo!));
        Assert.Matches(@"^(AVX2|AVX512|AVX512_E1) \(\d+\)$", shim.MklBranch);
        Assert.Matches(@"^[A-Z0-9_]+ \(\d+\)$", plain.MklBranch);

        // Same numbers to float tolerance: a forward pass, then one training step (loss, gradient, updated prompt).
        AssertClose(plain.Logits, shim.Logits, 1e-4);
        Assert.Equal(plain.Loss, shim.Loss, 1e-5);
        AssertClose(plain.Gradient, shim.Gradient, 1e-6 + 1e-3 * plain.Gradient.Max(Math.Abs));
        AssertClose(plain.PromptAfterStep, shim.PromptAfterStep, 1e-5);
    }

    [Fact]
    public void Where_libtorch_was_loaded_first_it_says_so_and_what_to_do()
    {
        var text = RunProbe("mkl-late", "force");
        using var json = JsonDocument.Parse(text);
        var root = json.RootElement;
        Assert.False(root.GetProperty("InEffect").GetBoolean());
        Assert.Contains("was loaded before Reprogram could put the shim in front of it", root.GetProperty("Summary").GetString());
        var advice = root.GetProperty("Advice").GetString()!;
        Assert.Contains("LD_PRELOAD=" + root.GetProperty("ShimPath").GetString(), advice);
        Assert.Contains("MklOnAmd.Apply()", advice);
    }

    private static void AssertClose(float[] expected, float[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst <= tolerance, $"largest difference {worst:g3} > {tolerance:g3}");
    }

    private static NativeProbe.MklProbe Probe(string mode) => JsonSerializer.Deserialize<NativeProbe.MklProbe>(RunProbe("mkl", mode))!;

    /// <summary>The last line a probe prints, run in a fresh process with REPROGRAM_MKL_AMD=<paramref name="mode"/>.</summary>
    private static string RunProbe(string probe, string mode)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Reprogram.Tests.dll"));
        psi.ArgumentList.Add("probe");
        psi.ArgumentList.Add(probe);
        psi.Environment[MklOnAmd.EnvironmentVariable] = mode;
        psi.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        using var process = Process.Start(psi)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, error.Result);
        return output.Trim().Split('\n')[^1];
    }

    private static string Run(string program, string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var text = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return text;
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int IntFunction();

    [DllImport("libc")] private static extern IntPtr dlopen([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);
    [DllImport("libc")] private static extern IntPtr dlsym(IntPtr handle, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);
    [DllImport("libc")] private static extern int dlclose(IntPtr handle);
}
