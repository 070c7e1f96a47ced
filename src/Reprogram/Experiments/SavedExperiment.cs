using System.Text.Json;
using Reprogram.Data;
using Reprogram.Instruction;
using Reprogram.Manipulations;

namespace Reprogram.Experiments;

/// <summary>How a text task put an example in front of the model, as a saved file records it.</summary>
public sealed record SavedTemplate(string Instruction, string DemonstrationFormat, string Separator, string QueryFormat,
    string Strict, string? Flexible, IReadOnlyList<string> ContentFreeInputs)
{
    public PromptTemplate Template => new(Instruction, DemonstrationFormat, Separator, QueryFormat);
    public Alignments.AnswerExtraction Extraction => new(Strict, Flexible);

    public static SavedTemplate Of(InstructionTask task) => new(task.Template.Instruction, task.Template.DemonstrationFormat, task.Template.Separator,
        task.Template.QueryFormat, task.Extraction.Strict, task.Extraction.Flexible, task.ContentFreeInputs);
}

/// <summary>
/// The experiment a learned file came from, as the file records it (metadata key <see cref="MetadataKey"/>): the model,
/// the task, the manipulation and alignment by registry name, the seed, the budget and settings, the text columns and
/// label words, and for text tasks the prompt template. With it a saved manipulation and alignment are rebuilt exactly
/// (the registries' factories, then the saved tensors) and new inputs are read the way the run read its test examples.
/// </summary>
public sealed record SavedExperiment
{
    public const string MetadataKey = "experiment";

    public required string Model { get; init; }
    public required string Task { get; init; }
    public required string Manipulation { get; init; }
    public required string Alignment { get; init; }
    public int Seed { get; init; }
    public Budget Budget { get; init; } = new();
    public MethodOptions Options { get; init; } = new();
    public string? TextColumn { get; init; }
    public string? LabelColumn { get; init; }
    public string? RationaleColumn { get; init; }
    /// <summary>"class=word,..." as <c>--label-words</c> takes it; null: the class names are the words.</summary>
    public string? LabelWords { get; init; }
    /// <summary>The text task's template (null for image tasks, and in files saved before it was recorded).</summary>
    public SavedTemplate? Template { get; init; }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    /// <summary>The text data options the run read its file with (null: the defaults).</summary>
    public TextDataOptions? TextData => TextColumn is null && LabelColumn is null && LabelWords is null ? null : new TextDataOptions
    {
        TextColumn = TextColumn ?? TextDataOptions.DefaultTextColumn,
        LabelColumn = LabelColumn ?? TextDataOptions.DefaultLabelColumn,
        RationaleColumn = RationaleColumn ?? TextDataOptions.DefaultRationaleColumn,
        LabelWords = LabelWords is null ? null : Data.LabelWords.Parse(LabelWords),
    };

    /// <summary>The spec that rebuilds the run's manipulation and alignment (one seed: the one saved).</summary>
    public ExperimentSpec Spec() => new()
    {
        Model = Model, Task = Task, Manipulation = Manipulation, Alignment = Alignment, Seeds = [Seed], Budget = Budget, Options = Options,
        TextData = TextData,
    };

    /// <summary>
    /// The metadata a learned file carries about the experiment of <paramref name="spec"/> (its first seed). For a text task
    /// the task's template is drawn once more here, while its data is at hand, so the file can read new texts later.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Metadata(ExperimentSpec spec)
    {
        SavedTemplate? template = null;
        try
        {
            var entry = Registries.Tasks.Resolve(spec.Task);
            if (entry.Modality == TaskModality.Text && entry.Split(new TaskRequest(spec.Task, spec.Seeds[0], new SplitSizes(0, 0, 1), spec.TextData)) is InstructionTask task)
            {
                template = SavedTemplate.Of(task);
            }
        }
        catch (Exception e) when (e is not (OutOfMemoryException or OperationCanceledException))
        {
            // The task's data is gone since the run: the file still loads; new texts then take the task's template from the registry.
        }
        var saved = new SavedExperiment
        {
            Model = FullPath(spec.Model), Task = FullPath(spec.Task), Manipulation = spec.Manipulation, Alignment = spec.Alignment, Seed = spec.Seeds[0],
            Budget = spec.Budget, Options = spec.Options with { Embedder = null },
            TextColumn = spec.TextData?.TextColumn, LabelColumn = spec.TextData?.LabelColumn, RationaleColumn = spec.TextData?.RationaleColumn,
            LabelWords = spec.TextData?.LabelWords?.ToString(), Template = template,
        };
        return new Dictionary<string, string> { [MetadataKey] = JsonSerializer.Serialize(saved, Json) };
    }

    /// <summary>A path as a full path (a file loaded from another folder finds its model and data); a name as it is.</summary>
    private static string FullPath(string spec) => File.Exists(spec) || Directory.Exists(spec) ? Path.GetFullPath(spec) : spec;

    /// <summary>
    /// The experiment a file's metadata records. Files saved before the experiment was recorded are read from their
    /// settings ("model", "task", "manipulation", "alignment", "tokens", "seeds"), with the defaults for the rest.
    /// </summary>
    public static SavedExperiment From(IReadOnlyDictionary<string, string> metadata, string path)
    {
        if (metadata.TryGetValue(MetadataKey, out var json))
        {
            try
            {
                return JsonSerializer.Deserialize<SavedExperiment>(json, Json) ?? throw new JsonException("null");
            }
            catch (JsonException e)
            {
                throw new LearnedFileException($"{path} is corrupt: its '{MetadataKey}' metadata is not a saved experiment ({e.Message}).");
            }
        }
        var settings = metadata.TryGetValue("training", out var training)
            ? JsonSerializer.Deserialize<Dictionary<string, string>>(training) ?? []
            : [];
        string Setting(string key) => settings.TryGetValue(key, out var v) ? v
            : throw new LearnedFileException($"{path} does not say which {key} it was learned with (no '{MetadataKey}' metadata and no '{key}' setting): save it again with this version.");
        var options = new MethodOptions();
        if (settings.TryGetValue("tokens", out var tokens) && int.TryParse(tokens, out var n)) options = options with { Tokens = n };
        var seed = settings.TryGetValue("seeds", out var seeds) && int.TryParse(seeds.Split(',')[0], out var s) ? s : 0;
        return new SavedExperiment { Model = Setting("model"), Task = Setting("task"), Manipulation = Setting("manipulation"), Alignment = Setting("alignment"), Options = options, Seed = seed };
    }
}
