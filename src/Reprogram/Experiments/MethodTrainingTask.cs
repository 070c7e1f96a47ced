using Reprogram.Alignments;
using Reprogram.Manipulations;
using Reprogram.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>
/// What the one trainer trains for any paradigm: a manipulation and an alignment on a frozen backbone, over a split's
/// training examples. The loss is cross-entropy over the class scores the alignment reads (restricted to each example's
/// choices); label mappings are re-estimated before the epochs they name, with the manipulation as it is then.
/// </summary>
public sealed class MethodTrainingTask(Backbone backbone, IManipulation? manipulation, IAlignment alignment, TaskSplit split) : ITrainingTask
{
    public IReadOnlyList<Parameter> TrainableParameters { get; } = Experiment.Learnable(manipulation, alignment);
    public int ExampleCount => split.Train.Count;

    public void BeforeEpoch(int epoch)
    {
        if (alignment is IEstimatedAlignment mapping && mapping.EstimatesBeforeEpoch(epoch)) Experiment.EstimateMapping(backbone, manipulation, mapping, split);
    }

    /// <summary>Accuracy on examples of the split (its test examples by default), with the manipulation and alignment as they are now.</summary>
    public double Accuracy(IReadOnlyList<TaskExample>? examples = null)
    {
        examples ??= split.Queries;
        long correct = 0;
        foreach (var chunk in examples.Chunk(Experiment.EvaluationBatch))
        {
            Runtime.Cancellation.ThrowIfRequested();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var predicted = Experiment.ClassScores(backbone, manipulation, alignment, split, chunk).argmax(-1);
            correct += predicted.eq(Experiment.Targets(split, chunk, predicted.device)).sum().item<long>();
        }
        return examples.Count == 0 ? 0 : (double)correct / examples.Count;
    }

    public BatchOutput Step(long[] indices)
    {
        var batch = indices.Select(i => split.Train[(int)i]).ToArray();
        var scores = Experiment.ClassScores(backbone, manipulation, alignment, split, batch);
        var targets = Experiment.Targets(split, batch, scores.device);
        var loss = nn.functional.cross_entropy(scores, targets);
        var correct = scores.argmax(-1).eq(targets).sum().item<long>();
        var tokens = batch.Sum(e => (long)(backbone.PositionsPerQuery(manipulation, split, e) ?? 0));
        return new BatchOutput(loss, correct, batch.Length, tokens);
    }
}
