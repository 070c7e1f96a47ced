namespace Reprogram.Runtime;

/// <summary>
/// The NuGet global packages folder, where packages that ship model files (ResNet-18, MiniLM) and TorchSharp's native
/// libraries are found after a restore or a notebook's <c>#r</c>.
/// </summary>
public static class NuGetCache
{
    /// <summary>$NUGET_PACKAGES if set, else ~/.nuget/packages (which may not exist).</summary>
    public static string PackagesFolder()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        return !string.IsNullOrWhiteSpace(fromEnvironment)
            ? fromEnvironment
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
    }

    /// <summary>The restored version folders of a package: the preferred version first, then the newest.</summary>
    public static IReadOnlyList<string> VersionFolders(string packageId, string preferredVersion)
    {
        var package = Path.Combine(PackagesFolder(), packageId.ToLowerInvariant());
        if (!Directory.Exists(package)) return [];
        return Directory.GetDirectories(package)
            .OrderByDescending(d => Path.GetFileName(d) == preferredVersion)
            .ThenByDescending(d => Version.TryParse(Path.GetFileName(d), out var v) ? v : new Version(0, 0))
            .ToArray();
    }
}
