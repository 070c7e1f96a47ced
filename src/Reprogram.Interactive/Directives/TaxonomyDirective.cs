using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Directives;
using Reprogram.Interactive.Charts;
using Reprogram.Taxonomy;
using static Reprogram.Interactive.Directives.DirectiveValues;

namespace Reprogram.Interactive.Directives;

/// <summary>The bound options of <c>#!taxonomy</c>.</summary>
public sealed class ShowTaxonomy : KernelDirectiveCommand
{
    public string? Paradigm { get; set; }
    public string? Format { get; set; }
    public string? Location { get; set; }
    public string? Operator { get; set; }
    public string? Alignment { get; set; }
    /// <summary>--alignment-kind: the category ω (--alignment is its older name here; in the experiment commands --alignment is a method).</summary>
    public string? AlignmentKind { get; set; }
    public string? Modality { get; set; }
    public string? Search { get; set; }
    public string? GroupBy { get; set; }
    public string? SortBy { get; set; }
    public bool Descending { get; set; }
    public bool NoChart { get; set; }

    /// <summary>The catalog query these options describe; throws <see cref="TaxonomyException"/> naming the allowed values.</summary>
    public CatalogQuery ToQuery()
    {
        var query = Catalog.Query();
        var errors = new List<string>();
        if (AlignmentKind is not null && Alignment is not null && AlignmentKind != Alignment)
        {
            errors.Add($"--alignment-kind '{AlignmentKind}' and --alignment '{Alignment}' disagree: --alignment is the older name of --alignment-kind; give one of them.");
        }
        foreach (var (dimension, text) in new[]
                 {
                     (Dimension.Paradigm, Paradigm), (Dimension.Format, Format), (Dimension.Location, Location),
                     (Dimension.Operator, Operator), (Dimension.Alignment, AlignmentKind ?? Alignment), (Dimension.Modality, Modality),
                 })
        {
            try { query = query.Where(dimension, List(text)); }
            catch (TaxonomyException e) { errors.Add($"--{(dimension == Dimension.Alignment ? "alignment-kind" : OptionName(dimension))}: {e.Message}"); }
        }
        try
        {
            query = query.Search(Search);
            if (!string.IsNullOrWhiteSpace(GroupBy)) query = query.Group(CatalogQuery.ParseColumn(GroupBy));
            if (!string.IsNullOrWhiteSpace(SortBy)) query = query.Sort(CatalogQuery.ParseColumn(SortBy), Descending);
            else if (Descending) query = query.Sort(query.SortBy, true);
        }
        catch (TaxonomyException e) { errors.Add($"{(e.Message.Contains("column") ? "--group-by/--sort-by" : "")}: {e.Message}"); }
        if (errors.Count > 0) throw new TaxonomyException(string.Join(Environment.NewLine, errors));
        return query;
    }

    public override IEnumerable<string> GetValidationErrors(CompositeKernel kernel)
    {
        try { ToQuery(); }
        catch (TaxonomyException e) { return [e.Message]; }
        return [];
    }
}

/// <summary><c>#!taxonomy</c>: browse the catalog of published methods, filtered, grouped and sorted, with a chart of its spread.</summary>
internal static class TaxonomyDirective
{
    public static KernelActionDirective Create()
    {
        var columns = Enum.GetNames<CatalogColumn>().Select(n => n.ToLowerInvariant()).ToArray();
        return new KernelActionDirective("#!taxonomy")
        {
            Description = "Shows the catalog of published reprogrammability methods (Ye et al., arXiv 2506.04650) " +
                          "with their four coordinates, and a chart of how they spread over the dimensions. " +
                          "Filters take one value or a comma-separated list, e.g. #!taxonomy --location input,embedding --group-by paradigm",
            Parameters =
            {
                DimensionParameter(Dimension.Paradigm, $"Keep methods of these paradigms: {Allowed(Dimension.Paradigm)}."),
                DimensionParameter(Dimension.Format, $"Keep methods with this format (lambda): {Allowed(Dimension.Format)}."),
                DimensionParameter(Dimension.Location, $"Keep methods with this location (l): {Allowed(Dimension.Location)}."),
                DimensionParameter(Dimension.Operator, $"Keep methods with this operator (tau): {Allowed(Dimension.Operator)}."),
                AlignmentKindParameter($"Keep methods with this output alignment (omega): {Allowed(Dimension.Alignment)}. The older name --alignment still works."),
                OptionAliases.Parameter("--alignment", "--alignment-kind").AddCompletions(() => TaxonomyNames.CompletionValues(Dimension.Alignment)),
                DimensionParameter(Dimension.Modality, $"Keep methods for this modality: {Allowed(Dimension.Modality)}."),
                new KernelDirectiveParameter("--search", "Keep methods whose name, authors, venue, title or arXiv id contain this text."),
                new KernelDirectiveParameter("--group-by", $"Group rows by a column: {string.Join(", ", columns)}.").AddCompletions(() => columns),
                new KernelDirectiveParameter("--sort-by", $"Sort rows by a column: {string.Join(", ", columns)} (default: paradigm, the survey's order).").AddCompletions(() => columns),
                new KernelDirectiveParameter("--descending", "Sort in descending order.") { Flag = true },
                new KernelDirectiveParameter("--no-chart", "Show the table only.") { Flag = true },
            },
        };
    }

    public static Task Handle(ShowTaxonomy command, KernelInvocationContext context)
    {
        CatalogView view;
        try
        {
            view = command.ToQuery().Run();
        }
        catch (TaxonomyException e)
        {
            context.Fail(command, message: e.Message);
            return Task.CompletedTask;
        }
        context.Display(view, "text/html");
        if (!command.NoChart && view.Methods.Count > 0)
        {
            context.Display(TaxonomyCharts.Spread(view), "text/html");
        }
        return Task.CompletedTask;
    }
}
