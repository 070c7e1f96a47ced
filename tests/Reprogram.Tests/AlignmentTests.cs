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
    public void Verbalizer_scores_label_words_by_their_token_log_probability()
    {
        var verbalizer = new Verbalizer(["no", "yes"], [7L, 3L]);
        var logits = zeros(2, 10);
        logits[0, 7] = 4f;
        logits[1, 3] = 4f;
        var scores = verbalizer.Map(logits);
        Assert.Equal([2L, 2], scores.shape);
        Assert.True(scores.argmax(-1).SameAs(tensor(new long[] { 0, 1 })));
        Assert.Equal(nn.functional.log_softmax(logits, -1)[0, 7].item<float>(), scores[0, 0].item<float>());
        Assert.Throws<ArgumentException>(() => new Verbalizer(["a", "b"], [1L, 1L]));
    }

    [Fact]
    public void Identity_needs_matching_classes_and_linear_head_learns_parameters()
    {
        Assert.Throws<ArgumentException>(() => new IdentityAlignment(Targets).Map(zeros(2, 5)));
        var head = new LinearHead(5, Targets, seed: 1);
        Assert.Equal(5 * 3 + 3, head.TrainableParameters);
        Assert.Equal(Taxonomy.OutputAlignment.Linear, head.Kind);
        Assert.Equal(Taxonomy.OutputAlignment.Statistical, new LabelMapping(LabelMappingMethod.Bayesian, 5, Targets, 1).Kind);
        Assert.Equal(Taxonomy.OutputAlignment.RuleBased, new Verbalizer(["a"], [1L]).Kind);
    }
}
