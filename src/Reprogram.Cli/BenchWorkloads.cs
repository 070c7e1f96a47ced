using System.Diagnostics;
using System.Globalization;
using Reprogram.Alignments;
using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Instruction;
using Reprogram.Manipulations;
using Reprogram.Models.Causal;
using Reprogram.Models.Vision;
using Reprogram.Runtime;
using Reprogram.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Cli;

/// <summary>
/// One fixed workload of <c>reprogram bench</c>: our own step, measured in-process (per-step rates after
/// <paramref name="Warmup"/> steps, per part: most workloads have one part, named ""), and the PyTorch script doing
/// exactly the same work (in <c>bench/</c> next to the program, its exact spec in its header).
/// <paramref name="FlopsPerUnit"/> gives the matrix-product operations behind one unit of the rate (an image, a token,
/// a query; 1e9 where the rate is GFLOP/s itself), for the achieved GFLOP/s next to the machine's peak.
/// <paramref name="Jemalloc"/>: whether the reference also runs with jemalloc (not for GEMM, which allocates nothing per call).
/// </summary>
public sealed record BenchWorkload(
    string Name,
    string Unit,
    string Description,
    int DefaultSteps,
    Func<int, int, IReadOnlyDictionary<string, IReadOnlyList<double>>> Ours,
    string Script,
    string[] ScriptArgs,
    Func<string, double> FlopsPerUnit,
    int Warmup = 2,
    bool Jemalloc = true);

/// <summary>The workloads and our side of each: the product's own training steps and scoring, and plain GEMMs.</summary>
public static class BenchWorkloads
{
    // vocab, layers, heads, hidden, demonstration and query tokens. Queries: 200 with the cache (its prefix pass is shared
    // by all), 64 without (each query costs the same there, so fewer give the same rate at a third of the time).
    private static readonly string[] IclShape = ["8192", "4", "6", "384", "12", "6"];
    private const int CachedQueries = 200, UncachedQueries = 64;
    private static readonly int[] ResNetBlocks = [2, 2, 2, 3];

    /// <summary>The GEMM shapes: [m, k] x [k, n], as matmul or as a linear layer (x W^T, W stored [n, k]).</summary>
    public static IReadOnlyList<(string Part, ScalarType Type, int M, int K, int N, bool Linear)> GemmParts { get; } =
    [
        ("fp32 matmul 1024^3", ScalarType.Float32, 1024, 1024, 1024, false),
        ("fp32 linear [256,768]x[768,3072]", ScalarType.Float32, 256, 768, 3072, true),
        ("bf16 matmul 1024^3", ScalarType.BFloat16, 1024, 1024, 1024, false),
        ("bf16 linear [256,768]x[768,3072]", ScalarType.BFloat16, 256, 768, 3072, true),
    ];

    public static List<BenchWorkload> All { get; } =
    [
        new("gemm", "GFLOP/s",
            "plain GEMMs: a 1024^3 matmul and a GPT-2 MLP linear ([256,768] x [768,3072]) in fp32 and bf16; the best fp32 one measured is the peak",
            10, GemmRates, "gemm.py", [], _ => 1e9, Warmup: 1, Jemalloc: false),
        new("pad-prompt", "images/s",
            "the pad-prompt step of #!reprogram: frozen ResNet-18 [2,2,2,3], batch 32, 84 px padded to 112 px, linear head, Adam",
            4, One(PadPromptRates), "pad_prompt.py", [], _ => BenchFlops.PadPromptStep(ResNetBlocks, 112, 10)),
        new("soft-prompt-tiny", "tokens/s",
            "the soft-prompt step of #!soft-prompt on a decoder: frozen TinyGpt (vocab 512, 4 layers, 4 heads, 128 hidden), 8 soft tokens, batch 16 x 64, verbalizer, Adam",
            4, One((steps, warmup) => SoftPromptRates(new GptConfig(512, 128, 4, 4, 128), 16, steps, warmup)), "soft_prompt.py", ["512", "4", "4", "128", "16"],
            _ => BenchFlops.SoftPromptStep(4, 128, 512, 72) / 64),
        new("soft-prompt-gpt2", "tokens/s",
            "the same step on a GPT-2-small shape (vocab 50257, 12 layers, 12 heads, 768 hidden, random weights), batch 4 x 64",
            2, One((steps, warmup) => SoftPromptRates(new GptConfig(50257, 128, 12, 12, 768), 4, steps, warmup)), "soft_prompt.py", ["50257", "12", "12", "768", "4"],
            _ => BenchFlops.SoftPromptStep(12, 768, 50257, 72) / 64, Warmup: 1),
        new("icl-16shot-cached", "queries/s",
            "16-shot label-word scoring of #!icl, 200 queries, with the shared-prefix cache: frozen TinyGpt (vocab 8192, 4 layers, 6 heads, 384 hidden), " +
            "16 demonstrations x 12 tokens, 6-token queries, 3 one-token label words, batches of 32",
            2, (steps, warmup) => IclCachedRates(steps, warmup), "icl_scoring.py", [.. IclShape, $"{CachedQueries}", "1"],
            _ => BenchFlops.IclEvaluation(4, 384, 8192, 16 * 12, 6, CachedQueries, cached: true) / CachedQueries, Warmup: 1),
        new("icl-16shot-uncached", "queries/s",
            $"the same scoring recomputing the demonstrations for every query, {UncachedQueries} queries (the rate per query does not depend on their number)",
            2, One((steps, warmup) => IclScoringRates(false, steps, warmup)), "icl_scoring.py", [.. IclShape, $"{UncachedQueries}", "0"],
            _ => BenchFlops.IclEvaluation(4, 384, 8192, 16 * 12, 6, UncachedQueries, cached: false) / UncachedQueries, Warmup: 1),
    ];

