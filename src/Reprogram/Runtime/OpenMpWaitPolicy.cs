using System.Runtime.InteropServices;

namespace Reprogram.Runtime;

/// <summary>
/// libtorch's OpenMP threads spin between parallel regions by default. With two cores they take the CPU from the thread
/// that has the next operator to start (perf on the GPT-2-shape soft-prompt step: a quarter of all cycles in libgomp's
/// spin loop; 225 against 270-317 tokens/s with passive waiting). libgomp reads OMP_WAIT_POLICY once, when libtorch loads,
/// so the library sets it to PASSIVE in the process's own environment before that, unless the user chose a policy.
/// </summary>
public static class OpenMpWaitPolicy
{
    private static readonly object Gate = new();
    private static string? _status;

    /// <summary>What is in effect and why, for #!device and doctor.</summary>
    public static string Status => _status ?? Describe();

    /// <summary>Sets OMP_WAIT_POLICY=PASSIVE for libgomp if nobody set a policy and libgomp has not started yet.</summary>
    public static void Apply()
    {
        lock (Gate)
        {
            if (_status is not null) return;
            _status = Describe();
            if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is not null || NativeAllocator.MapsContain("libgomp")) return;
            // The process's C environment, which libgomp reads (Environment.SetEnvironmentVariable only changes .NET's copy).
            if (setenv("OMP_WAIT_POLICY", "PASSIVE", 0) == 0)
            {
                Environment.SetEnvironmentVariable("OMP_WAIT_POLICY", "PASSIVE");
                _status = "PASSIVE (set by Reprogram before libtorch loaded; set OMP_WAIT_POLICY yourself to choose another)";
            }
        }
    }

    private static string Describe() =>
        Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is { } policy ? $"{policy} (from the environment)"
        : !OperatingSystem.IsLinux() ? "the OpenMP runtime's default"
        : NativeAllocator.MapsContain("libgomp") ? "ACTIVE (libtorch loaded before Reprogram could set it: start the process with OMP_WAIT_POLICY=PASSIVE)"
        : "not set yet";

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);
}
