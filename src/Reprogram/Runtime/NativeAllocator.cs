using System.Runtime.InteropServices;

namespace Reprogram.Runtime;

/// <summary>How the process's native allocator (the one libtorch's tensors come from) is set up for tensor work.</summary>
public enum AllocatorMode
{
    /// <summary>jemalloc is the process's malloc (LD_PRELOAD): fast on every thread, nothing to tune.</summary>
    Jemalloc,
    /// <summary>glibc malloc keeps freed memory (no mmap, no trimming) and experiments run on the compute thread, which uses glibc's main arena.</summary>
    GlibcTuned,
    /// <summary>Switched off (REPROGRAM_ALLOCATOR=off or <see cref="NativeAllocator.Enabled"/> = false): glibc's defaults.</summary>
    Off,
    /// <summary>Not Linux with glibc (macOS, Windows, musl): nothing is changed.</summary>
    Unsupported,
}

/// <summary>What <c>#!device</c> and <c>reprogram doctor</c> say about the allocator.</summary>
public sealed record AllocatorStatus(
    AllocatorMode Mode,
    string Allocator,
    bool EffectiveOnComputeThread,
    bool EffectiveOnThisThread,
    string Detail,
    string Advice);

/// <summary>
/// Keeps tensor memory in the process instead of returning it to the system after every step. On these machines a
/// first-touch page fault is slow, and glibc's malloc returns freed blocks over its mmap threshold (up to 32 MiB) and
/// trims its heaps, so a training step that allocates large temporaries page-faults on every step (1.3-3.6x slower).
/// jemalloc, when preloaded, keeps memory on every thread. Without it, <see cref="Apply"/> tells glibc not to use mmap
/// and not to trim (mallopt), which only helps allocations served by glibc's main arena: other threads get arenas of
/// 64 MiB heaps that map and unmap large blocks whatever the settings. So experiments run on <see cref="ComputeThread"/>,
/// a thread chosen because it allocates from the main arena. Switch off with REPROGRAM_ALLOCATOR=off (before the
/// process starts) or <see cref="Enabled"/> = false (any time).
/// </summary>
public static class NativeAllocator
{
    public const string EnvironmentVariable = "REPROGRAM_ALLOCATOR";
    public const string JemallocPath = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

    private const int M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2, M_MMAP_THRESHOLD = -3, M_MMAP_MAX = -4, M_ARENA_MAX = -8;
    // glibc's defaults, restored when switched off (the thresholds then stay static: glibc stops adapting them once set).
    private const int DefaultThreshold = 128 * 1024, DefaultMmapMax = 65536;
    // A top pad of a whole heap (64 MiB) keeps glibc from deleting a non-main arena's heap when it becomes free.
    private const int KeepTopPad = 64 * 1024 * 1024;

    private static readonly object Gate = new();
    private static bool? _enabled;
    private static bool _applied;
    private static bool _logged;

    /// <summary>Whether the tuning is on: from REPROGRAM_ALLOCATOR (off/0/false switch it off) unless set here.</summary>
    public static bool Enabled
    {
        get => _enabled ??= !IsOffValue(Environment.GetEnvironmentVariable(EnvironmentVariable));
        set
        {
            lock (Gate)
            {
                _enabled = value;
                if (value) ApplyLocked(); else RestoreLocked();
            }
        }
    }

    /// <summary>Whether jemalloc is this process's malloc (preloaded before it started).</summary>
    public static bool JemallocLoaded { get; } = MapsContain("libjemalloc");

    /// <summary>Linux with glibc: the only place mallopt and the arena choice exist.</summary>
    public static bool IsGlibc { get; } = OperatingSystem.IsLinux() && GlibcVersion() is not null;

    public static AllocatorMode Mode =>
        JemallocLoaded ? AllocatorMode.Jemalloc
        : !IsGlibc ? AllocatorMode.Unsupported
        : Enabled ? AllocatorMode.GlibcTuned : AllocatorMode.Off;

    /// <summary>
    /// Applies the settings once (before libtorch starts its threads where the caller can), and logs one line; with
    /// them the other settings that must precede libtorch: <see cref="OpenMpWaitPolicy"/> and <see cref="MklOnAmd"/>.
    /// </summary>
    public static void Apply()
    {
        OpenMpWaitPolicy.Apply();
        MklOnAmd.Apply();
        lock (Gate)
        {
            if (Enabled) ApplyLocked();
            if (_logged) return;
            _logged = true;
            var line = Mode switch
            {
                AllocatorMode.GlibcTuned => "Reprogram: glibc malloc keeps tensor memory (no mmap, no trim) and experiments run on a main-arena compute thread; REPROGRAM_ALLOCATOR=off switches this off.",
                AllocatorMode.Jemalloc => "Reprogram: jemalloc is the allocator; nothing to tune.",
                AllocatorMode.Off => "Reprogram: allocator tuning is off (REPROGRAM_ALLOCATOR=off); large tensors page-fault on every step.",
                _ => null,
            };
            if (line is not null) Console.Error.WriteLine(line);
        }
    }

    private static void ApplyLocked()
    {
        if (_applied || !IsGlibc || JemallocLoaded) return;
        // Threads that have not picked an arena yet share the main one; the rest is what keeps freed memory mapped.
        mallopt(M_ARENA_MAX, 1);
        mallopt(M_MMAP_MAX, 0);
        mallopt(M_TRIM_THRESHOLD, int.MaxValue);
        mallopt(M_TOP_PAD, KeepTopPad);
        _applied = true;
    }

