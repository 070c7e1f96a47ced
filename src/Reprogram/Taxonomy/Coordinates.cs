namespace Reprogram.Taxonomy;

/// <summary>
/// One point in the taxonomy: the input manipulation's format, location and operator, and the output alignment.
/// </summary>
public sealed record Coordinates(Format Format, Location Location, Operator Operator, OutputAlignment Alignment)
{
    /// <summary>
    /// Checks the combinations the formulation rules out, and says why.
    /// A parametric operator is a learned transform g(x): with a Fixed format there is nothing to learn.
    /// </summary>
    public IReadOnlyList<string> Contradictions()
    {
        var problems = new List<string>();
        if (Format == Format.Fixed && Operator == Operator.Parametric)
        {
            problems.Add("a Parametric operator is a learned transform g(x), so it needs a Learnable format " +
                         "(a fixed manipulation is Additive, e.g. a drawn mark, or Concatenative, e.g. a template)");
        }
        return problems;
    }

    /// <summary>
    /// The paradigm these coordinates typically belong to, following the authors' list of typical values:
    /// fixed manipulations are prompt instruction; learned concatenation in embedding or hidden space is prompt tuning;
    /// other learned manipulations of inputs or embeddings are model reprogramming.
    /// </summary>
    public Paradigm TypicalParadigm => (Format, Location, Operator) switch
    {
        (Format.Fixed, _, _) => Paradigm.PromptInstruction,
        (Format.Learnable, Location.Embedding or Location.Hidden, Operator.Concatenative) => Paradigm.PromptTuning,
        (Format.Learnable, Location.Hidden, _) => Paradigm.PromptTuning,
        _ => Paradigm.ModelReprogramming,
    };

    public object Value(Dimension dimension) => dimension switch
    {
        Dimension.Format => Format,
        Dimension.Location => Location,
        Dimension.Operator => Operator,
        Dimension.Alignment => Alignment,
        Dimension.Paradigm => TypicalParadigm,
        _ => throw new ArgumentOutOfRangeException(nameof(dimension), $"{dimension} is not a coordinate."),
    };

    public static IReadOnlyList<Dimension> Dimensions { get; } =
        [Dimension.Format, Dimension.Location, Dimension.Operator, Dimension.Alignment];

    public override string ToString() =>
        $"{TaxonomyNames.Of(Format)} · {TaxonomyNames.Of(Location)} · {TaxonomyNames.Of(Operator)} · {TaxonomyNames.Of(Alignment)}";
}
