using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Alignments;

/// <summary>The statistical label-mapping methods compared in the visual reprogramming literature.</summary>
public enum LabelMappingMethod
{
    /// <summary>RLM: a random one-to-one map, fixed at the start.</summary>
    Random,
    /// <summary>FLM: one-to-one, greedy on the counts of (source prediction, target label), computed once before training.</summary>
    Frequency,
    /// <summary>ILM (Chen et al., CVPR 2023): FLM recomputed at every epoch with the current prompt.</summary>
    Iterative,
    /// <summary>BLM (Cai et al., NeurIPS 2024): a probabilistic many-to-many matrix from the joint distribution, every epoch.</summary>
    Bayesian,
    /// <summary>BLM+: BLM with the top-k source probabilities instead of the argmax (k = int(0.15 |T|), at least 1).</summary>
    BayesianTopK,
}

/// <summary>
/// Statistical output alignment: a |source| x |target| matrix omega estimated by counting the frozen model's
/// predictions against the target labels, never by gradient descent. One-to-one maps select logits; BLM and BLM+
/// reweight the logits, f(x) @ omega, for the training loss (cross-entropy on those scores) and for the test prediction
/// (their argmax), as the authors' code does (tmlr-group/BayesianLM, mapping.py, label_mapping_calculation:
/// torch.mm(logits, mapping_matrix), used by train_vm.py for both) and as the paper writes it (Cai et al., NeurIPS
/// 2024, Sec. 4: omega reweights the pretrained model's output logits).
/// </summary>
public sealed class LabelMapping : nn.Module, IEstimatedAlignment
{
    private Tensor omega;               // [S, T]
    private long[]? oneToOne;           // target -> source, for the one-to-one methods

    public LabelMapping(LabelMappingMethod method, int sourceClasses, IReadOnlyList<string> targetLabels, int seed,
                        IReadOnlyList<string>? sourceLabels = null, int? topK = null, double laplace = 1.0) : base(nameof(LabelMapping))
    {
        if (method is LabelMappingMethod.Random or LabelMappingMethod.Frequency or LabelMappingMethod.Iterative && sourceClasses < targetLabels.Count)
        {
            throw new ArgumentException($"A one-to-one label mapping needs at least as many source classes ({sourceClasses}) as target classes ({targetLabels.Count}); use BLM or a linear head.");
        }
        Method = method;
        SourceClasses = sourceClasses;
        TargetLabels = targetLabels;
        SourceLabels = sourceLabels;
        TopK = topK ?? DefaultTopK(targetLabels.Count);
        Laplace = laplace;
        var start = method == LabelMappingMethod.Random
            ? LabelMappingMath.RandomOneToOne(sourceClasses, targetLabels.Count, seed)
            : Enumerable.Range(0, targetLabels.Count).ToArray(); // replaced by the first estimate
        omega = SetOneToOne(start);
        register_buffer("omega", omega);
    }

    public LabelMappingMethod Method { get; }
    public int SourceClasses { get; }
    public IReadOnlyList<string>? SourceLabels { get; }
    public int TopK { get; }
    public double Laplace { get; }

    /// <summary>
    /// BLM+'s k for |T| target classes: int(0.15 |T|), truncated as the authors' train_vm.py does
    /// (k=int(len(class_names) * topk_ratio), topk_ratio = 0.15 in cfg.py), but at least 1: below 7 target classes
    /// the authors' formula gives k = 0, which would count nothing. 10 classes give k = 1, 43 (GTSRB) k = 6.
    /// </summary>
    public static int DefaultTopK(int targetClasses) => Math.Max(1, (int)(TopKRatio * targetClasses));

    /// <summary>The authors' top-k ratio (tmlr-group/BayesianLM, cfg.py: topk_ratio 0.15).</summary>
    public const double TopKRatio = 0.15;
    public string Name => Method switch
    {
        LabelMappingMethod.Random => "random label mapping (RLM)",
        LabelMappingMethod.Frequency => "frequency label mapping (FLM)",
        LabelMappingMethod.Iterative => "iterative label mapping (ILM)",
        LabelMappingMethod.Bayesian => "Bayesian label mapping (BLM)",
        _ => "Bayesian label mapping, top-k (BLM+)",
    };
    public Taxonomy.OutputAlignment Kind => Taxonomy.OutputAlignment.Statistical;
    public IReadOnlyList<string> TargetLabels { get; }
    public long TrainableParameters => 0;

