using Reprogram.Alignments;
using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Models.Causal;
using Reprogram.Models.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>Small frozen models and data for engine tests, all from fixed seeds.</summary>
internal static class EngineFixtures
{
    public static readonly string[] TenClasses = Enumerable.Range(0, 10).Select(i => $"class {i}").ToArray();
    public static readonly string[] FourClasses = ["a", "b", "c", "d"];

    public static FrozenModel<SmallCnn> FrozenCnn(int seed = 1, int size = 16)
    {
        manual_seed(seed);
        return new FrozenModel<SmallCnn>(new SmallCnn(3, size, TenClasses, width: 8), $"small-cnn-seed{seed}", CPU);
    }

    public static FrozenModel<TinyGpt> FrozenGpt(int seed = 1)
    {
        manual_seed(seed);
        return new FrozenModel<TinyGpt>(new TinyGpt(new GptConfig(VocabularySize: 50, MaxPositions: 32, Layers: 2, Heads: 2, HiddenSize: 16)), $"tiny-gpt-seed{seed}", CPU);
    }

    /// <summary>Images whose class is the brightest of four quadrant-colour patterns, so a prompt can learn something.</summary>
    public static (Tensor Images, Tensor Labels) Images(int n, int size, int seed, int classes = 4)
    {
        var g = new Generator((ulong)seed, device: CPU);
        var labels = randint(classes, [n], generator: g);
        var images = rand([n, 3, size, size], generator: g) * 0.3f;
        for (var i = 0; i < n; i++)
        {
            var c = labels[i].item<long>();
            images[i, (int)(c % 3)] += 0.5f + 0.1f * c;
        }
        return (images.clamp(0, 1), labels);
    }

    /// <summary>Token sequences of random length whose label is the parity of their first token.</summary>
    public static (Tensor Tokens, Tensor Lengths, Tensor Labels) Tokens(int n, int maxLength, int seed)
    {
        var g = new Generator((ulong)seed, device: CPU);
        var tokens = randint(4, 50, [n, maxLength], generator: g);
        var lengths = randint(3, maxLength + 1, [n], generator: g);
        var labels = tokens[.., 0].remainder(2);
        return (tokens, lengths, labels);
    }

    public static Verbalizer TwoWordVerbalizer() => new(["even", "odd"], [1L, 2L]);

    public static IEnumerable<(string Name, Tensor Value)> State(nn.Module m) =>
        m.named_parameters().Select(p => (p.name, (Tensor)p.parameter.detach().clone()));
}

internal static class TensorAssertions
{
    /// <summary>Same shape and bit-equal values.</summary>
    public static bool SameAs(this Tensor a, Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
}
