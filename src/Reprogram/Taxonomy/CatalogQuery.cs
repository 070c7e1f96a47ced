namespace Reprogram.Taxonomy;

/// <summary>The columns of the catalog that a view can be sorted or grouped by.</summary>
public enum CatalogColumn
{
    Name,
    Year,
    Venue,
    Paradigm,
    Format,
    Location,
    Operator,
    Alignment,
    Modality,
}

/// <summary>
/// An immutable query over the catalog: values within one dimension are alternatives (OR),
/// different dimensions must all match (AND).
/// </summary>
public sealed record CatalogQuery
{
    private readonly IReadOnlyList<PublishedMethod> _source;

    internal CatalogQuery(IReadOnlyList<PublishedMethod> source) => _source = source;

    public IReadOnlyDictionary<Dimension, IReadOnlyList<int>> Filters { get; private init; } =
        new Dictionary<Dimension, IReadOnlyList<int>>();

    public string? Text { get; private init; }
    public CatalogColumn? GroupBy { get; private init; }
    public CatalogColumn SortBy { get; private init; } = CatalogColumn.Paradigm;
    public bool Descending { get; private init; }

    public CatalogQuery Where(Dimension dimension, params string[] values) =>
        Where(dimension, values.Select(v => TaxonomyNames.ParseValue(dimension, v)).ToArray());

    public CatalogQuery Where(Dimension dimension, params int[] values)
    {
        if (values.Length == 0) return this;
        var filters = new Dictionary<Dimension, IReadOnlyList<int>>(Filters);
        filters[dimension] = (filters.TryGetValue(dimension, out var existing) ? existing : [])
            .Concat(values).Distinct().ToArray();
        return this with { Filters = filters };
    }

    public CatalogQuery Where(Paradigm v) => Where(Dimension.Paradigm, (int)v);
    public CatalogQuery Where(Format v) => Where(Dimension.Format, (int)v);
    public CatalogQuery Where(Location v) => Where(Dimension.Location, (int)v);
    public CatalogQuery Where(Operator v) => Where(Dimension.Operator, (int)v);
    public CatalogQuery Where(OutputAlignment v) => Where(Dimension.Alignment, (int)v);
    public CatalogQuery Where(Modality v) => Where(Dimension.Modality, (int)v);

    /// <summary>Keeps methods whose name, authors, venue, title or modality contain the text.</summary>
    public CatalogQuery Search(string? text) => this with { Text = string.IsNullOrWhiteSpace(text) ? null : text.Trim() };

    public CatalogQuery Group(CatalogColumn? column) => this with { GroupBy = column };

    public CatalogQuery Sort(CatalogColumn column, bool descending = false) => this with { SortBy = column, Descending = descending };

    public IReadOnlyList<PublishedMethod> Methods()
    {
        IEnumerable<PublishedMethod> rows = _source.Where(m => Filters.All(f => f.Value.Any(v => m.Has(f.Key, v))));
        if (Text is { } text)
        {
            rows = rows.Where(m => new[] { m.Name, m.Authors, m.Venue, m.Title ?? "", m.ModalityDetail, m.ArXivId }
                .Any(s => s.Contains(text, StringComparison.OrdinalIgnoreCase)));
        }
        // A stable sort keeps the catalog's own order among equal keys.
        var ordered = Descending
            ? rows.OrderByDescending(m => SortKey(m, SortBy), Comparer<IComparable>.Default)
            : rows.OrderBy(m => SortKey(m, SortBy), Comparer<IComparable>.Default);
        return ordered.ToArray();
    }

    /// <summary>Runs the query; the view carries the rows, their groups and a description of the query.</summary>
    public CatalogView Run()
    {
        var methods = Methods();
        var groups = GroupBy is { } g
            ? methods.GroupBy(m => Label(m, g)).OrderBy(x => SortKey(x.First(), g), Comparer<IComparable>.Default)
                .Select(x => new CatalogGroup(x.Key, x.ToArray())).ToArray()
            : [new CatalogGroup(null, methods)];
        return new CatalogView(methods, groups, this);
    }

