using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Formatting;
using Reprogram.Interactive.Directives;

namespace Reprogram.Interactive;

/// <summary>
/// The kernel extension. After <c>#r "nuget: Reprogram.Interactive"</c> the kernel runs the package's
/// <c>interactive-extensions/dotnet/extension.dib</c>, which calls <see cref="LoadAsync"/>; a host can call it directly.
/// Loading twice into the same kernel does nothing the second time.
/// </summary>
public sealed class ReprogramKernelExtension : IKernelExtension
{
    public Task OnLoadAsync(Kernel kernel) => LoadAsync(kernel);

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Kernel, object> Loaded = new();

    public static Task LoadAsync(Kernel kernel)
    {
        var root = kernel.RootKernel;
        if (!Loaded.TryAdd(root, new object())) return Task.CompletedTask;

        // Before any Plotly.NET type is touched (see FSharpCoreResolver).
        FSharpCoreResolver.Install();
        // As early as an extension can: keeps freed tensor memory mapped (see NativeAllocator); logged once.
        Reprogram.Runtime.NativeAllocator.Apply();

        ReprogramFormatters.Register();

        root.AddDirective<ShowTaxonomy>(TaxonomyDirective.Create(), TaxonomyDirective.Handle);
        root.AddDirective<DeclareManipulation>(ManipulationDirective.Create(), ManipulationDirective.Handle);
        root.AddDirective<ShowDevice>(DeviceDirective.Create(), DeviceDirective.Handle);
        root.AddDirective<RunReprogramming>(ReprogramDirective.Create(), ReprogramDirective.Handle);
        root.AddDirective<RunPromptTuning>(SoftPromptDirective.Create(), SoftPromptDirective.Handle);
        root.AddDirective<RunInContextLearning>(InstructionDirectives.CreateIcl(), InstructionDirectives.HandleIcl);
        root.AddDirective<RunChainOfThought>(InstructionDirectives.CreateCot(), InstructionDirectives.HandleCot);
        root.AddDirective<RunComparison>(CompareDirective.Create(), CompareDirective.Handle);
        OptionAliases.AddOptionLists(root);
        // A bare @ or several value sources in one of these commands: refused with a message, never a form that hangs;
        // and a bug in a handler is one line, never a stack trace.
        ValueSourceGuard.Install(root);
        DirectiveErrors.Install(root);

        KernelInvocationContext.Current?.DisplayAs(LoadedMessage, "text/html");
        // Before libtorch loads: repair a copy that would not load here (one line says so); if that cannot be done, say
        // now, not as a stack trace at the first experiment, what to run.
        var repair = Reprogram.Runtime.LibTorchAutoRepair.BeforeLoad();
        if (repair.Summary is { } repaired) KernelInvocationContext.Current?.DisplayAs(repaired, "text/plain");
        if (Formatting.RuntimeHtml.LibTorchNotice(repair.States, repair.Skipped) is { } notice)
        {
            KernelInvocationContext.Current?.DisplayAs(notice, "text/html");
        }
        return Task.CompletedTask;
    }

    internal const string LoadedMessage =
        "<div class=\"rp-caption\"><b>Reprogram.Interactive</b> is loaded. Magic commands: " +
        "<code>#!taxonomy</code> (browse published methods by format, location, operator and output alignment), " +
        "<code>#!manipulation</code> (declare your own), <code>#!device</code> (libtorch, threads, CPU/CUDA), <code>#!reprogram</code> (model reprogramming of a frozen vision model), <code>#!soft-prompt</code> (prompt tuning of a frozen encoder), <code>#!icl</code> (in-context learning), <code>#!cot</code> (chain-of-thought), <code>#!compare</code> (all three paradigms on one model: the taxonomy tested). C# API: <code>Catalog</code>, <code>Manipulation</code>, " +
        "<code>TaxonomyCharts</code>, <code>Experiment.Run</code>, <code>Comparison.Run</code>, <code>Prediction.Predict</code>, <code>Registries</code>. Try <code>#!compare</code> or <code>#!taxonomy --group-by paradigm</code>. " +
        "<code>#!lsmagic</code> lists the commands with their help and options (each option's own help comes with its completion); the same option means the same thing in every command (<code>--task</code>, <code>--seeds</code>, <code>--test</code>, <code>--save</code> and <code>--load</code>).</div>";
}
