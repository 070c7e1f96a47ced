namespace Reprogram.Runtime;

/// <summary>Session-wide defaults that experiments use when a call does not say otherwise (<c>#!device</c> sets them).</summary>
public static class ExperimentDefaults
{
    /// <summary>The device experiments run on when none is given: auto (CUDA when it works, else the CPU).</summary>
    public static DeviceSpec Device { get; set; } = DeviceSpec.Auto;
}
