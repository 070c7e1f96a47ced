using System.Collections.Concurrent;
using System.Reactive.Linq;
using System.Reflection;
using System.Runtime.Loader;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Events;

namespace Reprogram.Cli.Hosting;

/// <summary>
/// Loads kernel extensions from NuGet packages as the dotnet-interactive tool does (its loader is not in the library
/// packages): after a command that added packages, each package's <c>interactive-extensions/dotnet</c> folder is
/// searched for <see cref="IKernelExtension"/> types in its dlls and for an <c>extension.dib</c> script to run.
/// </summary>
public static class PackageExtensionLoader
{
    public const string ExtensionFolder = "interactive-extensions/dotnet";
    private const string ExtensionScript = "extension.dib";

    public static CompositeKernel UsePackageExtensions(this CompositeKernel kernel)
    {
        var pending = new ConcurrentQueue<string>();
        var seenRoots = new ConcurrentDictionary<string, bool>();
        var loadedAssemblies = new ConcurrentDictionary<string, bool>();

        kernel.RegisterForDisposal(kernel.KernelEvents
            .OfType<PackageAdded>()
            .Subscribe(added =>
            {
                if (added.PackageReference.PackageRoot is { } root && seenRoots.TryAdd(root, true)) pending.Enqueue(root);
            }));

        // Extensions load after the command that restored them, so that the package's assemblies are referenced first.
        kernel.AddMiddleware(async (command, context, next) =>
        {
            await next(command, context);
            while (pending.TryDequeue(out var root))
            {
                var folder = new DirectoryInfo(Path.Combine(root, ExtensionFolder));
                if (!folder.Exists) continue;
                foreach (var dll in folder.GetFiles("*.dll"))
                {
                    if (loadedAssemblies.TryAdd(AssemblyName.GetAssemblyName(dll.FullName).FullName, true))
                    {
                        await LoadExtensionTypes(AssemblyLoadContext.Default.LoadFromAssemblyPath(dll.FullName), kernel, context);
                    }
                }
                var script = new FileInfo(Path.Combine(folder.FullName, ExtensionScript));
                if (script.Exists)
                {
                    await kernel.LoadAndRunInteractiveDocument(script, context.Command);
                }
            }
        });
        return kernel;
    }

    private static async Task LoadExtensionTypes(Assembly assembly, Kernel kernel, KernelInvocationContext context)
    {
        var types = assembly.GetExportedTypes()
            .Where(t => typeof(IKernelExtension).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false });
        foreach (var type in types)
        {
            var extension = (IKernelExtension)Activator.CreateInstance(type)!;
            try
            {
                await extension.OnLoadAsync(kernel);
            }
            catch (Exception e)
            {
                context.Fail(context.Command, e, $"Failed to load kernel extension {type.FullName} from {assembly.Location}: {e.Message}");
            }
        }
    }
}