    /// <summary>Whether this CPU multiplies bf16 natively (AVX512_BF16 or AMX); without, the gemm workload's bf16 parts are not run (one 1024^3 product takes seconds).</summary>
    public static bool Bf16Native => CpuFeatures.Current?.HasNativeBf16 ?? false;

    /// <summary>
    /// The cached evaluation in fp32 and, where the CPU multiplies bf16 natively (or REPROGRAM_BF16=allow-slow), the same evaluation on a bf16 copy of
    /// the model (part "bf16"; the reference has no such part). The share of queries whose best label word is the same
    /// in both goes to <see cref="Bf16Agreement"/>.
    /// </summary>
    private static IReadOnlyDictionary<string, IReadOnlyList<double>> IclCachedRates(int steps, int warmup)
    {
        var parts = new Dictionary<string, IReadOnlyList<double>> { [""] = IclScoringRates(true, steps, warmup) };
        // Emulated bf16 (REPROGRAM_BF16=allow-slow) is slower than fp32 but shows the agreement.
        if (Bf16Native || PrecisionSupport.AllowEmulated) parts["bf16"] = IclScoringRates(true, steps, warmup, bf16: true);
        return parts;
    }

    /// <summary>Queries whose predicted label word is the same with the bf16 copy as with fp32 (last cached bf16 run): identical, all.</summary>
    public static (int Identical, int Queries)? Bf16Agreement { get; private set; }

    /// <summary>Scoring tokens per second of the last ICL runs (cached, uncached), for the summary line.</summary>
    public static Dictionary<bool, double> IclTokensPerSecond { get; } = new();

    private static Func<int, int, IReadOnlyDictionary<string, IReadOnlyList<double>>> One(Func<int, int, IReadOnlyList<double>> rates) =>
        (steps, warmup) => new Dictionary<string, IReadOnlyList<double>> { [""] = rates(steps, warmup) };

    /// <summary>GFLOP/s of each GEMM call: up to <paramref name="steps"/> calls per part after the warm-up, at most ~2 s per part (bf16 without hardware support is very slow).</summary>
    private static IReadOnlyDictionary<string, IReadOnlyList<double>> GemmRates(int steps, int warmup) => ComputeThread.Run(() =>
    {
        var result = new Dictionary<string, IReadOnlyList<double>>();
        manual_seed(0);
        foreach (var (part, type, m, k, n, linear) in GemmParts)
        {
            if (type == ScalarType.BFloat16 && !Bf16Native) continue;
            using var scope = NewDisposeScope();
            var a = randn(m, k).to(type);
            var b = linear ? randn(n, k).to(type) : randn(k, n).to(type);
            Tensor Call() => linear ? nn.functional.linear(a, b) : a.matmul(b);
            var flops = 2.0 * m * k * n;
            for (var i = 0; i < warmup; i++) Call().Dispose();
            var rates = new List<double>();
            var budget = Stopwatch.StartNew();
            while (rates.Count < steps && (rates.Count == 0 || budget.Elapsed.TotalSeconds < 2))
            {
                var clock = Stopwatch.StartNew();
                Call().Dispose();
                rates.Add(flops / clock.Elapsed.TotalSeconds / 1e9);
            }
            result[part] = rates;
        }
        return (IReadOnlyDictionary<string, IReadOnlyList<double>>)result;
    });

    /// <summary>Images per second of each timed step of the pad-prompt experiment (the engine's own training step and trainer).</summary>
    private static IReadOnlyList<double> PadPromptRates(int steps, int warmup)
    {
        manual_seed(0);
        var n = 32 * (steps + warmup);
        using var backbone = new ImageBackbone(new ResNet(ResNetBlocks, null, ResNetPreprocessing.ImageNetRgb), "resnet18-shape", CPU, 112, ownsModel: true);
        using var images = rand(n + 1, 3, 84, 84);
        using var labels = randint(10, [n + 1]);
        var classes = Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
        using var split = ImageTasks.FromTensors("random", images, labels, classes, n);
        var task = new MethodTrainingTask(backbone, new PaddingPrompt(3, 112, 84), new LinearHead(512, classes, 0), split);
        return StepRates(task, 32, 32, warmup);
    }

