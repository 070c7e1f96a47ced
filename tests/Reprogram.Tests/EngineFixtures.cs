using Reprogram.Alignments;
using Reprogram.Experiments;
using Reprogram.Instruction;
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

    /// <summary>A frozen small CNN as the engine sees it (an image backbone), from a seed.</summary>
    public static ImageBackbone CnnBackbone(int seed = 1, int size = 16)
    {
        manual_seed(seed);
        return new ImageBackbone(new SmallCnn(3, size, TenClasses, width: 8), $"small-cnn-seed{seed}", CPU, null, ownsModel: true);
    }

    /// <summary>An image task from <see cref="Images"/>: <paramref name="train"/> training rows, then <paramref name="test"/> test rows.</summary>
    public static ImageTaskSplit ImageSplit(int train, int size, int seed, int test = 8)
    {
        var (images, labels) = Images(train + test, size, seed);
        return ImageTasks.FromTensors("quadrants", images, labels, FourClasses, train, seed);
    }

    /// <summary>A random tiny GPT over the zoo's character vocabulary, frozen, as a prompt-instruction model.</summary>
    public static InstructionModel CharGpt(int seed = 1, int positions = 64)
    {
        manual_seed(seed);
        var tokenizer = new Models.Zoo.CharTokenizer();
        return InstructionModel.FromLocal(new TinyGpt(new GptConfig(tokenizer.VocabularySize, MaxPositions: positions, Layers: 2, Heads: 2, HiddenSize: 16)),
            $"char-gpt-seed{seed}", text => tokenizer.Encode(Models.Zoo.CharTokenizer.Normalise(text)), ids => tokenizer.Decode(ids), CPU);
    }

    /// <summary>Digit strings labelled by the parity of their first digit, with multi-token label words ("even", "odd").</summary>
    public static InstructionTask ParityTask(int train, int test, int seed)
    {
        var random = new Random(seed);
        TaskExample Draw(string id)
        {
            var digits = string.Concat(Enumerable.Range(0, random.Next(2, 6)).Select(_ => random.Next(10)));
            return new TaskExample(digits, (digits[0] - '0') % 2 == 0 ? "even" : "odd") { Id = id };
        }
        var trainExamples = Enumerable.Range(0, train).Select(i => Draw($"parity/train{i}")).ToArray();
        return new InstructionTask
        {
            Name = "parity", Description = "parity of the first digit", Train = trainExamples, Pool = trainExamples,
            Queries = Enumerable.Range(0, test).Select(i => Draw($"parity/test{i}")).ToArray(), Labels = ["even", "odd"],
            Template = new PromptTemplate("", "{input}:{label}", ";", "{input}:"), Extraction = new AnswerExtraction(@"^(\w+)", null),
        };
    }

    public static IEnumerable<(string Name, Tensor Value)> State(nn.Module m) =>
        m.named_parameters().Select(p => (p.name, (Tensor)p.parameter.detach().clone()));
}

internal static class TensorAssertions
{
    /// <summary>Same shape and bit-equal values.</summary>
    public static bool SameAs(this Tensor a, Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
}
