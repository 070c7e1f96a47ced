using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Reprogram.Alignments;
using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Models.Vision;
using Reprogram.Runtime;
using Reprogram.Training;
using TorchSharp;
using static TorchSharp.torch;

// Throughput of Reprogram's own training steps against a PyTorch reference doing the same work, measured in one run,
// interleaved (ours, theirs with glibc, theirs with jemalloc; repeated), and printed as ratios. Usage:
//   dotnet run -c Release --project tests/Reprogram.Benchmarks [-- --rounds 3 --steps 10 --workload pad-prompt|soft-prompt]
var rounds = Arg("--rounds", 3);
var steps = Arg("--steps", 10);
var python = Environment.GetEnvironmentVariable("BENCH_PYTHON") ?? "/usr/bin/python3";
var jemalloc = new[] { "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2" }.FirstOrDefault(File.Exists);
var threads = torch.get_num_threads();

var only = Array.IndexOf(args, "--workload") is var w and >= 0 && w + 1 < args.Length ? args[w + 1] : null;
var workloads = new (string Name, string Unit, string Description, Func<double> Ours, string Script, string[] ScriptArgs)[]
{
    ("pad-prompt", "images/s", "the pad-prompt step of #!reprogram: frozen ResNet-18 [2,2,2,3], batch 32, 84 px padded to 112 px, linear head, Adam",
        () => PadPromptImagesPerSecond(steps), "pad_prompt.py", []),
    ("soft-prompt", "tokens/s", "the soft-prompt step of prompt tuning on a decoder: frozen TinyGpt (vocab 512, 4 layers, 4 heads, 128 hidden), 8 soft tokens, batch 16 x 64 tokens, verbalizer, Adam",
        () => SoftPromptTokensPerSecond(steps), "soft_prompt.py", ["512", "4", "4", "128"]),
}.Where(x => only is null || x.Name == only).ToArray();
if (workloads.Length == 0) { Console.Error.WriteLine($"No workload '{only}'. Known: pad-prompt, soft-prompt."); return 2; }

Console.WriteLine($"Ours: TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {torch.__version__}, {threads} threads, allocator glibc malloc (default), GEMM: libtorch's bundled MKL / oneDNN.");
var rows = new List<string>();
Reference? environment = null;
foreach (var workload in workloads)
{
    Console.WriteLine($"Workload {workload.Name}: {workload.Description}.");
    var ours = new List<double>();
    var glibc = new List<Reference>();
    var jem = new List<Reference>();
    for (var round = 0; round < rounds; round++)
    {
        ours.Add(workload.Ours());
        if (File.Exists(python))
        {
            glibc.Add(RunReference(workload.Script, workload.ScriptArgs, null));
            if (jemalloc is not null) jem.Add(RunReference(workload.Script, workload.ScriptArgs, jemalloc));
        }
        Console.WriteLine($"  round {round + 1}: ours {ours[^1]:0.0} {workload.Unit}" +
                          (glibc.Count > round ? $", PyTorch glibc {glibc[^1].Median:0.0}" : "") +
                          (jem.Count > round ? $", PyTorch jemalloc {jem[^1].Median:0.0}" : ""));
    }
    var o = Median(ours);
    if (glibc.Count == 0)
    {
        rows.Add(string.Create(CultureInfo.InvariantCulture, $"| {workload.Name} ({workload.Unit}) | {o:0.0} ({ours.Max():0.0}) | - | - | - | - |"));
        continue;
    }
    environment = glibc[0];
    var g = Median(glibc.Select(x => x.Median));
    var j = jem.Count > 0 ? Median(jem.Select(x => x.Median)) : double.NaN;
    rows.Add(string.Create(CultureInfo.InvariantCulture,
        $"| {workload.Name} ({workload.Unit}) | {o:0.0} ({ours.Max():0.0}) | {g:0.0} ({glibc.Max(x => x.Best):0.0}) | {(jem.Count > 0 ? $"{j:0.0} ({jem.Max(x => x.Best):0.0})" : "-")} | {o / g:0.00}x | {(jem.Count > 0 ? $"{o / j:0.00}x" : "-")} |"));
}
if (environment is null)
{
    Console.WriteLine($"No PyTorch reference: {python} not found. Install Debian's python3-torch and libopenblas0-pthread (apt-get install -y python3-torch libopenblas0-pthread libjemalloc2).");
}
else
{
    Console.WriteLine($"Reference: PyTorch {environment.Torch}, {environment.Threads} threads, BLAS {environment.Blas}, OMP_WAIT_POLICY=PASSIVE; allocators glibc and {(jemalloc is not null ? "jemalloc (LD_PRELOAD)" : "(jemalloc not installed)")}.");
}
Console.WriteLine();
Console.WriteLine("| workload | ours median (best) | PyTorch glibc median (best) | PyTorch jemalloc median (best) | ratio vs glibc | ratio vs jemalloc |");
Console.WriteLine("|---|---|---|---|---|---|");
foreach (var row in rows) Console.WriteLine(row);
return 0;

