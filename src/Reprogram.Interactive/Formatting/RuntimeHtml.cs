using System.Text;
using Reprogram.Interactive.Directives;
using Reprogram.Runtime;
using static Reprogram.Interactive.Formatting.Html;

namespace Reprogram.Interactive.Formatting;

/// <summary>HTML for the runtime: the device report and the warning shown when libtorch cannot load here.</summary>
public static class RuntimeHtml
{
    public static string Device(DeviceReport report)
    {
        var r = report.Runtime;
        var rows = new List<string[]>
        {
            new[] { "experiments will use", $"<b>{E(report.Device)}</b> (--device {E(report.Requested.Text)})" },
            new[] { "libtorch", E(r.LibTorchVersion) },
            new[] { "TorchSharp", E(r.TorchSharpVersion) },
            new[] { "threads", $"{r.Threads} (inter-op {r.InteropThreads}); {Environment.ProcessorCount} logical CPUs" },
            new[] { "CPU", "available" },
            new[] { "CUDA", r.CudaAvailable ? $"available, {r.CudaDevices} device(s)" : E(r.CudaStatus) },
            new[] { "native library", E(r.NativeLibrary) },
        };
        if (report.Allocator is { } a)
        {
            var where = a.Mode switch
            {
                AllocatorMode.Jemalloc => "in effect on every thread",
                AllocatorMode.GlibcTuned => (a.EffectiveOnComputeThread ? "in effect for experiments (they run on the library's compute thread)" : "<b>not in effect</b>: no main-arena thread found") +
                                            (a.EffectiveOnThisThread ? ", and on this cell's thread" : "; not on this cell's thread"),
                _ => "<b>not in effect</b>",
            };
            rows.Add(["allocator", $"{E(a.Allocator)}: {where}. {E(a.Detail)}" +
                                   (a.Advice.Length > 0 ? $"<br>{E(a.Advice)}" : "") +
                                   (a.Mode == AllocatorMode.GlibcTuned ? $"<br>Switch off: <code>NativeAllocator.Enabled = false</code> or {E(NativeAllocator.EnvironmentVariable)}=off." : "")]);
        }
        rows.Add(["OpenMP wait policy", E(OpenMpWaitPolicy.Status)]);
        if (report.Mkl is { } m)
        {
            rows.Add(["CPU features", E(CpuFeatures.Current is { } cpu ? $"{cpu.Describe()}: {cpu.VectorFlags()}" : "unknown")]);
            rows.Add(["MKL on AMD", (m.InEffect ? $"<b>{E(m.Summary)}</b>" : E(m.Summary)) +
                                    $"<br>{E(MklOnAmd.SymbolName)} resolves to {E(m.ResolvedTo ?? "nothing in the global scope (MKL's own answer inside libtorch)")}" +
                                    (m.MklBranch is { } b ? $"; MKL's branch: {E(b)}" : "") +
                                    (m.Advice.Length > 0 ? $"<br>{E(m.Advice)}" : "") +
                                    $"<br>{E(MklOnAmd.EnvironmentVariable)}=off switches it off, =force loads it on any CPU (before the kernel starts)."]);
        }
        return Style + Table(["", ""], rows, "rp-device");
    }

    /// <summary>The notice shown instead of a stack trace when a copy of libLibTorchSharp.so will not load here.</summary>
    public static string? LibTorchNotice(IEnumerable<NativeLibraryStatus> states, string? repairSkipped = null)
    {
        var broken = states.Where(s => s.State == PatchState.NeedsPatch).ToArray();
        if (broken.Length == 0) return null;
        var sb = new StringBuilder(Style);
        sb.Append("<div class=\"rp-error\"><b>TorchSharp's native library will not load on this system.</b> ");
        sb.Append(E(broken[0].Detail));
        if (repairSkipped is not null) sb.Append(" (Not repaired automatically: ").Append(E(repairSkipped)).Append(".)");
        sb.Append("<br>Fix it once, then restart the kernel: run <code>")
          .Append(E(TorchRuntime.DoctorCommand)).Append("</code> in a terminal, or in a C# cell <code>Reprogram.Runtime.TorchRuntime.RepairPackageCache()</code>. ")
          .Append("It marks one unused version requirement as weak and keeps a <code>.orig</code> backup.</div>");
        return sb.ToString();
    }
}
