using System;
using System.Linq;
using Reprogram.Alignments;
using Xunit;

namespace Reprogram.Tests;

public class LabelMappingMathTests
{
    private const double Tol = 1e-6;

    // ---------- helpers ----------

    private static float[] Predict(float[] sourceProbabilities, float[,] omega)
    {
        int s = omega.GetLength(0), t = omega.GetLength(1);
        Assert.Equal(s, sourceProbabilities.Length);
        var logits = new float[t];
        for (int j = 0; j < t; j++)
            for (int i = 0; i < s; i++)
                logits[j] += sourceProbabilities[i] * omega[i, j];
        return logits;
    }

    private static int ArgMax(float[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    private static void AssertMatrix(double[,] expected, double[,] actual)
    {
        Assert.Equal(expected.GetLength(0), actual.GetLength(0));
        Assert.Equal(expected.GetLength(1), actual.GetLength(1));
        for (int i = 0; i < expected.GetLength(0); i++)
            for (int j = 0; j < expected.GetLength(1); j++)
                Assert.True(Math.Abs(expected[i, j] - actual[i, j]) <= Tol,
                    $"[{i},{j}]: expected {expected[i, j]}, got {actual[i, j]}");
    }

    private static void AssertMatrix(double[,] expected, float[,] actual)
    {
        var a = new double[actual.GetLength(0), actual.GetLength(1)];
        for (int i = 0; i < a.GetLength(0); i++)
            for (int j = 0; j < a.GetLength(1); j++)
                a[i, j] = actual[i, j];
        AssertMatrix(expected, a);
    }

    // ---------- GreedyOneToOne ----------

    [Fact]
    public void Greedy_4x3_HandComputed()
    {
        // Largest entry 7 at (s1,t0) -> t0:=s1; drop row 1, col 0.
        // Remaining max 4 at (s2,t1) -> t1:=s2; drop row 2, col 1.
        // Column 2 left with s0:0, s3:2 -> t2:=s3 (its per-column argmax s1 is already taken).
        var counts = new double[,]
        {
            { 5, 1, 0 },
            { 7, 2, 3 },
            { 6, 4, 1 },
            { 0, 3, 2 },
        };
        Assert.Equal(new[] { 1, 2, 3 }, LabelMappingMath.GreedyOneToOne(counts));
    }

    [Fact]
    public void Greedy_4x3_TiesGoToSmallestSourceThenSmallestTarget()
    {
        // Max 5 appears at (0,1),(0,2),(1,0),(1,1),(2,0),(2,2): smallest s=0, then t=1 -> t1:=s0.
        // Rows {1,2,3}, cols {0,2}: 5 at (1,0),(2,0),(2,2) -> (1,0) -> t0:=s1.
        // Col 2, rows {2,3}: 5 at s2 -> t2:=s2.
        var counts = new double[,]
        {
            { 2, 5, 5 },
            { 5, 5, 0 },
            { 5, 1, 5 },
            { 0, 0, 0 },
        };
        Assert.Equal(new[] { 1, 0, 2 }, LabelMappingMath.GreedyOneToOne(counts));
    }

    [Fact]
    public void Greedy_AllZero_IsIdentityByTieRule()
    {
        Assert.Equal(new[] { 0, 1, 2 }, LabelMappingMath.GreedyOneToOne(new double[4, 3]));
    }

    [Fact]
    public void Greedy_MoreTargetsThanSources_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => LabelMappingMath.GreedyOneToOne(new double[2, 3]));
        Assert.Contains("2 source", ex.Message);
        Assert.Contains("3 target", ex.Message);
    }

    // ---------- RandomOneToOne ----------

    [Fact]
    public void Random_IsInjectiveAndInRange()
    {
        for (int seed = 0; seed < 20; seed++)
        {
            int[] map = LabelMappingMath.RandomOneToOne(10, 7, seed);
            Assert.Equal(7, map.Length);
            Assert.All(map, s => Assert.InRange(s, 0, 9));
            Assert.Equal(map.Length, map.Distinct().Count());
        }
        // Square case must be a permutation.
        Assert.Equal(Enumerable.Range(0, 6), LabelMappingMath.RandomOneToOne(6, 6, 3).OrderBy(x => x));
    }

