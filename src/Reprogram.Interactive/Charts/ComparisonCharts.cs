using Plotly.NET;
using Reprogram.Experiments;
using Reprogram.Taxonomy;

namespace Reprogram.Interactive.Charts;

/// <summary>Charts of a comparison: accuracy against labelled examples used, and accuracy by each coordinate of the taxonomy.</summary>
public static class ComparisonCharts
{
    private static readonly string[] Colours =
        ["#00798c", "#d1495b", "#edae49", "#66a182", "#2e4057", "#8d96a3", "#7b2cbf", "#e76f51", "#2a9d8f", "#264653", "#f4a261", "#6d597a"];

    /// <summary>
    /// Data efficiency: test accuracy against the labelled examples each method used (in-context learning's shots, a
    /// learned method's training examples), one line per method, bars = sd over seeds. Dashed: nothing learned.
    /// </summary>
    public static GenericChart DataEfficiency(ComparisonResult result)
    {
        var traces = new List<Trace>();
        var i = 0;
        foreach (var method in result.Rows.GroupBy(r => r.Method.Name))
        {
            var points = method.OrderBy(r => r.LabelledExamples).ToArray();
            var t = new Trace("scatter");
            t.SetProperty("mode", "lines+markers");
            t.SetProperty("name", ChartText.E(method.Key));
            t.SetProperty("x", points.Select(p => p.LabelledExamples).ToArray());
            t.SetProperty("y", points.Select(p => p.TestAccuracy * 100).ToArray());
            t.SetProperty("error_y", new Dictionary<string, object> { ["type"] = "data", ["array"] = points.Select(p => p.TestAccuracySd * 100).ToArray(), ["visible"] = true });
            var learned = points.Any(p => p.Result.TrainableParameters > 0);
            t.SetProperty("line", new Dictionary<string, object> { ["color"] = Colours[i % Colours.Length], ["dash"] = learned ? "solid" : "dash" });
            t.SetProperty("hovertemplate", "%{x} labelled examples: %{y:.1f}% ± %{error_y.array:.1f}<extra>%{fullData.name}</extra>");
            traces.Add(t);
            i++;
        }
        var seeds = result.Options.Seeds.Count;
        var layout = new Layout();
        layout.SetProperty("title", new Dictionary<string, object> { ["text"] = $"Data efficiency on {ChartText.E(result.Model)} (mean ± sd over {seeds} seed{(seeds == 1 ? "" : "s")})" });
        layout.SetProperty("xaxis", new Dictionary<string, object>
        {
            ["title"] = new Dictionary<string, object> { ["text"] = "labelled examples used (shots, or training examples)" }, ["type"] = "log",
        });
        layout.SetProperty("yaxis", new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = "test accuracy (%)" }, ["range"] = new[] { 0, 105 } });
        layout.SetProperty("height", 420);
        layout.SetProperty("legend", new Dictionary<string, object> { ["font"] = new Dictionary<string, object> { ["size"] = 10 } });
        return GenericChart.setLayout(layout, GenericChart.ofTraceObjects(true, traces));
    }

    /// <summary>The dimensions a comparison can be charted by: the varied one, or every one whose value differs among its methods.</summary>
    public static IReadOnlyList<string> Dimensions(ComparisonResult result)
    {
        if (result.Vary is { } v) return [v];
        return ComparisonOptions.Dimensions.Where(d => result.Rows.Select(r => Value(r, d)).Distinct().Count() > 1).ToArray();
    }

    /// <summary>
    /// Test accuracy by the value of one coordinate, at the largest budget: one bar per method (sd over seeds), grouped and
    /// coloured by the coordinate's value, so what the dimension buys shows at a glance.
    /// </summary>
    public static GenericChart ByDimension(ComparisonResult result, string dimension)
    {
        var budget = result.Rows.Max(r => r.Budget);
        var rows = result.Rows.Where(r => r.Budget == budget).OrderBy(r => Value(r, dimension)).ThenBy(r => r.Method.Name).ToArray();
        var traces = new List<Trace>();
        var i = 0;
        foreach (var group in rows.GroupBy(r => Value(r, dimension)))
        {
            var t = new Trace("bar");
            t.SetProperty("name", ChartText.E($"{dimension}: {group.Key}"));
            t.SetProperty("x", group.Select(r => ChartText.E(r.Method.Name).Replace(" + ", "<br>+ ")).ToArray());
            t.SetProperty("y", group.Select(r => r.TestAccuracy * 100).ToArray());
            t.SetProperty("error_y", new Dictionary<string, object> { ["type"] = "data", ["array"] = group.Select(r => r.TestAccuracySd * 100).ToArray(), ["visible"] = true });
            t.SetProperty("marker", new Dictionary<string, object> { ["color"] = Colours[i++ % Colours.Length] });
            t.SetProperty("hovertemplate", "%{x}: %{y:.1f}%<extra>%{fullData.name}</extra>");
            traces.Add(t);
        }
        var layout = new Layout();
        layout.SetProperty("title", new Dictionary<string, object> { ["text"] = $"Test accuracy by {ChartText.E(dimension)} ({budget} labelled examples; mean ± sd over seeds)" });
        layout.SetProperty("xaxis", new Dictionary<string, object> { ["tickangle"] = 0, ["automargin"] = true });
        layout.SetProperty("yaxis", new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = "test accuracy (%)" }, ["range"] = new[] { 0, 105 } });
        layout.SetProperty("height", 400);
        return GenericChart.setLayout(layout, GenericChart.ofTraceObjects(true, traces));
    }

    /// <summary>A row's value of a dimension, in the survey's words ("none" without an input manipulation).</summary>
    public static string Value(ComparisonRow row, string dimension)
    {
        var c = row.Result.Coordinates;
        return dimension switch
        {
            "format" => c is null ? "none" : TaxonomyNames.Of(c.Format),
            "location" => c is null ? "none" : TaxonomyNames.Of(c.Location),
            "operator" => c is null ? "none" : TaxonomyNames.Of(c.Operator),
            "alignment" => TaxonomyNames.Of(row.Result.AlignmentKind),
            _ => throw new ArgumentException($"'{dimension}' is not a dimension. Allowed: {string.Join(", ", ComparisonOptions.Dimensions)}."),
        };
    }
}
