using System.Globalization;
using Microsoft.AspNetCore.Html;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Directives;
using Microsoft.DotNet.Interactive.Formatting;
using Reprogram.Interactive.Formatting;
using Reprogram.Taxonomy;
using Reprogram.Training;

namespace Reprogram.Interactive.Directives;

/// <summary>Shared pieces of the magic commands: parameters for the taxonomy's dimensions, and value lists.</summary>
internal static class DirectiveValues
{
    /// <summary>Splits "input, embedding" or "input embedding" into values; empty for null.</summary>
    public static string[] List(string? text) =>
        string.IsNullOrWhiteSpace(text)
            ? []
            : text.Split([',', ';', '|'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static KernelDirectiveParameter DimensionParameter(Dimension dimension, string description, bool required = false) =>
        new KernelDirectiveParameter("--" + OptionName(dimension), description)
        {
            Required = required,
        }.AddCompletions(() => TaxonomyNames.CompletionValues(dimension));

    public static string OptionName(Dimension dimension) => dimension.ToString().ToLowerInvariant();

    /// <summary>--alignment-kind: the output-alignment dimension (omega) as a filter or coordinate (--alignment is a method in the experiment commands).</summary>
    public static KernelDirectiveParameter AlignmentKindParameter(string description) =>
        new KernelDirectiveParameter("--alignment-kind", description).AddCompletions(() => TaxonomyNames.CompletionValues(Dimension.Alignment));

    public static string Allowed(Dimension dimension) => string.Join(", ", TaxonomyNames.CompletionValues(dimension));

    /// <summary>A whole-number option, or an error that names the option and the value.</summary>
    public static int? Int(string? text, string option) =>
        text is null ? null
        : int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
        : throw new ArgumentException($"{option}: '{text}' is not a whole number.");

    /// <summary>A number option, or an error that names the option and the value.</summary>
    public static double? Number(string? text, string option) =>
        text is null ? null
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
        : throw new ArgumentException($"{option}: '{text}' is not a number.");

    /// <summary>The --name of a result variable, checked to be a C# identifier.</summary>
    public static string VariableName(string? name, string fallback)
    {
        var value = string.IsNullOrWhiteSpace(name) ? fallback : name.Trim();
        if (!System.Text.RegularExpressions.Regex.IsMatch(value, "^[A-Za-z_][A-Za-z0-9_]*$"))
        {
            throw new ArgumentException($"--name '{name}' cannot be a C# variable name.");
        }
        return value;
    }

    /// <summary>
    /// The validation errors of a command's options, as the kernel shows them before a cell runs: every expected bad
    /// value (an unknown name, a missing file) becomes its message; nothing escapes as a stack trace.
    /// </summary>
    public static IEnumerable<string> ValidationErrors(Action check)
    {
        try { check(); }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or InvalidDataException or NotSupportedException) { return [e.Message]; }
        return [];
    }

    /// <summary>An --export path, checked before anything runs: a file name ending in .csv or .json.</summary>
    public static string? ExportPath(string? path, string option = "--export")
    {
        if (path is null) return null;
        if (string.IsNullOrWhiteSpace(path) || Path.GetExtension(path.Trim()).ToLowerInvariant() is not (".csv" or ".json"))
        {
            throw new ArgumentException($"{option} '{path}': give a file name ending in .csv (the table) or .json (everything, with every prediction).");
        }
        return path.Trim();
    }

    /// <summary>A --save path, checked before anything runs: a file name (not a folder) ending in .safetensors.</summary>
    public static string? SavePath(string? path, string option = "--save")
    {
        if (path is null) return null;
        var trimmed = path.Trim();
        if (trimmed.Length == 0 || Directory.Exists(trimmed) || !trimmed.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"{option} '{path}': give a file name ending in .safetensors.");
        }
        return trimmed;
    }

