using Plotly.NET;
using Reprogram.Taxonomy;

namespace Reprogram.Interactive.Charts;

/// <summary>Charts of the catalog in the taxonomy's terms.</summary>
public static class TaxonomyCharts
{
    public static readonly IReadOnlyDictionary<Paradigm, string> ParadigmColours = new Dictionary<Paradigm, string>
    {
        [Paradigm.ModelReprogramming] = "#d1495b",
        [Paradigm.PromptTuning] = "#00798c",
        [Paradigm.PromptInstruction] = "#edae49",
    };

    /// <summary>
    /// How the methods of a view spread over the four dimensions: one panel per dimension, a stacked bar per value,
    /// coloured by paradigm. A method with two values in a dimension (e.g. VPT: Embedding / Hidden) counts under both.
    /// </summary>
    public static GenericChart Spread(CatalogView view)
    {
        var dims = Coordinates.Dimensions;
        var traces = new List<Trace>();
        var gap = 0.06;
        var width = (1.0 - gap * (dims.Count - 1)) / dims.Count;
        var layout = new Layout();
        for (var i = 0; i < dims.Count; i++)
        {
            var spread = view.Spread(dims[i]);
            var axis = i == 0 ? "" : (i + 1).ToString();
            foreach (var paradigm in Enum.GetValues<Paradigm>())
            {
                var rows = spread.Where(s => s.Paradigm == paradigm).ToArray();
                var trace = new Trace("bar");
                trace.SetProperty("name", TaxonomyNames.Of(paradigm));
                trace.SetProperty("legendgroup", paradigm.ToString());
                trace.SetProperty("showlegend", i == 0);
                trace.SetProperty("x", rows.Select(r => r.Value).ToArray());
                trace.SetProperty("y", rows.Select(r => r.Count).ToArray());
                trace.SetProperty("marker", new Dictionary<string, object> { ["color"] = ParadigmColours[paradigm] });
                trace.SetProperty("xaxis", "x" + axis);
                trace.SetProperty("yaxis", "y" + axis);
                trace.SetProperty("hovertemplate", $"{TaxonomyNames.Of(dims[i])} = %{{x}}<br>{TaxonomyNames.Of(paradigm)}: %{{y}} methods<extra></extra>");
                traces.Add(trace);
            }
            var start = i * (width + gap);
            layout.SetProperty("xaxis" + axis, new Dictionary<string, object>
            {
                ["domain"] = new[] { start, start + width },
                ["anchor"] = "y" + axis,
                ["tickangle"] = -30,
                ["title"] = new Dictionary<string, object> { ["text"] = $"{TaxonomyNames.Of(dims[i])} ({TaxonomyNames.SymbolOf(dims[i])})" },
            });
            layout.SetProperty("yaxis" + axis, new Dictionary<string, object>
            {
                ["anchor"] = "x" + axis,
                ["title"] = new Dictionary<string, object> { ["text"] = i == 0 ? "methods" : "" },
                ["rangemode"] = "tozero",
                ["dtick"] = 5,
            });
        }
        layout.SetProperty("barmode", "stack");
        layout.SetProperty("height", 400);
        layout.SetProperty("title", new Dictionary<string, object>
        {
            ["text"] = $"How {view.Methods.Count} published methods spread over the taxonomy's dimensions",
        });
        layout.SetProperty("legend", new Dictionary<string, object> { ["orientation"] = "h", ["x"] = 0.5, ["xanchor"] = "center", ["y"] = 1.02, ["yanchor"] = "bottom" });
        layout.SetProperty("margin", new Dictionary<string, object> { ["t"] = 80, ["b"] = 90, ["l"] = 50, ["r"] = 20 });
        return GenericChart.setLayout(layout, GenericChart.ofTraceObjects(true, traces));
    }
}
