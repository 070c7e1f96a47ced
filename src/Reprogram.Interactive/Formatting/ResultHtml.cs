using System.Globalization;
using System.Text;
using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Taxonomy;
using Reprogram.Training;
using static Reprogram.Interactive.Formatting.Html;

namespace Reprogram.Interactive.Formatting;

/// <summary>
/// The one results table: every experiment of every paradigm as a row, with its taxonomy coordinates, metrics, what was
/// trained and what stayed frozen, the cost, and the frozen model's checksum before and after.
/// </summary>
public static class ResultHtml
{
    public static string Table(IEnumerable<ExperimentResult> results)
    {
        var rows = results.ToArray();
        var metricNames = rows.SelectMany(r => r.Metrics.Keys).Distinct().ToArray();
        var headers = new[] { "Run", "Paradigm", "Format (λ)", "Location (l)", "Operator (τ)", "Alignment (ω)" }
            .Concat(metricNames)
            .Concat(["Trainable / frozen parameters", "Wall time", "Examples/s", "Device", "Seed", "Frozen checksum before → after"]);
        return Style + Html.Table(headers.Select(E), rows.Select(r => Row(r, metricNames)), "rp-results");
    }

    private static IEnumerable<string> Row(ExperimentResult r, IReadOnlyList<string> metricNames)
    {
        yield return $"<b>{E(r.Name)}</b><br><span class=\"rp-note\">{E(r.Model)}; {E(r.Task)}</span>" +
                     (r.Stop == StopReason.Completed ? "" : $"<br><span class=\"rp-error\">{E(r.StopMessage)}</span>");
        foreach (var cell in CoordinateCells(r.Coordinates, r.AlignmentKind)) yield return cell;
        foreach (var m in metricNames) yield return r.Metric(m) is { } v ? $"{v * 100:0.0}%" : "";
        yield return $"{r.TrainableParameters.ToString("N0", CultureInfo.InvariantCulture)} / {r.FrozenParameters.ToString("N0", CultureInfo.InvariantCulture)}" +
                     $"<br><span class=\"rp-note\">{(r.FrozenParameters > 0 ? 100.0 * r.TrainableParameters / r.FrozenParameters : 0):0.###}% of the model</span>";
        yield return $"{r.WallTime.TotalSeconds:0.0} s";
        yield return $"{r.ExamplesPerSecond:0}";
        yield return E(r.Device);
        yield return r.Seed.ToString(CultureInfo.InvariantCulture);
        yield return FrozenCell(r.ChecksumBefore, r.ChecksumAfter);
    }

    /// <summary>The live view while a run trains: a progress bar and the loss and accuracy so far.</summary>
    public static string Progress(string run, TrainingProgress p, IReadOnlyList<CurvePoint> history)
    {
        var fraction = p.TotalSteps == 0 ? 1 : (double)p.Step / p.TotalSteps;
        var sb = new StringBuilder(Style);
        sb.Append("<div class=\"rp-caption\"><b>").Append(E(run)).Append("</b>: epoch ").Append(p.Epoch).Append('/').Append(p.Epochs)
          .Append(", step ").Append(p.Step).Append('/').Append(p.TotalSteps)
          .Append(CultureInfo.InvariantCulture, $", loss {p.Loss:0.000}, train accuracy {p.Accuracy * 100:0.0}%, {p.ExamplesPerSecond:0} examples/s, lr {p.LearningRate:g3}, {p.Elapsed.TotalSeconds:0} s</div>");
        sb.Append(CultureInfo.InvariantCulture, $"<div style=\"width:420px;height:10px;background:#eee;border-radius:5px\"><div style=\"width:{fraction * 100:0.0}%;height:10px;background:#00798c;border-radius:5px\"></div></div>");
        sb.Append(Sparkline(history.Select(h => h.Loss).ToArray(), "#d1495b", "loss"));
        sb.Append(Sparkline(history.Select(h => h.Accuracy).ToArray(), "#00798c", "train accuracy"));
        return sb.ToString();
    }

    /// <summary>The live view while an evaluation runs: the setting, queries answered of all, time so far.</summary>
    public static string Evaluation(string run, InstructionProgress p)
    {
        var fraction = p.Total == 0 ? 1 : (double)p.Done / p.Total;
        return Style + $"<div class=\"rp-caption\"><b>{E(run)}</b>: {E(p.Setting)}; {p.Done:N0}/{p.Total:N0} answers, {p.Elapsed.TotalSeconds:0} s</div>" +
               string.Create(CultureInfo.InvariantCulture, $"<div style=\"width:420px;height:10px;background:#eee;border-radius:5px\"><div style=\"width:{fraction * 100:0.0}%;height:10px;background:#00798c;border-radius:5px\"></div></div>");
    }

    // A small inline SVG, so the live view needs no script while the cell runs.
    private static string Sparkline(double[] values, string colour, string label)
    {
        const int w = 200, h = 40;
        if (values.Length < 2) return "";
        var (min, max) = (values.Min(), values.Max());
        var range = max - min < 1e-12 ? 1 : max - min;
        var points = string.Join(" ", values.Select((v, i) =>
            string.Create(CultureInfo.InvariantCulture, $"{i * (w - 4.0) / (values.Length - 1) + 2:0.0},{h - 2 - (v - min) / range * (h - 4):0.0}")));
        return $"<svg width=\"{w}\" height=\"{h + 14}\" style=\"margin:4px 12px 0 0\"><polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{points}\"/>" +
               string.Create(CultureInfo.InvariantCulture, $"<text x=\"2\" y=\"{h + 12}\" font-size=\"10\" fill=\"#555\">{label} {values[^1]:0.000}</text></svg>");
    }
}
