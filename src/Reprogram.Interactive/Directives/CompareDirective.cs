using static Reprogram.Interactive.Directives.DirectiveValues;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Directives;
using Reprogram.Experiments;

namespace Reprogram.Interactive.Directives;

/// <summary>The bound options of <c>#!compare</c> (strings, parsed here so every bad value gets our message).</summary>
public sealed class RunComparison : KernelDirectiveCommand
{
    public string? Model { get; set; }
    public string? Task { get; set; }
    public string? Manipulations { get; set; }
    public string? Alignments { get; set; }
    public string? Methods { get; set; }
    public string? Vary { get; set; }
    public string? Base { get; set; }
    public string? Examples { get; set; }
    public string? Seeds { get; set; }
    public string? Test { get; set; }
    public string? Epochs { get; set; }
    public string? Batch { get; set; }
    public string? Lr { get; set; }
    public string? Tokens { get; set; }
    public string? Selection { get; set; }
    public string? Device { get; set; }
    public string? Export { get; set; }
    public string? Name { get; set; }
    public string? TextColumn { get; set; }
    public string? LabelColumn { get; set; }
    public string? LabelWords { get; set; }

    public string VariableName => DirectiveValues.VariableName(Name, "comparison");

    public ComparisonOptions ToOptions()
    {
        // The three ways to name methods replace one another; a cell that gives two would run one and ignore the other.
        if (Vary is not null && (Methods ?? Manipulations ?? Alignments) is not null)
            throw new ArgumentException("--vary takes its methods from --base (one dimension changed at a time): drop --methods, --manipulations and --alignments, or drop --vary.");
        if (Methods is not null && (Manipulations ?? Alignments) is not null)
            throw new ArgumentException("--methods names manipulation+alignment pairs and replaces the crossing of --manipulations and --alignments: give one or the other.");
        if (Base is not null && Vary is null)
            throw new ArgumentException("--base is where --vary starts: give --vary format|location|operator|alignment too.");
        var d = ComparisonOptions.SessionDefaults;
        var options = d with
        {
            Model = Model ?? d.Model,
            Task = Task ?? d.Task,
            Manipulations = Manipulations is null ? d.Manipulations : List(Manipulations),
            Alignments = Alignments is null ? d.Alignments : List(Alignments),
            Methods = Methods is null ? d.Methods : List(Methods),
            Vary = Vary ?? d.Vary,
            Base = Base ?? d.Base,
            Examples = Examples is null ? d.Examples : InstructionOptionsBase.ParseInts(Examples, "--examples"),
            Seeds = Seeds is null ? d.Seeds : InstructionOptionsBase.ParseSeeds(Seeds),
            TestExamples = Int(Test, "--test") ?? d.TestExamples,
            Epochs = Int(Epochs, "--epochs") ?? d.Epochs,
            BatchSize = Int(Batch, "--batch") ?? d.BatchSize,
            LearningRate = Number(Lr, "--lr") ?? d.LearningRate,
            Options = d.Options with
            {
                Tokens = Int(Tokens, "--tokens") ?? d.Options.Tokens,
                Selection = Selection?.ToLowerInvariant() ?? d.Options.Selection,
            },
            Device = Device ?? d.Device,
            TextData = TextColumn is null && LabelColumn is null && LabelWords is null
                ? d.TextData
                : TextDataParameters.ToOptions(TextColumn, LabelColumn, LabelWords, d.TextData ?? new Data.TextDataOptions()),
        };
        options.Validate();
        _ = VariableName;
        ExportPath(Export);
        return options;
    }

    public override IEnumerable<string> GetValidationErrors(CompositeKernel kernel) => ValidationErrors(() => ToOptions());
}

