using System.Globalization;
using System.Text;
using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Interactive.Charts;
using Reprogram.Taxonomy;
using static Reprogram.Interactive.Formatting.Html;
using static System.FormattableString;

namespace Reprogram.Interactive.Formatting;

/// <summary>
/// A comparison: what it ran on, one table with a row per method and budget (coordinates, test accuracy mean ± sd,
/// labelled examples, trainable parameters, training time, tokens per query, the frozen checksum), what could not run
/// and why, the data-efficiency chart, and a chart per dimension.
/// </summary>
public static class ComparisonHtml
{
    public static string Render(ComparisonResult result)
    {
        var sb = new StringBuilder(Style);
        var o = result.Options;
        sb.Append(Invariant($"<div class=\"rp-caption\"><b>Comparison</b> on {E(result.Model)}; task {E(result.Task)}; ") +
                  Invariant($"seeds {E(string.Join(",", o.Seeds))} (each seed's split is the same for every method: {o.TestExamples} test examples); ") +
                  Invariant($"learned methods: {o.Epochs} epochs, batch {o.BatchSize}, learning rate {o.LearningRate.ToString(CultureInfo.InvariantCulture)}") +
                  (result.Vary is { } v ? Invariant($"; varying <b>{E(v)}</b> around {E(o.Base)}") : "") +
                  Invariant($". {result.Rows.Count} runs in {result.WallTime.TotalSeconds:0.0} s. Frozen model <code>{E(ParameterChecksum.Short(result.ChecksumBefore))}</code> ") +
                  (result.FrozenUnchanged ? "<b>unchanged ✓</b> after every run" : "<b class=\"rp-error\">CHANGED</b>") + "</div>");
        if (result.Stopped is { } stopped) sb.Append($"<div class=\"rp-error\">{E(stopped)}</div>");
        sb.Append(Table(result));
        if (result.Skipped.Count > 0)
        {
            sb.Append("<div class=\"rp-caption\"><b>Not run here</b> (the reason for each):</div>");
            sb.Append(Html.Table(new[] { "method", "examples", "why" }.Select(E), result.Skipped.Select(s => new[] { E(s.Method), s.Budget.ToString(CultureInfo.InvariantCulture), E(s.Reason) })));
        }
        if (result.Rows.Count > 0)
        {
            if (result.Rows.Select(r => r.Budget).Distinct().Count() > 1) sb.Append(ChartHtml.Render(ComparisonCharts.DataEfficiency(result)));
            foreach (var dimension in ComparisonCharts.Dimensions(result)) sb.Append(ChartHtml.Render(ComparisonCharts.ByDimension(result, dimension)));
        }
        return sb.ToString();
    }

    public static string Table(ComparisonResult result)
    {
        var headers = new[]
        {
            "Method", "Paradigm", "Format (λ)", "Location (l)", "Operator (τ)", "Alignment (ω)", "Test accuracy (mean ± sd)",
            "Labelled examples", "Trainable parameters", "Training time", "Tokens per query", "Frozen checksum before → after",
        };
        return Html.Table(headers.Select(E), result.Rows.Select(Row), "rp-results");
    }

    /// <summary>The published methods each half of the row follows (a linear head is WARP's, not the whole row).</summary>
    private static string Sources(ComparisonRow row)
    {
        var parts = new List<string>();
        if (row.Method.Manipulation.PublishedMethods.Count > 0) parts.Add("input as in " + string.Join("; ", row.Method.Manipulation.PublishedMethods));
        if (row.Method.Alignment.PublishedMethods.Count > 0) parts.Add("output as in " + string.Join("; ", row.Method.Alignment.PublishedMethods));
        return parts.Count == 0 ? "" : $"<br><span class=\"rp-note\">{E(string.Join(" · ", parts))}</span>";
    }

    private static IEnumerable<string> Row(ComparisonRow row)
    {
        var r = row.Result;
        yield return $"<b>{E(row.Method.Name)}</b>" +
                     Sources(row) +
                     (r.Stop == Training.StopReason.Completed ? "" : $"<br><span class=\"rp-error\">{E(r.StopMessage)}</span>");
        foreach (var cell in CoordinateCells(r.Coordinates, r.AlignmentKind)) yield return cell;
        yield return Invariant($"<b>{row.TestAccuracy * 100:0.0}%</b> ± {row.TestAccuracySd * 100:0.0}") +
                     $"<br><span class=\"rp-note\">per seed: {E(string.Join(", ", r.TestAccuracyPerSeed.Select(a => Invariant($"{a * 100:0}"))))}</span>";
        yield return (r.LabelledExamples ?? 0).ToString(CultureInfo.InvariantCulture);
        yield return r.TrainableParameters.ToString("N0", CultureInfo.InvariantCulture);
        yield return Invariant($"{r.TrainingTime.TotalSeconds:0.00} s");
        yield return r.InferenceTokensPerQuery is { } t ? Invariant($"{t:0.0}") : "—";
        yield return FrozenCell(r.ChecksumBefore, r.ChecksumAfter);
    }
}
