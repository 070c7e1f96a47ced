using System.Globalization;

namespace Reprogram.Runtime;

/// <summary>
/// What the CPU says about itself in /proc/cpuinfo (its first processor): vendor, model and instruction-set flags,
/// in the kernel's names (avx2, fma, avx512f, avx512_bf16, amx_bf16, ...). The decisions that depend on them
/// (<see cref="MklOnAmd"/>, bf16 support) are pure functions of this record, so they are tested on recorded flag sets.
/// </summary>
public sealed record CpuFeatures(string Vendor, string ModelName, int Family, int Model, IReadOnlySet<string> Flags)
{
    public const string Amd = "AuthenticAMD";
    public const string Intel = "GenuineIntel";

    public bool IsAmd => Vendor == Amd;
    public bool IsIntel => Vendor == Intel;
    public bool Has(string flag) => Flags.Contains(flag);

    /// <summary>The AVX-512 subsets MKL's AVX-512 kernels use: F, BW, DQ and VL.</summary>
    public bool HasAvx512 => Has("avx512f") && Has("avx512bw") && Has("avx512dq") && Has("avx512vl");
    public bool HasAvx2Fma => Has("avx2") && Has("fma");
    /// <summary>Native bf16 arithmetic: AVX512_BF16 (dot products) or AMX (tiles).</summary>
    public bool HasNativeBf16 => Has("avx512_bf16") || Has("amx_bf16");

    /// <summary>"AMD EPYC (AuthenticAMD, family 23 model 49)".</summary>
    public string Describe() => $"{ModelName} ({Vendor}, family {Family} model {Model})";

    /// <summary>The flags that matter for GEMM speed, in a fixed order, for reports.</summary>
    public string VectorFlags() =>
        string.Join(" ", new[] { "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_bf16" }.Where(Has)) is { Length: > 0 } s ? s : "no AVX2";

    /// <summary>The first processor's fields of a /proc/cpuinfo text ("key : value" lines; lines starting with # are comments).</summary>
    public static CpuFeatures Parse(string cpuinfo)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in cpuinfo.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith('#')) continue;
            if (line.Trim().Length == 0)
            {
                if (fields.Count > 0) break;          // the end of the first processor's block
                continue;
            }
            var colon = line.IndexOf(':');
            if (colon < 0) continue;
            var key = line[..colon].Trim();
            if (!fields.ContainsKey(key)) fields[key] = line[(colon + 1)..].Trim();
        }
        if (!fields.TryGetValue("vendor_id", out var vendor) || !fields.TryGetValue("flags", out var flags))
        {
            throw new FormatException("Not a /proc/cpuinfo text: it has no vendor_id and flags lines.");
        }
        return new CpuFeatures(vendor, fields.GetValueOrDefault("model name", "?"), Int(fields, "cpu family"), Int(fields, "model"),
            flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal));
    }

    private static int Int(Dictionary<string, string> fields, string key) =>
        fields.TryGetValue(key, out var v) && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : -1;

    private static readonly Lazy<CpuFeatures?> current = new(() =>
    {
        try
        {
            return OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo") ? Parse(File.ReadAllText("/proc/cpuinfo")) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    });

    /// <summary>This machine's CPU, or null where /proc/cpuinfo cannot be read (not Linux, or not x86).</summary>
    public static CpuFeatures? Current => current.Value;
}
