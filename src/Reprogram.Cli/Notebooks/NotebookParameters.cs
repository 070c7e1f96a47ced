using System.Globalization;
using Microsoft.DotNet.Interactive.Documents;

namespace Reprogram.Cli.Notebooks;

/// <summary>
/// Papermill-style parameters: a notebook marks one cell as its parameters cell (a cell tagged "parameters" in
/// .ipynb metadata, or whose first line is <c>// parameters</c>); the runner inserts a cell right after it that
/// re-declares the given values, so a smaller-settings run changes no file.
/// </summary>
public static class NotebookParameters
{
    public const string Marker = "// parameters";

    public static bool IsParametersCell(InteractiveDocumentElement element)
    {
        if (element.Contents.TrimStart().StartsWith(Marker, StringComparison.OrdinalIgnoreCase)) return true;
        return element.Metadata is { } metadata &&
               metadata.TryGetValue("tags", out var tags) &&
               tags is IEnumerable<object> list && list.Any(t => string.Equals(t?.ToString(), "parameters", StringComparison.Ordinal));
    }

    /// <summary>The C# cell that declares the values. Numbers and booleans stay literals; anything else becomes a string.</summary>
    public static string ToCSharp(IReadOnlyDictionary<string, string> values)
    {
        var lines = new List<string> { "// injected parameters" };
        foreach (var (name, value) in values)
        {
            if (!System.Text.RegularExpressions.Regex.IsMatch(name, "^[A-Za-z_][A-Za-z0-9_]*$"))
            {
                throw new ArgumentException($"Parameter name '{name}' is not a C# identifier.");
            }
            lines.Add($"var {name} = {Literal(value)};");
        }
        return string.Join("\n", lines);
    }

    private static string Literal(string value)
    {
        if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)) return l.ToString(CultureInfo.InvariantCulture);
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && value.Contains('.'))
            return d.ToString("R", CultureInfo.InvariantCulture);
        if (value is "true" or "false") return value;
        return "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n") + "\"";
    }

    /// <summary>Parses "name=value" pairs from the command line.</summary>
    public static IReadOnlyDictionary<string, string> Parse(IEnumerable<string> pairs)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"Parameter '{pair}' must look like name=value.");
            result[pair[..eq].Trim()] = pair[(eq + 1)..];
        }
        return result;
    }
}
