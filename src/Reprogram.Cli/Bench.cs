using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Reprogram.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Cli;

public sealed record BenchOptions
{
    /// <summary>Rounds per workload; null: at least <see cref="MinRounds"/>, then more (up to <see cref="MaxRounds"/>) until every median is stable, within the time budget.</summary>
    public int? Rounds { get; init; }
    public const int MinRounds = 3, MaxRounds = 7;
    /// <summary>A round stops adding rounds when no median moved by more than this fraction.</summary>
    public const double Stable = 0.02;
    /// <summary>The whole run's time budget (automatic rounds only): a workload stops adding rounds when its share is spent.</summary>
    public TimeSpan Budget { get; init; } = TimeSpan.FromSeconds(330);
    /// <summary>Timed steps per run; null takes each workload's default.</summary>
    public int? Steps { get; init; }
    public IReadOnlyList<string> Only { get; init; } = [];
    public bool Reference { get; init; } = true;
    public string Python { get; init; } = Environment.GetEnvironmentVariable("BENCH_PYTHON") ?? "/usr/bin/python3";

    public void Validate()
    {
        if (Rounds is < 1) throw new ArgumentException($"--rounds {Rounds}: give at least 1 round.");
        if (Steps is < 1) throw new ArgumentException($"--steps {Steps}: give at least 1 timed step.");
        if (Budget <= TimeSpan.Zero) throw new ArgumentException($"--budget {Budget.TotalSeconds}: give a positive number of seconds.");
        var unknown = Only.Where(n => Bench.Workloads.All(w => w.Name != n)).ToArray();
        if (unknown.Length > 0)
        {
            throw new ArgumentException($"No workload '{string.Join("', '", unknown)}'. Known: {string.Join(", ", Bench.Workloads.Select(w => w.Name))}.");
        }
    }
}

/// <summary>
/// <c>reprogram bench</c>: the product's own steps on fixed workloads against a PyTorch reference of the same work, run
/// in the same session and interleaved (per round: ours, PyTorch with glibc, PyTorch with jemalloc). Each side's
/// value is the median of its round medians, with their spread (min-max); ratios are per round (same conditions),
/// summarised the same way. Next to each rate: the GFLOP/s it means (matrix products, <see cref="BenchFlops"/>) and
/// its fraction of the machine's peak, the best fp32 GEMM measured in the run.
/// </summary>
public static class Bench
{
    public static List<BenchWorkload> Workloads => BenchWorkloads.All;

    public static string ScriptFolder => Path.Combine(AppContext.BaseDirectory, "bench");

    private sealed record Side(List<double> Rounds, List<double> Best)
    {
        public Side() : this([], []) { }
        public double Median => Stats.Median(Rounds);
    }

    private sealed record Row(BenchWorkload Workload, string Part, Side Ours, Side Glibc, Side Jemalloc, int Rounds)
    {
        public string Label => Part.Length == 0 ? $"{Workload.Name} ({Workload.Unit})" : $"{Workload.Name} {Part} ({Workload.Unit})";
    }

