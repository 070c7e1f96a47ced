using Microsoft.DotNet.Interactive.Directives;
using Reprogram.Data;

namespace Reprogram.Interactive.Directives;

/// <summary>
/// The options that say how a user's text file is read, shared by <c>#!soft-prompt</c>, <c>#!icl</c> and <c>#!cot</c>:
/// <c>--text-column</c>, <c>--label-column</c> and <c>--label-words negative=bad,positive=good</c>.
/// </summary>
internal static class TextDataParameters
{
    public static IEnumerable<KernelDirectiveParameter> Create() =>
    [
        new KernelDirectiveParameter("--text-column", "The column (CSV/TSV header) or JSONL key that holds the text, for a --task file. Default text."),
        new KernelDirectiveParameter("--label-column", "The column or JSONL key that holds the class label, for a --task file. Default label."),
        new KernelDirectiveParameter("--label-words", "The word a language model reads and scores for each class, e.g. negative=bad,positive=good " +
                                                      "(one per class; default: the class names)."),
    ];

    /// <summary>The bound values (null: not given), checked, as the core's options.</summary>
    public static TextDataOptions ToOptions(string? textColumn, string? labelColumn, string? labelWords, TextDataOptions defaults) =>
        textColumn is null && labelColumn is null && labelWords is null
            ? defaults
            : TextDataOptions.From(textColumn ?? defaults.TextColumn, labelColumn ?? defaults.LabelColumn, labelWords ?? defaults.LabelWords?.ToString());
}

internal static class DirectiveParameterExtensions
{
    /// <summary>Adds parameters to a directive built with an object initializer.</summary>
    public static KernelActionDirective WithParameters(this KernelActionDirective directive, IEnumerable<KernelDirectiveParameter> parameters)
    {
        foreach (var p in parameters) directive.Parameters.Add(p);
        return directive;
    }
}
