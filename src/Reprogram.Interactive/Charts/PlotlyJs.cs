using System.Text;

namespace Reprogram.Interactive.Charts;

/// <summary>
/// Offline plotly.js. A notebook gets the library once per kernel, inlined from the copy that Plotly.NET embeds in
/// its assembly, never from a CDN; every chart then waits for <c>window.Plotly</c>. Outside a kernel (a console
/// program writing HTML) every chart carries the library, so each page stands alone.
/// </summary>
public static class PlotlyJs
{
    private static readonly Lazy<string> Source = new(ReadEmbeddedPlotly);
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> EmittedTo = new();

    /// <summary>The plotly.js version that charts use (the one Plotly.NET ships).</summary>
    public static string Version { get; } = Globals.PLOTLYJS_VERSION;

    /// <summary>
    /// Makes the next chart carry plotly.js again: for a front end that lost the output that first loaded it
    /// (e.g. after clearing all outputs).
    /// </summary>
    public static void Reset() => EmittedTo.Clear();

    /// <summary>The loader script the first time a kernel asks for it; empty afterwards.</summary>
    internal static string LoaderOnce()
    {
        var kernel = Microsoft.DotNet.Interactive.KernelInvocationContext.Current?.HandlingKernel?.RootKernel;
        return kernel is null || EmittedTo.TryAdd(kernel, kernel) ? Loader() : "";
    }

    /// <summary>
    /// plotly.js as a script that always defines <c>window.Plotly</c>. Jupyter front ends have require.js, whose
    /// <c>define</c> would make plotly.js register as an AMD module instead, so it is hidden while the library runs.
    /// </summary>
    public static string Loader()
    {
        var sb = new StringBuilder(Source.Value.Length + 400);
        sb.Append("<script type=\"text/javascript\">/* plotly.js ").Append(Version).Append(", embedded for offline use */\n");
        sb.Append("(function(){ if (window.Plotly) return; var _define = window.define; window.define = undefined; try {\n");
        sb.Append(Source.Value.Replace("</script", "<\\/script", StringComparison.OrdinalIgnoreCase));
        sb.Append("\n} finally { window.define = _define; } })();</script>");
        return sb.ToString();
    }

    /// <summary>A div and a script that draws into it once plotly.js is there.</summary>
    internal static string Figure(string divId, string drawJs, int? width, int? height)
    {
        var size = $"width: {(width is { } w ? $"{w}px" : "100%")}; height: {height ?? 460}px;";
        return LoaderOnce() +
               $"<div id=\"{divId}\" class=\"rp-plotly\" style=\"{size}\"></div>\n" +
               "<script type=\"text/javascript\">(function(){ var tries = 0; function draw(){ " +
               $"var el = document.getElementById('{divId}'); if (!el) return; " +
               "if (window.Plotly) { " + drawJs + " } " +
               "else if (++tries < 200) { setTimeout(draw, 50); } " +
               "else { el.innerText = 'plotly.js is not loaded in this page: run Reprogram.Interactive.Charts.PlotlyJs.Reset() and display the chart again.'; } } draw(); })();</script>";
    }

    private static string ReadEmbeddedPlotly()
    {
        var assembly = typeof(Plotly.NET.GenericChart).Assembly;
        var name = assembly.GetManifestResourceNames()
                       .FirstOrDefault(n => n.StartsWith("Plotly.NET.plotly-", StringComparison.Ordinal) && n.EndsWith(".min.js", StringComparison.Ordinal))
                   ?? throw new InvalidOperationException("Plotly.NET does not embed plotly.js in this version; charts cannot render offline.");
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
