using Microsoft.DotNet.Interactive.Formatting;
using Reprogram.Interactive.Charts;
using Reprogram.Interactive.Formatting;
using Reprogram.Taxonomy;

namespace Reprogram.Interactive;

/// <summary>Registers the HTML formatters of every type the extension shows.</summary>
public static class ReprogramFormatters
{
    public static void Register()
    {
        const string html = HtmlFormatter.MimeType;
        Formatter.Register<CatalogView>((v, w) => w.Write(TaxonomyHtml.Catalog(v)), html);
        Formatter.Register<PublishedMethod>((m, w) => w.Write(TaxonomyHtml.Method(m)), html);
        Formatter.Register<Manipulation>((m, w) => w.Write(TaxonomyHtml.Manipulation(m)), html);
        Formatter.Register<Directives.DeviceReport>((r, w) => w.Write(RuntimeHtml.Device(r)), html);
        Formatter.Register<Reprogram.Experiments.ExperimentResult>((r, w) => w.Write(ResultHtml.Table([r])), html);
        Formatter.Register<IEnumerable<Reprogram.Experiments.ExperimentResult>>((r, w) => w.Write(ResultHtml.Table(r)), html);
        Formatter.Register<Reprogram.Experiments.PredictionResult>((r, w) => w.Write(PredictionHtml.Render(r)), html);
        RegisterCharts(html);
    }

    // Separate method: the JIT loads Plotly.NET (and so FSharp.Core) only when this runs, after the resolver is installed.
    private static void RegisterCharts(string html)
    {
        Formatter.Register<Plotly.NET.GenericChart>((c, w) => w.Write(ChartHtml.Render(c)), html);
        Formatter.Register<XPlot.Plotly.PlotlyChart>((c, w) => w.Write(ChartHtml.Render(c)), html);
        Formatter.Register<Reprogram.Experiments.ReprogramResult>((r, w) => w.Write(ReprogramHtml(r)), html);
        Formatter.Register<Reprogram.Experiments.PromptTuningResult>((r, w) => w.Write(PromptTuningHtml(r)), html);
        Formatter.Register<Reprogram.Experiments.InstructionResult>((r, w) => w.Write(InstructionHtml.Render(r)), html);
        Formatter.Register<Reprogram.Experiments.ComparisonResult>((r, w) => w.Write(ComparisonHtml.Render(r)), html);
        Formatter.Register<Reprogram.Experiments.ResultSet>((r, w) => w.Write(ResultSetHtml.Render(r)), html);
        Formatter.Register<IEnumerable<Reprogram.Experiments.InstructionRecord>>((r, w) => w.Write(Formatting.Html.Style + InstructionHtml.Records(r.ToArray())), html);
    }

    /// <summary>A prompt-tuning run: the results table, the curves, and the nearest vocabulary tokens of each soft token.</summary>
    public static string PromptTuningHtml(Reprogram.Experiments.PromptTuningResult result)
    {
        var sb = new System.Text.StringBuilder(ResultHtml.Table([result.Main]));
        sb.Append(ChartHtml.Render(ReprogramCharts.Curves([result.Main])));
        if (result.Nearest.Count > 0)
        {
            sb.Append("<div class=\"rp-caption\"><b>Nearest vocabulary tokens</b> of each learned soft token (cosine similarity of embeddings):</div>");
            sb.Append(Formatting.Html.Table(["soft token", "nearest", "second", "third"],
                result.Nearest.Select(n => new[] { n.Position.ToString() }.Concat(n.Tokens.Select(t =>
                    $"<code>{System.Net.WebUtility.HtmlEncode(t.Token)}</code> {t.Cosine:0.00}")))));
        }
        return sb.ToString();
    }

    /// <summary>A reprogramming run: the caveat if any, the results table with baselines, then curves, prompt and mapping.</summary>
    public static string ReprogramHtml(Reprogram.Experiments.ReprogramResult result)
    {
        var sb = new System.Text.StringBuilder();
        if (result.Caveat is { } caveat) sb.Append($"<div class=\"rp-caption\"><b>Note:</b> {System.Net.WebUtility.HtmlEncode(caveat)}</div>");
        sb.Append(ResultHtml.Table(result.All));
        sb.Append(ChartHtml.Render(ReprogramCharts.Curves(result.All)));
        if (ReprogramCharts.Prompt(result) is { } prompt) sb.Append(ChartHtml.Render(prompt));
        if (ReprogramCharts.Mapping(result) is { } mapping) sb.Append(ChartHtml.Render(mapping));
        return sb.ToString();
    }
}
