using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Events;
using Reprogram.Cli.Hosting;

namespace Reprogram.Cli.Tests;

[Collection(PackedCollection.Name)]
public class PackageLoadTests(PackedPackages packages)
{
    [Fact]
    public async Task Hash_r_nuget_loads_the_freshly_packed_extension_and_runs_taxonomy()
    {
        using var kernel = NotebookKernel.Create();
        await Ok(kernel, $"#i \"nuget: {packages.Feed}\"");
        var load = await Ok(kernel, $"#r \"nuget: Reprogram.Interactive, {packages.Version}\"");
        Assert.Contains(load.Events.OfType<DisplayEvent>(), e => e.FormattedValues.Any(v => v.Value.Contains("Reprogram.Interactive</b> is loaded")));

        var taxonomy = await Ok(kernel, "#!taxonomy --paradigm prompt-instruction");
        var html = string.Join("\n", taxonomy.Events.OfType<DisplayEvent>().SelectMany(e => e.FormattedValues).Select(v => v.Value));
        Assert.Contains("rp-catalog", html);
        Assert.Contains("Chain-of-thought", html);
        Assert.Contains("Plotly.newPlot", html);

        // extension.dib gave C# cells the library's namespaces; the extension is the package's own assembly.
        var count = await Ok(kernel, "(Catalog.Methods.Count, typeof(Reprogram.Interactive.ReprogramKernelExtension).Assembly.Location)");
        var value = count.Events.OfType<ReturnValueProduced>().Single().Value.ToString()!;
        Assert.Contains("36", value);
        Assert.Contains($"reprogram.interactive/{packages.Version}/", value.ToLowerInvariant());
    }

    private static async Task<KernelCommandResult> Ok(Microsoft.DotNet.Interactive.Kernel kernel, string code)
    {
        var result = await kernel.SendAsync(new SubmitCode(code));
        var failed = result.Events.OfType<CommandFailed>().FirstOrDefault();
        Assert.True(failed is null, $"{code}\nfailed: {failed?.Message}");
        return result;
    }
}
