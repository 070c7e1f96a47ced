using Plotly.NET;
using Reprogram.Experiments;

namespace Reprogram.Interactive.Charts;

/// <summary>Charts of prompt-instruction runs: accuracy against shots, and chain-of-thought against direct answers.</summary>
public static class InstructionCharts
{
    private static readonly string[] Colours = ["#00798c", "#d1495b", "#edae49", "#66a182", "#2e4057", "#8d96a3"];

    /// <summary>Accuracy against the number of demonstrations, one line per selection (and calibration), bars = spread over seeds (sd).</summary>
    public static GenericChart ShotsCurve(InstructionResult result)
    {
        var traces = new List<Trace>();
        var i = 0;
        foreach (var group in result.Settings.GroupBy(s => (s.Selection, s.Calibrated)))
        {
            var points = group.OrderBy(s => s.Shots).ToArray();
            var t = new Trace("scatter");
            t.SetProperty("mode", "lines+markers");
            t.SetProperty("name", ChartText.E(group.Key.Selection) + (group.Key.Calibrated ? ", calibrated" : ""));
            t.SetProperty("x", points.Select(p => p.Shots).ToArray());
            t.SetProperty("y", points.Select(p => p.Accuracy * 100).ToArray());
            t.SetProperty("error_y", new Dictionary<string, object> { ["type"] = "data", ["array"] = points.Select(p => p.Spread * 100).ToArray(), ["visible"] = true });
            t.SetProperty("line", new Dictionary<string, object> { ["color"] = Colours[i % Colours.Length], ["dash"] = group.Key.Calibrated ? "dash" : "solid" });
            t.SetProperty("hovertemplate", "%{x} shots: %{y:.1f}% ± %{error_y.array:.1f}<extra>%{fullData.name}</extra>");
            traces.Add(t);
            i++;
        }
        var seeds = result.Seeds.Count;
        var metric = result.Settings[0].FlexibleAccuracyPerSeed is null ? "accuracy" : "accuracy (strict rule)";
        var layout = new Layout();
        layout.SetProperty("title", new Dictionary<string, object> { ["text"] = $"{Capitalise(result.Kind)}: {metric} against shots ({ChartText.E(result.Model)}; mean ± sd over {seeds} seed{(seeds == 1 ? "" : "s")})" });
        layout.SetProperty("xaxis", new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = "demonstrations (shots)" }, ["tickvals"] = result.Settings.Select(s => s.Shots).Distinct().Order().ToArray() });
        layout.SetProperty("yaxis", new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = metric + " (%)" }, ["range"] = new[] { 0, 105 } });
        layout.SetProperty("height", 380);
        return GenericChart.setLayout(layout, GenericChart.ofTraceObjects(true, traces));
    }

    /// <summary>Every setting side by side: strict and flexible accuracy (bars = spread over seeds), e.g. chain-of-thought against direct.</summary>
    public static GenericChart Comparison(InstructionResult result)
    {
        // Setting names are long ("zero-shot CoT, trigger ":", self-consistency (5 samples, T=0.7)"): one part per line.
        var labels = result.Settings.Select(s => ChartText.E(s.Label).Replace(", ", "<br>")).ToArray();
        Trace Bars(string name, IEnumerable<double> values, IEnumerable<double> spread, string colour)
        {
            var t = new Trace("bar");
            t.SetProperty("name", name);
            t.SetProperty("x", labels);
            t.SetProperty("y", values.Select(v => v * 100).ToArray());
            t.SetProperty("error_y", new Dictionary<string, object> { ["type"] = "data", ["array"] = spread.Select(v => v * 100).ToArray(), ["visible"] = true });
            t.SetProperty("marker", new Dictionary<string, object> { ["color"] = colour });
            t.SetProperty("hovertemplate", "%{x}: %{y:.1f}%<extra>" + name + "</extra>");
            return t;
        }
        var traces = new List<Trace> { Bars(result.Settings[0].FlexibleAccuracyPerSeed is null ? "accuracy" : "strict rule", result.Settings.Select(s => s.Accuracy), result.Settings.Select(s => s.Spread), Colours[0]) };
        if (result.Settings.All(s => s.FlexibleAccuracy is not null))
        {
            traces.Add(Bars("flexible rule", result.Settings.Select(s => s.FlexibleAccuracy!.Value), result.Settings.Select(s => s.FlexibleSpread ?? 0), Colours[2]));
        }
        var layout = new Layout();
        layout.SetProperty("title", new Dictionary<string, object> { ["text"] = $"{Capitalise(result.Kind)} on {ChartText.E(result.Model)}: accuracy per setting" });
        layout.SetProperty("barmode", "group");
        layout.SetProperty("xaxis", new Dictionary<string, object> { ["tickangle"] = 0, ["automargin"] = true });
        layout.SetProperty("yaxis", new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = "accuracy (%)" }, ["range"] = new[] { 0, 105 } });
        layout.SetProperty("height", 380);
        return GenericChart.setLayout(layout, GenericChart.ofTraceObjects(true, traces));
    }

    private static string Capitalise(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}
