using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Directives;
using Reprogram.Interactive.Formatting;
using Reprogram.Runtime;
using TorchSharp;

namespace Reprogram.Interactive.Directives;

/// <summary>The bound options of <c>#!device</c>.</summary>
public sealed class ShowDevice : KernelDirectiveCommand
{
    public string? Device { get; set; }
    public string? Threads { get; set; }

    public override IEnumerable<string> GetValidationErrors(CompositeKernel kernel)
    {
        var errors = new List<string>();
        try { DeviceSpec.Parse(Device); }
        catch (ArgumentException e) { errors.Add("--device: " + e.Message); }
        if (ThreadsError(Threads) is { } error) errors.Add(error);
        return errors;
    }

    /// <summary>
    /// libtorch's thread count: 1 to this machine's logical processors. More only makes every operation wait on threads
    /// with no processor to run on, and a huge count (the fuzz harness found 1000000) never returns.
    /// </summary>
    public static string? ThreadsError(string? threads)
    {
        if (threads is null) return null;
        if (!int.TryParse(threads, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n) || n < 1)
        {
            return $"--threads: '{threads}' is not a positive whole number.";
        }
        return n > Environment.ProcessorCount
            ? $"--threads: {n} is more than this machine's {Environment.ProcessorCount} logical processors: give 1 to {Environment.ProcessorCount}."
            : null;
    }
}

/// <summary>
/// <c>#!device</c>: what libtorch this kernel has (version, threads, CPU and CUDA) and the device experiments will use;
/// <c>--device</c> sets that device for the session, <c>--threads</c> libtorch's thread count.
/// </summary>
internal static class DeviceDirective
{
    public static KernelActionDirective Create() => new("#!device")
    {
        Description = "Shows the libtorch version, threads, CPU/CUDA availability, the native allocator, MKL's code path and the device experiments will use. " +
                      "--device sets it for this session (auto = CUDA when it works, else the CPU).",
        Parameters =
        {
            new KernelDirectiveParameter("--device", "auto, cpu, cuda or cuda:N: the device later experiments use by default (default: auto).")
                .AddCompletions(() => ["auto", "cpu", "cuda", "cuda:0"]),
            new KernelDirectiveParameter("--threads", "How many threads libtorch uses for its operations (default: libtorch's own choice).") { TypeHint = "number" },
        },
    };

    public static Task Handle(ShowDevice command, KernelInvocationContext context)
    {
        try
        {
            var spec = DeviceSpec.Parse(command.Device);
            var device = spec.Resolve();
            if (ShowDevice.ThreadsError(command.Threads) is { } error) throw new ArgumentException(error);
            if (command.Threads is { } t) torch.set_num_threads(int.Parse(t, System.Globalization.CultureInfo.InvariantCulture));
            ExperimentDefaults.Device = spec;
            context.Display(new DeviceReport(TorchRuntime.Info(), spec, device.ToString(), TorchRuntime.NativeLibraryStates(), NativeAllocator.Status(), MklOnAmd.Status()), "text/html");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or LibTorchUnavailableException or FormatException)
        {
            context.Fail(command, message: e.Message);
        }
        return Task.CompletedTask;
    }
}

/// <summary>What <c>#!device</c> shows.</summary>
public sealed record DeviceReport(RuntimeInfo Runtime, DeviceSpec Requested, string Device, IReadOnlyList<NativeLibraryStatus> NativeLibraries,
    AllocatorStatus? Allocator = null, MklAmdStatus? Mkl = null);
