using Microsoft.DotNet.Interactive.Events;

namespace Reprogram.Interactive.Tests;

public class ChartFormatterTests : KernelTestBase
{
    [Fact]
    public async Task XPlot_charts_render_offline()
    {
        await SubmitOk($"#r \"{typeof(XPlot.Plotly.PlotlyChart).Assembly.Location}\"");
        var result = await SubmitOk("XPlot.Plotly.Chart.Line(new[] { 1.0, 4.0, 9.0 })");
        var html = result.Events.OfType<ReturnValueProduced>().Single().FormattedValues.Single(v => v.MimeType == "text/html").Value;
        Assert.Contains("Plotly.newPlot", html);
        Assert.Contains("embedded for offline use", html);
        Assert.DoesNotContain("src=\"https://cdn.plot.ly", html);
    }

    [Fact]
    public async Task PlotlyNet_charts_render_offline_and_carry_plotly_once()
    {
        await SubmitOk($"#r \"{typeof(Plotly.NET.GenericChart).Assembly.Location}\"");
        var code = """
            var t = new Plotly.NET.Trace("scatter");
            t.SetProperty("x", new[] { 1, 2, 3 });
            t.SetProperty("y", new[] { 2, 4, 8 });
            Plotly.NET.GenericChart.ofTraceObject(true, t)
            """;
        var first = (await SubmitOk(code)).Events.OfType<ReturnValueProduced>().Single().FormattedValues.Single(v => v.MimeType == "text/html").Value;
        var second = (await SubmitOk(code)).Events.OfType<ReturnValueProduced>().Single().FormattedValues.Single(v => v.MimeType == "text/html").Value;
        Assert.Contains("embedded for offline use", first);
        Assert.Contains("\"y\":[2,4,8]", first);
        Assert.DoesNotContain("embedded for offline use", second);
        Assert.Contains("Plotly.newPlot", second);
    }
}
