using Reprogram.Taxonomy;

namespace Reprogram.Manipulations;

/// <summary>One labelled example shown in a prompt.</summary>
public sealed record Demonstration(string Input, string Label, string? Rationale = null);

/// <summary>
/// A fixed, hand-written manipulation of the input (prompt instruction): an instruction, demonstrations in a format,
/// a separator, and the query in its format, concatenated as text. Placeholders: {input}, {label}, {rationale}.
/// </summary>
public sealed record PromptTemplate(
    string Instruction = "",
    string DemonstrationFormat = "Input: {input}\nOutput: {label}",
    string Separator = "\n\n",
    string QueryFormat = "Input: {input}\nOutput:") : IManipulation
{
    public string Name => "prompt template with demonstrations";
    public Format Format => Format.Fixed;
    public Location Location => Location.Input;
    public Operator Operator => Operator.Concatenative;
    public long TrainableParameters => 0;

    /// <summary>The prompt text for a query: instruction, each demonstration, then the query, joined by the separator.</summary>
    public string Render(IEnumerable<Demonstration> demonstrations, string query)
    {
        var parts = new List<string>();
        if (!string.IsNullOrEmpty(Instruction)) parts.Add(Instruction);
        parts.AddRange(demonstrations.Select(d => Fill(DemonstrationFormat, d.Input, d.Label, d.Rationale)));
        parts.Add(Fill(QueryFormat, query, "", null));
        return string.Join(Separator, parts);
    }

    /// <summary>The part shared by every query with the same demonstrations (what a key/value cache can reuse).</summary>
    public string SharedPrefix(IEnumerable<Demonstration> demonstrations)
    {
        var full = Render(demonstrations, "\u0000");
        return full[..full.IndexOf(Fill(QueryFormat, "\u0000", "", null), StringComparison.Ordinal)];
    }

    /// <summary>
    /// The text an answer adds after a query's prompt: the demonstration format filled with the label, less the query
    /// format ("Label: {label}" after "Label:" gives " positive"); just the label when the formats do not line up.
    /// </summary>
    public string AnswerText(string input, string label)
    {
        var demonstration = Fill(DemonstrationFormat, input, label, null);
        var query = Fill(QueryFormat, input, "", null);
        return demonstration.StartsWith(query, StringComparison.Ordinal) && demonstration.Length > query.Length ? demonstration[query.Length..] : label;
    }

    /// <summary>Fills {input}, {label} and {rationale}.</summary>
    public static string Fill(string format, string input, string label, string? rationale) =>
        format.Replace("{input}", input).Replace("{label}", label).Replace("{rationale}", rationale ?? "");
}
