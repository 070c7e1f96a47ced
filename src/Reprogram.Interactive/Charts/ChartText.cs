namespace Reprogram.Interactive.Charts;

/// <summary>
/// Text for Plotly, which draws titles, trace names, tick labels and hover labels as a subset of HTML (&lt;b&gt;, &lt;br&gt;,
/// &lt;a href&gt;, ...) and decodes the entities &amp;amp; &amp;lt; &amp;gt; and &amp;#N;. Data that reaches a chart (model paths,
/// class names from an image folder or a CSV file, label words, setting names with a user's trigger or template) goes
/// through <see cref="E(string?)"/>, so it is drawn as the characters it is and never as markup.
/// </summary>
public static class ChartText
{
    public static string E(string? text) =>
        string.IsNullOrEmpty(text) ? "" : text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");

    public static string[] E(IEnumerable<string> texts) => texts.Select(t => E(t)).ToArray();

    /// <summary>
    /// A figure's JSON made safe inside a &lt;script&gt; element: JSON has '&lt;' only inside strings, where \u003c is the
    /// same character, so no "&lt;/script&gt;" or "&lt;!--" in the data can end or change the script.
    /// </summary>
    public static string ScriptSafeJson(string json) => json.Replace("<", "\\u003c");

    /// <summary>
    /// Generated plotting JavaScript (XPlot) made safe inside a &lt;script&gt; element: "&lt;/" and "&lt;!--" only occur in its
    /// string data, where "&lt;\/" and "&lt;\!--" are the same characters.
    /// </summary>
    public static string ScriptSafeJs(string js) => js.Replace("</", "<\\/").Replace("<!--", "<\\!--");
}
