using System;

namespace Reprogram.Alignments;

/// <summary>
/// Output label mappings for model reprogramming, computed from a frozen source classifier's predictions on
/// target-task training data. Count matrices have rows = source labels (the frozen model's classes) and
/// columns = target labels. A mapping matrix <c>omega</c> (|source| x |target|) turns the frozen model's logits into
/// target scores: <c>targetScores = sourceLogits @ omega</c> (BLM's label_mapping_calculation); one-to-one mappings
/// are the special case built by <see cref="ToMatrix"/>, where that product selects one logit per target.
/// </summary>
public static class LabelMappingMath
{
    /// <summary>
    /// Frequency counts: <c>counts[s, t]</c> = number of examples whose source prediction (argmax) is s and whose
    /// target label is t. This is the statistic behind FLM/ILM (Tsai et al. 2020; Chen et al., CVPR 2023) and
    /// the joint-frequency estimate of BLM (Cai et al., NeurIPS 2024).
    /// </summary>
    public static double[,] CountMatrix(int[] sourcePredictions, int[] targetLabels, int sourceClasses, int targetClasses)
    {
        ArgumentNullException.ThrowIfNull(sourcePredictions);
        ArgumentNullException.ThrowIfNull(targetLabels);
        RequirePositive(sourceClasses, nameof(sourceClasses));
        RequirePositive(targetClasses, nameof(targetClasses));
        if (sourcePredictions.Length != targetLabels.Length)
            throw new ArgumentException(
                $"sourcePredictions has {sourcePredictions.Length} entries but targetLabels has {targetLabels.Length}.",
                nameof(targetLabels));

        var counts = new double[sourceClasses, targetClasses];
        for (int i = 0; i < sourcePredictions.Length; i++)
        {
            int s = sourcePredictions[i], t = targetLabels[i];
            RequireIndex(s, sourceClasses, nameof(sourcePredictions), i);
            RequireIndex(t, targetClasses, nameof(targetLabels), i);
            counts[s, t] += 1.0;
        }
        return counts;
    }

    /// <summary>
    /// Soft counts for BLM+ (Cai et al., NeurIPS 2024, arXiv 2410.24018): each example adds the probabilities of
    /// its top-k source labels to column t (its target label); all other source labels add nothing.
    /// The probabilities are added as they are, NOT renormalised over the top k: that is what the authors'
    /// code does (tmlr-group/BayesianLM, mapping.py, blmpp_reweight_matrix: topk + scatter of the raw softmax
    /// values). Use the overload with <c>renormalizeTopK: true</c> for the renormalised variant.
    /// Ties in probability are broken towards the smaller source index.
    /// </summary>
    public static double[,] TopKCountMatrix(float[][] sourceProbabilities, int[] targetLabels, int targetClasses, int k)
        => TopKCountMatrix(sourceProbabilities, targetLabels, targetClasses, k, renormalizeTopK: false);

    /// <summary>
    /// As <see cref="TopKCountMatrix(float[][], int[], int, int)"/>; with <paramref name="renormalizeTopK"/> each
    /// example's top-k probabilities are divided by their sum first, so every example adds mass exactly 1
    /// (an example whose top-k mass is 0 adds nothing). Not the paper's estimator; kept as an option.
    /// </summary>
    public static double[,] TopKCountMatrix(float[][] sourceProbabilities, int[] targetLabels, int targetClasses, int k,
        bool renormalizeTopK)
    {
        ArgumentNullException.ThrowIfNull(sourceProbabilities);
        ArgumentNullException.ThrowIfNull(targetLabels);
        RequirePositive(targetClasses, nameof(targetClasses));
        if (sourceProbabilities.Length != targetLabels.Length)
            throw new ArgumentException(
                $"sourceProbabilities has {sourceProbabilities.Length} rows but targetLabels has {targetLabels.Length}.",
                nameof(targetLabels));
        if (sourceProbabilities.Length == 0)
            throw new ArgumentException("At least one example is needed to know the number of source classes.",
                nameof(sourceProbabilities));

        int sourceClasses = sourceProbabilities[0]?.Length ?? 0;
        RequirePositive(sourceClasses, "sourceProbabilities[0].Length");
        if (k < 1 || k > sourceClasses)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in [1, {sourceClasses}].");

        var counts = new double[sourceClasses, targetClasses];
        var top = new int[k];
        for (int i = 0; i < sourceProbabilities.Length; i++)
        {
            float[] p = sourceProbabilities[i];
            if (p is null || p.Length != sourceClasses)
                throw new ArgumentException(
                    $"sourceProbabilities[{i}] must have {sourceClasses} entries (the first row's length).",
                    nameof(sourceProbabilities));
            int t = targetLabels[i];
            RequireIndex(t, targetClasses, nameof(targetLabels), i);

            SelectTopK(p, top, i);
            double mass = 0;
            for (int j = 0; j < k; j++) mass += p[top[j]];
            if (renormalizeTopK && mass <= 0) continue;
            double scale = renormalizeTopK ? 1.0 / mass : 1.0;
            for (int j = 0; j < k; j++) counts[top[j], t] += p[top[j]] * scale;
        }
        return counts;
    }

