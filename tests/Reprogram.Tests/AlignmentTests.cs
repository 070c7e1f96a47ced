using Reprogram.Alignments;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Tests;

public class AlignmentTests
{
    private static readonly string[] Targets = ["x", "y", "z"];

    // Source outputs whose argmax is 4 for target 0, 1 for target 1, 3 for target 2 (plus noise that does not change the argmax).
    private static (Tensor Outputs, Tensor Labels) Crafted()
    {
        var sourceFor = new[] { 4, 1, 3 };
        var labels = tensor(new long[] { 0, 0, 1, 1, 1, 2, 2, 0 });
        var outputs = zeros(8, 5);
        for (var i = 0; i < 8; i++) outputs[i, sourceFor[labels[i].item<long>()]] = 5f;
        return (outputs, labels);
    }

    [Theory]
    [InlineData(LabelMappingMethod.Frequency)]
    [InlineData(LabelMappingMethod.Iterative)]
    public void One_to_one_mapping_follows_the_counts_and_selects_those_logits(LabelMappingMethod method)
    {
        var mapping = new LabelMapping(method, 5, Targets, seed: 1);
        var (outputs, labels) = Crafted();
        mapping.Estimate(outputs, labels);
        var omega = mapping.Omega();
        Assert.Equal(1f, omega[4, 0]);
        Assert.Equal(1f, omega[1, 1]);
        Assert.Equal(1f, omega[3, 2]);
        Assert.Equal(3f, Enumerable.Range(0, 5).Sum(s => Enumerable.Range(0, 3).Sum(t => omega[s, t])));
        var mapped = mapping.Map(outputs);
        Assert.Equal([8L, 3], mapped.shape);
        Assert.True(mapped.argmax(-1).SameAs(labels), "mapped logits predict the target labels");
        Assert.True(mapped[.., 0].SameAs(outputs[.., 4]));
    }

    [Fact]
    public void Frequency_is_estimated_once_and_iterative_every_epoch()
    {
        Assert.Equal([true, false, false], Enumerable.Range(0, 3).Select(new LabelMapping(LabelMappingMethod.Frequency, 5, Targets, 1).EstimatesBeforeEpoch));
        Assert.Equal([true, true, true], Enumerable.Range(0, 3).Select(new LabelMapping(LabelMappingMethod.Iterative, 5, Targets, 1).EstimatesBeforeEpoch));
        Assert.Equal([false, false, false], Enumerable.Range(0, 3).Select(new LabelMapping(LabelMappingMethod.Random, 5, Targets, 1).EstimatesBeforeEpoch));
    }

    [Fact]
    public void Random_mapping_is_a_fixed_injective_map_from_the_seed()
    {
        var a = new LabelMapping(LabelMappingMethod.Random, 10, Targets, seed: 3).Omega();
        var b = new LabelMapping(LabelMappingMethod.Random, 10, Targets, seed: 3).Omega();
        Assert.Equal(a, b);
        var rows = Enumerable.Range(0, 3).Select(t => Enumerable.Range(0, 10).Single(s => a[s, t] == 1f)).ToArray();
        Assert.Equal(3, rows.Distinct().Count());
    }

    [Fact]
    public void Bayesian_mapping_is_a_probabilistic_matrix_and_predicts_the_targets()
    {
        var (outputs, labels) = Crafted();
        foreach (var method in new[] { LabelMappingMethod.Bayesian, LabelMappingMethod.BayesianTopK })
        {
            var mapping = new LabelMapping(method, 5, Targets, seed: 1, topK: 2);
            mapping.Estimate(outputs, labels);
            var omega = mapping.Omega();
            for (var t = 0; t < 3; t++)
            {
                Assert.Equal(1.0, Enumerable.Range(0, 5).Sum(s => (double)omega[s, t]), 5); // columns sum to 1
            }
            var scores = mapping.Map(outputs);
            Assert.True(scores.argmax(-1).SameAs(labels), $"{method} should recover the targets");
            Assert.True(scores.allclose(outputs.matmul(tensor(Flat(omega), [5, 3]))), "BLM scores are the logits reweighted by omega");
        }
    }

