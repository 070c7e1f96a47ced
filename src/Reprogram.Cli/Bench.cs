using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
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
/// <paramref name="Warmup"/> steps), and the PyTorch script doing exactly the same work (in <c>bench/</c> next to the
/// program, its exact spec in its header). A new workload is one more entry in <see cref="Bench.Workloads"/>.
/// </summary>
public sealed record BenchWorkload(
    string Name,
    string Unit,
    string Description,
    int DefaultSteps,
    Func<int, int, IReadOnlyList<double>> Ours,
    string Script,
    string[] ScriptArgs,
    int Warmup = 2);

public sealed record BenchOptions
{
    public int Rounds { get; init; } = 2;
    /// <summary>Timed steps per run; null takes each workload's default.</summary>
    public int? Steps { get; init; }
    public IReadOnlyList<string> Only { get; init; } = [];
    public bool Reference { get; init; } = true;
    public string Python { get; init; } = Environment.GetEnvironmentVariable("BENCH_PYTHON") ?? "/usr/bin/python3";

    public void Validate()
    {
        if (Rounds < 1) throw new ArgumentException($"--rounds {Rounds}: give at least 1 round.");
        if (Steps is < 1) throw new ArgumentException($"--steps {Steps}: give at least 1 timed step.");
        var unknown = Only.Where(n => Bench.Workloads.All(w => w.Name != n)).ToArray();
        if (unknown.Length > 0)
        {
            throw new ArgumentException($"No workload '{string.Join("', '", unknown)}'. Known: {string.Join(", ", Bench.Workloads.Select(w => w.Name))}.");
        }
    }
}

/// <summary>
/// <c>reprogram bench</c>: the product's own training steps on fixed workloads, against a PyTorch reference of the same
/// work run in the same session, interleaved (ours, PyTorch with glibc, PyTorch with jemalloc; repeated per round),
/// with medians, best values and ratios, and the allocator, threads and BLAS of both sides.
/// </summary>
public static class Bench
{
    // Before Workloads: static fields initialise in order. vocab, layers, heads, hidden, demonstration and query tokens, queries.
    private static readonly string[] IclShape = ["8192", "4", "6", "384", "12", "6", "200"];

    /// <summary>The workloads, in the order they run. Add one by adding a record (its script goes in bench/).</summary>
    public static List<BenchWorkload> Workloads { get; } =
    [
        new("pad-prompt", "images/s",
            "the pad-prompt step of #!reprogram: frozen ResNet-18 [2,2,2,3], batch 32, 84 px padded to 112 px, linear head, Adam",
            6, PadPromptRates, "pad_prompt.py", []),
        new("soft-prompt-tiny", "tokens/s",
            "the soft-prompt step of #!soft-prompt on a decoder: frozen TinyGpt (vocab 512, 4 layers, 4 heads, 128 hidden), 8 soft tokens, batch 16 x 64, verbalizer, Adam",
            6, (steps, warmup) => SoftPromptRates(new GptConfig(512, 128, 4, 4, 128), 16, steps, warmup), "soft_prompt.py", ["512", "4", "4", "128", "16"]),
        new("soft-prompt-gpt2", "tokens/s",
            "the same step on a GPT-2-small shape (vocab 50257, 12 layers, 12 heads, 768 hidden, random weights), batch 4 x 64",
            3, (steps, warmup) => SoftPromptRates(new GptConfig(50257, 128, 12, 12, 768), 4, steps, warmup), "soft_prompt.py", ["50257", "12", "12", "768", "4"], Warmup: 1),
        new("icl-16shot-cached", "queries/s",
            "16-shot label-word scoring of #!icl, 200 queries, with the shared-prefix cache: frozen TinyGpt (vocab 8192, 4 layers, 6 heads, 384 hidden), " +
            "16 demonstrations x 12 tokens, 6-token queries, 3 one-token label words, batches of 32",
            3, (steps, warmup) => IclScoringRates(true, steps, warmup), "icl_scoring.py", [.. IclShape, "1"], Warmup: 1),
        new("icl-16shot-uncached", "queries/s",
            "the same evaluation recomputing the demonstrations for every query",
            2, (steps, warmup) => IclScoringRates(false, steps, warmup), "icl_scoring.py", [.. IclShape, "0"], Warmup: 1),
    ];

    /// <summary>Scoring tokens per second of the last ICL runs (cached, uncached), for the summary line.</summary>
    private static readonly Dictionary<bool, double> IclTokensPerSecond = new();

    public static string ScriptFolder => Path.Combine(AppContext.BaseDirectory, "bench");

