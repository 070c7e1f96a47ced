using System.Globalization;

namespace Reprogram.Taxonomy;

/// <summary>
/// The words the survey uses for each coordinate value, and the parser that turns a user's words back
/// into values. Parsing ignores case, spaces, hyphens and underscores, and accepts a few aliases
/// (e.g. "structural" for rule-based, which another summary of the survey uses).
/// </summary>
public static class TaxonomyNames
{
    public static string Of(Format v) => v switch
    {
        Format.Fixed => "Fixed",
        Format.Learnable => "Learnable",
        _ => v.ToString(),
    };

    public static string Of(Location v) => v.ToString();

    public static string Of(Operator v) => v.ToString();

    public static string Of(OutputAlignment v) => v switch
    {
        OutputAlignment.RuleBased => "Rule-based",
        _ => v.ToString(),
    };

    public static string Of(Paradigm v) => v switch
    {
        Paradigm.ModelReprogramming => "Model reprogramming",
        Paradigm.PromptTuning => "Prompt tuning",
        Paradigm.PromptInstruction => "Prompt instruction",
        _ => v.ToString(),
    };

    public static string Of(Modality v) => v switch
    {
        Modality.TimeSeries => "Time series",
        Modality.VisionLanguage => "Vision-language",
        _ => v.ToString(),
    };

    public static string Of(Dimension v) => v switch
    {
        Dimension.Alignment => "Output alignment",
        _ => v.ToString(),
    };

    /// <summary>The symbol of a dimension in the survey's formula.</summary>
    public static string SymbolOf(Dimension v) => v switch
    {
        Dimension.Format => "λ",
        Dimension.Location => "l",
        Dimension.Operator => "τ",
        Dimension.Alignment => "ω",
        _ => "",
    };

    /// <summary>The value words a user can type for a dimension, in the survey's order.</summary>
    public static IReadOnlyList<string> AllowedValues(Dimension dimension) => dimension switch
    {
        Dimension.Paradigm => Enum.GetValues<Paradigm>().Select(Of).ToArray(),
        Dimension.Format => Enum.GetValues<Format>().Select(Of).ToArray(),
        Dimension.Location => Enum.GetValues<Location>().Select(Of).ToArray(),
        Dimension.Operator => Enum.GetValues<Operator>().Select(Of).ToArray(),
        Dimension.Alignment => Enum.GetValues<OutputAlignment>().Select(Of).ToArray(),
        Dimension.Modality => Enum.GetValues<Modality>().Select(Of).ToArray(),
        _ => [],
    };

    /// <summary>Completion words for a dimension: lower-case, hyphenated, as typed in a magic command.</summary>
    public static IReadOnlyList<string> CompletionValues(Dimension dimension) =>
        AllowedValues(dimension).Select(ToOptionWord).ToArray();

    public static string ToOptionWord(string displayName) =>
        displayName.ToLowerInvariant().Replace(' ', '-');

    public static Format ParseFormat(string text) => Parse<Format>(Dimension.Format, text);
    public static Location ParseLocation(string text) => Parse<Location>(Dimension.Location, text);
    public static Operator ParseOperator(string text) => Parse<Operator>(Dimension.Operator, text);
    public static OutputAlignment ParseAlignment(string text) => Parse<OutputAlignment>(Dimension.Alignment, text);
    public static Paradigm ParseParadigm(string text) => Parse<Paradigm>(Dimension.Paradigm, text);
    public static Modality ParseModality(string text) => Parse<Modality>(Dimension.Modality, text);

    /// <summary>Parses one value of a dimension, as its enum's integer value.</summary>
    public static int ParseValue(Dimension dimension, string text) => dimension switch
    {
        Dimension.Paradigm => (int)ParseParadigm(text),
        Dimension.Format => (int)ParseFormat(text),
        Dimension.Location => (int)ParseLocation(text),
        Dimension.Operator => (int)ParseOperator(text),
        Dimension.Alignment => (int)ParseAlignment(text),
        Dimension.Modality => (int)ParseModality(text),
        _ => throw new ArgumentOutOfRangeException(nameof(dimension)),
    };