    private static void RestoreLocked()
    {
        if (!_applied) return;
        mallopt(M_MMAP_MAX, DefaultMmapMax);
        mallopt(M_MMAP_THRESHOLD, DefaultThreshold);
        mallopt(M_TRIM_THRESHOLD, DefaultThreshold);
        mallopt(M_TOP_PAD, DefaultThreshold);
        _applied = false;
    }

    /// <summary>What is in effect, where, and what to do where it cannot be applied.</summary>
    public static AllocatorStatus Status()
    {
        Apply();
        var mode = Mode;
        var here = mode == AllocatorMode.Jemalloc || (mode == AllocatorMode.GlibcTuned && OnMainArena());
        var compute = mode == AllocatorMode.Jemalloc || (mode == AllocatorMode.GlibcTuned && ComputeThread.Run(OnMainArena));
        var jemallocThere = File.Exists(JemallocPath);
        return mode switch
        {
            AllocatorMode.Jemalloc => new(mode, "jemalloc (preloaded)", true, true,
                "jemalloc keeps freed memory on every thread.", ""),
            AllocatorMode.GlibcTuned => new(mode, $"glibc {GlibcVersion()} malloc, tuned", compute, here,
                compute
                    ? "Freed tensor memory stays mapped (mmap and trimming off); experiments run on the library's compute thread, which allocates from glibc's main arena."
                    : "mmap and trimming are off, but no thread on glibc's main arena was found: large tensors may still page-fault.",
                (here ? "" : "Your own training loops in cells run on other threads: wrap them in ComputeThread.Run(() => ...). ") +
                (jemallocThere
                    ? $"For every thread, start the kernel with LD_PRELOAD={JemallocPath}."
                    : "For every thread, install jemalloc (apt-get install libjemalloc2) and start the kernel with it in LD_PRELOAD.")),
            AllocatorMode.Off => new(mode, $"glibc {GlibcVersion()} malloc, defaults", false, false,
                $"Switched off ({EnvironmentVariable}=off or NativeAllocator.Enabled = false): large tensors are mapped and unmapped at every step.",
                $"Unset {EnvironmentVariable}, or set NativeAllocator.Enabled = true."),
            _ => new(mode, RuntimeInformation.OSDescription, false, false,
                "Not Linux with glibc: the allocator is left as it is.",
                OperatingSystem.IsLinux() ? "On musl, preload jemalloc (LD_PRELOAD) for large-tensor work." : ""),
        };
    }

    /// <summary>
    /// Whether this thread allocates from glibc's main arena: a block too large for the per-thread cache but below any
    /// mmap threshold comes from the main arena exactly when it lies below the program break.
    /// </summary>
    public static bool OnMainArena()
    {
        if (!IsGlibc || JemallocLoaded) return false;
        var block = malloc(64 * 1024);
        try
        {
            return block != IntPtr.Zero && (ulong)block < (ulong)sbrk(IntPtr.Zero);
        }
        finally
        {
            free(block);
        }
    }

    /// <summary>Minor page faults of the calling thread so far (getrusage RUSAGE_THREAD).</summary>
    public static long ThreadMinorFaults()
    {
        if (!OperatingSystem.IsLinux()) return 0;
        var usage = new RUsage();
        return getrusage(1 /* RUSAGE_THREAD */, ref usage) == 0 ? usage.MinorFaults : 0;
    }

    /// <summary>
    /// The measure behind the tuning: allocates and touches a block of this many bytes, frees it, does it again, and
    /// returns the page faults of the second time on the calling thread (near 0 when freed memory is kept, one per page when not).
    /// </summary>
    public static long FaultsOfReallocation(long bytes)
    {
        if (bytes <= 0) throw new ArgumentOutOfRangeException(nameof(bytes), "The block size must be positive.");
        TouchAndFree(bytes);
        var before = ThreadMinorFaults();
        TouchAndFree(bytes);
        return ThreadMinorFaults() - before;
    }

    private static void TouchAndFree(long bytes)
    {
        var block = malloc((nuint)bytes);
        if (block == IntPtr.Zero) throw new OutOfMemoryException($"Could not allocate {bytes} bytes.");
        try
        {
            for (long i = 0; i < bytes; i += 4096) Marshal.WriteByte(block + (nint)i, 1);
        }
        finally
        {
            free(block);
        }
    }

    private static bool IsOffValue(string? value) =>
        value is not null && value.Trim().ToLowerInvariant() is "off" or "0" or "false" or "no" or "glibc";

    internal static bool MapsContain(string name)
    {
        try
        {
            return OperatingSystem.IsLinux() && File.ReadLines("/proc/self/maps").Any(l => l.Contains(name, StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static string? GlibcVersion()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            return Marshal.PtrToStringAnsi(gnu_get_libc_version());
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return null; // musl
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UserSeconds, UserMicroseconds, SystemSeconds, SystemMicroseconds;
        public long MaxRss, SharedRss, UnsharedData, UnsharedStack;
        public long MinorFaults, MajorFaults;
        public long Swaps, BlockIn, BlockOut, MessagesSent, MessagesReceived, Signals, VoluntarySwitches, InvoluntarySwitches;
    }

    [DllImport("libc", EntryPoint = "mallopt")] private static extern int mallopt(int parameter, int value);
    [DllImport("libc", EntryPoint = "malloc")] private static extern IntPtr malloc(nuint size);
    [DllImport("libc", EntryPoint = "free")] private static extern void free(IntPtr block);
    [DllImport("libc", EntryPoint = "sbrk")] private static extern IntPtr sbrk(IntPtr increment);
    [DllImport("libc", EntryPoint = "getrusage")] private static extern int getrusage(int who, ref RUsage usage);
    [DllImport("libc", EntryPoint = "gnu_get_libc_version")] private static extern IntPtr gnu_get_libc_version();
}
