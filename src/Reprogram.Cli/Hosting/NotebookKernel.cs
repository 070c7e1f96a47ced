using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.CSharp;
using Microsoft.DotNet.Interactive.PackageManagement;

namespace Reprogram.Cli.Hosting;

/// <summary>
/// An in-process notebook kernel like the one Polyglot Notebooks starts: C# with <c>#r "nuget: ..."</c>, <c>#i</c>,
/// kernel helpers, value sharing, and extensions loaded from packages.
/// </summary>
public static class NotebookKernel
{
    public static CompositeKernel Create()
    {
        var csharp = new CSharpKernel()
            .UseNugetDirective((k, references) =>
            {
                k.AddAssemblyReferences(references.SelectMany(r => r.AssemblyPaths));
                return Task.CompletedTask;
            })
            .UseKernelHelpers()
            .UseValueSharing();

        var composite = new CompositeKernel { csharp };
        composite.DefaultKernelName = csharp.Name;
        composite.UsePackageExtensions();
        return composite;
    }

    /// <summary>Adds package sources, as a notebook's <c>#i "nuget: ..."</c> line would.</summary>
    public static async Task AddPackageSourcesAsync(Kernel kernel, IEnumerable<string> sources)
    {
        foreach (var source in sources)
        {
            var path = Directory.Exists(source) ? Path.GetFullPath(source) : source;
            var result = await kernel.SendAsync(new SubmitCode($"#i \"nuget: {path}\""));
            if (result.Events.OfType<Microsoft.DotNet.Interactive.Events.CommandFailed>().FirstOrDefault() is { } failed)
            {
                throw new InvalidOperationException($"Could not add package source {source}: {failed.Message}");
            }
        }
    }
}
