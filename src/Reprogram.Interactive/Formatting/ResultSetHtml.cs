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
/// A <see cref="ResultSet"/> (results loaded from one or more exports, or gathered in memory) side by side: where each row
/// came from, what ran, its coordinates, test accuracy (mean ± sd), what it cost, the frozen check and the provenance;
/// then the accuracy chart, and the data-efficiency chart where rows differ in labelled examples. Every text is escaped.
/// </summary>
public static class ResultSetHtml
{
    public static string Render(ResultSet set)
    {
        var sb = new StringBuilder(Style);
        var files = set.Sources;
        sb.Append(Invariant($"<div class=\"rp-caption\"><b>{set.Count} result{(set.Count == 1 ? "" : "s")}</b>") +
                  (files.Count > 0 ? $" from {E(string.Join(", ", files.Select(Path.GetFileName)))}" : "") +
                  (set.Rows.All(r => r.FrozenUnchanged) ? "; frozen model unchanged ✓ in every row whose weights are visible" : "; <b class=\"rp-error\">a frozen model CHANGED</b>") + "</div>");
        sb.Append(Table(set));
        if (set.Rows.Any(r => r.TestAccuracy is not null))
        {
            sb.Append(ChartHtml.Render(ResultSetCharts.Accuracy(set)));
            if (ResultSetCharts.HasBudgets(set)) sb.Append(ChartHtml.Render(ResultSetCharts.DataEfficiency(set)));
        }
        return sb.ToString();
    }

    public static string Table(ResultSet set)
    {
        var headers = new[]
        {
            "Source", "Result", "Model", "Task", "Paradigm", "Format (λ)", "Location (l)", "Operator (τ)", "Alignment (ω)", "Test accuracy (mean ± sd)",
            "Labelled examples", "Trainable parameters", "Training time", "Frozen checksum before → after", "Made with",
        };
        return Html.Table(headers.Select(E), set.Rows.Select(Row), "rp-results");
    }

    private static IEnumerable<string> Row(ResultRow r)
    {
        yield return r.Source is { } s ? $"<span title=\"{E(s)}\">{E(Path.GetFileName(s))}</span><br><span class=\"rp-note\">{E(r.Kind)}</span>" : E(r.Kind);
        yield return $"<b>{E(r.Name)}</b>" + (r.Budget is { } b ? Invariant($"<br><span class=\"rp-note\">budget {b}</span>") : "");
        yield return E(r.Model);
        yield return E(r.Task);
        foreach (var cell in CoordinateCells(r.Coordinates, r.AlignmentKind)) yield return cell;
        yield return r.TestAccuracy is { } a
            ? Invariant($"<b>{a * 100:0.0}%</b> ± {(r.TestAccuracySd ?? 0) * 100:0.0}") +
              $"<br><span class=\"rp-note\">seeds {E(string.Join(",", r.Seeds))}: {E(string.Join(", ", r.TestAccuracyPerSeed.Select(x => Invariant($"{x * 100:0}"))))}</span>"
            : "—";
        yield return r.LabelledExamples?.ToString(CultureInfo.InvariantCulture) ?? "—";
        yield return r.TrainableParameters.ToString("N0", CultureInfo.InvariantCulture);
        yield return Invariant($"{r.TrainingSeconds:0.00} s");
        yield return FrozenCell(r.ChecksumBefore, r.ChecksumAfter);
        yield return r.Provenance is { } p
            ? $"<span class=\"rp-note\" title=\"{E(p.Describe())}\">Reprogram {E(p.LibraryVersion)}, libtorch {E(p.LibTorchVersion ?? "?")}" +
              (p.GitCommit is { } g ? $", git {E(g[..Math.Min(8, g.Length)])}{(p.GitDirty == true ? "+" : "")}" : "") +
              $"<br>{E(p.Device)}, {E(p.TimestampUtc.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture))} UTC</span>"
            : "—";
    }

}
