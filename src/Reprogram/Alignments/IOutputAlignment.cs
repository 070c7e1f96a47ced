using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Alignments;

/// <summary>
/// The output alignment O_omega of the survey's formulation: maps the frozen model's output [B, S] to target-task
/// scores [B, T] (logits or log-probabilities: cross-entropy and argmax work on either). It declares its coordinate.
/// </summary>
public interface IOutputAlignment
{
    string Name { get; }
    Taxonomy.OutputAlignment Kind { get; }
    IReadOnlyList<string> TargetLabels { get; }
    long TrainableParameters { get; }
    Tensor Map(Tensor sourceOutput);
}

/// <summary>No alignment: the frozen model's outputs already are the target classes.</summary>
public sealed class IdentityAlignment(IReadOnlyList<string> targetLabels) : IOutputAlignment
{
    public string Name => "identity";
    public Taxonomy.OutputAlignment Kind => Taxonomy.OutputAlignment.Identity;
    public IReadOnlyList<string> TargetLabels { get; } = targetLabels;
    public long TrainableParameters => 0;

    public Tensor Map(Tensor sourceOutput)
    {
        if (sourceOutput.shape[^1] != TargetLabels.Count)
        {
            throw new ArgumentException($"Identity alignment needs the model's {sourceOutput.shape[^1]} outputs to be the {TargetLabels.Count} target classes; use a label mapping or a linear head.");
        }
        return sourceOutput;
    }
}

/// <summary>A learned linear head over the frozen model's outputs (or features): the linear-probe alignment.</summary>
public sealed class LinearHead : nn.Module<Tensor, Tensor>, IOutputAlignment
{
    private readonly TorchSharp.Modules.Linear linear;

    public LinearHead(int sourceSize, IReadOnlyList<string> targetLabels, int seed) : base(nameof(LinearHead))
    {
        TargetLabels = targetLabels;
        manual_seed(seed);
        linear = nn.Linear(sourceSize, targetLabels.Count);
        register_module("linear", linear);
    }

    public string Name => "linear head";
    public Taxonomy.OutputAlignment Kind => Taxonomy.OutputAlignment.Linear;
    public IReadOnlyList<string> TargetLabels { get; }
    public long TrainableParameters => parameters().Sum(p => p.numel());
    public override Tensor forward(Tensor x) => linear.forward(x);
    public Tensor Map(Tensor sourceOutput) => forward(sourceOutput);
}

/// <summary>
/// A verbalizer (rule-based alignment): each target class is a label word, and its score is the model's log-probability
/// of that word's first token at the answer position. Input: next-token logits [B, V].
/// </summary>
public sealed class Verbalizer : IOutputAlignment
{
    private readonly long[] tokenIds;

    public Verbalizer(IReadOnlyList<string> labelWords, IReadOnlyList<long> firstTokenIds)
    {
        if (labelWords.Count != firstTokenIds.Count) throw new ArgumentException("One token id per label word.");
        if (firstTokenIds.Distinct().Count() != firstTokenIds.Count)
        {
            throw new ArgumentException("Two label words start with the same token, so a verbalizer cannot tell them apart: " +
                                        string.Join(", ", labelWords));
        }
        TargetLabels = labelWords;
        tokenIds = firstTokenIds.ToArray();
    }

    public string Name => "verbalizer";
    public Taxonomy.OutputAlignment Kind => Taxonomy.OutputAlignment.RuleBased;
    public IReadOnlyList<string> TargetLabels { get; }
    public IReadOnlyList<long> TokenIds => tokenIds;
    public long TrainableParameters => 0;

    public Tensor Map(Tensor sourceOutput)
    {
        using var ids = tensor(tokenIds, device: sourceOutput.device);
        return nn.functional.log_softmax(sourceOutput, -1).index_select(1, ids);
    }
}
