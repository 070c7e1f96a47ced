using Plotly.NET;
using Reprogram.Experiments;

namespace Reprogram.Interactive.Charts;

/// <summary>Charts of a reprogramming run: training curves, the learned prompt, the label mapping.</summary>
public static class ReprogramCharts
{
    private static readonly string[] Colours = ["#d1495b", "#00798c", "#edae49", "#66a182", "#2e4057", "#8d96a3"];

    /// <summary>Loss and training accuracy per step, one line per run.</summary>
    public static GenericChart Curves(IEnumerable<ExperimentResult> results)
    {
        var traces = new List<Trace>();
        var i = 0;
        foreach (var r in results.Where(r => r.Curve.Count > 0))
        {
            var colour = Colours[i++ % Colours.Length];
            traces.Add(Line(ChartText.E(r.Name), r.Curve.Select(c => (double)c.Step), r.Curve.Select(c => c.Loss), colour, "x", "y", true));
            traces.Add(Line(ChartText.E(r.Name), r.Curve.Select(c => (double)c.Step), r.Curve.Select(c => c.Accuracy * 100), colour, "x2", "y2", false));
        }
        var layout = new Layout();
        layout.SetProperty("title", new Dictionary<string, object> { ["text"] = "Training curves" });
        layout.SetProperty("xaxis", Axis("step", [0.0, 0.46], "y"));
        layout.SetProperty("yaxis", Axis("loss", null, "x"));
        layout.SetProperty("xaxis2", Axis("step", [0.54, 1.0], "y2"));
        layout.SetProperty("yaxis2", Axis("train accuracy (running, %)", null, "x2"));
        layout.SetProperty("height", 360);
        layout.SetProperty("legend", new Dictionary<string, object> { ["orientation"] = "h", ["y"] = -0.25 });
        return GenericChart.setLayout(layout, GenericChart.ofTraceObjects(true, traces));
    }

