using Reprogram.Taxonomy;
using Reprogram.Training;

namespace Reprogram.Experiments;

/// <summary>
/// The one result shape of every experiment, whatever its paradigm, so that model reprogramming, prompt tuning and
/// prompt instruction results sit in one table: the coordinates, the metrics, what was trained and what stayed frozen,
/// the cost, and the proof that the model did not change.
/// </summary>
public sealed record ExperimentResult
{
    public required string Name { get; init; }
    /// <summary>The input manipulation's coordinates with the alignment; null for a run with no input manipulation
    /// (a linear probe or a bare label mapping), which has only an output alignment.</summary>
    public required Coordinates? Coordinates { get; init; }
    /// <summary>The output alignment (omega), present in every run.</summary>
    public required OutputAlignment AlignmentKind { get; init; }
    /// <summary>The paradigm of the manipulation; null without an input manipulation.</summary>
    public Paradigm? Paradigm => Coordinates?.TypicalParadigm;
    public required string Model { get; init; }
    public required string Task { get; init; }
    public required string Manipulation { get; init; }
    public required string Alignment { get; init; }
    /// <summary>Named metrics, e.g. "train accuracy", "test accuracy" (fractions in [0, 1]).</summary>
    public required IReadOnlyDictionary<string, double> Metrics { get; init; }
    public required long TrainableParameters { get; init; }
    public required long FrozenParameters { get; init; }
    public required TimeSpan WallTime { get; init; }
    public long ExamplesProcessed { get; init; }
    public long TokensProcessed { get; init; }
    public required string Device { get; init; }
    public required int Seed { get; init; }
    public required string ChecksumBefore { get; init; }
    public required string ChecksumAfter { get; init; }
    public bool FrozenUnchanged => ChecksumBefore == ChecksumAfter;
    public IReadOnlyList<CurvePoint> Curve { get; init; } = [];
    public StopReason Stop { get; init; } = StopReason.Completed;
    public string StopMessage { get; init; } = "completed";
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();
    /// <summary>Every seed the row averages over (the first is <see cref="Seed"/>).</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [];
    /// <summary>The test accuracy of each seed, in seed order.</summary>
    public IReadOnlyList<double> TestAccuracyPerSeed { get; init; } = [];
    /// <summary>Labelled examples the method used (training examples for what it learns, plus demonstrations); null where not counted.</summary>
    public int? LabelledExamples { get; init; }
    /// <summary>Time spent learning (training or estimating), per seed on average.</summary>
    public TimeSpan TrainingTime { get; init; }
    /// <summary>Positions the frozen model reads per test query (virtual tokens included); null for images.</summary>
    public double? InferenceTokensPerQuery { get; init; }
    /// <summary>Versions, git commit, machine, device and time of the run (see <see cref="RunProvenance"/>).</summary>
    public RunProvenance? Provenance { get; init; }

    public double ExamplesPerSecond => WallTime.TotalSeconds > 0 ? ExamplesProcessed / WallTime.TotalSeconds : 0;
    public double? Metric(string name) => Metrics.TryGetValue(name, out var v) ? v : null;
}
