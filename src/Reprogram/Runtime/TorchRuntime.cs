using System.Reflection;
using TorchSharp;

namespace Reprogram.Runtime;

/// <summary>libtorch could not be loaded; the message says why and what to run.</summary>
public sealed class LibTorchUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>What this process has of libtorch: versions, threads, devices.</summary>
public sealed record RuntimeInfo(
    string LibTorchVersion,
    string TorchSharpVersion,
    int Threads,
    int InteropThreads,
    bool CudaAvailable,
    int CudaDevices,
    string CudaStatus,
    string AutoDevice,
    string NativeLibrary);

/// <summary>
/// Loads libtorch once per process, on purpose and with a useful error. With a CUDA build of libtorch referenced
/// (TorchSharp-cuda-linux), CUDA is initialised first, so the CUDA build's libtorch is the one the process loads;
/// otherwise only the CPU backend is loaded and CUDA is never probed (probing it without the CUDA package makes
/// TorchSharp print a long error).
/// </summary>
public static class TorchRuntime
{
    private static readonly object Gate = new();
    private static bool _loaded;
    private static bool _cudaTried;
    private static bool _cudaAvailable;
    private static string _cudaStatus = "not checked";

    public const string DoctorCommand = "reprogram doctor --fix";

    /// <summary>Loads libtorch (CPU, and CUDA when asked for and its libtorch build is referenced).</summary>
    public static void EnsureLoaded(bool wantCuda = false)
    {
        lock (Gate)
        {
            if (wantCuda && !_cudaTried && !_loaded) TryCuda();
            // CPU libtorch was loaded first (a CPU-only call came before any CUDA question): CUDA can no longer be
            // initialised in this process, but the status still says why.
            if (wantCuda && !_cudaTried) NoteCudaAfterCpu();
            if (_loaded) return;
            // Before libtorch starts its threads, so that they too share glibc's main arena where they can.
            NativeAllocator.Apply();
            // A copy of libLibTorchSharp.so that would not load here is repaired first (see LibTorchAutoRepair).
            if (LibTorchAutoRepair.BeforeLoad().Summary is { } repaired) Console.Error.WriteLine(repaired);
            try
            {
                torch.InitializeDeviceType(DeviceType.CPU);
                // A first tensor op proves the native library really works (not just that the file was found).
                using var probe = torch.ones(1);
                _loaded = true;
            }
            catch (Exception e) when (e is DllNotFoundException or NotSupportedException or TypeInitializationException or InvalidOperationException or EntryPointNotFoundException)
            {
                throw new LibTorchUnavailableException(Diagnose(e), e);
            }
        }
    }

    public static bool CudaAvailable
    {
        get
        {
            EnsureLoaded(wantCuda: true);
            return _cudaAvailable;
        }
    }

    public static string CudaStatus
    {
        get
        {
            EnsureLoaded(wantCuda: true);
            return _cudaStatus;
        }
    }

    public static RuntimeInfo Info()
    {
        EnsureLoaded(wantCuda: true);
        return new RuntimeInfo(
            torch.__version__,
            typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
                ?? typeof(torch).Assembly.GetName().Version?.ToString() ?? "?",
            torch.get_num_threads(),
            torch.get_num_interop_threads(),
            _cudaAvailable,
            _cudaAvailable ? torch.cuda.device_count() : 0,
            _cudaStatus,
            _cudaAvailable ? "cuda" : "cpu",
            LoadedLibTorchSharp() ?? "(not found in /proc/self/maps)");
    }

    /// <summary>Repairs every copy of libLibTorchSharp.so in the NuGet package cache that needs it (see <see cref="LibTorchCompatibility"/>).</summary>
    public static IReadOnlyList<NativeLibraryStatus> RepairPackageCache(string? packagesFolder = null) =>
        LibTorchCompatibility.RepairPackageCache(packagesFolder);