    // A hand-computed BLM example on logits (Cai et al. 2024; tmlr-group/BayesianLM mapping.py). Three source classes,
    // two targets, lambda = 1. Source argmaxes against labels: s0 with t0 (x1) and t1 (x4), s1 with t0 (x2), s2 with t1 (x3).
    //   counts N = [[1, 1], [1, 0], [0, 1]]; row sums + lambda = 3, 2, 2
    //   omega'   = [[1/3, 1/3], [1/2, 0], [0, 1/2]]; column sums 5/6, 5/6
    //   omega    = [[0.4, 0.4], [0.6, 0], [0, 0.6]]
    //   scores   = logits @ omega: x1 [2, 0, -1] -> [0.8, 0.2]; x2 [1, 3, 0] -> [2.2, 0.4]; x3 [0, 1, 4] -> [0.6, 2.4]; x4 [3, 1, 0] -> [1.8, 1.2]
    //   loss     = mean cross-entropy = mean(log(1 + e^-0.6), log(1 + e^-1.8), log(1 + e^-1.8), log(1 + e^0.6))
    [Fact]
    public void Bayesian_mapping_scores_the_logits_by_hand()
    {
        using var logits = tensor(new float[] { 2, 0, -1, 1, 3, 0, 0, 1, 4, 3, 1, 0 }, [4, 3]);
        using var labels = tensor(new long[] { 0, 0, 1, 1 });
        var mapping = new LabelMapping(LabelMappingMethod.Bayesian, 3, ["a", "b"], seed: 0);
        mapping.Estimate(logits, labels);
        var omega = mapping.Omega();
        float[,] expected = { { 0.4f, 0.4f }, { 0.6f, 0f }, { 0f, 0.6f } };
        for (var s = 0; s < 3; s++) for (var t = 0; t < 2; t++) Assert.Equal(expected[s, t], omega[s, t], 6);

        var scores = mapping.Map(logits);
        var want = new[] { 0.8f, 0.2f, 2.2f, 0.4f, 0.6f, 2.4f, 1.8f, 1.2f };
        var got = scores.data<float>().ToArray();
        for (var i = 0; i < want.Length; i++) Assert.Equal(want[i], got[i], 5);
        Assert.Equal([0L, 0, 1, 0], scores.argmax(-1).data<long>().ToArray());

        var loss = nn.functional.cross_entropy(scores, labels).item<float>();
        var hand = new[] { -0.6, -1.8, -1.8, 0.6 }.Average(m => Math.Log(1 + Math.Exp(m)));
        Assert.Equal(hand, loss, 5);
    }

    // BLM+ by hand: k = int(0.15 * 2) = 0, guarded to 1; each example adds its top-1 softmax probability (not renormalised).
    //   x1 [ln 3, 0, -30] (t0): p = [.75, .25, 0] -> N[0,0] += .75     x2 [0, ln 4, -30] (t0): p = [.2, .8, 0] -> N[1,0] += .8
    //   x3 [-30, 0, ln 9] (t1): p = [0, .1, .9]  -> N[2,1] += .9       x4 [ln 3, -30, 0] (t1): p = [.75, 0, .25] -> N[0,1] += .75
    //   rows + 1: 2.5, 1.8, 1.9 -> omega' = [[.3, .3], [4/9, 0], [0, 9/19]] -> omega = [[27/67, 57/147], [40/67, 0], [0, 90/147]]
    [Fact]
    public void Bayesian_top_k_counts_the_top_probabilities_by_hand()
    {
        Assert.Equal(1, LabelMapping.DefaultTopK(2));
        Assert.Equal(1, LabelMapping.DefaultTopK(10));   // int(1.5) = 1, where rounding gave 2
        Assert.Equal(2, LabelMapping.DefaultTopK(14));
        Assert.Equal(6, LabelMapping.DefaultTopK(43));
        Assert.Equal(15, LabelMapping.DefaultTopK(100));
        var (l3, l4, l9) = ((float)Math.Log(3), (float)Math.Log(4), (float)Math.Log(9));
        using var logits = tensor(new[] { l3, 0, -30, 0, l4, -30, -30, 0, l9, l3, -30, 0 }, [4, 3]);
        using var labels = tensor(new long[] { 0, 0, 1, 1 });
        var mapping = new LabelMapping(LabelMappingMethod.BayesianTopK, 3, ["a", "b"], seed: 0);
        Assert.Equal(1, mapping.TopK);
        mapping.Estimate(logits, labels);
        var omega = mapping.Omega();
        double[,] expected = { { 27.0 / 67, 57.0 / 147 }, { 40.0 / 67, 0 }, { 0, 90.0 / 147 } };
        for (var s = 0; s < 3; s++) for (var t = 0; t < 2; t++) Assert.Equal(expected[s, t], omega[s, t], 5);
        Assert.True(mapping.Map(logits).allclose(logits.matmul(tensor(Flat(omega), [3, 2]))));
    }