    public static int Run(BenchOptions options, TextWriter output)
    {
        options.Validate();
        TorchRuntime.EnsureLoaded();
        var workloads = Workloads.Where(w => options.Only.Count == 0 || options.Only.Contains(w.Name)).ToArray();
        var jemalloc = File.Exists(NativeAllocator.JemallocPath) ? NativeAllocator.JemallocPath : null;
        var python = options.Reference && File.Exists(options.Python) ? options.Python : null;
        var threads = get_num_threads();
        var allocator = NativeAllocator.Status();
        output.WriteLine($"Ours: TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {__version__}, {threads} threads (inter-op {get_num_interop_threads()}), " +
                         $"allocator {allocator.Allocator}{(allocator.EffectiveOnComputeThread ? " (steps on the main-arena compute thread)" : "")}, " +
                         $"OpenMP wait policy {OpenMpWaitPolicy.Status}, GEMM: libtorch's bundled MKL, convolutions: oneDNN.");
        if (options.Reference && python is null)
        {
            output.WriteLine($"No PyTorch reference: {options.Python} not found. Install Debian's python3-torch, libopenblas0-pthread and libjemalloc2.");
        }

        var rows = new List<string[]>();
        var medians = new Dictionary<string, (double Ours, double Glibc)>();
        Reference? environment = null;
        var clock = Stopwatch.StartNew();
        foreach (var workload in workloads)
        {
            var steps = options.Steps ?? workload.DefaultSteps;
            output.WriteLine($"{workload.Name}: {workload.Description}; {steps} timed steps after {workload.Warmup} warm-up, {options.Rounds} round(s).");
            var ours = new List<IReadOnlyList<double>>();
            var glibc = new List<Reference>();
            var jem = new List<Reference>();
            for (var round = 0; round < options.Rounds; round++)
            {
                ours.Add(workload.Ours(steps, workload.Warmup));
                if (python is not null)
                {
                    glibc.Add(RunReference(python, workload, steps, threads, null));
                    if (jemalloc is not null) jem.Add(RunReference(python, workload, steps, threads, jemalloc));
                }
                output.WriteLine(F($"  round {round + 1}: ours {Median(ours[^1]):0.0} {workload.Unit}") +
                    (glibc.Count > round ? F($", PyTorch glibc {glibc[^1].Median:0.0}") : "") +
                    (jem.Count > round ? F($", PyTorch jemalloc {jem[^1].Median:0.0}") : ""));
            }
            var o = Median(ours.Select(Median));
            medians[workload.Name] = (o, glibc.Count > 0 ? Median(glibc.Select(r => r.Median)) : double.NaN);
            var oBest = ours.SelectMany(r => r).Max();
            environment ??= glibc.FirstOrDefault();
            var g = glibc.Count > 0 ? Median(glibc.Select(r => r.Median)) : double.NaN;
            var j = jem.Count > 0 ? Median(jem.Select(r => r.Median)) : double.NaN;
            rows.Add(
            [
                $"{workload.Name} ({workload.Unit})",
                F($"{o:0.0} ({oBest:0.0})"),
                glibc.Count > 0 ? F($"{g:0.0} ({glibc.Max(r => r.Best):0.0})") : "-",
                jem.Count > 0 ? F($"{j:0.0} ({jem.Max(r => r.Best):0.0})") : "-",
                glibc.Count > 0 ? F($"{o / g:0.00}x") : "-",
                jem.Count > 0 ? F($"{o / j:0.00}x") : "-",
            ]);
        }
        if (environment is not null)
        {
            output.WriteLine($"Reference: PyTorch {environment.Torch}, {environment.Threads} threads, BLAS {environment.Blas} (OPENBLAS_CORETYPE={OpenBlasCoreType() ?? "its own detection"}), OMP_WAIT_POLICY=PASSIVE; " +
                             $"allocators glibc malloc (default) and {(jemalloc is not null ? $"jemalloc (LD_PRELOAD={jemalloc})" : "jemalloc: not installed (apt-get install libjemalloc2)")}.");
        }
        output.WriteLine();
        output.WriteLine("| workload | ours median (best) | PyTorch glibc median (best) | PyTorch jemalloc median (best) | ratio vs glibc | ratio vs jemalloc |");
        output.WriteLine("|---|---|---|---|---|---|");
        foreach (var row in rows) output.WriteLine("| " + string.Join(" | ", row) + " |");
        output.WriteLine();
        output.WriteLine(F($"Ratios are our median over the reference's median (above 1: we are faster). {clock.Elapsed.TotalSeconds:0} s in all."));
        if (medians.TryGetValue("icl-16shot-cached", out var c) && medians.TryGetValue("icl-16shot-uncached", out var u))
        {
            output.WriteLine(F($"Shared-prefix cache (16 shots, 200 queries): ours {c.Ours / u.Ours:0.0}x faster than recomputing (goal: 5x)") +
                             (double.IsNaN(c.Glibc) ? "" : F($"; PyTorch glibc {c.Glibc / u.Glibc:0.0}x")) +
                             F($". Scoring throughput: {IclTokensPerSecond.GetValueOrDefault(true):N0} tokens/s cached, {IclTokensPerSecond.GetValueOrDefault(false):N0} tokens/s recomputing (tokens run through the model)."));
        }
        return 0;
    }