    public static int Run(BenchOptions options, TextWriter output)
    {
        options.Validate();
        TorchRuntime.EnsureLoaded();
        var workloads = Workloads.Where(w => options.Only.Count == 0 || options.Only.Contains(w.Name)).ToArray();
        var jemalloc = File.Exists(NativeAllocator.JemallocPath) ? NativeAllocator.JemallocPath : null;
        var python = options.Reference && File.Exists(options.Python) ? options.Python : null;
        var threads = get_num_threads();
        var allocator = NativeAllocator.Status();
        var mkl = MklOnAmd.Status();
        var cpu = CpuFeatures.Current;
        output.WriteLine($"CPU: {(cpu is null ? "unknown" : $"{cpu.Describe()}; {cpu.VectorFlags()}")}; {Environment.ProcessorCount} logical CPUs.");
        output.WriteLine($"Ours: TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {__version__}, {threads} threads (inter-op {get_num_interop_threads()}), " +
                         $"allocator {allocator.Allocator}{(allocator.EffectiveOnComputeThread ? " (steps on the main-arena compute thread)" : "")}, " +
                         $"OpenMP wait policy {OpenMpWaitPolicy.Status}, GEMM: libtorch's bundled MKL, convolutions: oneDNN.");
        output.WriteLine($"Ours, MKL on AMD: {mkl.Summary}; MKL's branch {mkl.MklBranch ?? "?"}.");
        if (options.Reference && python is null)
        {
            output.WriteLine($"No PyTorch reference: {options.Python} not found. Install Debian's python3-torch, libopenblas0-pthread and libjemalloc2.");
        }

        var rows = new List<Row>();
        Reference? environment = null;
        var clock = Stopwatch.StartNew();
        for (var w = 0; w < workloads.Length; w++)
        {
            var workload = workloads[w];
            var steps = options.Steps ?? workload.DefaultSteps;
            var start = clock.Elapsed;
            var share = (options.Budget - start) / (workloads.Length - w);
            var roundsText = options.Rounds is { } fixedRounds ? $"{fixedRounds} round(s)" : $"{BenchOptions.MinRounds}-{BenchOptions.MaxRounds} rounds (until the medians are stable)";
            output.WriteLine($"{workload.Name}: {workload.Description}; {steps} timed steps after {workload.Warmup} warm-up, {roundsText}.");
            if (workload.Name == "gemm" && !BenchWorkloads.Bf16Native)
            {
                output.WriteLine("  bf16 parts not run: this CPU has neither AVX512_BF16 nor AMX, so libtorch emulates bf16 products " +
                                 "(on a Zen 2 machine: 0.3 GFLOP/s for the 1024^3 matmul, 3 for the linear, against 30-60 in fp32 under load).");
            }
            var parts = new Dictionary<string, (Side Ours, Side Glibc, Side Jemalloc)>();
            var round = 0;
            while (true)
            {
                var roundClock = Stopwatch.StartNew();
                var previous = parts.ToDictionary(p => p.Key, p => (p.Value.Ours.Median, p.Value.Glibc.Median, p.Value.Jemalloc.Median));
                var ours = workload.Ours(steps, workload.Warmup);
                var glibc = python is not null ? RunReference(python, workload, steps, threads, null) : null;
                var jem = python is not null && jemalloc is not null && workload.Jemalloc ? RunReference(python, workload, steps, threads, jemalloc) : null;
                environment ??= glibc;
                round++;
                var line = new List<string>();
                foreach (var (part, rates) in ours)
                {
                    if (!parts.TryGetValue(part, out var sides)) parts[part] = sides = (new Side(), new Side(), new Side());
                    sides.Ours.Rounds.Add(Stats.Median(rates));
                    sides.Ours.Best.Add(rates.Max());
                    Add(sides.Glibc, glibc, part);
                    Add(sides.Jemalloc, jem, part);
                    line.Add((part.Length > 0 ? part + ": " : "") + F($"ours {sides.Ours.Rounds[^1]:0.0}") +
                             (glibc is not null ? F($", PyTorch glibc {sides.Glibc.Rounds[^1]:0.0}") : "") +
                             (jem is not null ? F($", PyTorch jemalloc {sides.Jemalloc.Rounds[^1]:0.0}") : ""));
                }
                output.WriteLine($"  round {round}: {string.Join("; ", line)} {workload.Unit}");
                if (options.Rounds is { } n) { if (round >= n) break; continue; }
                if (round < BenchOptions.MinRounds) continue;
                var moved = parts.Max(p => Moved(previous.GetValueOrDefault(p.Key), p.Value));
                var spent = clock.Elapsed - start;
                var stop = moved <= BenchOptions.Stable ? F($"medians stable (the last round moved them by {100 * moved:0.0}% at most)")
                    : round >= BenchOptions.MaxRounds ? F($"{round} rounds, the most (the last round moved a median by {100 * moved:0.0}%)")
                    : spent + roundClock.Elapsed > share ? F($"its share of the time budget is spent (the last round moved a median by {100 * moved:0.0}%)")
                    : null;
                if (stop is null) continue;
                output.WriteLine($"  {round} rounds: {stop}.");
                break;
            }
            rows.AddRange(parts.Select(p => new Row(workload, p.Key, p.Value.Ours, p.Value.Glibc, p.Value.Jemalloc, round)));
        }

        // The machine's peak: the best fp32 GEMM call measured in this run, by either side; a short probe if gemm did not run.
        var gemm = rows.Where(r => r.Workload.Name == "gemm" && r.Part.StartsWith("fp32", StringComparison.Ordinal)).ToArray();
        var (peak, peakFrom) = gemm.Length > 0
            ? gemm.SelectMany(r => new[] { (r.Ours.Best.DefaultIfEmpty(0).Max(), $"ours, {r.Part}"), (r.Glibc.Best.DefaultIfEmpty(0).Max(), $"PyTorch, {r.Part}") })
                  .MaxBy(p => p.Item1)
            : (PeakProbe(), "a short probe: ours, fp32 matmul 1024^3");

        if (environment is not null)
        {
            output.WriteLine($"Reference: PyTorch {environment.Torch}, {environment.Threads} threads, BLAS {environment.Blas} (OPENBLAS_CORETYPE={OpenBlasCoreType() ?? "its own detection"}), OMP_WAIT_POLICY=PASSIVE; " +
                             $"allocators glibc malloc (default) and {(jemalloc is not null ? $"jemalloc (LD_PRELOAD={jemalloc})" : "jemalloc: not installed (apt-get install libjemalloc2)")}.");
            output.WriteLine("Reference, MKL on AMD: " + (environment.Mkl
                ? environment.Shim ? "this PyTorch has MKL and mkl_serv_intel_cpu_true resolves in its global scope (a shim is in effect)." : "this PyTorch has MKL; no shim is in effect."
                : "does not apply: this PyTorch has no MKL (its BLAS is " + environment.Blas + ")."));
        }
        output.WriteLine(F($"Peak: {peak:0} GFLOP/s, the best fp32 GEMM measured in this run ({peakFrom})."));
        output.WriteLine();
        output.WriteLine("| workload | ours median [min-max] | PyTorch glibc median [min-max] | PyTorch jemalloc median [min-max] | ours / glibc median [min-max] | ours / jemalloc median [min-max] | GFLOP/s ours, glibc | ours of peak | rounds |");
        output.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var row in rows)
        {
            var flops = row.Workload.FlopsPerUnit(row.Part) / 1e9;
            var oursGflops = row.Ours.Median * flops;
            output.WriteLine("| " + string.Join(" | ",
                row.Label, Spread(row.Ours.Rounds), Spread(row.Glibc.Rounds), Spread(row.Jemalloc.Rounds),
                Ratios(row.Ours.Rounds, row.Glibc.Rounds), Ratios(row.Ours.Rounds, row.Jemalloc.Rounds),
                F($"{oursGflops:0.0}") + (row.Glibc.Rounds.Count > 0 ? F($", {row.Glibc.Median * flops:0.0}") : ""),
                F($"{100 * oursGflops / peak:0}%"), row.Rounds.ToString(CultureInfo.InvariantCulture)) + " |");
        }
        output.WriteLine();
        output.WriteLine(F($"Values are medians of the round medians with their spread; ratios are ours over the reference per round (above 1: we are faster). ") +
                         "GFLOP/s counts a step's matrix products (linear layers, attention, output head, convolutions). " +
                         F($"{clock.Elapsed.TotalSeconds:0} s in all."));
        var cached = rows.FirstOrDefault(r => r.Workload.Name == "icl-16shot-cached" && r.Part.Length == 0);
        var uncached = rows.FirstOrDefault(r => r.Workload.Name == "icl-16shot-uncached");
        if (cached is not null && uncached is not null)
        {
            var tokens = BenchWorkloads.IclTokensPerSecond;
            output.WriteLine(F($"Shared-prefix cache (16 shots; per query): ours {cached.Ours.Median / uncached.Ours.Median:0.0}x faster than recomputing (goal: 5x)") +
                             (cached.Glibc.Rounds.Count == 0 ? "" : F($"; PyTorch glibc {cached.Glibc.Median / uncached.Glibc.Median:0.0}x")) +
                             F($". Scoring throughput: {tokens.GetValueOrDefault(true):N0} tokens/s cached, {tokens.GetValueOrDefault(false):N0} tokens/s recomputing (tokens run through the model)."));
        }
        if (cached is not null)
        {
            var bf16 = rows.FirstOrDefault(r => r.Workload.Name == "icl-16shot-cached" && r.Part == "bf16");
            output.WriteLine(bf16 is not null && BenchWorkloads.Bf16Agreement is { } agreement
                ? F($"bf16 scoring (icl-16shot-cached on a bf16 copy of the model): {bf16.Ours.Median:0.0} queries/s, {bf16.Ours.Median / cached.Ours.Median:0.00}x fp32 (goal: 1.8x); ") +
                  F($"predicted label words identical to fp32 for {agreement.Identical} of {agreement.Queries} queries ({100.0 * agreement.Identical / agreement.Queries:0.0}%).")
                : "bf16 scoring: not run (this CPU has neither AVX512_BF16 nor AMX; REPROGRAM_BF16=allow-slow runs it emulated, for the agreement).");
        }
        return 0;
    }

    private static void Add(Side side, Reference? reference, string part)
    {
        if (reference is null || !reference.Parts.TryGetValue(part, out var value)) return;
        side.Rounds.Add(value.Median);
        side.Best.Add(value.Best);
    }

    /// <summary>The largest relative change of any side's median that the last round made.</summary>
    private static double Moved((double Ours, double Glibc, double Jemalloc) before, (Side Ours, Side Glibc, Side Jemalloc) now)
    {
        static double Change(double old, Side side) => side.Rounds.Count < 2 || double.IsNaN(old) ? 0 : Math.Abs(side.Median - old) / side.Median;
        return new[] { Change(before.Ours, now.Ours), Change(before.Glibc, now.Glibc), Change(before.Jemalloc, now.Jemalloc) }.Max();
    }

    private static string Spread(List<double> rounds) =>
        rounds.Count == 0 ? "-" : rounds.Count == 1 ? F($"{rounds[0]:0.0}") : F($"{Stats.Median(rounds):0.0} [{rounds.Min():0.0}-{rounds.Max():0.0}]");

    private static string Ratios(List<double> ours, List<double> reference)
    {
        var ratios = ours.Zip(reference, (o, r) => o / r).ToList();
        return ratios.Count == 0 ? "-" : ratios.Count == 1 ? F($"{ratios[0]:0.00}x") : F($"{Stats.Median(ratios):0.00}x [{ratios.Min():0.00}-{ratios.Max():0.00}]");
    }

    /// <summary>The best of ten fp32 1024^3 matmuls, in GFLOP/s.</summary>
    private static double PeakProbe() => ComputeThread.Run(() =>
    {
        using var scope = NewDisposeScope();
        var a = randn(1024, 1024);
        var b = randn(1024, 1024);
        a.matmul(b).Dispose();
        var best = 0.0;
        for (var i = 0; i < 10; i++)
        {
            var clock = Stopwatch.StartNew();
            a.matmul(b).Dispose();
            best = Math.Max(best, 2.0 * 1024 * 1024 * 1024 / clock.Elapsed.TotalSeconds / 1e9);
        }
        return best;
    });

    private static Reference RunReference(string python, BenchWorkload workload, int steps, int threads, string? preload)
    {
        var script = Path.Combine(ScriptFolder, workload.Script);
        if (!File.Exists(script)) throw new FileNotFoundException($"The reference script {script} is missing from this installation.");
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(steps.ToString(CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(workload.Warmup.ToString(CultureInfo.InvariantCulture));
        foreach (var a in workload.ScriptArgs) psi.ArgumentList.Add(a);
        if (workload.Name == "gemm") psi.ArgumentList.Add(BenchWorkloads.Bf16Native ? "1" : "0");
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
        return Reference.Parse(output.Trim().Split('\n')[^1]);
    }

    /// <summary>SkylakeX where the CPU has AVX-512, Haswell where it has AVX2 (OpenBLAS's own names), otherwise null (its detection).</summary>
    public static string? OpenBlasCoreType() =>
        CpuFeatures.Current is not { } cpu ? null : cpu.Has("avx512f") ? "SkylakeX" : cpu.Has("avx2") ? "Haswell" : null;

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>A reference script's JSON line: one rate (median, best) or several parts, and its environment.</summary>
    private sealed record Reference(Dictionary<string, (double Median, double Best)> Parts, string Torch, int Threads, string Blas, bool Mkl, bool Shim)
    {
        public static Reference Parse(string line)
        {
            var json = JsonDocument.Parse(line).RootElement;
            var parts = new Dictionary<string, (double, double)>();
            if (json.TryGetProperty("parts", out var p))
            {
                foreach (var part in p.EnumerateObject()) parts[part.Name] = (part.Value.GetProperty("median").GetDouble(), part.Value.GetProperty("best").GetDouble());
            }
            else parts[""] = (json.GetProperty("median").GetDouble(), json.GetProperty("best").GetDouble());
            return new Reference(parts, json.GetProperty("torch").GetString()!, json.GetProperty("threads").GetInt32(), json.GetProperty("blas").GetString()!,
                json.TryGetProperty("mkl", out var m) && m.GetBoolean(), json.TryGetProperty("shim", out var s) && s.GetBoolean());
        }
    }
}

/// <summary>Medians for the bench.</summary>
internal static class Stats
{
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
