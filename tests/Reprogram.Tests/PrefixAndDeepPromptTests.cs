using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Models.Causal;
using TorchSharp;
using static Reprogram.Tests.EngineFixtures;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>
/// What each hidden-location prompt is, against its paper: P-tuning v2's per-layer key/value prefixes, prefix-tuning's
/// reparameterisation (on by default, MLP 512), VPT-deep's replaced prompts, and Lester et al.'s vocabulary initialisation.
/// </summary>
public class PrefixAndDeepPromptTests
{
    [Fact]
    public void P_tuning_v2_learns_its_own_key_value_prefix_for_every_layer_and_attention_sees_them()
    {
        using var frozen = FrozenGpt();                       // 2 layers, 2 heads, hidden 16 (head size 8)
        var model = frozen.Model;
        var prompt = PrefixTuning.PTuningV2(model, 3, seed: 1);
        Assert.Equal(PrefixTuning.PTuningV2Name, prompt.Name);
        Assert.False(prompt.Reparameterised);
        Assert.Null(prompt.ReparameterisationSize);
        Assert.Equal(2 * 2 * 3 * 16, prompt.TrainableParameters);                   // layers x (keys, values) x n x D, nothing else

        var prefixes = prompt.Prefixes();
        Assert.Equal([2L, 2, 3, 16], prefixes.shape);
        for (var layer = 0; layer < 2; layer++)
        {
            var (keys, values) = prompt.PrefixKeyValues(layer, batch: 4)!.Value;
            Assert.Equal([4L, 2, 3, 8], keys.shape);                                  // [batch, heads, n, head size]
            Assert.Equal([4L, 2, 3, 8], values.shape);
            // Head h of position i is the slice [h * 8, (h + 1) * 8) of that layer's own vector.
            Assert.True(keys[2, 1, 0].SameAs(prefixes[layer, 0, 0, 8..16]));
            Assert.True(values[0, 0, 2].SameAs(prefixes[layer, 1, 2, 0..8]));
        }
        Assert.False(prefixes[0].allclose(prefixes[1]), "each layer has its own prefixes");

        // They reach attention: changing only layer 1's prefix changes the output; every layer's prefix gets a gradient.
        var ids = randint(50, [2, 5], generator: new Generator(3, device: CPU));
        Tensor before;
        using (no_grad()) before = model.ForwardEmbeddings(model.Embed(ids), prompt).clone();
        using (no_grad()) prompt.parameters().Single()[1].add_(0.5f);
        using (no_grad()) Assert.False(before.allclose(model.ForwardEmbeddings(model.Embed(ids), prompt)), "layer 1's prefix must change the output");
        model.ForwardEmbeddings(model.Embed(ids), prompt).sum().backward();
        var grad = prompt.parameters().Single().grad!;
        for (var layer = 0; layer < 2; layer++)
            for (var kv = 0; kv < 2; kv++)
                Assert.True(grad[layer, kv].abs().sum().item<float>() > 0, $"layer {layer} {(kv == 0 ? "keys" : "values")} get no gradient");
        Assert.Equal(frozen.ChecksumAtFreeze, frozen.VerifyUnchanged());
    }

    [Fact]
    public void Prefix_tuning_is_reparameterised_by_default_with_the_papers_MLP()
    {
        using var frozen = FrozenGpt();
        var prompt = new PrefixTuning(frozen.Model, 3, seed: 1);
        Assert.Equal(PrefixTuning.PrefixTuningName, prompt.Name);
        Assert.True(prompt.Reparameterised);
        Assert.Equal(512, prompt.ReparameterisationSize);
        // Li and Liang (XiangLi1999/PrefixTuning, train_control.py): Embedding(n, D) -> Linear(D, 512) -> Tanh -> Linear(512, layers * 2 * D).
        var shapes = prompt.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Equal([3L, 16], shapes["table"]);
        Assert.Equal([512L, 16], shapes["mlp.0.weight"]);
        Assert.Equal([2L * 2 * 16, 512], shapes["mlp.2.weight"]);
        Assert.Equal(3 * 16 + (16 * 512 + 512) + (512 * 64 + 64), prompt.TrainableParameters);
        Assert.Equal([2L, 2, 3, 16], prompt.Prefixes().shape);
        Assert.Equal("512", prompt.Settings["reparameterisation hidden"]);

        Assert.False(new PrefixTuning(frozen.Model, 3, seed: 1, reparameterisationSize: null).Reparameterised);
        Assert.Equal(8, new PrefixTuning(frozen.Model, 3, seed: 1, reparameterisationSize: 8).ReparameterisationSize);
    }

