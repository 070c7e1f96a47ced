using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reprogram.Training;

/// <summary>One batch's result from a training task: the loss (a scalar tensor with a graph) and what it covered.</summary>
public readonly record struct BatchOutput(Tensor Loss, long Correct, long Examples, long Tokens);

/// <summary>
/// What the trainer trains. The task owns its data, its frozen model and its manipulation; the trainer owns the loop.
/// </summary>
public interface ITrainingTask
{
    /// <summary>Only these are optimised: the manipulation's and the alignment's parameters, never the model's.</summary>
    IReadOnlyList<Parameter> TrainableParameters { get; }
    int ExampleCount { get; }
    /// <summary>Called before each epoch (label mappings are re-estimated here).</summary>
    void BeforeEpoch(int epoch);
    /// <summary>Forward pass and loss for the examples at these indices.</summary>
    BatchOutput Step(long[] indices);
}

public enum StopReason { Completed, Cancelled, NonFiniteLoss }

/// <summary>Progress of a run, as the notebook shows it live.</summary>
public sealed record TrainingProgress(
    int Epoch, int Epochs, int Step, int TotalSteps, double Loss, double? Accuracy,
    double ExamplesPerSecond, double LearningRate, TimeSpan Elapsed);

public sealed record CurvePoint(int Step, int Epoch, double Loss, double Accuracy);

/// <summary>One epoch: its mean loss, running training accuracy, learning rate and, if asked, the evaluation after it.</summary>
public sealed record EpochSummary(int Epoch, double MeanLoss, double TrainAccuracy, double LearningRate, double? Evaluation = null);

public sealed record TrainingReport(
    StopReason Stop,
    string Message,
    IReadOnlyList<CurvePoint> Curve,
    IReadOnlyList<EpochSummary> Epochs,
    int Steps,
    long ExamplesSeen,
    long TokensSeen,
    TimeSpan Elapsed)
{
    public double ExamplesPerSecond => Elapsed.TotalSeconds > 0 ? ExamplesSeen / Elapsed.TotalSeconds : 0;

    /// <summary>The last epoch's evaluation (<see cref="TrainingOptions.EvaluateAfterEpoch"/>), or null.</summary>
    public double? FinalEvaluation => Epochs.LastOrDefault()?.Evaluation;

    /// <summary>The best epoch's evaluation and its epoch (1-based; the earliest on ties), or null without evaluations.</summary>
    public (double Value, int Epoch)? BestEvaluation =>
        Epochs.Where(e => e.Evaluation is not null).Select(e => (Value: e.Evaluation!.Value, e.Epoch))
              .Aggregate(((double Value, int Epoch)?)null, (best, e) => best is null || e.Value > best.Value.Value ? e : best);
}

/// <summary>
/// The one trainer of every learnable manipulation: Adam or AdamW, a learning-rate schedule, batches and epochs,
/// optional gradient clipping, a seed that fixes everything, a dispose scope per step, live progress, cancellation
/// between steps (results so far are kept), and a clean stop on a NaN or infinite loss (before it reaches the parameters).
/// </summary>
public static class Trainer
{
    /// <summary>How often progress is reported at most (the last step of every epoch is always reported).</summary>
    public static TimeSpan ProgressInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    public static TrainingReport Train(ITrainingTask task, TrainingOptions options,
                                       IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default) =>
        // On the thread whose freed tensor memory stays mapped (see NativeAllocator); inline when already there.
        Runtime.ComputeThread.Run(() => TrainHere(task, options, progress, cancellationToken));

