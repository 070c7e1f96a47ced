namespace Reprogram.Runtime;

/// <summary>What <see cref="LibTorchAutoRepair.BeforeLoad()"/> did.</summary>
/// <param name="Repaired">Copies that would not load and now do (backup kept next to each).</param>
/// <param name="States">Every copy this process may load TorchSharp from, as it is now (after any repair).</param>
/// <param name="Skipped">Why nothing was repaired although a copy needs it (switched off, libtorch already loaded); null otherwise.</param>
public sealed record LibTorchRepairOutcome(IReadOnlyList<NativeLibraryStatus> Repaired, IReadOnlyList<NativeLibraryStatus> States, string? Skipped)
{
    /// <summary>Copies that still will not load (a read-only cache, a failed write, or the repair skipped).</summary>
    public IReadOnlyList<NativeLibraryStatus> StillBroken => States.Where(s => s.State == PatchState.NeedsPatch).ToArray();

    /// <summary>One line saying what was done, for the notebook; null when there was nothing to do.</summary>
    public string? Summary => Repaired.Count == 0 ? null :
        $"Reprogram: TorchSharp's native library would not load here (it asks libstdc++ for {string.Join(", ", Repaired.SelectMany(r => r.MissingVersions).Distinct())}, " +
        $"which this system's lacks); marked that unused requirement weak in {Repaired.Count} cop{(Repaired.Count == 1 ? "y" : "ies")} " +
        $"({string.Join(", ", Repaired.Select(r => r.Path))}; backup {LibTorchCompatibility.BackupSuffix} kept). " +
        $"{LibTorchAutoRepair.EnvironmentVariable}=off turns this off.";
}

/// <summary>
/// Makes TorchSharp loadable without a command or a restart: called before libtorch is loaded (when the notebook
/// extension loads, and at <see cref="TorchRuntime.EnsureLoaded"/>), it finds the copies of libLibTorchSharp.so this
/// process would load (<see cref="TorchRuntime.NativeLibraryStates"/>) and applies <see cref="LibTorchCompatibility.Repair"/>
/// to those that would not load (one bit per missing GLIBCXX version, a .orig backup kept, nothing written when there
/// is nothing to do). <c>REPROGRAM_REPAIR=off</c> switches it off; it also does nothing once libtorch is in the process.
/// </summary>
public static class LibTorchAutoRepair
{
    public const string EnvironmentVariable = "REPROGRAM_REPAIR";

    private static readonly object Gate = new();

    /// <summary>Whether the automatic repair may run: not when <c>REPROGRAM_REPAIR</c> is off, 0, false or no.</summary>
    public static bool Enabled =>
        Environment.GetEnvironmentVariable(EnvironmentVariable)?.Trim().ToLowerInvariant() is not ("off" or "0" or "false" or "no");

    /// <summary>Inspects, and where needed and allowed repairs, the copies this process would load. Never throws for I/O.</summary>
    public static LibTorchRepairOutcome BeforeLoad() => BeforeLoad(TorchRuntime.NativeLibraryStates, TorchRuntime.LoadedLibTorchSharp() is not null);

    /// <summary>The same for given copies (tests: a private package folder); <paramref name="enabled"/> null: <see cref="Enabled"/>.</summary>
    public static LibTorchRepairOutcome BeforeLoad(Func<IReadOnlyList<NativeLibraryStatus>> inspect, bool libTorchLoaded, bool? enabled = null)
    {
        lock (Gate)
        {
            var states = inspect();
            if (states.All(s => s.State != PatchState.NeedsPatch)) return new LibTorchRepairOutcome([], states, null);
            if (!(enabled ?? Enabled)) return new LibTorchRepairOutcome([], states, $"{EnvironmentVariable}=off");
            if (libTorchLoaded) return new LibTorchRepairOutcome([], states, "libtorch is already loaded in this process");

            var after = states.Select(s => s.State == PatchState.NeedsPatch ? LibTorchCompatibility.Repair(s.Path) : s).ToArray();
            var repaired = after.Where((s, i) => states[i].State == PatchState.NeedsPatch && s.State == PatchState.Patched).ToArray();
            return new LibTorchRepairOutcome(repaired, after, null);
        }
    }
}