    /// <summary>Images per second of each timed step of the pad-prompt experiment (the engine's own training step and trainer).</summary>
    private static IReadOnlyList<double> PadPromptRates(int steps, int warmup)
    {
        manual_seed(0);
        var n = 32 * (steps + warmup);
        using var backbone = new ImageBackbone(new ResNet([2, 2, 2, 3], null, ResNetPreprocessing.ImageNetRgb), "resnet18-shape", CPU, 112, ownsModel: true);
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

    /// <summary>Queries per second of whole 16-shot evaluations (Reprogram's LikelihoodScoring), on the compute thread.</summary>
    private static IReadOnlyList<double> IclScoringRates(bool cached, int steps, int warmup) => ComputeThread.Run(() =>
    {
        manual_seed(0);
        var (vocab, layers, heads, hidden, demo, query, queries) = (8192, 4, 6, 384, 12, 6, 200);
        using var model = new TinyGpt(new GptConfig(vocab, 16 * demo + query + 8, layers, heads, hidden));
        model.eval();
        var random = new Random(0);
        long[] Ids(int n) => Enumerable.Range(0, n).Select(_ => (long)random.Next(1, vocab)).ToArray();
        var prefix = Ids(16 * demo);
        var requests = Enumerable.Range(0, queries).Select(_ => new Instruction.ScoringRequest(prefix, Ids(query), [Ids(1), Ids(1), Ids(1)])).ToArray();
        var rates = new List<double>();
        for (var step = 0; step < warmup + steps; step++)
        {
            var clock = Stopwatch.StartNew();
            var (_, cost) = Instruction.LikelihoodScoring.Score(model, requests, cached, batchRows: 32);
            var seconds = clock.Elapsed.TotalSeconds;
            if (step < warmup) continue;
            rates.Add(queries / seconds);
            IclTokensPerSecond[cached] = cost.Tokens / seconds;
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

    private static Reference RunReference(string python, BenchWorkload workload, int steps, int threads, string? preload)
    {
        var script = Path.Combine(ScriptFolder, workload.Script);
        if (!File.Exists(script)) throw new FileNotFoundException($"The reference script {script} is missing from this installation.");
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(steps.ToString(CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(workload.Warmup.ToString(CultureInfo.InvariantCulture));
        foreach (var a in workload.ScriptArgs) psi.ArgumentList.Add(a);
        psi.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        psi.Environment["BENCH_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
        // The best-tuned reference: Debian 12's OpenBLAS (0.3.21) does not recognise every CPU it runs on and then falls back
        // to generic kernels (45 vs 197 GFLOP/s at 1024^3 on one of these machines), so the core type is set from the CPU's flags.
        psi.Environment.Remove("OPENBLAS_L2_SIZE");
        if (OpenBlasCoreType() is { } core) psi.Environment["OPENBLAS_CORETYPE"] = core;
        else psi.Environment.Remove("OPENBLAS_CORETYPE");
        if (preload is not null) psi.Environment["LD_PRELOAD"] = preload;
        else psi.Environment.Remove("LD_PRELOAD");
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {python}.");
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"The reference {workload.Script} failed (exit {process.ExitCode}): {error.Result}");
        var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
        return new Reference(json.GetProperty("median").GetDouble(), json.GetProperty("best").GetDouble(),
            json.GetProperty("torch").GetString()!, json.GetProperty("threads").GetInt32(), json.GetProperty("blas").GetString()!);
    }

    /// <summary>SkylakeX where the CPU has AVX-512, Haswell where it has AVX2 (OpenBLAS's own names), otherwise null (its detection).</summary>
    public static string? OpenBlasCoreType()
    {
        try
        {
            var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal))?.Split(' ') ?? [];
            return flags.Contains("avx512f") ? "SkylakeX" : flags.Contains("avx2") ? "Haswell" : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private sealed record Reference(double Median, double Best, string Torch, int Threads, string Blas);

    private sealed class StepTimes(List<double> times) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => times.Add(value.Elapsed.TotalSeconds);
    }
}