    /// <summary>The current mapping matrix [S, T] (a copy on the CPU).</summary>
    public float[,] Omega()
    {
        using var cpu = omega.cpu();
        var data = cpu.data<float>().ToArray();
        var result = new float[SourceClasses, TargetLabels.Count];
        Buffer.BlockCopy(data, 0, result, 0, data.Length * sizeof(float));
        return result;
    }

    /// <summary>Whether the mapping is re-estimated before epoch <paramref name="epoch"/> (0-based).</summary>
    public bool EstimatesBeforeEpoch(int epoch) => Method switch
    {
        LabelMappingMethod.Random => false,
        LabelMappingMethod.Frequency => epoch == 0,
        _ => true,
    };

    /// <summary>Re-estimates omega from the frozen model's outputs [N, S] on the training data and their target labels [N].</summary>
    public void Estimate(Tensor sourceOutputs, Tensor targets)
    {
        if (Method == LabelMappingMethod.Random) return;
        using var scope = NewDisposeScope();
        var probabilities = nn.functional.softmax(sourceOutputs.detach().@float(), -1).cpu();
        var labels = targets.cpu().to(ScalarType.Int64).data<long>().Select(v => (int)v).ToArray();
        switch (Method)
        {
            case LabelMappingMethod.Frequency or LabelMappingMethod.Iterative:
                var predictions = probabilities.argmax(-1).data<long>().Select(v => (int)v).ToArray();
                var counts = LabelMappingMath.CountMatrix(predictions, labels, SourceClasses, TargetLabels.Count);
                Replace(SetOneToOne(LabelMappingMath.GreedyOneToOne(counts)));
                break;
            case LabelMappingMethod.Bayesian:
                var hard = probabilities.argmax(-1).data<long>().Select(v => (int)v).ToArray();
                Replace(SetProbabilistic(LabelMappingMath.Bayesian(LabelMappingMath.CountMatrix(hard, labels, SourceClasses, TargetLabels.Count), Laplace)));
                break;
            case LabelMappingMethod.BayesianTopK:
                var rows = Enumerable.Range(0, (int)probabilities.shape[0]).Select(i => probabilities[i].data<float>().ToArray()).ToArray();
                Replace(SetProbabilistic(LabelMappingMath.Bayesian(LabelMappingMath.TopKCountMatrix(rows, labels, TargetLabels.Count, TopK), Laplace)));
                break;
        }
    }

    public Tensor Map(Tensor sourceOutput)
    {
        if (oneToOne is not null)
        {
            using var index = tensor(oneToOne, device: sourceOutput.device);
            return sourceOutput.index_select(1, index);
        }
        // BLM / BLM+: the logits reweighted, [B, S] @ [S, T] -> [B, T] (not probabilities, not a log: the authors' scores).
        var w = omega.to(sourceOutput.dtype, sourceOutput.device);  // may be omega itself: never disposed here
        return sourceOutput.matmul(w);
    }

    /// <summary>After omega was restored from a file: one-to-one methods read their map back from it (each target's source).</summary>
    public void Restored()
    {
        if (oneToOne is null) return;
        using var cpu = omega.cpu();
        using var argmax = cpu.argmax(0);
        oneToOne = argmax.data<long>().ToArray();
    }

    private void Replace(Tensor next)
    {
        using (no_grad()) omega.copy_(next);
        next.Dispose();
    }

    private Tensor SetOneToOne(int[] mapping)
    {
        oneToOne = mapping.Select(m => (long)m).ToArray();
        return Matrix(LabelMappingMath.ToMatrix(mapping, SourceClasses));
    }

    private Tensor SetProbabilistic(float[,] matrix)
    {
        oneToOne = null;
        return Matrix(matrix);
    }

    private static Tensor Matrix(float[,] m)
    {
        var flat = new float[m.Length];
        Buffer.BlockCopy(m, 0, flat, 0, flat.Length * sizeof(float));
        return tensor(flat, [m.GetLength(0), m.GetLength(1)]);
    }
}
