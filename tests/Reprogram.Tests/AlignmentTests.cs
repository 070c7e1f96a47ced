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
            Assert.True(scores.le(0).all().item<bool>(), "BLM scores are log-probabilities");
        }
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