    /// <summary>
    /// Tokens per second of each timed step of the soft-prompt experiment on a frozen decoder of this shape: random token
    /// texts of 64 tokens, a verbalizer over two one-token label words (the engine's own step: prompt, soft tokens, label-word likelihood).
    /// </summary>
    private static IReadOnlyList<double> SoftPromptRates(GptConfig config, int batch, int steps, int warmup)
    {
        manual_seed(0);
        var n = batch * (steps + warmup);
        var random = new Random(0);
        // Texts are token ids written out ("17 4093 ..."); the label words "a" and "b" are tokens 1 and 2.
        long[] Encode(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(t => t switch { "a" => 1L, "b" => 2L, _ => long.Parse(t, CultureInfo.InvariantCulture) }).ToArray();
        using var model = InstructionModel.FromLocal(new TinyGpt(config), "gpt-shape", Encode, ids => string.Join(' ', ids), CPU);
        var examples = Enumerable.Range(0, n).Select(i => new TaskExample(string.Join(' ', Enumerable.Range(0, 64).Select(_ => random.Next(4, config.VocabularySize))),
            random.Next(2) == 0 ? "a" : "b") { Id = $"random#{i}" }).ToArray();
        var split = new InstructionTask
        {
            Name = "random", Description = "random token texts", Train = examples, Pool = examples, Queries = examples[..1], Labels = ["a", "b"],
            Template = new PromptTemplate("", "{input} {label}", "", "{input}"), Extraction = new AnswerExtraction(@"(\S+)", null),
        };
        using var backbone = new DecoderBackbone(model, ownsModel: false);
        var task = new MethodTrainingTask(backbone, SoftPrompt.Create(model.Local!, 8, SoftPromptInit.Random, 0), new Verbalizer(["a", "b"]), split);
        return StepRates(task, batch, batch * 64, warmup);
    }

    /// <summary>Queries per second of whole 16-shot evaluations (Reprogram's LikelihoodScoring), on the compute thread; with <paramref name="bf16"/> on a bf16 copy of the model.</summary>
    private static IReadOnlyList<double> IclScoringRates(bool cached, int steps, int warmup, bool bf16 = false) => ComputeThread.Run(() =>
    {
        manual_seed(0);
        var (vocab, layers, heads, hidden, demo, query, queries) = (8192, 4, 6, 384, 12, 6, cached ? CachedQueries : UncachedQueries);
        using var model = new TinyGpt(new GptConfig(vocab, 16 * demo + query + 8, layers, heads, hidden));
        model.eval();
        using var copy = bf16 ? CausalLmCopy.As(model, ScalarType.BFloat16, CPU) : null;
        var random = new Random(0);
        long[] Ids(int n) => Enumerable.Range(0, n).Select(_ => (long)random.Next(1, vocab)).ToArray();
        var prefix = Ids(16 * demo);
        var requests = Enumerable.Range(0, queries).Select(_ => new Instruction.ScoringRequest(prefix, Ids(query), [Ids(1), Ids(1), Ids(1)])).ToArray();
        var rates = new List<double>();
        double[][] scores = [];
        for (var step = 0; step < warmup + steps; step++)
        {
            var clock = Stopwatch.StartNew();
            (scores, var cost) = Instruction.LikelihoodScoring.Score(copy ?? model, requests, cached, batchRows: 32);
            var seconds = clock.Elapsed.TotalSeconds;
            if (step < warmup) continue;
            rates.Add(queries / seconds);
            if (!bf16) IclTokensPerSecond[cached] = cost.Tokens / seconds;
        }
        if (bf16)
        {
            var (reference, _) = Instruction.LikelihoodScoring.Score(model, requests, cached, batchRows: 32);
            static int Best(double[] s) => Array.IndexOf(s, s.Max());
            Bf16Agreement = (reference.Zip(scores).Count(p => Best(p.First) == Best(p.Second)), queries);
        }
        return (IReadOnlyList<double>)rates;
    });

    /// <summary>Trains one epoch with a report after every step; the rate of each step after the warm-up.</summary>
    private static IReadOnlyList<double> StepRates(ITrainingTask task, int batch, int workPerStep, int warmup)
    {
        var times = new List<double> { 0 };
        var interval = Trainer.ProgressInterval;
        Trainer.ProgressInterval = TimeSpan.Zero;
        try
        {
            Trainer.Train(task, new TrainingOptions { Epochs = 1, BatchSize = batch, LearningRate = 0.01, Seed = 0 },
                new StepTimes(times));
        }
        finally
        {
            Trainer.ProgressInterval = interval;
        }
        return times.Zip(times.Skip(1), (a, b) => workPerStep / (b - a)).Skip(warmup).ToArray();
    }

    private sealed class StepTimes(List<double> times) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => times.Add(value.Elapsed.TotalSeconds);
    }
}