    private static TrainingReport TrainHere(ITrainingTask task, TrainingOptions options,
                                            IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        options.Validate();
        // Loops inside a step or an epoch's start (a label mapping's estimate) stop early too (Runtime.Cancellation).
        using var cancellation = Runtime.Cancellation.Use(cancellationToken);
        if (task.ExampleCount == 0) throw new ArgumentException("There is no training example.");
        if (task.TrainableParameters.Count == 0) throw new ArgumentException("Nothing to train: the manipulation and the alignment have no learnable parameter.");

        manual_seed(options.Seed);
        var order = new Random(options.Seed);
        var parameters = task.TrainableParameters;
        using var optimizer = options.Optimizer == OptimizerKind.AdamW
            ? (OptimizerHelper)optim.AdamW(parameters, options.LearningRate, weight_decay: options.WeightDecay)
            : optim.Adam(parameters, options.LearningRate, weight_decay: options.WeightDecay);
        var scheduler = options.Schedule switch
        {
            MultiStepSchedule m => optim.lr_scheduler.MultiStepLR(optimizer, m.Milestones(options.Epochs).ToList(), m.Gamma),
            CosineSchedule => optim.lr_scheduler.CosineAnnealingLR(optimizer, options.Epochs),
            _ => null,
        };

        var stepsPerEpoch = (task.ExampleCount + options.BatchSize - 1) / options.BatchSize;
        var totalSteps = stepsPerEpoch * options.Epochs;
        var curve = new List<CurvePoint>();
        var epochs = new List<EpochSummary>();
        var clock = Stopwatch.StartNew();
        TimeSpan? lastReport = null;
        long examplesSeen = 0, tokensSeen = 0;
        var step = 0;
        var stop = StopReason.Completed;
        var message = "completed";

        for (var epoch = 0; epoch < options.Epochs && stop == StopReason.Completed; epoch++)
        {
            task.BeforeEpoch(epoch);
            var permutation = Enumerable.Range(0, task.ExampleCount).Select(i => (long)i).ToArray();
            order.Shuffle(permutation);
            double epochLoss = 0;
            long epochCorrect = 0, epochExamples = 0;
            var learningRate = optimizer.ParamGroups.First().LearningRate;

            for (var b = 0; b < stepsPerEpoch; b++)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    stop = StopReason.Cancelled;
                    message = $"cancelled at step {step} of {totalSteps} (epoch {epoch + 1}); results so far are kept";
                    break;
                }
                var indices = permutation[(b * options.BatchSize)..Math.Min(task.ExampleCount, (b + 1) * options.BatchSize)];
                double loss;
                using (var scope = NewDisposeScope())
                {
                    optimizer.zero_grad();
                    var output = task.Step(indices);
                    loss = output.Loss.item<float>();
                    if (!double.IsFinite(loss))
                    {
                        stop = StopReason.NonFiniteLoss;
                        message = $"the loss became {loss} at step {step + 1} (epoch {epoch + 1}); training stopped before it reached the parameters. " +
                                  "Lower the learning rate or clip gradients (ClipGradientNorm).";
                        break;
                    }
                    output.Loss.backward();
                    if (options.ClipGradientNorm is { } clip) nn.utils.clip_grad_norm_(parameters, clip);
                    optimizer.step();
                    epochCorrect += output.Correct;
                    epochExamples += output.Examples;
                    examplesSeen += output.Examples;
                    tokensSeen += output.Tokens;
                }
                step++;
                epochLoss += loss * indices.Length;
                var accuracy = epochExamples > 0 ? (double)epochCorrect / epochExamples : 0;
                curve.Add(new CurvePoint(step, epoch + 1, loss, accuracy));
                var lastOfEpoch = b == stepsPerEpoch - 1;
                if (progress is not null && (lastOfEpoch || lastReport is null || clock.Elapsed - lastReport >= ProgressInterval))
                {
                    lastReport = clock.Elapsed;
                    progress.Report(new TrainingProgress(epoch + 1, options.Epochs, step, totalSteps, loss, accuracy,
                        examplesSeen / Math.Max(1e-9, clock.Elapsed.TotalSeconds), learningRate, clock.Elapsed));
                }
            }
            scheduler?.step();
            if (epochExamples > 0)
            {
                // The evaluation sees the epoch only if it finished (a cancelled or stopped epoch is not evaluated).
                double? evaluation = null;
                if (options.EvaluateAfterEpoch is { } evaluate && stop == StopReason.Completed)
                {
                    using var evaluationScope = NewDisposeScope();
                    using var noGrad = no_grad();
                    evaluation = evaluate(epoch);
                }
                epochs.Add(new EpochSummary(epoch + 1, epochLoss / epochExamples, (double)epochCorrect / epochExamples, learningRate, evaluation));
            }
        }
        return new TrainingReport(stop, message, curve, epochs, step, examplesSeen, tokensSeen, clock.Elapsed);
    }
}