    /// <summary>
    /// The life of an experiment cell: parse the options (our messages for bad values), run on a worker thread with live
    /// progress and the cell's cancellation, show the result, save it if asked, and share it as a C# variable. Every
    /// expected failure becomes the cell's error message, and the kernel stays usable.
    /// </summary>
    public static async Task RunExperimentAsync<TOptions, TResult>(
        KernelDirectiveCommand command, KernelInvocationContext context, Func<TOptions> parse,
        Func<TOptions, LiveProgress, CancellationToken, TResult> run, string? savePath, Action<TResult, string> save, string saved,
        string variable, Func<TResult, string> summary, string? exportPath = null, Action<TResult, string>? export = null) where TResult : notnull
    {
        TOptions options;
        try
        {
            options = parse();
        }
        catch (ArgumentException e)
        {
            context.Fail(command, message: e.Message);
            return;
        }
        TResult result;
        try
        {
            var live = new LiveProgress(context);
            var token = context.CancellationToken;
            // The library's compute thread: its freed tensor memory stays mapped (see NativeAllocator).
            result = await Reprogram.Runtime.ComputeThread.RunAsync(() =>
            {
                // The cell's cancellation reaches the loops inside the run that take no token (Runtime.Cancellation).
                using var current = Reprogram.Runtime.Cancellation.Use(token);
                return run(options, live, token);
            });
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or Reprogram.Data.DataSetNotFoundException or InvalidDataException
                                      or Reprogram.Runtime.LibTorchUnavailableException or Reprogram.Frozen.FrozenModelChangedException
                                      or InvalidOperationException or OperationCanceledException or Reprogram.Experiments.LearnedFileException
                                      or Reprogram.Instruction.Backends.ChatBackendException or NotSupportedException)
        {
            context.Fail(command, message: e.Message);
            return;
        }
        // A cancelled cell has been answered by the kernel ("Command cancelled.") and the next cell may be running: a
        // run that ended anyway (a comparison keeps the rows it finished) shows, saves and shares nothing more, since a
        // late variable would be sent into the next cell's command.
        if (context.CancellationToken.IsCancellationRequested) return;
        context.Display(result, "text/html");
        if (savePath is not null)
        {
            try
            {
                save(result, savePath);
                context.DisplayAs($"Saved {saved} to {Path.GetFullPath(savePath)}.", "text/plain");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException or NotSupportedException)
            {
                context.Fail(command, message: $"Could not save to {savePath}: {e.Message}");
                return;
            }
        }
        if (exportPath is not null && export is not null)
        {
            try
            {
                export(result, exportPath);
                context.DisplayAs($"Exported the results to {Path.GetFullPath(exportPath)}.", "text/plain");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException or NotSupportedException)
            {
                context.Fail(command, message: $"Could not export to {exportPath}: {e.Message}");
                return;
            }
        }
        await ShareAsync(context, variable, result, summary(result));
    }

    /// <summary>Shares an experiment's result with the C# kernel as a variable.</summary>
    public static async Task ShareAsync(KernelInvocationContext context, string name, object value, string summary)
    {
        if (context.HandlingKernel.RootKernel.FindKernelByName(ManipulationDirective.CSharpKernelName) is { } csharp
            && !SharedVariables.TryAssignInPlace(csharp, name, value))
        {
            await csharp.SendAsync(new SendValue(name, value, FormattedValue.CreateSingleFromObject(summary, "text/plain")));
        }
    }
}

/// <summary>
/// The live view of a cell's runs: one display, updated in place with the current training run's progress bar and its loss
/// and accuracy so far, or with the evaluation's settings and queries done.
/// </summary>
internal sealed class LiveProgress(KernelInvocationContext context)
{
    private readonly List<CurvePoint> history = [];
    private DisplayedValue? display;
    private string? run;

    public void Report(string name, TrainingProgress p)
    {
        if (name != run) Start(name);
        history.Add(new CurvePoint(p.Step, p.Epoch, p.Loss, p.Accuracy ?? 0));
        Show(ResultHtml.Progress(name, p, history));
    }

    /// <summary>An experiment's progress: the trainer's live view while it trains, the answers done while it evaluates.</summary>
    public void Show(Reprogram.Experiments.ExperimentProgress p)
    {
        if (p.Training is { } training) Report(p.Run, training);
        else Show(p.Phase == Reprogram.Experiments.ExperimentPhase.Loading ? "loading" : "evaluating",
            new Reprogram.Experiments.InstructionProgress($"{p.Run}, seed {p.Seed}", p.Done, p.Total, p.Elapsed));
    }

    public void Show(string name, Reprogram.Experiments.InstructionProgress p)
    {
        if (name != run) Start(name);
        Show(ResultHtml.Evaluation(name, p));
    }

    private void Start(string name)
    {
        // One display per cell, updated in place: a comparison's hundreds of runs would otherwise leave a progress
        // bar each in the notebook; the new run's curve starts afresh in the same place.
        run = name;
        history.Clear();
    }

    private void Show(string html)
    {
        var content = new HtmlString(html);
        if (display is null) display = context.Display(content, "text/html");
        else display.Update(content);
    }
}