    /// <summary>
    /// The copies of libLibTorchSharp.so this process would load TorchSharp from, with their state, without loading
    /// anything: next to the application, or, when TorchSharp itself comes from the NuGet cache (a notebook's #r),
    /// that package's copies.
    /// </summary>
    public static IReadOnlyList<NativeLibraryStatus> NativeLibraryStates()
    {
        var managed = Path.GetDirectoryName(typeof(torch).Assembly.Location) ?? AppContext.BaseDirectory;
        var local = new[]
        {
            Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", LibTorchCompatibility.LibTorchSharpFileName),
            Path.Combine(AppContext.BaseDirectory, LibTorchCompatibility.LibTorchSharpFileName),
        }.Where(File.Exists).ToArray();
        // .../torchsharp/<version>/lib/<tfm>/TorchSharp.dll: the packages folder is four levels up.
        var inCache = managed.Replace('\\', '/').Contains("/torchsharp/", StringComparison.OrdinalIgnoreCase);
        var candidates = inCache
            ? LibTorchCompatibility.FindInPackageCache(Path.GetFullPath(Path.Combine(managed, "..", "..", "..", "..")))
            : local;
        return candidates.Select(p => LibTorchCompatibility.Inspect(p)).ToArray();
    }

    /// <summary>The libLibTorchSharp.so this process mapped, if any.</summary>
    public static string? LoadedLibTorchSharp()
    {
        try
        {
            return File.ReadLines("/proc/self/maps")
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(p => p.Length >= 6 && p[5].EndsWith("libLibTorchSharp.so", StringComparison.Ordinal))
                .Select(p => p[5]).FirstOrDefault();
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static void NoteCudaAfterCpu()
    {
        _cudaTried = true;
        _cudaStatus = CudaLibTorchReferenced()
            ? "not initialised: the CPU build of libtorch was loaded first in this process"
            : "no CUDA build of libtorch is referenced (TorchSharp-cuda-linux)";
    }

    private static void TryCuda()
    {
        _cudaTried = true;
        if (!CudaLibTorchReferenced())
        {
            _cudaStatus = "no CUDA build of libtorch is referenced (TorchSharp-cuda-linux)";
            return;
        }
        try
        {
            _cudaAvailable = torch.TryInitializeDeviceType(DeviceType.CUDA);
            _loaded = _cudaAvailable;
            _cudaStatus = _cudaAvailable ? "available" : "the CUDA build of libtorch loaded, but no CUDA device answered";
        }
        catch (Exception e) when (e is DllNotFoundException or NotSupportedException or InvalidOperationException)
        {
            _cudaStatus = "the CUDA build of libtorch did not load: " + e.Message.Split('\n')[0];
        }
    }

    /// <summary>Whether a CUDA libtorch is next to the application or restored in the NuGet cache at TorchSharp's version.</summary>
    private static bool CudaLibTorchReferenced()
    {
        var appDir = AppContext.BaseDirectory;
        if (File.Exists(Path.Combine(appDir, "libtorch_cuda.so")) ||
            File.Exists(Path.Combine(appDir, "runtimes", "linux-x64", "native", "libtorch_cuda.so")))
        {
            return true;
        }
        var packages = LibTorchCompatibility.PackagesFolder();
        return Directory.Exists(packages) &&
               Directory.EnumerateDirectories(packages, "libtorch-cuda-*-linux-x64*").Any();
    }

    private static string Diagnose(Exception e)
    {
        var text = e.ToString();
        if (text.Contains("GLIBCXX", StringComparison.Ordinal) || NeedsGlibcxxFix())
        {
            return "TorchSharp's native library does not load on this system: libLibTorchSharp.so asks libstdc++ for " +
                   "GLIBCXX_3.4.32, which this system's libstdc++ (e.g. Debian 12, Ubuntu 22.04) does not have. " +
                   $"Run `{DoctorCommand}` (or, in a C# cell, Reprogram.Runtime.TorchRuntime.RepairPackageCache()) and restart the kernel. " +
                   "The fix marks that one unused version requirement as weak and keeps a backup of the file.";
        }
        return "libtorch could not be loaded: " + e.Message.Split('\n')[0] +
               " Reference TorchSharp-cpu (or TorchSharp-cuda-linux for a GPU) and check `reprogram doctor`.";
    }

    private static bool NeedsGlibcxxFix()
    {
        try
        {
            return LibTorchCompatibility.FindInPackageCache()
                .Select(p => LibTorchCompatibility.Inspect(p))
                .Any(s => s.State == PatchState.NeedsPatch);
        }
        catch (Exception)
        {
            return false;
        }
    }
}
