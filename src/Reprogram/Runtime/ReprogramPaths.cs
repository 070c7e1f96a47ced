namespace Reprogram.Runtime;

/// <summary>Where the library keeps what it makes once and reuses: trained source models, their model cards.</summary>
public static class ReprogramPaths
{
    /// <summary>$REPROGRAM_CACHE, else $XDG_CACHE_HOME/reprogram, else ~/.cache/reprogram.</summary>
    public static string CacheFolder
    {
        get
        {
            var explicitFolder = Environment.GetEnvironmentVariable("REPROGRAM_CACHE");
            if (!string.IsNullOrWhiteSpace(explicitFolder)) return explicitFolder;
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var root = string.IsNullOrWhiteSpace(xdg)
                ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache")
                : xdg;
            return Path.Combine(root, "reprogram");
        }
    }

    public static string Models => Path.Combine(CacheFolder, "models");
}
