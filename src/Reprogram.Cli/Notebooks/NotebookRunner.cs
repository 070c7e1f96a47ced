using System.Diagnostics;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Documents;
using Microsoft.DotNet.Interactive.Documents.Jupyter;
using Microsoft.DotNet.Interactive.Events;
using Microsoft.DotNet.Interactive.Formatting;
using KernelInfo = Microsoft.DotNet.Interactive.Documents.KernelInfo;
using Reprogram.Cli.Hosting;

namespace Reprogram.Cli.Notebooks;

/// <summary>Options of one notebook run.</summary>
public sealed record NotebookRunOptions
{
    /// <summary>Folder for the executed notebook and its HTML; null writes nothing.</summary>
    public string? OutputFolder { get; init; }
    /// <summary>Package sources added before the first cell, as <c>#i "nuget: ..."</c> would.</summary>
    public IReadOnlyList<string> PackageSources { get; init; } = [];
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>();
    /// <summary>Called after each code cell, for progress output.</summary>
    public Action<CellRun>? OnCell { get; init; }
}

/// <summary>
/// Runs a notebook (.ipynb or .dib) cell by cell in an in-process kernel (<see cref="NotebookKernel"/>), records every
/// output as Jupyter would, stops at the first failing cell, and writes the executed .ipynb and a self-contained .html.
/// </summary>
public static class NotebookRunner
{
    public static KernelInfoCollection KernelInfos()
    {
        var infos = new KernelInfoCollection
        {
            new KernelInfo("csharp", "C#", ["c#", "C#", "cs"]),
            new KernelInfo("markdown", "Markdown", ["md"]),
        };
        infos.DefaultKernelName = "csharp";
        return infos;
    }

    public static async Task<InteractiveDocument> ReadAsync(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"No notebook at {Path.GetFullPath(path)}.", path);
        var text = await File.ReadAllTextAsync(path);
        return Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".ipynb" => Notebook.Parse(text, KernelInfos()),
            ".dib" => CodeSubmission.Parse(text, KernelInfos()),
            var ext => throw new ArgumentException($"'{ext}' is not a notebook format: give a .ipynb or .dib file."),
        };
    }

    public static async Task<NotebookRun> RunAsync(string path, NotebookRunOptions options, CancellationToken cancellationToken = default)
    {
        var document = await ReadAsync(path);
        InjectParameters(document, options.Parameters);

        var clock = Stopwatch.StartNew();
        var cells = new List<CellRun>();
        using (var kernel = NotebookKernel.Create())
        {
            await NotebookKernel.AddPackageSourcesAsync(kernel, options.PackageSources);
            var displays = new Dictionary<string, DisplayElement>();
            var failed = false;
            for (var i = 0; i < document.Elements.Count; i++)
            {
                var element = document.Elements[i];
                if (element.KernelName == "markdown") continue;
                element.Outputs.Clear();
                if (failed || string.IsNullOrWhiteSpace(element.Contents)) continue;

                var cellClock = Stopwatch.StartNew();
                var result = await SubmitAsync(kernel, element, cancellationToken);
                string? error = null;
                foreach (var e in result.Events)
                {
                    switch (e)
                    {
                        case DisplayedValueUpdated updated when updated.ValueId is { } id && displays.TryGetValue(id, out var shown):
                            shown.Data.Clear();
                            foreach (var (mime, value) in Data(updated.FormattedValues)) shown.Data[mime] = value;
                            break;
                        case DisplayedValueProduced produced:
                            var display = new DisplayElement(Data(produced.FormattedValues));
                            if (produced.ValueId is { } displayId) displays[displayId] = display;
                            element.Outputs.Add(display);
                            break;
                        case ReturnValueProduced returned:
                            var ret = new ReturnValueElement { ExecutionOrder = cells.Count + 1 };
                            foreach (var (mime, value) in Data(returned.FormattedValues)) ret.Data[mime] = value;
                            element.Outputs.Add(ret);
                            break;
                        case StandardOutputValueProduced stdout:
                            element.Outputs.Add(new TextElement(Text(stdout.FormattedValues), "stdout"));
                            break;
                        case StandardErrorValueProduced stderr:
                            element.Outputs.Add(new TextElement(Text(stderr.FormattedValues), "stderr"));
                            break;
                        case ErrorProduced produced:
                            element.Outputs.Add(new ErrorElement(produced.Message, "Error"));
                            break;
                        case CommandFailed commandFailed:
                            error = commandFailed.Message;
                            element.Outputs.Add(new ErrorElement(commandFailed.Message, commandFailed.Exception?.GetType().Name ?? "Error",
                                commandFailed.Exception?.StackTrace?.Split('\n') ?? []));
                            break;
                    }
                }
                element.ExecutionOrder = cells.Count + 1;
                var run = new CellRun(i, element.KernelName ?? "csharp", FirstLine(element.Contents), cellClock.Elapsed, error);
                cells.Add(run);
                options.OnCell?.Invoke(run);
                failed = error is not null;
            }
        }

        string? notebookPath = null, htmlPath = null;
        if (options.OutputFolder is { } folder)
        {
            Directory.CreateDirectory(folder);
            var name = Path.GetFileNameWithoutExtension(path);
            notebookPath = Path.Combine(folder, name + ".ipynb");
            await using (var stream = File.Create(notebookPath))
            {
                Notebook.Write(document, stream, KernelInfos());
            }
            htmlPath = Path.Combine(folder, name + ".html");
            await File.WriteAllTextAsync(htmlPath, NotebookHtml.Render(document, name));
        }
        return new NotebookRun(path, cells, clock.Elapsed, notebookPath, htmlPath);
    }

    private static async Task<KernelCommandResult> SubmitAsync(Kernel kernel, InteractiveDocumentElement element, CancellationToken cancellationToken)
    {
        var command = new SubmitCode(element.Contents, element.KernelName ?? "csharp");
        var send = kernel.SendAsync(command, cancellationToken);
        // Cancellation reaches a running cell as the kernel's own Cancel command, as Polyglot Notebooks sends it.
        await using var registration = cancellationToken.Register(() => _ = kernel.SendAsync(new Cancel()));
        return await send;
    }

    private static void InjectParameters(InteractiveDocument document, IReadOnlyDictionary<string, string> parameters)
    {
        if (parameters.Count == 0) return;
        var index = document.Elements.ToList().FindIndex(NotebookParameters.IsParametersCell);
        if (index < 0)
        {
            throw new ArgumentException("This notebook has no parameters cell (a cell tagged \"parameters\" or starting with \"// parameters\"), " +
                                        $"so --param {string.Join(", ", parameters.Keys)} cannot be applied.");
        }
        var injected = new InteractiveDocumentElement(NotebookParameters.ToCSharp(parameters), "csharp");
        injected.Metadata = new Dictionary<string, object> { ["tags"] = new[] { "injected-parameters" } };
        document.Elements.Insert(index + 1, injected);
    }

    private static Dictionary<string, object> Data(IEnumerable<FormattedValue> values) =>
        values.GroupBy(v => v.MimeType).ToDictionary(g => g.Key, g => (object)g.Last().Value);

    private static string Text(IEnumerable<FormattedValue> values) =>
        values.FirstOrDefault(v => v.MimeType == PlainTextFormatter.MimeType)?.Value ?? string.Concat(values.Select(v => v.Value));

    private static string FirstLine(string contents) =>
        contents.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim() ?? "";
}