    public static string Label(PublishedMethod m, CatalogColumn column) => column switch
    {
        CatalogColumn.Name => m.Name,
        CatalogColumn.Year => m.Year.ToString(),
        CatalogColumn.Venue => m.Venue,
        CatalogColumn.Paradigm => m.Describe(Dimension.Paradigm),
        CatalogColumn.Format => m.Describe(Dimension.Format),
        CatalogColumn.Location => m.Describe(Dimension.Location),
        CatalogColumn.Operator => m.Describe(Dimension.Operator),
        CatalogColumn.Alignment => m.Describe(Dimension.Alignment),
        CatalogColumn.Modality => m.Describe(Dimension.Modality),
        _ => "",
    };

    private static IComparable SortKey(PublishedMethod m, CatalogColumn column) => column switch
    {
        CatalogColumn.Name => m.Name.ToLowerInvariant(),
        CatalogColumn.Year => m.Year,
        CatalogColumn.Venue => m.Venue.ToLowerInvariant(),
        // Enum order is the survey's order; a multi-valued cell sorts by its first value.
        CatalogColumn.Paradigm => (int)m.Paradigm,
        CatalogColumn.Format => (int)m.Formats[0] * 10 + m.Formats.Count,
        CatalogColumn.Location => (int)m.Locations[0] * 10 + m.Locations.Count,
        CatalogColumn.Operator => (int)m.Operators[0] * 10 + m.Operators.Count,
        CatalogColumn.Alignment => (int)m.Alignments[0] * 10 + m.Alignments.Count,
        CatalogColumn.Modality => (int)m.Modality,
        _ => 0,
    };

    public static CatalogColumn ParseColumn(string text)
    {
        var key = text.Trim().Replace("-", "").Replace("_", "").Replace(" ", "");
        if (key.Equals("outputalignment", StringComparison.OrdinalIgnoreCase)) return CatalogColumn.Alignment;
        if (Enum.TryParse<CatalogColumn>(key, ignoreCase: true, out var c) && Enum.IsDefined(c)) return c;
        throw new TaxonomyException(
            $"'{text}' is not a catalog column. Allowed: {string.Join(", ", Enum.GetNames<CatalogColumn>().Select(n => n.ToLowerInvariant()))}.");
    }

    /// <summary>A human-readable description of the filters, e.g. "format = Learnable; location = Input or Embedding".</summary>
    public string Describe()
    {
        var parts = Filters.Select(f => $"{TaxonomyNames.Of(f.Key).ToLowerInvariant()} = " +
                                        string.Join(" or ", f.Value.Select(v => ValueName(f.Key, v)))).ToList();
        if (Text is not null) parts.Add($"text contains \"{Text}\"");
        return parts.Count == 0 ? "all methods" : string.Join("; ", parts);
    }

    private static string ValueName(Dimension d, int v) => d switch
    {
        Dimension.Paradigm => TaxonomyNames.Of((Paradigm)v),
        Dimension.Format => TaxonomyNames.Of((Format)v),
        Dimension.Location => TaxonomyNames.Of((Location)v),
        Dimension.Operator => TaxonomyNames.Of((Operator)v),
        Dimension.Alignment => TaxonomyNames.Of((OutputAlignment)v),
        Dimension.Modality => TaxonomyNames.Of((Modality)v),
        _ => v.ToString(),
    };
}

public sealed record CatalogGroup(string? Key, IReadOnlyList<PublishedMethod> Methods);

/// <summary>The result of a catalog query: what a notebook renders as a table and a chart.</summary>
public sealed record CatalogView(IReadOnlyList<PublishedMethod> Methods, IReadOnlyList<CatalogGroup> Groups, CatalogQuery Query)
{
    /// <summary>How many methods have each value of a dimension, split by paradigm (what the spread chart shows).</summary>
    public IReadOnlyList<(string Value, Paradigm Paradigm, int Count)> Spread(Dimension dimension)
    {
        var result = new List<(string, Paradigm, int)>();
        foreach (var value in TaxonomyNames.AllowedValues(dimension))
        {
            var v = TaxonomyNames.ParseValue(dimension, value);
            foreach (var p in Enum.GetValues<Paradigm>())
            {
                result.Add((value, p, Methods.Count(m => m.Paradigm == p && m.Has(dimension, v))));
            }
        }
        return result;
    }
}

/// <summary>Published methods around a point: exact matches and those one dimension away.</summary>
public sealed record Neighbours(IReadOnlyList<PublishedMethod> Same, IReadOnlyList<Neighbour> OneDimensionAway);

public sealed record Neighbour(PublishedMethod Method, Dimension Differs);
