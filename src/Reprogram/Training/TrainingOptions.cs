namespace Reprogram.Training;

public enum OptimizerKind { Adam, AdamW }

/// <summary>How the learning rate changes over epochs.</summary>
public abstract record LearningRateSchedule
{
    /// <summary>The same rate throughout.</summary>
    public static LearningRateSchedule Constant { get; } = new ConstantSchedule();

    /// <summary>The ILM-VP schedule: multiply by 0.1 at 50% and 72% of the epochs.</summary>
    public static LearningRateSchedule IlmVp { get; } = new MultiStepSchedule([0.5, 0.72], 0.1);

    /// <summary>Cosine annealing from the initial rate to 0 over the epochs.</summary>
    public static LearningRateSchedule Cosine { get; } = new CosineSchedule();

    public static LearningRateSchedule Parse(string? text) => (text ?? "constant").Trim().ToLowerInvariant() switch
    {
        "constant" or "none" or "" => Constant,
        "multistep" or "multi-step" or "ilm-vp" or "ilmvp" => IlmVp,
        "cosine" => Cosine,
        var other => throw new ArgumentException($"'{other}' is not a learning-rate schedule. Allowed: constant, multistep (x0.1 at 50% and 72% of the epochs, as ILM-VP), cosine."),
    };
}

public sealed record ConstantSchedule : LearningRateSchedule
{
    public override string ToString() => "constant";
}

/// <summary>
/// Multiplies the rate by <see cref="Gamma"/> when training passes each fraction of its epochs. The milestone of a
/// fraction f is int(f * epochs), truncated as the ILM-VP and BLM scripts compute it
/// (milestones=[int(0.5 * epochs), int(0.72 * epochs)]), but at least 1.
/// </summary>
public sealed record MultiStepSchedule(IReadOnlyList<double> Fractions, double Gamma) : LearningRateSchedule
{
    public IReadOnlyList<int> Milestones(int epochs) =>
        Fractions.Select(f => Math.Max(1, (int)(f * epochs))).Distinct().Order().ToArray();

    public override string ToString() => $"multistep (x{Gamma} at {string.Join(", ", Fractions.Select(f => $"{f:P0}"))} of the epochs)";
}

public sealed record CosineSchedule : LearningRateSchedule
{
    public override string ToString() => "cosine";
}

/// <summary>Everything that decides a training run. The seed fixes initialisation, data order and sampling.</summary>
public sealed record TrainingOptions
{
    public int Epochs { get; init; } = 5;
    public int BatchSize { get; init; } = 32;
    public double LearningRate { get; init; } = 0.01;
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;
    public double WeightDecay { get; init; }
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Constant;
    /// <summary>Clip the gradients' global norm to this value; null for no clipping.</summary>
    public double? ClipGradientNorm { get; init; }
    public int Seed { get; init; }
    /// <summary>
    /// Called after each epoch (0-based) with the model as it is then, e.g. to measure test accuracy; its value goes into
    /// <see cref="EpochSummary.Evaluation"/> and <see cref="TrainingReport.BestEvaluation"/> (the authors of ILM-VP and
    /// BLM report the best epoch's test accuracy). Null: no evaluation.
    /// </summary>
    public Func<int, double>? EvaluateAfterEpoch { get; init; }

    /// <summary>Bounds that keep a typo (an extra digit or three) from starting a run that would never end or fill the memory.</summary>
    public const int MaxEpochs = 10_000, MaxBatchSize = 4096;

    public void Validate()
    {
        if (Epochs is < 1 or > MaxEpochs) throw new ArgumentException($"Epochs must be 1 to {MaxEpochs:N0}, not {Epochs}.");
        if (BatchSize is < 1 or > MaxBatchSize) throw new ArgumentException($"The batch size must be 1 to {MaxBatchSize:N0}, not {BatchSize}.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"The learning rate must be a positive number, not {LearningRate}.");
        if (WeightDecay < 0) throw new ArgumentException($"Weight decay cannot be negative ({WeightDecay}).");
        if (ClipGradientNorm is <= 0) throw new ArgumentException($"Gradient clipping needs a positive norm, not {ClipGradientNorm}.");
    }
}
