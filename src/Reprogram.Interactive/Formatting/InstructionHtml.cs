using System.Globalization;
using System.Text;
using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Interactive.Charts;
using static Reprogram.Interactive.Formatting.Html;
using static System.FormattableString;

namespace Reprogram.Interactive.Formatting;

/// <summary>
/// A prompt-instruction run: what it cost, the one results table (a row per setting with its coordinates), the
/// accuracy chart, and the per-query records in pages.
/// </summary>
public static class InstructionHtml
{
    /// <summary>Records written into the page; the rest stay in the C# result (result.Page(n)).</summary>
    public const int MaxRecordsInPage = 2000;

    public static string Render(InstructionResult result, int pageSize = 10)
    {
        var sb = new StringBuilder(Style);
        sb.Append(
            Invariant($"<div class=\"rp-caption\"><b>{E(Capitalise(result.Kind))}</b> on {E(result.Model)}; task {E(result.Task)}; ") +
            Invariant($"seeds {E(string.Join(",", result.Seeds))}. {result.TokensProcessed:N0} tokens in {result.WallTime.TotalSeconds:0.0} s ") +
            Invariant($"({result.TokensPerSecond:N0} tokens/s). Frozen model: <code>{E(ParameterChecksum.Short(result.ChecksumBefore))}</code> → ") +
            Invariant($"<code>{E(ParameterChecksum.Short(result.ChecksumAfter))}</code> ") +
            (result.ChecksumBefore == Instruction.InstructionModel.RemoteChecksum ? "(remote: not visible)" : result.FrozenUnchanged ? "<b>unchanged ✓</b>" : "<b class=\"rp-error\">CHANGED</b>") +
            "</div>");
        sb.Append(ResultHtml.Table(result.All));
        var shotCounts = result.Settings.Select(s => s.Shots).Distinct().Count();
        sb.Append(ChartHtml.Render(result.Kind == "in-context learning" && shotCounts > 1 ? InstructionCharts.ShotsCurve(result) : InstructionCharts.Comparison(result)));
        sb.Append(Records(result.Records.ToArray(), pageSize));
        return sb.ToString();
    }

    /// <summary>The per-query records as a table with a pager (pages switch in the browser; no kernel round trip).</summary>
    public static string Records(IReadOnlyList<InstructionRecord> all, int pageSize = 10)
    {
        if (all.Count == 0) return "";
        var shown = all.Take(MaxRecordsInPage).ToArray();
        var pages = (shown.Length + pageSize - 1) / pageSize;
        var id = "rp-records-" + Guid.NewGuid().ToString("N")[..10];
        var flexible = shown.Any(r => r.CorrectFlexible is not null);
        var sb = new StringBuilder();
        sb.Append(Invariant($"<div class=\"rp-caption\"><b>Per-query records</b> ({all.Count:N0}; {pageSize} per page") +
                  (all.Count > shown.Length ? Invariant($"; the first {shown.Length:N0} here, all of them in <code>result.Page(n)</code> and the export") : "") + ")</div>");
        var headers = new List<string> { "setting", "seed", "query", "prompt", "output", "extracted", "answer", "correct" };
        if (flexible) headers.AddRange(["flexible", "correct (flexible)"]);
        sb.Append($"<table id=\"{id}\" class=\"rp-table\"><thead><tr>");
        foreach (var h in headers) sb.Append("<th>").Append(E(h)).Append("</th>");
        sb.Append("</tr></thead><tbody>");
        for (var i = 0; i < shown.Length; i++)
        {
            var r = shown[i];
            var page = i / pageSize + 1;
            sb.Append(CultureInfo.InvariantCulture, $"<tr data-page=\"{page}\"{(page == 1 ? "" : " style=\"display:none\"")}>");
            sb.Append("<td>").Append(E(r.Setting)).Append("</td><td>").Append(r.Seed).Append("</td><td>").Append(r.Query).Append("</td>");
            sb.Append("<td><pre style=\"margin:0;max-height:8em;max-width:32em;overflow:auto;white-space:pre-wrap\">").Append(E(r.Prompt)).Append("</pre></td>");
            sb.Append("<td><pre style=\"margin:0;max-height:8em;max-width:28em;overflow:auto;white-space:pre-wrap\">").Append(E(r.Output)).Append("</pre></td>");
            sb.Append("<td><code>").Append(E(r.Extracted ?? "—")).Append("</code></td><td><code>").Append(E(r.Answer)).Append("</code></td>");
            sb.Append("<td>").Append(r.Correct ? "✓" : "<span class=\"rp-error\">✗</span>").Append("</td>");
            if (flexible)
            {
                sb.Append("<td><code>").Append(E(r.ExtractedFlexible ?? "—")).Append("</code></td><td>")
                  .Append(r.CorrectFlexible == true ? "✓" : "<span class=\"rp-error\">✗</span>").Append("</td>");
            }
            sb.Append("</tr>");
        }
        sb.Append("</tbody></table>");
        if (pages > 1)
        {
            // Inline handlers: the output needs no script of its own to page (and works in exported HTML).
            const string step = "var d=this.parentNode,t=document.getElementById(d.getAttribute('data-table')),n=+d.getAttribute('data-pages'),p=+d.getAttribute('data-page')+STEP;" +
                                "if(p<1||p>n)return;d.setAttribute('data-page',p);var rows=t.tBodies[0].rows;for(var i=0;i<rows.length;i++){rows[i].style.display=(+rows[i].getAttribute('data-page')===p)?'':'none';}" +
                                "d.querySelector('span').textContent='page '+p+' of '+n;";
            sb.Append(CultureInfo.InvariantCulture, $"<div class=\"rp-caption rp-pager\" data-table=\"{id}\" data-page=\"1\" data-pages=\"{pages}\">");
            sb.Append($"<button onclick=\"{step.Replace("STEP", "-1")}\">‹ previous</button> <span>page 1 of {pages}</span> ");
            sb.Append($"<button onclick=\"{step.Replace("STEP", "1")}\">next ›</button></div>");
        }
        return sb.ToString();
    }

    private static string Capitalise(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}