    /// <summary>The learned prompt as it is added to every input: as an image (rescaled to 0-255) and as its per-pixel magnitude.</summary>
    public static GenericChart? Prompt(ReprogramResult result)
    {
        if (result.PromptImage is not { } p) return null;
        var (c, h, w) = (p.GetLength(0), p.GetLength(1), p.GetLength(2));
        var (min, max) = (float.MaxValue, float.MinValue);
        foreach (var v in p) { min = Math.Min(min, v); max = Math.Max(max, v); }
        var range = Math.Max(1e-6f, max - min);
        var rgb = Enumerable.Range(0, h).Select(y => Enumerable.Range(0, w).Select(x =>
            Enumerable.Range(0, 3).Select(k => (int)Math.Round(255 * (p[Math.Min(k, c - 1), y, x] - min) / range)).ToArray()).ToArray()).ToArray();
        var magnitude = Enumerable.Range(0, h).Select(y => Enumerable.Range(0, w).Select(x =>
            Math.Sqrt(Enumerable.Range(0, c).Sum(k => (double)p[k, y, x] * p[k, y, x]))).ToArray()).ToArray();
        var image = new Trace("image");
        image.SetProperty("z", rgb);
        image.SetProperty("xaxis", "x");
        image.SetProperty("yaxis", "y");
        var heat = new Trace("heatmap");
        heat.SetProperty("z", magnitude);
        heat.SetProperty("colorscale", "Viridis");
        heat.SetProperty("xaxis", "x2");
        heat.SetProperty("yaxis", "y2");
        heat.SetProperty("colorbar", new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = "|δ|" } });
        var layout = new Layout();
        layout.SetProperty("title", new Dictionary<string, object> { ["text"] = $"Learned prompt ({ChartText.E(result.Main.Manipulation)}): as an image, and its magnitude" });
        layout.SetProperty("xaxis", new Dictionary<string, object> { ["domain"] = new[] { 0.0, 0.45 }, ["visible"] = false, ["anchor"] = "y" });
        layout.SetProperty("yaxis", new Dictionary<string, object> { ["visible"] = false, ["anchor"] = "x", ["scaleanchor"] = "x", ["autorange"] = "reversed" });
        layout.SetProperty("xaxis2", new Dictionary<string, object> { ["domain"] = new[] { 0.55, 1.0 }, ["visible"] = false, ["anchor"] = "y2" });
        layout.SetProperty("yaxis2", new Dictionary<string, object> { ["visible"] = false, ["anchor"] = "x2", ["scaleanchor"] = "x2", ["autorange"] = "reversed" });
        layout.SetProperty("height", 380);
        return GenericChart.setLayout(layout, GenericChart.ofTraceObjects(true, new[] { image, heat }));
    }

    /// <summary>The label-mapping matrix: which source classes each target class reads from.</summary>
    public static GenericChart? Mapping(ReprogramResult result)
    {
        if (result.Mapping is not { } m || result.SourceLabels is not { } source) return null;
        var (s, t) = (m.GetLength(0), m.GetLength(1));
        // Only rows that carry weight, so a 512-row feature mapping stays readable.
        var rows = Enumerable.Range(0, s).Where(i => Enumerable.Range(0, t).Any(j => m[i, j] > 1e-3)).ToArray();
        var heat = new Trace("heatmap");
        heat.SetProperty("z", rows.Select(i => Enumerable.Range(0, t).Select(j => (double)m[i, j]).ToArray()).ToArray());
        heat.SetProperty("x", ChartText.E(result.TargetLabels));
        heat.SetProperty("y", ChartText.E(rows.Select(i => source[i])));
        heat.SetProperty("colorscale", "Blues");
        heat.SetProperty("hovertemplate", "target %{x} ← source %{y}: %{z:.3f}<extra></extra>");
        var layout = new Layout();
        layout.SetProperty("title", new Dictionary<string, object> { ["text"] = $"Label mapping ({ChartText.E(result.Main.Alignment)}): target classes (columns) from source classes (rows)" });
        layout.SetProperty("xaxis", new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = "target class" }, ["tickangle"] = -30 });
        layout.SetProperty("yaxis", new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = "source class" }, ["autorange"] = "reversed" });
        layout.SetProperty("height", Math.Max(320, 24 * rows.Length + 140));
        layout.SetProperty("margin", new Dictionary<string, object> { ["l"] = 140 });
        return GenericChart.setLayout(layout, GenericChart.ofTraceObject(true, heat));
    }

    /// <summary>A metric against a swept setting (e.g. test accuracy against the number of virtual tokens).</summary>
    public static GenericChart Sweep(string title, string xTitle, IEnumerable<(double X, ExperimentResult Result)> points, string metric = "test accuracy")
    {
        var rows = points.OrderBy(p => p.X).ToArray();
        var trace = Line(metric, rows.Select(p => p.X), rows.Select(p => (p.Result.Metric(metric) ?? double.NaN) * 100), Colours[1], "x", "y", true);
        trace.SetProperty("mode", "lines+markers");
        var layout = new Layout();
        layout.SetProperty("title", new Dictionary<string, object> { ["text"] = title });
        layout.SetProperty("xaxis", new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = xTitle }, ["type"] = "log" });
        layout.SetProperty("yaxis", new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = metric + " (%)" } });
        layout.SetProperty("height", 340);
        return GenericChart.setLayout(layout, GenericChart.ofTraceObject(true, trace));
    }

    /// <summary>One bar per setting: the mean of its per-seed values (fractions, drawn as %) with ± one sd.</summary>
    public static GenericChart Bars(string title, IEnumerable<(string Name, IReadOnlyList<double> PerSeed)> bars, string metric = "test accuracy")
    {
        var rows = bars.ToArray();
        if (rows.Length == 0 || rows.Any(r => r.PerSeed.Count == 0))
            throw new ArgumentException("Bars needs at least one bar, each with at least one value.");
        var t = new Trace("bar");
        t.SetProperty("x", ChartText.E(rows.Select(r => r.Name)));
        t.SetProperty("y", rows.Select(r => r.PerSeed.Average() * 100).ToArray());
        t.SetProperty("error_y", new Dictionary<string, object>
        {
            ["type"] = "data", ["visible"] = true,
            ["array"] = rows.Select(r => Statistics.StandardDeviation(r.PerSeed) * 100).ToArray(),
        });
        t.SetProperty("marker", new Dictionary<string, object> { ["color"] = Colours[1] });
        t.SetProperty("hovertemplate", "%{x}: %{y:.1f}%<extra></extra>");
        var layout = new Layout();
        layout.SetProperty("title", new Dictionary<string, object> { ["text"] = title });
        layout.SetProperty("yaxis", new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = metric + " (%)" }, ["range"] = new[] { 0, 105 } });
        layout.SetProperty("height", 340);
        return GenericChart.setLayout(layout, GenericChart.ofTraceObject(true, t));
    }

    private static Trace Line(string name, IEnumerable<double> x, IEnumerable<double> y, string colour, string xaxis, string yaxis, bool legend)
    {
        var t = new Trace("scatter");
        t.SetProperty("mode", "lines");
        t.SetProperty("name", name);
        t.SetProperty("legendgroup", name);
        t.SetProperty("showlegend", legend);
        t.SetProperty("x", x.ToArray());
        t.SetProperty("y", y.ToArray());
        t.SetProperty("line", new Dictionary<string, object> { ["color"] = colour });
        t.SetProperty("xaxis", xaxis);
        t.SetProperty("yaxis", yaxis);
        return t;
    }

    private static Dictionary<string, object> Axis(string title, double[]? domain, string anchor)
    {
        var axis = new Dictionary<string, object> { ["title"] = new Dictionary<string, object> { ["text"] = title }, ["anchor"] = anchor };
        if (domain is not null) axis["domain"] = domain;
        return axis;
    }
}
