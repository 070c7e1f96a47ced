using TorchSharp;

namespace Reprogram.Runtime;

/// <summary>
/// The number format of the frozen model's forward passes where nothing is learned through them (scoring, in-context
/// learning, chain-of-thought, evaluation). Learned manipulations, their gradients and the optimiser stay fp32.
/// </summary>
public enum Precision
{
    /// <summary>The frozen weights as they are (float32).</summary>
    Fp32,
    /// <summary>A bfloat16 copy of the frozen weights: 8 bits of mantissa, float32's range; fast only where the hardware multiplies bf16.</summary>
    Bf16,
}

/// <summary>
/// Parsing and the hardware check. bf16 is refused on CPUs without native bf16 products (AVX512_BF16 or AMX): libtorch
/// then emulates them, and a bf16 forward pass is slower than fp32, not faster (on a Zen 2 machine: 0.3 GFLOP/s for a
/// 1024^3 matmul and 3 for a GPT-2 linear, against 40-60 in fp32). REPROGRAM_BF16=allow-slow (or
/// <see cref="AllowEmulated"/>) runs it anyway, for checking agreement on such a machine.
/// </summary>
public static class PrecisionSupport
{
    public const string EnvironmentVariable = "REPROGRAM_BF16";

    public static IReadOnlyList<string> Names { get; } = ["fp32", "bf16"];

    /// <summary>Whether bf16 may run emulated (slowly) on a CPU without native bf16: from REPROGRAM_BF16=allow-slow unless set here.</summary>
    public static bool AllowEmulated
    {
        get => _allowEmulated ??= Environment.GetEnvironmentVariable(EnvironmentVariable)?.Trim().ToLowerInvariant() is "allow-slow";
        set => _allowEmulated = value;
    }

    private static bool? _allowEmulated;

    public static Precision Parse(string? text) => (text ?? "fp32").Trim().ToLowerInvariant() switch
    {
        "fp32" or "float32" => Precision.Fp32,
        "bf16" or "bfloat16" => Precision.Bf16,
        _ => throw new ArgumentException($"'{text}' is not a precision. Allowed: {string.Join(", ", Names)}."),
    };

    public static string Name(Precision precision) => precision == Precision.Bf16 ? "bf16" : "fp32";

    public static torch.ScalarType ScalarType(Precision precision) => precision == Precision.Bf16 ? torch.ScalarType.BFloat16 : torch.ScalarType.Float32;

    /// <summary>Why <paramref name="precision"/> cannot run on <paramref name="device"/> with this <paramref name="cpu"/> (null: it can). A pure function.</summary>
    public static string? Refusal(Precision precision, torch.Device device, CpuFeatures? cpu, bool allowEmulated)
    {
        if (precision == Precision.Fp32 || device.type == DeviceType.CUDA || allowEmulated) return null;
        if (cpu is { HasNativeBf16: true }) return null;
        var what = cpu is null ? "this CPU's features could not be read" : $"this CPU ({cpu.Describe()}) has neither AVX512_BF16 nor AMX";
        return $"--precision bf16 needs native bf16 products: {what}, so libtorch would emulate them and run slower than fp32 " +
               "(a 1024^3 bf16 matmul ran at 0.3 GFLOP/s on a Zen 2 CPU, against 40-60 in fp32). Use --precision fp32 here, or a GPU; " +
               $"{EnvironmentVariable}=allow-slow (or PrecisionSupport.AllowEmulated = true) runs it anyway, e.g. to check agreement with fp32.";
    }

    /// <summary>Throws (with the reason and what to do) where <see cref="Refusal"/> says no.</summary>
    public static void Check(Precision precision, torch.Device device)
    {
        if (Refusal(precision, device, CpuFeatures.Current, AllowEmulated) is { } reason) throw new ArgumentException(reason);
    }
}
