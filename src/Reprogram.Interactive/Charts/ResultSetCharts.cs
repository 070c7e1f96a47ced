using Plotly.NET;
using Reprogram.Experiments;

namespace Reprogram.Interactive.Charts;

/// <summary>
/// Charts of a <see cref="ResultSet"/> (results in memory or loaded from several exports): test accuracy per row with the
/// spread over seeds, coloured by the file it came from, and accuracy against labelled examples where rows differ in them.
/// </summary>
public static class ResultSetCharts
{
    private static readonly string[] Colours =
        ["#00798c", "#d1495b", "#edae49", "#66a182", "#2e4057", "#8d96a3", "#7b2cbf", "#e76f51", "#2a9d8f", "#264653", "#f4a261", "#6d597a"];

    /// <summary>A row's label in charts: its name, and its budget where it has one.</summary>
    public static string Label(ResultRow row) => row.Budget is { } b ? $"{row.Name} @ {b}" : row.Name;

    /// <summary>The group a row is coloured by: its file's name, or its kind for results in memory.</summary>
    public static string Group(ResultRow row) => row.Source is { } s ? Path.GetFileName(s) : row.Kind;

    /// <summary>Test accuracy of every row (mean ± sd over seeds), one bar per row, one colour per file.</summary>
    public static GenericChart Accuracy(ResultSet set)
    {
        var traces = new List<Trace>();
        var i = 0;
        foreach (var group in set.Rows.Where(r => r.TestAccuracy is not null).GroupBy(Group))
        {
            var t = new Trace("bar");
            t.SetProperty("name", ChartText.E(group.Key));
            t.SetProperty("x", group.Select(r => $"{ChartText.E(Label(r))}<br>{ChartText.E(r.Model)}").ToArray());
            t.SetProperty("y", group.Select(r => r.TestAccuracy!.Value * 100).ToArray());
            t.SetProperty("error_y", new Dictionary<string, object> { ["type"] = "data", ["array"] = group.Select(r => (r.TestAccuracySd ?? 0) * 100).ToArray(), ["visible"] = true });
            t.SetProperty("marker", new Dictionary<string, object> { ["color"] = Colours[i++ % Colours.Length] });
            t.SetProperty("hovertemplate", "%{x}: %{y:.1f}% ± %{error_y.array:.1f}<extra>%{fullData.name}</extra>");
            traces.Add(t);
        }
        var layout = new Layout();
        layout.SetProperty("title", new Dictionary<string, object> { ["text"] = $"Test accuracy of {set.Count} result{(set.Count == 1 ? "" : "s")} (mean ± sd over seeds)" });
        layout.SetProperty("xaxis", new Dictionary<string, object> { ["automargin"] = true });
        layout.SetProperty("yaxis", new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = "test accuracy (%)" }, ["range"] = new[] { 0, 105 } });
        layout.SetProperty("barmode", "group");
        layout.SetProperty("height", 420);
        return GenericChart.setLayout(layout, GenericChart.ofTraceObjects(true, traces));
    }

    /// <summary>Whether some method appears at more than one number of labelled examples (so a data-efficiency chart says something).</summary>
    public static bool HasBudgets(ResultSet set) =>
        set.Rows.Where(r => r.LabelledExamples is not null && r.TestAccuracy is not null)
            .GroupBy(r => (Group(r), r.Name)).Any(g => g.Select(r => r.LabelledExamples).Distinct().Count() > 1);

    /// <summary>
    /// Data efficiency across files: test accuracy against the labelled examples used, one line per method and file,
    /// bars = sd over seeds (the comparison's chart, for rows from any export).
    /// </summary>
    public static GenericChart DataEfficiency(ResultSet set)
    {
        var traces = new List<Trace>();
        var i = 0;
        var multipleFiles = set.Rows.Select(Group).Distinct().Count() > 1;
        foreach (var line in set.Rows.Where(r => r.LabelledExamples is not null && r.TestAccuracy is not null).GroupBy(r => (File: Group(r), r.Name)))
        {
            var points = line.OrderBy(r => r.LabelledExamples).ToArray();
            var t = new Trace("scatter");
            t.SetProperty("mode", "lines+markers");
            t.SetProperty("name", ChartText.E(multipleFiles ? $"{line.Key.Name} ({line.Key.File})" : line.Key.Name));
            t.SetProperty("x", points.Select(p => p.LabelledExamples!.Value).ToArray());
            t.SetProperty("y", points.Select(p => p.TestAccuracy!.Value * 100).ToArray());
            t.SetProperty("error_y", new Dictionary<string, object> { ["type"] = "data", ["array"] = points.Select(p => (p.TestAccuracySd ?? 0) * 100).ToArray(), ["visible"] = true });
            t.SetProperty("line", new Dictionary<string, object> { ["color"] = Colours[i++ % Colours.Length], ["dash"] = points.Any(p => p.TrainableParameters > 0) ? "solid" : "dash" });
            t.SetProperty("hovertemplate", "%{x} labelled examples: %{y:.1f}% ± %{error_y.array:.1f}<extra>%{fullData.name}</extra>");
            traces.Add(t);
        }
        var layout = new Layout();
        layout.SetProperty("title", new Dictionary<string, object> { ["text"] = "Data efficiency (mean ± sd over seeds)" });
        layout.SetProperty("xaxis", new Dictionary<string, object>
        {
            ["title"] = new Dictionary<string, object> { ["text"] = "labelled examples used (shots, or training examples)" }, ["type"] = "log",
        });
        layout.SetProperty("yaxis", new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = "test accuracy (%)" }, ["range"] = new[] { 0, 105 } });
        layout.SetProperty("height", 420);
        return GenericChart.setLayout(layout, GenericChart.ofTraceObjects(true, traces));
    }
}
