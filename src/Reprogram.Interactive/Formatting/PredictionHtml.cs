using System.Globalization;
using System.Text;
using Reprogram.Experiments;
using Reprogram.Frozen;
using static Reprogram.Interactive.Formatting.Html;

namespace Reprogram.Interactive.Formatting;

/// <summary>
/// A saved manipulation applied to inputs (<c>--load</c>): what was loaded onto which model and whether its checksum was
/// the file's, the row in the one results table (accuracy only with labels), and the first predictions.
/// </summary>
public static class PredictionHtml
{
    /// <summary>Records written into the page; all of them stay in the result's <c>Records</c>.</summary>
    public const int RecordsShown = 50;

    public static string Render(PredictionResult result)
    {
        var r = result.Result;
        var sb = new StringBuilder(Style);
        sb.Append("<div class=\"rp-caption\"><b>Loaded</b> <code>").Append(E(result.Learned)).Append("</code> onto ").Append(E(r.Model)).Append(": ")
          .Append(CultureInfo.InvariantCulture, $"{result.Records.Count:N0} predictions on ").Append(E(result.Inputs)).Append(". ")
          .Append(result.ChecksumChecked
              ? $"The model's checksum <code>{E(ParameterChecksum.Short(r.ChecksumBefore))}</code> is the one the file was learned on ✓."
              : "The model was not checked by checksum (a PEFT adapter names its base model only); its width, layers and heads match.")
          .Append(result.Labelled ? "" : " <b>No labels</b>: predictions only, no accuracy.")
          .Append("</div>");
        sb.Append(ResultHtml.Table([r]));
        var shown = result.Records.Take(RecordsShown).ToArray();
        if (shown.Length == 0) return sb.ToString();
        sb.Append(CultureInfo.InvariantCulture, $"<div class=\"rp-caption\"><b>Predictions</b> ({(shown.Length < result.Records.Count ? $"the first {shown.Length:N0} of {result.Records.Count:N0}; all in the result's Records" : $"{shown.Length:N0}")})</div>");
        var headers = new List<string> { "input", "predicted", "class probabilities" };
        if (result.Labelled) headers.AddRange(["answer", "correct"]);
        sb.Append(Html.Table(headers.Select(E), shown.Select(p => Row(p, result.Labelled))));
        return sb.ToString();
    }

    private static IEnumerable<string> Row(PredictionRecord p, bool labelled)
    {
        yield return $"<span title=\"{E(p.Id)}\">{E(Shorten(p.Input, 120))}</span>";
        yield return $"<code>{E(p.Predicted ?? "—")}</code>";
        yield return $"<span class=\"rp-note\">{E(p.Output)}</span>";
        if (!labelled) yield break;
        yield return $"<code>{E(p.Answer)}</code>";
        yield return p.Correct ? "✓" : "<span class=\"rp-error\">✗</span>";
    }

    private static string Shorten(string s, int length)
    {
        s = s.ReplaceLineEndings(" ");
        return s.Length <= length ? s : s[..(length - 1)] + "…";
    }
}