    [Fact]
    public void Random_IsSeedDeterministic_AndSeedsDiffer()
    {
        Assert.Equal(LabelMappingMath.RandomOneToOne(100, 10, 42), LabelMappingMath.RandomOneToOne(100, 10, 42));
        int[] first = LabelMappingMath.RandomOneToOne(100, 10, 0);
        bool someDiffer = Enumerable.Range(1, 10)
            .Any(seed => !LabelMappingMath.RandomOneToOne(100, 10, seed).SequenceEqual(first));
        Assert.True(someDiffer);
    }

    [Fact]
    public void Random_MoreTargetsThanSources_Throws()
    {
        Assert.Throws<ArgumentException>(() => LabelMappingMath.RandomOneToOne(3, 4, 0));
    }

    // ---------- ToMatrix ----------

    [Fact]
    public void ToMatrix_ShapeAndOnes()
    {
        float[,] m = LabelMappingMath.ToMatrix(new[] { 3, 0, 2 }, 5);
        Assert.Equal(5, m.GetLength(0));
        Assert.Equal(3, m.GetLength(1));
        var expected = new double[,]
        {
            { 0, 1, 0 },
            { 0, 0, 0 },
            { 0, 0, 1 },
            { 1, 0, 0 },
            { 0, 0, 0 },
        };
        AssertMatrix(expected, m);
        // Through the matrix, target t scores exactly the probability of source mapping[t].
        float[] logits = Predict(new[] { 0.1f, 0.2f, 0.3f, 0.15f, 0.25f }, m);
        Assert.Equal(new[] { 0.15f, 0.1f, 0.3f }, logits);
    }