double SoftPromptTokensPerSecond(int timedSteps)
{
    manual_seed(0);
    using var frozen = new FrozenModel<Reprogram.Models.Causal.TinyGpt>(
        new Reprogram.Models.Causal.TinyGpt(new Reprogram.Models.Causal.GptConfig(512, 128, 4, 4, 128)), "tiny-gpt-shape", CPU);
    var n = 16 * (timedSteps + 2);
    var ids = randint(4, 512, [n, 64]);
    var lengths = full(n, 64L, dtype: ScalarType.Int64);
    var labels = randint(2, [n]);
    var prompt = SoftPrompt.Create(frozen.Model, 8, SoftPromptInit.Random, 0);
    var task = new TokenClassificationTask<Reprogram.Models.Causal.TinyGpt>(frozen, prompt, new Verbalizer(["a", "b"], [1L, 2L]), ids, lengths, labels);
    var times = new List<double>();
    Trainer.ProgressInterval = TimeSpan.Zero;
    Trainer.Train(task, new TrainingOptions { Epochs = 1, BatchSize = 16, LearningRate = 0.01, Seed = 0 }, new StepTimer(times));
    var perStep = times.Zip(times.Skip(1), (a, b) => b - a).Skip(1).ToArray();
    return 16 * 64 / Median(perStep);
}

double PadPromptImagesPerSecond(int timedSteps)
{
    manual_seed(0);
    using var frozen = new FrozenModel<ResNet>(new ResNet([2, 2, 2, 3], null, ResNetPreprocessing.ImageNetRgb), "resnet18-shape", CPU);
    var images = rand(32 * (timedSteps + 2), 3, 84, 84);
    var labels = randint(10, [32 * (timedSteps + 2)]);
    var task = new ImageReprogrammingTask<ResNet>(frozen, new PaddingPrompt(3, 112, 84), new LinearHead(512, Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray(), 0), images, labels);
    var times = new List<double>();
    var progress = new StepTimer(times);
    Trainer.ProgressInterval = TimeSpan.Zero;
    Trainer.Train(task, new TrainingOptions { Epochs = 1, BatchSize = 32, LearningRate = 0.01, Seed = 0 }, progress);
    // Step times from the elapsed clock between progress reports; the first two steps are warm-up.
    var perStep = times.Zip(times.Skip(1), (a, b) => b - a).Skip(1).ToArray();
    return 32 / Median(perStep);
}

Reference RunReference(string script, string[] scriptArgs, string? preload)
{
    var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
    psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "reference", script));
    psi.ArgumentList.Add(steps.ToString(CultureInfo.InvariantCulture));
    psi.ArgumentList.Add("2");
    foreach (var a in scriptArgs) psi.ArgumentList.Add(a);
    psi.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
    psi.Environment["BENCH_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
    // OpenBLAS's AVX-512 kernels: the machine pins OPENBLAS_CORETYPE to Haswell for older builds; unset for this run only.
    psi.Environment.Remove("OPENBLAS_CORETYPE");
    psi.Environment.Remove("OPENBLAS_L2_SIZE");
    if (preload is not null) psi.Environment["LD_PRELOAD"] = preload;
    using var process = Process.Start(psi)!;
    var output = process.StandardOutput.ReadToEnd();
    var error = process.StandardError.ReadToEnd();
    process.WaitForExit();
    if (process.ExitCode != 0) throw new InvalidOperationException($"The reference {script} failed: {error}");
    var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
    return new Reference(json.GetProperty("median").GetDouble(), json.GetProperty("best").GetDouble(),
        json.GetProperty("torch").GetString()!, json.GetProperty("threads").GetInt32(), json.GetProperty("blas").GetString()!);
}

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted[sorted.Length / 2];
}

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

record Reference(double Median, double Best, string Torch, int Threads, string Blas);

sealed class StepTimer(List<double> times) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => times.Add(value.Elapsed.TotalSeconds);
}
