using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.CSharp;
using Microsoft.DotNet.Interactive.Events;
using Microsoft.DotNet.Interactive.Formatting;
using Reprogram.Interactive;
using Reprogram.Interactive.Charts;

[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]

namespace Reprogram.Interactive.Tests;

/// <summary>A real CompositeKernel with a CSharpKernel and the extension loaded, as a notebook has it.</summary>
public abstract class KernelTestBase : IAsyncLifetime
{
    protected CompositeKernel Kernel { get; private set; } = null!;

    public virtual async Task InitializeAsync()
    {
        // Formatter settings are process-wide: every test starts from the defaults.
        Formatter.ResetToDefault();
        PlotlyJs.Reset();
        Kernel = new CompositeKernel { new CSharpKernel().UseKernelHelpers().UseValueSharing() };
        Kernel.DefaultKernelName = "csharp";
        await ReprogramKernelExtension.LoadAsync(Kernel);
        // What the package's extension.dib does after #r.
        await SubmitOk($"#r \"{typeof(Reprogram.Taxonomy.Catalog).Assembly.Location}\"\n#r \"{typeof(ReprogramKernelExtension).Assembly.Location}\"\n" +
                       "using Reprogram.Taxonomy;\nusing Reprogram.Experiments;\nusing Reprogram.Instruction;\nusing Reprogram.Runtime;\nusing Reprogram.Interactive.Charts;");
    }

    public Task DisposeAsync()
    {
        Kernel.Dispose();
        return Task.CompletedTask;
    }

    protected async Task<KernelCommandResult> Submit(string code) => await Kernel.SendAsync(new SubmitCode(code));

    protected async Task<KernelCommandResult> SubmitOk(string code)
    {
        var result = await Submit(code);
        var failure = result.Events.OfType<CommandFailed>().FirstOrDefault();
        Assert.True(failure is null, $"Cell failed: {failure?.Message}");
        return result;
    }

    protected async Task<string> SubmitFails(string code)
    {
        var result = await Submit(code);
        var failure = result.Events.OfType<CommandFailed>().FirstOrDefault();
        Assert.True(failure is not null, "The cell was expected to fail but succeeded.");
        return failure!.Message;
    }

    protected static IReadOnlyList<string> Html(KernelCommandResult result) =>
        result.Events.OfType<DisplayEvent>()
            .SelectMany(e => e.FormattedValues)
            .Where(v => v.MimeType == "text/html")
            .Select(v => v.Value)
            .ToArray();

    protected async Task AssertKernelStillUsable()
    {
        var result = await SubmitOk("40 + 2");
        var value = result.Events.OfType<ReturnValueProduced>().Single();
        Assert.Equal(42, value.Value);
    }
}