    /// <summary>
    /// One-to-one greedy mapping (frequency label mapping of Tsai et al., ICML 2020; iterative label mapping,
    /// ILM-VP, Chen et al., CVPR 2023): repeatedly take the largest remaining entry (s, t), map target t to
    /// source s, and remove row s and column t, until every target label has a source label.
    /// Ties go to the smallest s, then the smallest t, so the result is deterministic.
    /// </summary>
    /// <returns><c>int[targetClasses]</c>: the chosen source label of each target label.</returns>
    public static int[] GreedyOneToOne(double[,] counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        int sourceClasses = counts.GetLength(0), targetClasses = counts.GetLength(1);
        if (targetClasses == 0)
            throw new ArgumentException("The count matrix has no target labels (0 columns).", nameof(counts));
        if (sourceClasses < targetClasses)
            throw new ArgumentException(
                $"A one-to-one mapping needs at least as many source labels as target labels, but the count matrix " +
                $"has {sourceClasses} source rows and {targetClasses} target columns.", nameof(counts));
        foreach (double v in counts)
            if (double.IsNaN(v))
                throw new ArgumentException("The count matrix contains NaN.", nameof(counts));

        var rowUsed = new bool[sourceClasses];
        var colUsed = new bool[targetClasses];
        var mapping = new int[targetClasses];
        for (int step = 0; step < targetClasses; step++)
        {
            int bestS = -1, bestT = -1;
            double best = double.NegativeInfinity;
            // Row-major scan with strict '>' keeps the first maximum: smallest s, then smallest t.
            for (int s = 0; s < sourceClasses; s++)
            {
                if (rowUsed[s]) continue;
                for (int t = 0; t < targetClasses; t++)
                {
                    if (colUsed[t]) continue;
                    if (bestS < 0 || counts[s, t] > best)
                    {
                        best = counts[s, t];
                        bestS = s;
                        bestT = t;
                    }
                }
            }
            mapping[bestT] = bestS;
            rowUsed[bestS] = true;
            colUsed[bestT] = true;
        }
        return mapping;
    }

    /// <summary>
    /// Random one-to-one mapping, the RLM baseline of Chen et al. (CVPR 2023) and Cai et al. (NeurIPS 2024):
    /// a uniformly random injective map target -> source, drawn by a partial
    /// Fisher-Yates shuffle from <c>new System.Random(seed)</c>, so a seed always gives the same map.
    /// </summary>
    public static int[] RandomOneToOne(int sourceClasses, int targetClasses, int seed)
    {
        RequirePositive(sourceClasses, nameof(sourceClasses));
        RequirePositive(targetClasses, nameof(targetClasses));
        if (sourceClasses < targetClasses)
            throw new ArgumentException(
                $"A one-to-one mapping needs sourceClasses >= targetClasses, got {sourceClasses} < {targetClasses}.",
                nameof(targetClasses));

        var pool = new int[sourceClasses];
        for (int s = 0; s < sourceClasses; s++) pool[s] = s;
        var rng = new Random(seed);
        var mapping = new int[targetClasses];
        for (int t = 0; t < targetClasses; t++)
        {
            int j = rng.Next(t, sourceClasses);
            (pool[t], pool[j]) = (pool[j], pool[t]);
            mapping[t] = pool[t];
        }
        return mapping;
    }

