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
//   dotnet run -c Release --project tests/Reprogram.Benchmarks [-- --rounds 3 --steps 10]
var rounds = Arg("--rounds", 3);
var steps = Arg("--steps", 10);
var python = Environment.GetEnvironmentVariable("BENCH_PYTHON") ?? "/usr/bin/python3";
var jemalloc = new[] { "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2" }.FirstOrDefault(File.Exists);
var threads = torch.get_num_threads();

Console.WriteLine("Workload: the pad-prompt step of #!reprogram (frozen ResNet-18 [2,2,2,3], batch 32, 84 px padded to 112 px, linear head, Adam).");
Console.WriteLine($"Ours: TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {torch.__version__}, {threads} threads, allocator glibc malloc (default), GEMM: libtorch's bundled MKL / oneDNN.");
var ours = new List<double>();
var glibc = new List<Reference>();
var jem = new List<Reference>();
for (var round = 0; round < rounds; round++)
{
    ours.Add(PadPromptImagesPerSecond(steps));
    if (File.Exists(python))
    {
        glibc.Add(RunReference("pad_prompt.py", null));
        if (jemalloc is not null) jem.Add(RunReference("pad_prompt.py", jemalloc));
    }
    Console.WriteLine($"  round {round + 1}: ours {ours[^1]:0.0} img/s" +
                      (glibc.Count > round ? $", PyTorch glibc {glibc[^1].Median:0.0}" : "") +
                      (jem.Count > round ? $", PyTorch jemalloc {jem[^1].Median:0.0}" : ""));
}
if (glibc.Count == 0)
{
    Console.WriteLine($"No PyTorch reference: {python} not found. Install Debian's python3-torch and libopenblas0-pthread (apt-get install -y python3-torch libopenblas0-pthread).");
    return 0;
}
var r = glibc[0];
Console.WriteLine($"Reference: PyTorch {r.Torch}, {r.Threads} threads, {r.Blas}, OMP_WAIT_POLICY=PASSIVE; allocators glibc and {(jem.Count > 0 ? "jemalloc (LD_PRELOAD)" : "(jemalloc not installed)")}.");
Console.WriteLine();
Console.WriteLine("| workload | ours median (best) img/s | PyTorch glibc median (best) | PyTorch jemalloc median (best) | ratio vs glibc | ratio vs jemalloc |");
Console.WriteLine("|---|---|---|---|---|---|");
var oursMedian = Median(ours);
var g = Median(glibc.Select(x => x.Median));
var j = jem.Count > 0 ? Median(jem.Select(x => x.Median)) : double.NaN;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"| pad-prompt step | {oursMedian:0.0} ({ours.Max():0.0}) | {g:0.0} ({glibc.Max(x => x.Best):0.0}) | {(jem.Count > 0 ? $"{j:0.0} ({jem.Max(x => x.Best):0.0})" : "-")} | {oursMedian / g:0.00}x | {(jem.Count > 0 ? $"{oursMedian / j:0.00}x" : "-")} |"));
return 0;

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

Reference RunReference(string script, string? preload)
{
    var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
    psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "reference", script));
    psi.ArgumentList.Add(steps.ToString(CultureInfo.InvariantCulture));
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
