using Reprogram.Training;

namespace Reprogram.Experiments;

/// <summary>The metric names every paradigm reports (fractions in [0, 1]; sd = sample standard deviation over seeds).</summary>
public static class MetricNames
{
    public const string TestAccuracy = "test accuracy";
    public const string TestAccuracySd = "test accuracy sd";
    public const string TrainAccuracy = "train accuracy";
    /// <summary>Generated answers read by the flexible rule (the strict rule's is <see cref="TestAccuracy"/>).</summary>
    public const string FlexibleTestAccuracy = "test accuracy (flexible)";
    public const string FlexibleTestAccuracySd = "test accuracy (flexible) sd";
    /// <summary>The best epoch's test accuracy (when scored after every epoch; <see cref="TestAccuracy"/> is the final epoch's).</summary>
    public const string BestEpochTestAccuracy = "test accuracy (best epoch)";
}

/// <summary>Where an experiment is: loading, training (with the trainer's progress) or evaluating, for which seed.</summary>
public enum ExperimentPhase { Loading, Training, Evaluating }

/// <summary>The one progress type of every experiment, as a notebook shows it live.</summary>
public sealed record ExperimentProgress(string Run, ExperimentPhase Phase, int Seed, int Done, int Total, TimeSpan Elapsed)
{
    /// <summary>The trainer's progress, while training (loss, accuracy so far, speed).</summary>
    public TrainingProgress? Training { get; init; }
}

/// <summary>
/// One test example's outcome in one method and seed: what the model was shown and gave, the answer taken from it, and
/// whether it was right. <see cref="Id"/> is the example's (the same across methods of a seed).
/// </summary>
public sealed record PredictionRecord(
    string Method, int Seed, string Id, string Input, string Prompt, string Output, string? Predicted, string Answer, bool Correct,
    string? PredictedFlexible = null, bool? CorrectFlexible = null);

/// <summary>One seed of an experiment: the test examples (by id), accuracies, what was learned from how many labelled examples, the cost, every prediction.</summary>
public sealed record SeedRun
{
    public required int Seed { get; init; }
    /// <summary>This seed's task instance, as its split describes it.</summary>
    public required string Task { get; init; }
    public required IReadOnlyList<string> TestIds { get; init; }
    /// <summary>The task's classes as the model was asked for them (label words for text tasks).</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];
    /// <summary>The task's prompt template with the settings' overrides (text tasks read by a decoder; null otherwise).</summary>
    public Manipulations.PromptTemplate? Template { get; init; }
    public required double TestAccuracy { get; init; }
    public double? FlexibleTestAccuracy { get; init; }
    public double? TrainAccuracy { get; init; }
    /// <summary>The best epoch's test accuracy and the epoch (1-based), when the budget scores every epoch.</summary>
    public (double Accuracy, int Epoch)? BestEpoch { get; init; }
    /// <summary>Labelled examples the method used: training examples for what it learns or estimates, plus demonstrations shown.</summary>
    public required int LabelledExamples { get; init; }
    public required long TrainableParameters { get; init; }
    public TrainingReport? Training { get; init; }
    public required TimeSpan TrainingTime { get; init; }
    public required TimeSpan EvaluationTime { get; init; }
    /// <summary>Positions the model reads per test query (virtual tokens included); null where tokens do not apply (images).</summary>
    public double? PositionsPerQuery { get; init; }
    /// <summary>Token positions the model read and wrote for this seed (training, scoring and generation).</summary>
    public long TokensProcessed { get; init; }
    /// <summary>Prompts cut from the left to fit the model's context (0 when every prompt fit).</summary>
    public long PromptsShortened { get; init; }
    public required IReadOnlyList<PredictionRecord> Records { get; init; }
    public required string ChecksumAfter { get; init; }
    public string Manipulation { get; init; } = "none";
    public IReadOnlyDictionary<string, string> ManipulationSettings { get; init; } = new Dictionary<string, string>();
    /// <summary>The learned manipulation and alignment (kept only when the spec asks; the caller disposes them).</summary>
    public Manipulations.IManipulation? Learned { get; init; }
    public Alignments.IAlignment? LearnedAlignment { get; init; }
}

/// <summary>
/// The one result shape of an experiment of any paradigm: the spec it ran, its row in the results table (coordinates,
/// test accuracy mean and sd over seeds, labelled examples, trainable parameters, time, tokens per query, checksums), and
/// every seed with its predictions.
/// </summary>
public sealed record ExperimentRun
{
    public required ExperimentSpec Spec { get; init; }
    public required ExperimentResult Result { get; init; }
    public required IReadOnlyList<SeedRun> Seeds { get; init; }
    /// <summary>The published methods the manipulation and alignment follow (catalog names).</summary>
    public IReadOnlyList<string> PublishedMethods { get; init; } = [];

    public string Name => Result.Name;
    public RunProvenance? Provenance => Result.Provenance;
    public double TestAccuracy => Result.Metrics[MetricNames.TestAccuracy];
    public double TestAccuracySd => Result.Metrics[MetricNames.TestAccuracySd];
    public IEnumerable<PredictionRecord> Records => Seeds.SelectMany(s => s.Records);

    /// <summary>The table (one row per result) as CSV.</summary>
    public string ToCsv() => Results.Of(this).ToCsv();
    /// <summary>Everything as JSON: options, spec, provenance, seeds with test ids, every prediction (<see cref="Results.Load(string[])"/> reads it back).</summary>
    public string ToJson() => ResultExport.Json(this);
    /// <summary>Writes the table as .csv or everything as .json, by the file's extension.</summary>
    public void Export(string path) => ResultFiles.Write(path, ToCsv, ToJson);
}
