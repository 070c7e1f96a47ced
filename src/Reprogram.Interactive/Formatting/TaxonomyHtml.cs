using System.Text;
using Reprogram.Taxonomy;
using static Reprogram.Interactive.Formatting.Html;

namespace Reprogram.Interactive.Formatting;

/// <summary>HTML for the taxonomy's types: catalog views, published methods and declared manipulations.</summary>
public static class TaxonomyHtml
{
    private static readonly string[] CatalogHeaders =
    [
        "Method", "Paper", "Modality", "Paradigm",
        "Format (λ)", "Location (l)", "Operator (τ)", "Output alignment (ω)",
    ];

    public static string Catalog(CatalogView view)
    {
        var sb = new StringBuilder(Style);
        sb.Append($"<div class=\"rp-caption\"><b>{view.Methods.Count}</b> of {Reprogram.Taxonomy.Catalog.Methods.Count} published methods " +
                  $"({E(view.Query.Describe())}){(view.Query.GroupBy is { } g ? $", grouped by {E(g.ToString().ToLowerInvariant())}" : "")}, " +
                  $"sorted by {E(view.Query.SortBy.ToString().ToLowerInvariant())}{(view.Query.Descending ? " (descending)" : "")}. " +
                  "Coordinates follow Ye et al., arXiv 2506.04650.</div>");
        sb.Append("<table class=\"rp-table rp-catalog\"><thead><tr>");
        foreach (var h in CatalogHeaders) sb.Append($"<th>{E(h)}</th>");
        sb.Append("</tr></thead><tbody>");
        foreach (var group in view.Groups)
        {
            if (group.Key is not null)
            {
                sb.Append($"<tr class=\"rp-group\"><td colspan=\"{CatalogHeaders.Length}\">{E(group.Key)} ({group.Methods.Count})</td></tr>");
            }
            foreach (var m in group.Methods) sb.Append(MethodRow(m));
        }
        if (view.Methods.Count == 0)
        {
            sb.Append($"<tr><td colspan=\"{CatalogHeaders.Length}\" class=\"rp-note\">No published method matches these filters.</td></tr>");
        }
        sb.Append("</tbody></table>");
        var notes = view.Methods.Where(m => m.Note is not null).ToArray();
        if (notes.Length > 0)
        {
            sb.Append("<div class=\"rp-note\">Notes: ");
            sb.Append(string.Join(" ", notes.Select(m => $"<b>{E(m.Name)}</b>: {E(m.Note)}")));
            sb.Append("</div>");
        }
        return sb.ToString();
    }

    private static string MethodRow(PublishedMethod m)
    {
        var title = m.Title is null ? "" : $" title=\"{E(m.Title)}\"";
        var noteMark = m.Note is null ? "" : $" <sup title=\"{E(m.Note)}\">†</sup>";
        return "<tr>" +
               $"<td><a href=\"{E(m.ArXivUrl)}\" target=\"_blank\"{title}>{E(m.Name)}</a>{noteMark}</td>" +
               $"<td>{E(m.Authors)}, {E(m.Venue)} {m.Year}<br><span class=\"rp-note\">arXiv {E(m.ArXivId)}</span></td>" +
               $"<td>{E(m.ModalityDetail)}</td>" +
               $"<td>{E(m.Describe(Dimension.Paradigm))}</td>" +
               $"<td>{Badges(m.ValuesOf(Dimension.Format))}</td>" +
               $"<td>{Badges(m.ValuesOf(Dimension.Location))}</td>" +
               $"<td>{Badges(m.ValuesOf(Dimension.Operator))}</td>" +
               $"<td>{Badges(m.ValuesOf(Dimension.Alignment))}</td>" +
               "</tr>";
    }

    public static string Method(PublishedMethod m) =>
        Style + "<table class=\"rp-table rp-catalog\"><thead><tr>" +
        string.Concat(CatalogHeaders.Select(h => $"<th>{E(h)}</th>")) + "</tr></thead><tbody>" +
        MethodRow(m) + "</tbody></table>" +
        (m.Note is null ? "" : $"<div class=\"rp-note\">{E(m.Note)}</div>");

    /// <summary>A declared manipulation as a taxonomy row, with the published methods at and next to its coordinates.</summary>
    public static string Manipulation(Manipulation manipulation)
    {
        var sb = new StringBuilder(Style);
        sb.Append(Table(
            ["Manipulation", "Paradigm", "Format (λ)", "Location (l)", "Operator (τ)", "Output alignment (ω)", "Description"],
            [[
                $"<b>{E(manipulation.Name)}</b>",
                E(TaxonomyNames.Of(manipulation.Paradigm)),
                Badge(TaxonomyNames.Of(manipulation.Format)),
                Badge(TaxonomyNames.Of(manipulation.Location)),
                Badge(TaxonomyNames.Of(manipulation.Operator)),
                Badge(TaxonomyNames.Of(manipulation.Alignment)),
                E(manipulation.Description ?? ""),
            ]], "rp-manipulation"));

        var neighbours = manipulation.Neighbours();
        sb.Append("<div class=\"rp-caption\"><b>Published methods at the same coordinates:</b> ");
        sb.Append(neighbours.Same.Count == 0
            ? "none: these coordinates are not covered by the catalog."
            : string.Join(", ", neighbours.Same.Select(m => $"<a href=\"{E(m.ArXivUrl)}\" target=\"_blank\">{E(m.Name)}</a> ({E(m.Citation)})")));
        sb.Append("</div>");
        if (neighbours.OneDimensionAway.Count > 0)
        {
            sb.Append("<div class=\"rp-caption\"><b>One dimension away:</b></div>");
            sb.Append(Table(
                ["Method", "Differs in", "Theirs", "Yours"],
                neighbours.OneDimensionAway.Select(n => new[]
                {
                    $"<a href=\"{E(n.Method.ArXivUrl)}\" target=\"_blank\">{E(n.Method.Name)}</a> <span class=\"rp-note\">{E(n.Method.Citation)}</span>",
                    E(TaxonomyNames.Of(n.Differs)),
                    Badges(n.Method.ValuesOf(n.Differs)),
                    Badge(ValueWord(manipulation.Coordinates, n.Differs)),
                }), "rp-neighbours"));
        }
        return sb.ToString();
    }

    private static string ValueWord(Coordinates c, Dimension d) => c.Value(d) switch
    {
        Format f => TaxonomyNames.Of(f),
        Location l => TaxonomyNames.Of(l),
        Operator o => TaxonomyNames.Of(o),
        OutputAlignment a => TaxonomyNames.Of(a),
        var other => other.ToString() ?? "",
    };
}
