using Reprogram.Data;
using Reprogram.Instruction;

namespace Reprogram.Experiments;

/// <summary>What drawing a task's split is given: the name or path, the seed, and the sizes.</summary>
public sealed record TaskRequest(string Spec, int Seed, SplitSizes Sizes, Data.TextDataOptions? TextData = null);

/// <summary>A task by name (or a family of paths): its modality, whether its answers are open, and how a seed's split is drawn.</summary>
public sealed record TaskEntry : RegistryEntry
{
    public required TaskModality Modality { get; init; }
    /// <summary>Open answers (a sum, a word problem): read by generation, not chosen among classes.</summary>
    public bool OpenAnswers { get; init; }
    public required Func<TaskRequest, TaskSplit> Split { get; init; }
    /// <summary>Which of --text-column/--label-column (a file's columns) and --label-words (class names read as words) apply.</summary>
    public TextDataUse TextData { get; init; }
}

/// <summary>What a task takes of <see cref="Data.TextDataOptions"/>.</summary>
[Flags]
public enum TextDataUse
{
    None = 0,
    LabelWords = 1,
    Columns = 2,
}

/// <summary>The tasks of the registry (see <see cref="Registries.Tasks"/>).</summary>
public static class TaskEntries
{
    private static TaskSplit Text(TaskRequest r) => InstructionTasks.Load(r.Spec, r.Seed, r.Sizes.Test, r.Sizes.Pool, r.Sizes.Train, r.TextData);
    private static TaskSplit Image(TaskRequest r) => ImageTasks.Load(r.Spec, r.Seed, r.Sizes);

    private static bool IsTextFile(string spec) =>
        Path.GetExtension(spec).ToLowerInvariant() is ".csv" or ".tsv" or ".jsonl" or ".json" && !Directory.Exists(spec);

    public static IReadOnlyList<TaskEntry> All { get; } =
    [
        new()
        {
            Name = InstructionTasks.HeldOutRule, Modality = TaskModality.Text, Split = Text,
            Description = "A rule of the rule family never shown in pretraining (seed s takes held-out rule s): each of 6 items gets one of its own 3 labels; " +
                          "only labelled examples tell the rule. The comparison's default task (model rule-family).",
        },
        new()
        {
            Name = InstructionTasks.Rules, Modality = TaskModality.Text, Split = Text,
            Description = "Rule inference for the icl-rules model: per seed a hidden rule gives each of 5 items one of its own 3 labels.",
        },
        new()
        {
            Name = InstructionTasks.Addition, Aliases = ["arith"], Modality = TaskModality.Text, OpenAnswers = true, Split = Text,
            Description = "3-digit addition (generated), with scratchpad rationales: open answers, for chain-of-thought on the arith-cot model.",
        },
        new()
        {
            Name = "sentiment", Modality = TaskModality.Text, Split = Text, TextData = TextDataUse.LabelWords,
            Description = "A generated two-class sentiment task (negative, positive) from templates and word lists.",
        },
        new()
        {
            Name = "fortunes", Modality = TaskModality.Text, Split = Text, TextData = TextDataUse.LabelWords,
            Description = "Real quotes from Debian's fortune files, labelled by category (computers, food, love, science).",
        },
        new()
        {
            Name = DataSets.FashionMnistName, Modality = TaskModality.Image, Split = Image,
            Description = "Fashion-MNIST (Debian dataset-fashion-mnist): 28 px grey clothing images, 10 classes; its own training and test files.",
        },
        new()
        {
            Name = DataSets.DigitsName, Modality = TaskModality.Image, Split = Image,
            Description = "scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), shipped in Debian's python3-sklearn.",
        },
        new()
        {
            Name = "<.csv, .tsv or .jsonl file>", Modality = TaskModality.Text, Split = Text, Accepts = IsTextFile,
            TextData = TextDataUse.LabelWords | TextDataUse.Columns,
            Description = "Your labelled texts: a CSV or TSV with text and label columns (and optionally rationale), or JSONL objects with the same keys " +
                          "(other columns: --text-column, --label-column).",
        },
        new()
        {
            Name = "<image folder>", Modality = TaskModality.Image, Split = Image, Accepts = Directory.Exists,
            Description = "Your images: a folder with one sub-folder per class (PNG, JPEG or BMP).",
        },
    ];
}