    [Fact]
    public void The_options_name_each_method_after_its_paper()
    {
        Assert.Equal("vpt-deep", PromptTuningOptions.CanonicalMethod("deep"));
        Assert.Contains("p-tuning-v2", PromptTuningOptions.Methods);
        Assert.Contains("vpt-deep", PromptTuningOptions.Methods);
        new PromptTuningOptions { Method = "deep" }.Validate();                                   // the old name still works
        new PromptTuningOptions { Method = "prefix", Reparameterisation = 64 }.Validate();
        var e = Assert.Throws<ArgumentException>(() => new PromptTuningOptions { Method = "p-tuning-v2", Reparameterisation = 64 }.Validate());
        Assert.Contains("prefix-tuning only", e.Message);
        e = Assert.Throws<ArgumentException>(() => new PromptTuningOptions { Method = "p-tuning" }.Validate());
        Assert.Contains("p-tuning-v2", e.Message);

        using var frozen = FrozenGpt();
        Assert.Equal("VPT-deep prompts", new DeepPrompt(frozen.Model, 2, 1).Name);
    }

    [Fact]
    public void Vocabulary_initialisation_draws_from_the_5000_most_frequent_tokens_where_ids_are_ordered_by_frequency()
    {
        manual_seed(1);
        using var frozen = new FrozenModel<TinyGpt>(new TinyGpt(new GptConfig(VocabularySize: 6000, MaxPositions: 8, Layers: 1, Heads: 1, HiddenSize: 8)), "wide-vocab", CPU);
        var table = frozen.Model.TokenEmbeddings;
        int[] IdsOf(Tensor vectors) => Enumerable.Range(0, (int)vectors.shape[0])
            .Select(i => (int)table.sub(vectors[i]).abs().sum(1).argmin().item<long>()).ToArray();

        var frequent = SoftPrompt.Create(frozen.Model, 100, SoftPromptInit.Vocabulary, seed: 5, order: VocabularyOrder.ByFrequency);
        var ids = IdsOf(frequent.Vectors);
        Assert.All(ids, id => Assert.InRange(id, 0, SoftPrompt.FrequentTokens - 1));
        Assert.Equal(100, ids.Distinct().Count());                                               // without replacement, as the authors
        Assert.Contains("5,000 most frequent", frequent.Settings["init"]);

        var anywhere = SoftPrompt.Create(frozen.Model, 100, SoftPromptInit.Vocabulary, seed: 5, order: VocabularyOrder.Unknown);
        Assert.Contains(IdsOf(anywhere.Vectors), id => id >= SoftPrompt.FrequentTokens);
        Assert.Contains("all 6,000 tokens", anywhere.Settings["init"]);
        Assert.Equal(50, SoftPrompt.VocabularyPopulation(50, VocabularyOrder.ByFrequency));
    }

    [Fact]
    public void Tokenizers_with_a_frequency_order_are_recognised()
    {
        var folder = Directory.CreateTempSubdirectory("vocab-order").FullName;
        try
        {
            Assert.Equal(VocabularyOrder.Unknown, VocabularyOrders.Of("minilm"));
            Assert.Equal(VocabularyOrder.Unknown, VocabularyOrders.Of(folder));
            File.WriteAllText(Path.Combine(folder, "tokenizer.json"), """{"model": {"type": "WordPiece", "vocab": {}}}""");
            Assert.Equal(VocabularyOrder.Unknown, VocabularyOrders.Of(folder));
            File.WriteAllText(Path.Combine(folder, "tokenizer.json"), """{"model": {"type": "BPE", "vocab": {}, "merges": []}}""");
            Assert.Equal(VocabularyOrder.ByFrequency, VocabularyOrders.Of(folder));
            File.WriteAllText(Path.Combine(folder, "tokenizer.json"), """{"model": {"type": "Unigram", "vocab": []}}""");
            Assert.Equal(VocabularyOrder.ByFrequency, VocabularyOrders.Of(folder));
            File.Delete(Path.Combine(folder, "tokenizer.json"));
            File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n");
            Assert.Equal(VocabularyOrder.ByFrequency, VocabularyOrders.Of(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