    [Fact]
    public void ToMatrix_OutOfRangeSource_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelMappingMath.ToMatrix(new[] { 0, 5 }, 5));
    }

    // ---------- CountMatrix / TopKCountMatrix ----------

    [Fact]
    public void CountMatrix_ThreeExamples()
    {
        // (pred, label) = (2,1), (0,1), (2,0)
        double[,] c = LabelMappingMath.CountMatrix(new[] { 2, 0, 2 }, new[] { 1, 1, 0 }, 3, 2);
        AssertMatrix(new double[,] { { 0, 1 }, { 0, 0 }, { 1, 1 } }, c);
    }

    [Fact]
    public void CountMatrix_BadInputs_Throw()
    {
        Assert.Throws<ArgumentException>(() => LabelMappingMath.CountMatrix(new[] { 0, 1 }, new[] { 0 }, 2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelMappingMath.CountMatrix(new[] { 2 }, new[] { 0 }, 2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelMappingMath.CountMatrix(new[] { 0 }, new[] { 2 }, 2, 2));
    }

    // Three examples over 4 source classes, 2 target labels, k = 2.
    private static readonly float[][] Probs =
    {
        new[] { 0.5f, 0.3f, 0.15f, 0.05f }, // label 0, top-2 {s0:0.5, s1:0.3}
        new[] { 0.1f, 0.2f, 0.6f, 0.1f },   // label 1, top-2 {s2:0.6, s1:0.2}
        new[] { 0.1f, 0.1f, 0.4f, 0.4f },   // label 1, top-2 {s2:0.4, s3:0.4}
    };
    private static readonly int[] Labels = { 0, 1, 1 };

    [Fact]
    public void TopKCountMatrix_ThreeExamples_RawProbabilities()
    {
        double[,] c = LabelMappingMath.TopKCountMatrix(Probs, Labels, 2, 2);
        var expected = new double[,]
        {
            { 0.5, 0.0 },
            { 0.3, 0.2 },
            { 0.0, 1.0 }, // 0.6 + 0.4
            { 0.0, 0.4 },
        };
        AssertMatrix(expected, c);
    }

    [Fact]
    public void TopKCountMatrix_ThreeExamples_Renormalised()
    {
        double[,] c = LabelMappingMath.TopKCountMatrix(Probs, Labels, 2, 2, renormalizeTopK: true);
        var expected = new double[,]
        {
            { 0.625, 0.00 }, // 0.5/0.8
            { 0.375, 0.25 }, // 0.3/0.8, 0.2/0.8
            { 0.000, 1.25 }, // 0.6/0.8 + 0.4/0.8
            { 0.000, 0.50 }, // 0.4/0.8
        };
        AssertMatrix(expected, c);
    }

    [Fact]
    public void TopKCountMatrix_KEqualsOne_TieGoesToSmallerIndex_AndMatchesArgmaxCounts()
    {
        var probs = new[] { new[] { 0.4f, 0.1f, 0.1f, 0.4f } };
        double[,] c = LabelMappingMath.TopKCountMatrix(probs, new[] { 1 }, 2, 1, renormalizeTopK: true);
        AssertMatrix(new double[,] { { 0, 1 }, { 0, 0 }, { 0, 0 }, { 0, 0 } }, c);

        // With k = 1 and renormalisation, soft counts reduce to the hard argmax counts.
        double[,] soft = LabelMappingMath.TopKCountMatrix(Probs, Labels, 2, 1, renormalizeTopK: true);
        double[,] hard = LabelMappingMath.CountMatrix(new[] { 0, 2, 2 }, Labels, 4, 2);
        AssertMatrix(hard, soft);
    }

    [Fact]
    public void TopKCountMatrix_BadK_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelMappingMath.TopKCountMatrix(Probs, Labels, 2, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelMappingMath.TopKCountMatrix(Probs, Labels, 2, 5));
    }

    // ---------- Bayesian (BLM / BLM+) ----------

    // 7 examples: s0 -> {t0 x3, t1 x1}, s1 -> {t1 x2}, s2 -> {t0 x1}.
    private static readonly double[,] BlmCounts = { { 3, 1 }, { 0, 2 }, { 1, 0 } };

    [Fact]
    public void Blm_Lambda1_HandComputed()
    {
        // omega' = N / (rowSum + 1): s0 [3/5, 1/5], s1 [0, 2/3], s2 [1/2, 0]
        // column 0 sum 11/10 -> [6/11, 0, 5/11]; column 1 sum 13/15 -> [3/13, 10/13, 0]
        float[,] omega = LabelMappingMath.Bayesian(BlmCounts, 1.0);
        var expected = new double[,]
        {
            { 0.545454545454545, 0.230769230769231 },
            { 0.0, 0.769230769230769 },
            { 0.454545454545455, 0.0 },
        };
        AssertMatrix(expected, omega);
    }

    [Fact]
    public void Blm_Lambda0_HandComputed_SmoothingChangesTheWinner()
    {
        // omega' = N / rowSum: s0 [3/4, 1/4], s1 [0, 1], s2 [1, 0]
        // column 0 sum 7/4 -> [3/7, 0, 4/7]; column 1 sum 5/4 -> [1/5, 4/5, 0]
        float[,] omega = LabelMappingMath.Bayesian(BlmCounts, 0.0);
        var expected = new double[,]
        {
            { 0.428571428571429, 0.2 },
            { 0.0, 0.8 },
            { 0.571428571428571, 0.0 },
        };
        AssertMatrix(expected, omega);
        // Without smoothing the single s2 example outweighs s0's three; with lambda = 1 it does not.
        Assert.True(omega[2, 0] > omega[0, 0]);
        float[,] smoothed = LabelMappingMath.Bayesian(BlmCounts, 1.0);
        Assert.True(smoothed[0, 0] > smoothed[2, 0]);
    }

    [Fact]
    public void Blm_ColumnsSumToOne_AndArgmaxPredictionsAreSensible()
    {
        float[,] omega = LabelMappingMath.Bayesian(BlmCounts, 1.0);
        for (int t = 0; t < 2; t++)
            Assert.Equal(1.0, omega[0, t] + omega[1, t] + omega[2, t], 1e-6);

        // A confident prediction of each source label goes to that row's majority target label.
        Assert.Equal(0, ArgMax(Predict(new[] { 1f, 0f, 0f }, omega)));
        Assert.Equal(1, ArgMax(Predict(new[] { 0f, 1f, 0f }, omega)));
        Assert.Equal(0, ArgMax(Predict(new[] { 0f, 0f, 1f }, omega)));
        // Soft input: t0 = 0.2*6/11 + 0.1*5/11 = 0.154545..., t1 = 0.2*3/13 + 0.7*10/13 = 0.584615...
        float[] soft = Predict(new[] { 0.2f, 0.7f, 0.1f }, omega);
        Assert.Equal(0.154545454545, soft[0], 1e-6);
        Assert.Equal(0.584615384615, soft[1], 1e-6);
        Assert.Equal(1, ArgMax(soft));
    }

    [Fact]
    public void BlmPlus_Lambda1_HandComputed_AndPredictsTrainingLabels()
    {
        // Raw top-2 soft counts (see TopKCountMatrix test): s0 [0.5,0], s1 [0.3,0.2], s2 [0,1], s3 [0,0.4].
        // omega' = N / (rowSum + 1): s0 [1/3, 0], s1 [1/5, 2/15], s2 [0, 1/2], s3 [0, 2/7]
        // column 0 sum 8/15    -> [5/8, 3/8, 0, 0]
        // column 1 sum 193/210 -> [0, 28/193, 105/193, 60/193]
        double[,] counts = LabelMappingMath.TopKCountMatrix(Probs, Labels, 2, 2);
        float[,] omega = LabelMappingMath.Bayesian(counts, 1.0);
        var expected = new double[,]
        {
            { 0.625, 0.0 },
            { 0.375, 0.145077720207254 },
            { 0.0, 0.544041450777202 },
            { 0.0, 0.310880829015544 },
        };
        AssertMatrix(expected, omega);

        // Each training example is classified as its own label through omega.
        for (int i = 0; i < Probs.Length; i++)
            Assert.Equal(Labels[i], ArgMax(Predict(Probs[i], omega)));
        // Example 0: t0 = 0.5*5/8 + 0.3*3/8 = 0.425
        Assert.Equal(0.425, Predict(Probs[0], omega)[0], 1e-6);
    }

    [Fact]
    public void BlmPlus_RenormalisedCounts_HandComputed()
    {
        // Renormalised top-2 counts: s0 [0.625,0], s1 [0.375,0.25], s2 [0,1.25], s3 [0,0.5].
        // omega' = N / (rowSum + 1): s0 [5/13, 0], s1 [3/13, 2/13], s2 [0, 5/9], s3 [0, 1/3]
        // column 0 -> [5/8, 3/8, 0, 0]; column 1 sum 122/117 -> [0, 9/61, 65/122, 39/122]
        double[,] counts = LabelMappingMath.TopKCountMatrix(Probs, Labels, 2, 2, renormalizeTopK: true);
        float[,] omega = LabelMappingMath.Bayesian(counts, 1.0);
        var expected = new double[,]
        {
            { 0.625, 0.0 },
            { 0.375, 0.147540983606557 },
            { 0.0, 0.532786885245902 },
            { 0.0, 0.319672131147541 },
        };
        AssertMatrix(expected, omega);
    }

    [Fact]
    public void Bayesian_EmptyTargetColumnIsUniform_EmptyRowWithLambda0IsZero()
    {
        var counts = new double[,] { { 2, 0 }, { 0, 0 }, { 1, 0 }, { 0, 0 } };
        float[,] omega = LabelMappingMath.Bayesian(counts, 0.0);
        // Column 0: omega' = [1, 0, 1, 0] (empty rows give 0, not NaN) -> [0.5, 0, 0.5, 0]
        // Column 1 has no mass at all -> uniform 1/4.
        AssertMatrix(new double[,] { { 0.5, 0.25 }, { 0, 0.25 }, { 0.5, 0.25 }, { 0, 0.25 } }, omega);
        foreach (float v in omega) Assert.False(float.IsNaN(v));
    }

    [Fact]
    public void Bayesian_BadInputs_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelMappingMath.Bayesian(BlmCounts, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelMappingMath.Bayesian(BlmCounts, double.NaN));
        Assert.Throws<ArgumentException>(() => LabelMappingMath.Bayesian(new double[,] { { -1, 1 } }, 1));
    }

    [Fact]
    public void OneToOneThroughToMatrix_MatchesGreedyOnBlmCounts()
    {
        // Greedy on the BLM counts: 3 at (s0,t0) -> t0:=s0; then column 1 -> s1 (2).
        int[] map = LabelMappingMath.GreedyOneToOne(BlmCounts);
        Assert.Equal(new[] { 0, 1 }, map);
        float[,] m = LabelMappingMath.ToMatrix(map, 3);
        Assert.Equal(1, ArgMax(Predict(new[] { 0.2f, 0.7f, 0.1f }, m)));
        Assert.Equal(0, ArgMax(Predict(new[] { 0.6f, 0.3f, 0.1f }, m)));
    }
}
