using Plotly.NET;

namespace Reprogram.Interactive.Charts;

/// <summary>Renders Plotly.NET and XPlot.Plotly charts as offline HTML.</summary>
public static class ChartHtml
{
    public static string Render(GenericChart chart)
    {
        var id = NewId();
        var figureJson = ChartText.ScriptSafeJson(GenericChart.toFigureJson(chart));
        var (width, height) = SizeOf(chart);
        var draw = $"var fig = {figureJson}; Plotly.newPlot(el, fig.data, fig.layout, {{responsive: true, displaylogo: false}});";
        return PlotlyJs.Figure(id, draw, width, height);
    }

    /// <summary>XPlot.Plotly has no notebook formatter of its own; its plotting script runs here once plotly.js is there.</summary>
    public static string Render(XPlot.Plotly.PlotlyChart chart)
    {
        // XPlot's script targets the chart's own id, so the div keeps it.
        var width = chart.Width > 0 ? chart.Width : (int?)null;
        var height = chart.Height > 0 ? chart.Height : (int?)null;
        return PlotlyJs.Figure(chart.Id, ChartText.ScriptSafeJs(chart.GetPlottingJS()), width, height);
    }

    private static (int? Width, int? Height) SizeOf(GenericChart chart)
    {
        var layout = GenericChart.getLayout(chart);
        int? Read(string name) => layout.TryGetPropertyValue(name) is { } v && v.Value is int i ? i : null;
        return (Read("width"), Read("height"));
    }

    private static string NewId() => "rp-chart-" + Guid.NewGuid().ToString("N")[..12];
}
