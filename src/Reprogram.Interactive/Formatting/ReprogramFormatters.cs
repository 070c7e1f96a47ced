using Microsoft.DotNet.Interactive.Formatting;
using Reprogram.Interactive.Charts;
using Reprogram.Interactive.Formatting;
using Reprogram.Taxonomy;

namespace Reprogram.Interactive;

/// <summary>Registers the HTML formatters of every type the extension shows.</summary>
public static class ReprogramFormatters
{
    public static void Register()
    {
        const string html = HtmlFormatter.MimeType;
        Formatter.Register<CatalogView>((v, w) => w.Write(TaxonomyHtml.Catalog(v)), html);
        Formatter.Register<PublishedMethod>((m, w) => w.Write(TaxonomyHtml.Method(m)), html);
        Formatter.Register<Manipulation>((m, w) => w.Write(TaxonomyHtml.Manipulation(m)), html);
        Formatter.Register<Directives.DeviceReport>((r, w) => w.Write(RuntimeHtml.Device(r)), html);
        RegisterCharts(html);
    }

    // Separate method: the JIT loads Plotly.NET (and so FSharp.Core) only when this runs, after the resolver is installed.
    private static void RegisterCharts(string html)
    {
        Formatter.Register<Plotly.NET.GenericChart>((c, w) => w.Write(ChartHtml.Render(c)), html);
        Formatter.Register<XPlot.Plotly.PlotlyChart>((c, w) => w.Write(ChartHtml.Render(c)), html);
    }
}
