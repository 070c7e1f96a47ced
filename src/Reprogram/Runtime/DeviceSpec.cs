using System.Text.RegularExpressions;
using TorchSharp;

namespace Reprogram.Runtime;

/// <summary>
/// Which device an experiment runs on, as a user writes it: <c>auto</c> (CUDA when it works, else the CPU),
/// <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>. Nothing in the library assumes a device: models, manipulations and
/// alignments are moved to the one a spec resolves to.
/// </summary>
public sealed partial record DeviceSpec(string Text)
{
    public static DeviceSpec Auto { get; } = new("auto");
    public static DeviceSpec Cpu { get; } = new("cpu");

    public static DeviceSpec Parse(string? text)
    {
        var t = (text ?? "auto").Trim().ToLowerInvariant();
        if (t.Length == 0) t = "auto";
        if (!Pattern().IsMatch(t))
        {
            throw new ArgumentException($"'{text}' is not a device. Use auto, cpu, cuda or cuda:N (N = 0, 1, ...).");
        }
        return new DeviceSpec(t);
    }

    /// <summary>The torch device this spec means on this machine; a clear error if CUDA is asked for and absent.</summary>
    public torch.Device Resolve()
    {
        TorchRuntime.EnsureLoaded(wantCuda: Text != "cpu");
        if (Text == "cpu") return torch.CPU;
        var cuda = TorchRuntime.CudaAvailable;
        if (Text == "auto") return cuda ? torch.CUDA : torch.CPU;
        if (!cuda)
        {
            throw new InvalidOperationException(
                $"Device '{Text}' was asked for, but CUDA is not available in this process ({TorchRuntime.CudaStatus}). " +
                "Use --device cpu or auto, or see the README's GPU section (reference TorchSharp-cuda-linux before Reprogram.Interactive).");
        }
        var index = Text.Contains(':') ? int.Parse(Text[(Text.IndexOf(':') + 1)..]) : 0;
        var count = torch.cuda.device_count();
        if (index >= count)
        {
            throw new InvalidOperationException($"Device '{Text}' does not exist: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}.");
        }
        return torch.device(DeviceType.CUDA, index);
    }

    public override string ToString() => Text;

    [GeneratedRegex("^(auto|cpu|cuda(:[0-9]+)?)$")]
    private static partial Regex Pattern();
}