    private static float[] Flat(float[,] m)
    {
        var flat = new float[m.Length];
        Buffer.BlockCopy(m, 0, flat, 0, flat.Length * sizeof(float));
        return flat;
    }

    [Fact]
    public void One_to_one_needs_enough_source_classes()
    {
        var e = Assert.Throws<ArgumentException>(() => new LabelMapping(LabelMappingMethod.Iterative, 2, Targets, 1));
        Assert.Contains("BLM or a linear head", e.Message);
    }

    [Fact]
    public void Verbalizer_reads_label_word_likelihoods_and_calibration_divides_by_the_content_free_ones()
    {
        // The verbalizer is the rule that names the label words: their log-likelihoods are the class scores.
        var verbalizer = new Verbalizer(["no", "yes"]);
        var scores = tensor(new[] { (float)Math.Log(0.7), (float)Math.Log(0.3) }, [1, 2]);
        Assert.True(verbalizer.Map(scores, null).SameAs(scores));
        Assert.False(verbalizer.NeedsContentFreeScores);
        Assert.Throws<ArgumentException>(() => new Verbalizer([]));
        // Calibration: p = (0.7, 0.3), p_cf = (0.8, 0.2): normalise(p / p_cf) = (0.368.., 0.631..), the prediction flips.
        var calibrated = new CalibratedVerbalizer(["no", "yes"]);
        var contentFree = tensor(new[] { (float)Math.Log(0.8), (float)Math.Log(0.2) }, [1, 2]);
        var p = calibrated.Map(scores, contentFree).exp();
        Assert.Equal(0.875 / 2.375, p[0, 0].item<float>(), 5);
        Assert.Equal(1.5 / 2.375, p[0, 1].item<float>(), 5);
        Assert.Equal(Taxonomy.OutputAlignment.Statistical, calibrated.Kind);
        // A class outside the query's choices (-inf) stays out.
        var restricted = calibrated.Map(tensor(new[] { 0f, float.NegativeInfinity }, [1, 2]), tensor(new[] { 0f, float.NegativeInfinity }, [1, 2]));
        Assert.True(float.IsNegativeInfinity(restricted[0, 1].item<float>()));
        Assert.Throws<ArgumentException>(() => calibrated.Map(scores, null));
    }

    [Fact]
    public void Identity_needs_matching_classes_and_linear_head_learns_parameters()
    {
        Assert.Throws<ArgumentException>(() => new IdentityAlignment(Targets).Map(zeros(2, 5)));
        var head = new LinearHead(5, Targets, seed: 1);
        Assert.Equal(5 * 3 + 3, head.TrainableParameters);
        Assert.Equal(Taxonomy.OutputAlignment.Linear, head.Kind);
        Assert.Equal(Taxonomy.OutputAlignment.Statistical, new LabelMapping(LabelMappingMethod.Bayesian, 5, Targets, 1).Kind);
        Assert.Equal(Taxonomy.OutputAlignment.RuleBased, new Verbalizer(["a"]).Kind);
    }
}
