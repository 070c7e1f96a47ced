using System.Reflection;
using System.Runtime.Loader;

namespace Reprogram.Interactive;

/// <summary>
/// Plotly.NET 6 is compiled against FSharp.Core 10.1, while the dotnet-interactive tool loads its own older FSharp.Core
/// (10.0) into the default context first. Binding then fails with FileNotFoundException. FSharp.Core keeps binary
/// compatibility across these versions, so a request for any FSharp.Core is answered with the one already loaded.
/// </summary>
internal static class FSharpCoreResolver
{
    private static int _installed;

    public static void Install()
    {
        if (Interlocked.Exchange(ref _installed, 1) == 1) return;
        AssemblyLoadContext.Default.Resolving += Resolve;
    }

    private static Assembly? Resolve(AssemblyLoadContext context, AssemblyName name)
    {
        if (!string.Equals(name.Name, "FSharp.Core", StringComparison.Ordinal)) return null;
        return AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => string.Equals(a.GetName().Name, "FSharp.Core", StringComparison.Ordinal))
            .OrderByDescending(a => a.GetName().Version)
            .FirstOrDefault();
    }
}
