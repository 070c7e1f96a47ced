using Microsoft.DotNet.Interactive.Directives;
using Reprogram.Taxonomy;

namespace Reprogram.Interactive.Directives;

/// <summary>Shared pieces of the magic commands: parameters for the taxonomy's dimensions, and value lists.</summary>
internal static class DirectiveValues
{
    /// <summary>Splits "input, embedding" or "input embedding" into values; empty for null.</summary>
    public static string[] List(string? text) =>
        string.IsNullOrWhiteSpace(text)
            ? []
            : text.Split([',', ';', '|'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static KernelDirectiveParameter DimensionParameter(Dimension dimension, string description, bool required = false) =>
        new KernelDirectiveParameter("--" + OptionName(dimension), description)
        {
            Required = required,
        }.AddCompletions(() => TaxonomyNames.CompletionValues(dimension));

    public static string OptionName(Dimension dimension) => dimension.ToString().ToLowerInvariant();

    public static string Allowed(Dimension dimension) => string.Join(", ", TaxonomyNames.CompletionValues(dimension));
}