    /// <summary>
    /// Turns a mapping (target t -> source mapping[t]) into a |source| x |target| 0/1 matrix whose column t has a
    /// single 1 at row mapping[t], so one-to-one mappings share the <c>logits @ omega</c> path with BLM.
    /// </summary>
    public static float[,] ToMatrix(int[] mapping, int sourceClasses)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        RequirePositive(sourceClasses, nameof(sourceClasses));
        var m = new float[sourceClasses, mapping.Length];
        for (int t = 0; t < mapping.Length; t++)
        {
            RequireIndex(mapping[t], sourceClasses, nameof(mapping), t);
            m[mapping[t], t] = 1f;
        }
        return m;
    }

    /// <summary>
    /// Bayesian-guided label mapping, BLM / BLM+ (Cai et al., "Bayesian-guided Label Mapping for Visual
    /// Reprogramming", NeurIPS 2024, arXiv 2410.24018): a probabilistic many-to-many matrix omega[s, t]
    /// ~ P(Y_T = t | Y_S = s), estimated from the joint distribution of source predictions and target labels,
    /// then normalised per target label. Pass <see cref="CountMatrix"/> for BLM or
    /// <see cref="TopKCountMatrix(float[][], int[], int, int)"/> for BLM+; the authors use laplace = 1.
    /// </summary>
    public static float[,] Bayesian(double[,] counts, double laplace)
    {
        // Estimator (Cai et al. 2024, Sec. 4, "BLM" and "BLM+"; checked against the authors' code,
        // tmlr-group/BayesianLM mapping.py, blm_reweight_matrix / blmpp_reweight_matrix):
        //
        //   omega'[s,t] = N[s,t] / ( sum_t' N[s,t'] + lambda )          Bayes: P(Y_T=t | Y_S=s) = P(s,t) / P(s),
        //                                                               lambda = Laplace smoothing in the marginal
        //   omega[s,t]  = omega'[s,t] / sum_s' omega'[s',t]             column-wise normalisation: each target's
        //                                                               column sums to 1
        //
        // BLM:  N[s,t] = #{ i : argmax f(x_i) = s, y_i = t }                       (CountMatrix)
        // BLM+: N[s,t] = sum_{i : y_i = t, s in topK(f(x_i))} P(Y_S = s | x_i)     (TopKCountMatrix)
        //
        // Degenerate cases (the reference code yields NaN there; we choose finite values):
        //   a source row with no mass and lambda = 0 gives omega' = 0 (0/0 taken as 0);
        //   a target column with no mass at all (no training example) gets the uniform column 1/|S|.
        ArgumentNullException.ThrowIfNull(counts);
        if (double.IsNaN(laplace) || double.IsInfinity(laplace) || laplace < 0)
            throw new ArgumentOutOfRangeException(nameof(laplace), laplace, "laplace must be finite and >= 0.");
        int sourceClasses = counts.GetLength(0), targetClasses = counts.GetLength(1);
        if (sourceClasses == 0 || targetClasses == 0)
            throw new ArgumentException("The count matrix must have at least one row and one column.", nameof(counts));
        foreach (double v in counts)
            if (double.IsNaN(v) || double.IsInfinity(v) || v < 0)
                throw new ArgumentException("Counts must be finite and non-negative.", nameof(counts));

        var conditional = new double[sourceClasses, targetClasses];
        for (int s = 0; s < sourceClasses; s++)
        {
            double marginal = laplace;
            for (int t = 0; t < targetClasses; t++) marginal += counts[s, t];
            if (marginal <= 0) continue; // empty row with lambda = 0: leave zeros
            for (int t = 0; t < targetClasses; t++) conditional[s, t] = counts[s, t] / marginal;
        }

        var omega = new float[sourceClasses, targetClasses];
        for (int t = 0; t < targetClasses; t++)
        {
            double columnSum = 0;
            for (int s = 0; s < sourceClasses; s++) columnSum += conditional[s, t];
            for (int s = 0; s < sourceClasses; s++)
                omega[s, t] = columnSum > 0 ? (float)(conditional[s, t] / columnSum) : 1f / sourceClasses;
        }
        return omega;
    }

    // Fills 'top' with the indices of the top.Length largest entries of p (larger value first, ties -> smaller index).
    private static void SelectTopK(float[] p, int[] top, int row)
    {
        int k = top.Length, filled = 0;
        for (int s = 0; s < p.Length; s++)
        {
            float v = p[s];
            if (float.IsNaN(v))
                throw new ArgumentException($"sourceProbabilities[{row}][{s}] is NaN.", "sourceProbabilities");
            if (filled == k && !(v > p[top[k - 1]])) continue;
            int j = filled < k ? filled++ : k - 1;
            // Insertion: shift strictly smaller values down; equal values keep their (smaller) index ahead.
            while (j > 0 && v > p[top[j - 1]])
            {
                top[j] = top[j - 1];
                j--;
            }
            top[j] = s;
        }
    }

    private static void RequirePositive(int value, string name)
    {
        if (value <= 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive.");
    }

    private static void RequireIndex(int value, int count, string name, int position)
    {
        if ((uint)value >= (uint)count)
            throw new ArgumentOutOfRangeException(name, value,
                $"{name}[{position}] = {value} is outside [0, {count}).");
    }
}