/// <summary>
/// <c>#!compare</c>: the taxonomy tested on one frozen model. Methods of all three paradigms (each a manipulation and an
/// alignment, so a point in the taxonomy) on the same task, split, scorer and seeds, at several labelled-example budgets;
/// the table, the data-efficiency chart and a chart per dimension. The result becomes a C# variable.
/// </summary>
internal static class CompareDirective
{
    public static KernelActionDirective Create() => new KernelActionDirective("#!compare")
    {
        Description = "Compares methods of all three paradigms on one frozen model and task: the same split, scorer, metric and seeds for every " +
                      "method; a row per method and budget with its taxonomy coordinates, test accuracy (mean ± sd), labelled examples, trainable " +
                      "parameters, training time and tokens per query. Example: #!compare --examples 2,4,8,16 --vary location",
        Parameters =
        {
            new KernelDirectiveParameter("--model", $"A model of the registry or a path ({Registries.Models.Allowed()}). Default {ComparisonOptions.SessionDefaults.Model}.")
                .AddCompletions(() => Registries.Models.Names),
            new KernelDirectiveParameter("--task", $"A task of the registry or a path ({Registries.Tasks.Allowed()}). Default {ComparisonOptions.SessionDefaults.Task}.")
                .AddCompletions(() => Registries.Tasks.Names),
            new KernelDirectiveParameter("--manipulations", $"Input manipulations, comma-separated, each crossed with every alignment ({Registries.Manipulations.Allowed()}). " +
                                                            $"Default {string.Join(",", ComparisonOptions.SessionDefaults.Manipulations)}.")
                .AddCompletions(() => Registries.Manipulations.Names),
            new KernelDirectiveParameter("--alignments", $"Output alignments, comma-separated ({Registries.Alignments.Allowed()}). Default {string.Join(",", ComparisonOptions.SessionDefaults.Alignments)}.")
                .AddCompletions(() => Registries.Alignments.Names),
            new KernelDirectiveParameter("--methods", "Methods as manipulation+alignment pairs, comma-separated (e.g. icl+verbalizer,soft-prompt+linear); replaces the crossing."),
            new KernelDirectiveParameter("--vary", "Hold three coordinates of --base fixed and vary this one: format, location, operator or alignment.")
                .AddCompletions(() => ComparisonOptions.Dimensions),
            new KernelDirectiveParameter("--base", $"The method --vary starts from, as manipulation+alignment. Default {ComparisonOptions.SessionDefaults.Base}."),
            new KernelDirectiveParameter("--examples", $"Labelled-example budgets: shots for in-context learning, training examples for learned methods. Default {string.Join(",", ComparisonOptions.SessionDefaults.Examples)}."),
            new KernelDirectiveParameter("--seeds", "Seeds: a count (3 = 0,1,2), a list (0,4,7) or a range (0-4); each seed draws the task's split once for every method. Default 0,1,2."),
            new KernelDirectiveParameter("--test", $"Test examples per seed (the same for every method). Default {ComparisonOptions.SessionDefaults.TestExamples}.") { TypeHint = "number" },
            new KernelDirectiveParameter("--epochs", $"Epochs for every learned method. Default {ComparisonOptions.SessionDefaults.Epochs}.") { TypeHint = "number" },
            new KernelDirectiveParameter("--batch", $"Batch size. Default {ComparisonOptions.SessionDefaults.BatchSize}.") { TypeHint = "number" },
            new KernelDirectiveParameter("--lr", $"Learning rate (Adam) for every learned method. Default {ComparisonOptions.SessionDefaults.LearningRate}.") { TypeHint = "number" },
            new KernelDirectiveParameter("--tokens", $"Virtual tokens of soft, prefix, deep and discrete prompts. Default {ComparisonOptions.SessionDefaults.Options.Tokens}.") { TypeHint = "number" },
            new KernelDirectiveParameter("--selection", "How in-context learning chooses demonstrations: random, balanced or similar (KATE). Default random.")
                .AddCompletions(() => Instruction.Demonstrations.Selections),
            new KernelDirectiveParameter("--device", "auto, cpu, cuda or cuda:N. Default: the session's (#!device).").AddCompletions(() => ["auto", "cpu", "cuda"]),
            new KernelDirectiveParameter("--export", "Write the table to a .csv file, or the whole comparison (with every prediction) to a .json file."),
            new KernelDirectiveParameter("--name", "The C# variable that holds the result. Default comparison."),
        },
    }.WithParameters(TextDataParameters.Create());

    public static Task Handle(RunComparison command, KernelInvocationContext context) =>
        RunExperimentAsync(command, context, command.ToOptions,
            (ComparisonOptions options, LiveProgress live, CancellationToken token) =>
                Comparison.Run(options, new InstructionCommand.Progress<ExperimentProgress>(live.Show), token),
            command.Export?.Trim(), (result, path) => result.Export(path), "the comparison", command.VariableName,
            result => $"comparison of {result.Rows.Count} runs on {result.Model}, {result.Task}");
}
