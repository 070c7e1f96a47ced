using System.Text.RegularExpressions;

namespace Reprogram.Taxonomy;

/// <summary>
/// A manipulation a researcher declares by its four coordinates: the input manipulation's format,
/// location and operator, and the output alignment. Declaring one checks it against the taxonomy;
/// <see cref="Catalog.NeighboursOf"/> places it among published methods.
/// </summary>
public sealed partial record Manipulation
{
    public string Name { get; }
    public Coordinates Coordinates { get; }
    public Paradigm Paradigm { get; }
    public string? Description { get; }

    public Format Format => Coordinates.Format;
    public Location Location => Coordinates.Location;
    public Operator Operator => Coordinates.Operator;
    public OutputAlignment Alignment => Coordinates.Alignment;

    /// <summary>
    /// Declares a manipulation. The paradigm, if not given, is the typical one for the coordinates;
    /// a given paradigm must agree with the format (prompt instruction is fixed, the other two are learned).
    /// </summary>
    public Manipulation(string name, Format format, Location location, Operator @operator, OutputAlignment alignment,
                        string? description = null, Paradigm? paradigm = null)
    {
        if (string.IsNullOrWhiteSpace(name) || !IdentifierPattern().IsMatch(name))
        {
            throw new TaxonomyException(
                $"'{name}' cannot name a manipulation: use letters, digits and underscores, starting with a letter or underscore " +
                "(it becomes a C# variable), e.g. my_padding_prompt.");
        }
        var coordinates = new Coordinates(format, location, @operator, alignment);
        var problems = coordinates.Contradictions().ToList();
        if (paradigm is { } p)
        {
            var expected = p == Paradigm.PromptInstruction ? Format.Fixed : Format.Learnable;
            if (format != expected)
            {
                problems.Add($"{TaxonomyNames.Of(p)} manipulations have a {TaxonomyNames.Of(expected)} format, " +
                             $"but this one is {TaxonomyNames.Of(format)}");
            }
        }
        if (problems.Count > 0)
        {
            throw new TaxonomyException($"Manipulation '{name}' ({coordinates}) contradicts the taxonomy: {string.Join("; ", problems)}.");
        }
        Name = name;
        Coordinates = coordinates;
        Paradigm = paradigm ?? coordinates.TypicalParadigm;
        Description = string.IsNullOrWhiteSpace(description) ? null : description.Trim();
    }

    /// <summary>Declares a manipulation from words, as typed in a notebook; every bad value is reported with the allowed ones.</summary>
    public static Manipulation Parse(string name, string format, string location, string @operator, string alignment,
                                     string? description = null, string? paradigm = null)
    {
        var errors = new List<string>();
        T Try<T>(Func<T> parse, T fallback)
        {
            try { return parse(); }
            catch (TaxonomyException e) { errors.Add(e.Message); return fallback; }
        }
        var f = Try(() => TaxonomyNames.ParseFormat(format), default);
        var l = Try(() => TaxonomyNames.ParseLocation(location), default);
        var o = Try(() => TaxonomyNames.ParseOperator(@operator), default);
        var a = Try(() => TaxonomyNames.ParseAlignment(alignment), default);
        Paradigm? p = string.IsNullOrWhiteSpace(paradigm) ? null : Try<Paradigm?>(() => TaxonomyNames.ParseParadigm(paradigm), null);
        if (errors.Count > 0) throw new TaxonomyException(string.Join(Environment.NewLine, errors));
        return new Manipulation(name, f, l, o, a, description, p);
    }

    /// <summary>Published methods at the same coordinates, and those one dimension away.</summary>
    public Neighbours Neighbours() => Catalog.NeighboursOf(Coordinates);

    public override string ToString() => $"{Name}: {Coordinates} ({TaxonomyNames.Of(Paradigm)})";

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex IdentifierPattern();
}
