using System.Net;
using System.Text;
using Reprogram.Taxonomy;

namespace Reprogram.Interactive.Formatting;

/// <summary>Small HTML helpers shared by the formatters. Everything user-provided goes through <see cref="E"/>.</summary>
internal static class Html
{
    public static string E(string? text) => WebUtility.HtmlEncode(text ?? "");

    /// <summary>Scoped styles: every output carries them, so a cell renders the same alone or in an exported page.</summary>
    public const string Style = """
        <style>
        .rp-table { border-collapse: collapse; font-family: system-ui, sans-serif; font-size: 13px; margin: 4px 0 10px 0; }
        .rp-table th, .rp-table td { border: 1px solid #d0d7de; padding: 3px 7px; text-align: left; vertical-align: top; }
        .rp-table th { background: #f6f8fa; }
        .rp-table tr.rp-group td { background: #eef3f8; font-weight: 600; }
        .rp-badge { display: inline-block; border-radius: 9px; padding: 0 7px; margin: 1px 2px 1px 0; font-size: 12px; white-space: nowrap; }
        .rp-v-fixed { background: #e8e8e8; } .rp-v-learnable { background: #ffe2b8; }
        .rp-v-input { background: #d9ecff; } .rp-v-embedding { background: #d6f5e3; } .rp-v-hidden { background: #eadcff; }
        .rp-v-additive { background: #ffd9d9; } .rp-v-concatenative { background: #d8f0f0; } .rp-v-parametric { background: #fff1a8; }
        .rp-v-identity { background: #ececec; } .rp-v-rule-based { background: #e0e7ff; } .rp-v-statistical { background: #fde0f0; } .rp-v-linear { background: #dff3d1; }
        .rp-caption { font-family: system-ui, sans-serif; font-size: 13px; color: #444; margin: 2px 0 4px 0; }
        .rp-note { color: #666; font-size: 12px; }
        .rp-error { color: #b00020; font-family: system-ui, sans-serif; }
        </style>
        """;

    public static string Badge(string value) =>
        $"<span class=\"rp-badge rp-v-{E(TaxonomyNames.ToOptionWord(value))}\">{E(value)}</span>";

    public static string Badges(IEnumerable<string> values) => string.Concat(values.Select(Badge));

    /// <summary>
    /// The frozen check as a table cell: short checksums before → after and whether they agree; a remote model's weights
    /// cannot be seen, so its cell says that instead of claiming them unchanged.
    /// </summary>
    public static string FrozenCell(string before, string after)
    {
        if (before == Reprogram.Instruction.InstructionModel.RemoteChecksum) return "<span class=\"rp-note\">remote: weights not visible</span>";
        static string Short(string checksum) => checksum.Length == 0 ? "?" : Reprogram.Frozen.ParameterChecksum.Short(checksum);
        return $"<code>{E(Short(before))}</code> → <code>{E(Short(after))}</code> " +
               (before == after ? "<b title=\"every parameter and buffer identical\">unchanged ✓</b>" : "<b class=\"rp-error\">CHANGED</b>");
    }

    /// <summary>
    /// A result's place in the taxonomy as five table cells: paradigm, format, location and operator badges of its input
    /// manipulation (dashes where there is none: only the output is aligned), then its alignment's badge.
    /// </summary>
    public static IEnumerable<string> CoordinateCells(Coordinates? coordinates, OutputAlignment alignment)
    {
        if (coordinates is { } c)
        {
            yield return E(TaxonomyNames.Of(c.TypicalParadigm));
            yield return Badge(TaxonomyNames.Of(c.Format));
            yield return Badge(TaxonomyNames.Of(c.Location));
            yield return Badge(TaxonomyNames.Of(c.Operator));
        }
        else
        {
            yield return "<span class=\"rp-note\">no input manipulation</span>";
            yield return "—";
            yield return "—";
            yield return "—";
        }
        yield return Badge(TaxonomyNames.Of(alignment));
    }

    public static string Table(IEnumerable<string> headers, IEnumerable<IEnumerable<string>> rowsOfHtml, string? cssClass = null)
    {
        var sb = new StringBuilder();
        sb.Append($"<table class=\"rp-table {cssClass}\"><thead><tr>");
        foreach (var h in headers) sb.Append("<th>").Append(h).Append("</th>");
        sb.Append("</tr></thead><tbody>");
        foreach (var row in rowsOfHtml)
        {
            sb.Append("<tr>");
            foreach (var cell in row) sb.Append("<td>").Append(cell).Append("</td>");
            sb.Append("</tr>");
        }
        sb.Append("</tbody></table>");
        return sb.ToString();
    }
}