    public static Dimension ParseDimension(string text)
    {
        var key = Normalise(text);
        foreach (var d in Enum.GetValues<Dimension>())
        {
            if (Normalise(d.ToString()) == key || Normalise(Of(d)) == key) return d;
        }
        if (key is "outputalignment" or "omega") return Dimension.Alignment;
        if (key is "lambda") return Dimension.Format;
        if (key is "tau") return Dimension.Operator;
        throw new TaxonomyException(
            $"'{text}' is not a dimension of the taxonomy. Allowed: {string.Join(", ", Enum.GetValues<Dimension>().Select(d => ToOptionWord(d.ToString())))}.");
    }

    // Values that the authors' meta file mentions but the survey's main table does not use.
    private static readonly Dictionary<string, string> OutsideMainTable = new()
    {
        ["both"] = "the hybrid format \"Both\" appears only in the authors' meta file, not in the survey's main table; declare the learnable part (Learnable) and describe the fixed part",
        ["output"] = "an \"Output\" location appears only in the authors' meta file; manipulating outputs is what the output alignment (omega) describes",
        ["replacement"] = "the \"Replacement\" operator appears only in the authors' meta file; a replacement of the input is an Additive delta (x + (x' - x)) or a Parametric transform",
    };

    private static T Parse<T>(Dimension dimension, string text) where T : struct, Enum
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new TaxonomyException($"A value for {Of(dimension).ToLowerInvariant()} is missing. Allowed: {string.Join(", ", AllowedValues(dimension))}.");
        }
        var key = Normalise(text);
        foreach (var value in Enum.GetValues<T>())
        {
            if (Normalise(value.ToString()) == key || Normalise(DisplayOf(value)) == key) return value;
        }
        var alias = (dimension, key) switch
        {
            (Dimension.Alignment, "structural" or "rule" or "rules" or "verbalizer") => "RuleBased",
            (Dimension.Alignment, "none") => "Identity",
            (Dimension.Alignment, "labelmapping" or "counting") => "Statistical",
            (Dimension.Alignment, "head" or "linearhead") => "Linear",
            (Dimension.Format, "learned" or "trainable" or "soft") => "Learnable",
            (Dimension.Format, "hard" or "handwritten" or "discrete") => "Fixed",
            (Dimension.Operator, "concat" or "concatenation") => "Concatenative",
            (Dimension.Operator, "add" or "addition") => "Additive",
            (Dimension.Paradigm, "mr" or "reprogramming") => "ModelReprogramming",
            (Dimension.Paradigm, "pt") => "PromptTuning",
            (Dimension.Paradigm, "pi" or "instruction" or "prompting") => "PromptInstruction",
            _ => null,
        };
        if (alias is not null) return Enum.Parse<T>(alias);

        var why = OutsideMainTable.TryGetValue(key, out var reason) ? $" ({reason})" : "";
        throw new TaxonomyException(
            $"'{text}' is not a {Of(dimension).ToLowerInvariant()} value in the survey's taxonomy{why}. Allowed: {string.Join(", ", AllowedValues(dimension))}.");
    }

    private static string DisplayOf<T>(T value) where T : struct, Enum => value switch
    {
        Format f => Of(f),
        Location l => Of(l),
        Operator o => Of(o),
        OutputAlignment a => Of(a),
        Paradigm p => Of(p),
        Modality m => Of(m),
        _ => value.ToString(),
    };

    private static string Normalise(string text) =>
        new string(text.Where(c => !char.IsWhiteSpace(c) && c is not '-' and not '_' and not '.').ToArray())
            .ToLower(CultureInfo.InvariantCulture);
}

/// <summary>A declaration or query that does not fit the taxonomy. The message names the allowed values.</summary>
public sealed class TaxonomyException(string message) : ArgumentException(message);
