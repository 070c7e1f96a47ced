using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Alignments;

/// <summary>An output alignment O_omega of the survey's formulation: how what the frozen model gives becomes an answer. It declares its coordinate.</summary>
public interface IAlignment
{
    string Name { get; }
    Taxonomy.OutputAlignment Kind { get; }
}

/// <summary>
/// An alignment that maps the frozen model's output [B, S] (class logits, features, or next-token log-probabilities at
/// the answer position) to target-task scores [B, T] (logits or log-probabilities: cross-entropy and argmax work on either).
/// </summary>
public interface IOutputAlignment : IAlignment
{
    IReadOnlyList<string> TargetLabels { get; }
    long TrainableParameters { get; }
    Tensor Map(Tensor sourceOutput);
}

/// <summary>
/// A statistical alignment estimated by counting the frozen model's outputs on labelled examples (label mappings), not
/// by gradient descent: re-estimated before the epochs it names, with the manipulation as it is then.
/// </summary>
public interface IEstimatedAlignment : IOutputAlignment
{
    bool EstimatesBeforeEpoch(int epoch);
    /// <summary>Estimates from the model's outputs [N, S] on the training examples and their target classes [N].</summary>
    void Estimate(Tensor sourceOutputs, Tensor targets);
}

/// <summary>
/// An alignment that reads the label words' log-likelihoods [B, C] (each class's whole label word after the prompt)
/// instead of the model's raw output: a verbalizer, optionally calibrated.
/// </summary>
public interface ILabelWordAlignment : IOutputAlignment
{
    /// <summary>Whether <see cref="Map(Tensor, Tensor?)"/> needs the same prompts' scores for content-free inputs.</summary>
    bool NeedsContentFreeScores { get; }
    /// <summary>Class scores [B, C] from label-word log-likelihoods [B, C] (and content-free ones [B, C], when needed).</summary>
    Tensor Map(Tensor labelWordScores, Tensor? contentFreeScores);
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
/// A verbalizer (rule-based alignment): each target class is a label word, and its score is the log-likelihood of the
/// whole word (the sum over its tokens) after the prompt, the way in-context learning scores label words. Input:
/// label-word log-likelihoods [B, C]; the verbalizer is the rule that names them.
/// </summary>
public sealed class Verbalizer(IReadOnlyList<string> labelWords) : ILabelWordAlignment
{
    public string Name => "verbalizer";
    public Taxonomy.OutputAlignment Kind => Taxonomy.OutputAlignment.RuleBased;
    public IReadOnlyList<string> TargetLabels { get; } = labelWords.Count > 0 ? labelWords : throw new ArgumentException("A verbalizer needs at least one label word.");
    public long TrainableParameters => 0;
    public bool NeedsContentFreeScores => false;
    public Tensor Map(Tensor labelWordScores) => labelWordScores;
    public Tensor Map(Tensor labelWordScores, Tensor? contentFreeScores) => labelWordScores;
}

/// <summary>
/// Contextual calibration (Zhao et al., ICML 2021) as an output alignment (statistical): the label words' probabilities
/// (renormalised over the query's choices) divided by those the same prompt gives content-free inputs, renormalised;
/// scores are the log of that. See <see cref="ContextualCalibration"/> for the arithmetic.
/// </summary>
public sealed class CalibratedVerbalizer(IReadOnlyList<string> labelWords) : ILabelWordAlignment
{
    public string Name => "verbalizer, contextual calibration";
    public Taxonomy.OutputAlignment Kind => Taxonomy.OutputAlignment.Statistical;
    public IReadOnlyList<string> TargetLabels { get; } = labelWords;
    public long TrainableParameters => 0;
    public bool NeedsContentFreeScores => true;
    public Tensor Map(Tensor labelWordScores) => labelWordScores;

    /// <summary>Scores may hold -inf for classes outside a query's choices; they stay -inf.</summary>
    public Tensor Map(Tensor labelWordScores, Tensor? contentFreeScores)
    {
        if (contentFreeScores is null) throw new ArgumentException("Contextual calibration needs the content-free scores of the same prompts.");
        // p / p_cf renormalised, in log space: log(0) for a class outside the choices has no gradient, and a learned
        // prompt trained through the calibration would otherwise get NaN from its backward pass.
        var logP = nn.functional.log_softmax(labelWordScores.to(ScalarType.Float64), -1);
        var logPcf = nn.functional.log_softmax(contentFreeScores.to(ScalarType.Float64), -1).clamp_min(Math.Log(1e-12));
        return nn.functional.log_softmax(logP - logPcf, -1).to(labelWordScores.dtype);
    }
}
