namespace Reprogram.Taxonomy;

/// <summary>
/// A published method and where it sits in the taxonomy. A dimension can hold more than one value
/// where the method has variants (VPT-shallow / VPT-deep) or the authors list alternatives.
/// </summary>
public sealed record PublishedMethod
{
    public required string Name { get; init; }
    /// <summary>Authors as cited: "Lester, Al-Rfou, Constant" or "Chen et al.".</summary>
    public required string Authors { get; init; }
    public required string Venue { get; init; }
    public required int Year { get; init; }
    public required string ArXivId { get; init; }
    public string? Title { get; init; }
    public required Modality Modality { get; init; }
    /// <summary>The modality as the catalog words it (e.g. "time series via audio model").</summary>
    public required string ModalityDetail { get; init; }
    public required Paradigm Paradigm { get; init; }
    public required IReadOnlyList<Format> Formats { get; init; }
    public required IReadOnlyList<Location> Locations { get; init; }
    public required IReadOnlyList<Operator> Operators { get; init; }
    public required IReadOnlyList<OutputAlignment> Alignments { get; init; }
    /// <summary>Where the method's own paper overrides the authors' list, or other caveats.</summary>
    public string? Note { get; init; }

    public string ArXivUrl => $"https://arxiv.org/abs/{ArXivId}";

    public string Citation => $"{Authors} ({Venue} {Year})";

    /// <summary>Whether the method has this value in the given dimension.</summary>
    public bool Has(Dimension dimension, int value) => dimension switch
    {
        Dimension.Paradigm => (int)Paradigm == value,
        Dimension.Modality => (int)Modality == value,
        Dimension.Format => Formats.Any(v => (int)v == value),
        Dimension.Location => Locations.Any(v => (int)v == value),
        Dimension.Operator => Operators.Any(v => (int)v == value),
        Dimension.Alignment => Alignments.Any(v => (int)v == value),
        _ => false,
    };

    /// <summary>The values of one dimension, as display words.</summary>
    public IReadOnlyList<string> ValuesOf(Dimension dimension) => dimension switch
    {
        Dimension.Paradigm => [TaxonomyNames.Of(Paradigm)],
        Dimension.Modality => [TaxonomyNames.Of(Modality)],
        Dimension.Format => Formats.Select(TaxonomyNames.Of).ToArray(),
        Dimension.Location => Locations.Select(TaxonomyNames.Of).ToArray(),
        Dimension.Operator => Operators.Select(TaxonomyNames.Of).ToArray(),
        Dimension.Alignment => Alignments.Select(TaxonomyNames.Of).ToArray(),
        _ => [],
    };

    public string Describe(Dimension dimension) => string.Join(" / ", ValuesOf(dimension));

    /// <summary>The coordinate dimensions in which the given point lies outside this method's values.</summary>
    public IReadOnlyList<Dimension> DifferingDimensions(Coordinates point) =>
        Coordinates.Dimensions.Where(d => !Has(d, Convert.ToInt32(point.Value(d)))).ToArray();

    public override string ToString() => $"{Name}: {string.Join(" · ", Coordinates.Dimensions.Select(Describe))}";
}
