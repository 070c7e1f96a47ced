using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Directives;
using Microsoft.DotNet.Interactive.Formatting;
using Reprogram.Taxonomy;
using static Reprogram.Interactive.Directives.DirectiveValues;

namespace Reprogram.Interactive.Directives;

/// <summary>The bound options of <c>#!manipulation</c>.</summary>
public sealed class DeclareManipulation : KernelDirectiveCommand
{
    public string? Name { get; set; }
    public string? Format { get; set; }
    public string? Location { get; set; }
    public string? Operator { get; set; }
    public string? Alignment { get; set; }
    /// <summary>--alignment-kind: the category ω (--alignment is its older name here).</summary>
    public string? AlignmentKind { get; set; }
    public string? Description { get; set; }
    public string? Paradigm { get; set; }

    public Manipulation ToManipulation() =>
        Manipulation.Parse(Name ?? "", Format ?? "", Location ?? "", Operator ?? "", AlignmentKindValue(), Description, Paradigm);

    private string AlignmentKindValue()
    {
        if (AlignmentKind is not null && Alignment is not null && AlignmentKind != Alignment)
        {
            throw new TaxonomyException($"--alignment-kind '{AlignmentKind}' and --alignment '{Alignment}' disagree: --alignment is the older name of --alignment-kind; give one of them.");
        }
        return AlignmentKind ?? Alignment
            ?? throw new TaxonomyException($"#!manipulation needs --alignment-kind (the output alignment, omega): {DirectiveValues.Allowed(Dimension.Alignment)}.");
    }

    public override IEnumerable<string> GetValidationErrors(CompositeKernel kernel)
    {
        try { ToManipulation(); }
        catch (TaxonomyException e) { return [e.Message]; }
        return [];
    }
}

/// <summary>
/// <c>#!manipulation</c>: declares a researcher's own manipulation by its four coordinates, shows where it sits among
/// published methods, and shares it with the C# kernel as a variable of type <see cref="Manipulation"/>.
/// </summary>
internal static class ManipulationDirective
{
    public const string CSharpKernelName = "csharp";

    public static KernelActionDirective Create() => new("#!manipulation")
    {
        Description = "Declares a manipulation by its four coordinates in the taxonomy of Ye et al. (arXiv 2506.04650), " +
                      "shows the published methods at or next to them, and makes it a C# variable. " +
                      "Example: #!manipulation my_prompt --format learnable --location input --operator additive --alignment-kind statistical",
        Parameters =
        {
            new KernelDirectiveParameter("--name", "The manipulation's name; it becomes a C# variable, so letters, digits and underscores.")
            {
                AllowImplicitName = true,
                Required = true,
            },
            DimensionParameter(Dimension.Format, $"Format (lambda): {Allowed(Dimension.Format)}.", required: true),
            DimensionParameter(Dimension.Location, $"Location (l): {Allowed(Dimension.Location)}.", required: true),
            DimensionParameter(Dimension.Operator, $"Operator (tau): {Allowed(Dimension.Operator)}.", required: true),
            AlignmentKindParameter($"Output alignment (omega): {Allowed(Dimension.Alignment)}. Required (the older name --alignment still works)."),
            OptionAliases.Parameter("--alignment", "--alignment-kind").AddCompletions(() => TaxonomyNames.CompletionValues(Dimension.Alignment)),
            new KernelDirectiveParameter("--description", "A short description, in quotes."),
            DimensionParameter(Dimension.Paradigm, $"The paradigm, if not the typical one for the coordinates: {Allowed(Dimension.Paradigm)}."),
        },
    };

    public static async Task Handle(DeclareManipulation command, KernelInvocationContext context)
    {
        Manipulation manipulation;
        try
        {
            manipulation = command.ToManipulation();
        }
        catch (TaxonomyException e)
        {
            context.Fail(command, message: e.Message);
            return;
        }

        context.Display(manipulation, "text/html");

        var csharp = context.HandlingKernel.RootKernel.FindKernelByName(CSharpKernelName);
        if (csharp is null)
        {
            context.DisplayAs($"No C# kernel here: '{manipulation.Name}' was not shared as a variable.", "text/plain");
            return;
        }
        if (SharedVariables.TryAssignInPlace(csharp, manipulation.Name, manipulation)) return;
        var value = FormattedValue.CreateSingleFromObject(manipulation, "text/plain");
        await csharp.SendAsync(new SendValue(manipulation.Name, manipulation, value));
    }
}
