namespace Reprogram.Cli.Tests;

public class BenchTests
{
    [Fact]
    public void Prints_the_table_of_our_steps_with_the_allocator_and_threads()
    {
        var output = new StringWriter();
        var exit = Bench.Run(new BenchOptions { Rounds = 1, Steps = 1, Only = ["soft-prompt-tiny"], Reference = false }, output);
        var text = output.ToString();
        Assert.Equal(0, exit);
        Assert.Contains("allocator", text);
        Assert.Contains("threads", text);
        Assert.Contains("Ours, MKL on AMD: ", text);
        Assert.Contains(Header, text);
        var row = text.Split('\n').Single(l => l.StartsWith("| soft-prompt-tiny (tokens/s) | ", StringComparison.Ordinal)).Split('|');
        Assert.True(Number(row[2]) > 0, row[2]);
        // Its GFLOP/s is the rate times the step's matrix-product operations, and the peak comes from a probe.
        var gflops = Number(row[7]);
        Assert.Equal(Number(row[2]) * BenchFlops.SoftPromptStep(4, 128, 512, 72) / 64 / 1e9, gflops, 0.051);
        Assert.Contains("Peak: ", text);
        Assert.Contains("(a short probe: ours, fp32 matmul 1024^3)", text);
    }

    private const string Header = "| workload | ours median [min-max] | PyTorch glibc median [min-max] | PyTorch jemalloc median [min-max] | ours / glibc median [min-max] | ours / jemalloc median [min-max] | GFLOP/s ours, glibc | ours of peak | rounds |";

    private static double Number(string cell) =>
        double.Parse(cell.Trim().Split(' ', ',')[0].TrimEnd('%', 'x'), System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void Gemm_measures_both_sides_in_GFLOP_per_second_and_takes_the_best_fp32_one_as_the_peak()
    {
        var output = new StringWriter();
        Assert.Equal(0, Bench.Run(new BenchOptions { Rounds = 1, Steps = 2, Only = ["gemm"] }, output));
        var text = output.ToString();
        var rows = text.Split('\n').Where(l => l.StartsWith("| gemm ", StringComparison.Ordinal)).Select(l => l.Split('|')).ToArray();
        var parts = BenchWorkloads.Bf16Native ? 4 : 2;
        Assert.Equal(parts, rows.Length);
        Assert.Contains(rows, r => r[1].Contains("fp32 matmul 1024^3"));
        Assert.Contains(rows, r => r[1].Contains("fp32 linear [256,768]x[768,3072]"));
        if (!BenchWorkloads.Bf16Native) Assert.Contains("bf16 parts not run: this CPU has neither AVX512_BF16 nor AMX", text);
        foreach (var r in rows)
        {
            Assert.True(Number(r[2]) > 0 && Number(r[3]) > 0, string.Join("|", r));   // ours and PyTorch
            Assert.True(Number(r[8]) <= 100, string.Join("|", r));                    // a median is at most the best
        }
        Assert.Matches(@"Peak: \d+ GFLOP/s, the best fp32 GEMM measured in this run \((ours|PyTorch), fp32 ", text);
        // Both sides say whether MKL's fast path on AMD is in effect.
        Assert.Contains("Ours, MKL on AMD: ", text);
        Assert.Contains("Reference, MKL on AMD: ", text);
    }

    [Fact]
    public void Automatic_rounds_run_at_least_three_and_say_why_they_stopped()
    {
        var output = new StringWriter();
        Assert.Equal(0, Bench.Run(new BenchOptions { Steps = 1, Only = ["gemm"], Reference = false, Budget = TimeSpan.FromMilliseconds(1) }, output));
        var text = output.ToString();
        Assert.Contains("  round 3: ", text);
        Assert.DoesNotContain("  round 4: ", text);   // a 1 ms budget is spent after the minimum
        Assert.Matches(@"  3 rounds: (medians stable|its share of the time budget is spent)", text);
        Assert.Contains("| 3 |", text);
    }

    [Fact]
    public void Cached_scoring_also_runs_on_a_bf16_copy_and_prints_its_speed_and_agreement()
    {
        var allow = Reprogram.Runtime.PrecisionSupport.AllowEmulated;
        Reprogram.Runtime.PrecisionSupport.AllowEmulated = true;   // emulated here: slow, but the agreement is real
        try
        {
            var output = new StringWriter();
            Assert.Equal(0, Bench.Run(new BenchOptions { Rounds = 1, Steps = 1, Only = ["icl-16shot-cached"], Reference = false }, output));
            var text = output.ToString();
            Assert.Contains("| icl-16shot-cached bf16 (queries/s) | ", text);
            var line = text.Split('\n').Single(l => l.StartsWith("bf16 scoring", StringComparison.Ordinal));
            var match = System.Text.RegularExpressions.Regex.Match(line, @"identical to fp32 for (\d+) of 200 queries");
            Assert.True(match.Success, line);
            Assert.True(int.Parse(match.Groups[1].Value) >= 180, line);   // random weights: near-ties are rare among 3 label words
        }
        finally
        {
            Reprogram.Runtime.PrecisionSupport.AllowEmulated = allow;
        }
    }

    [Fact]
    public void Operation_counts_match_an_independent_counter()
    {
        // torch.profiler(with_flops=True) of the reference scripts' models (PyTorch 1.13): a TinyGpt forward over 72
        // positions (vocab 512, 4 layers, 128 hidden) and a ResNet-18 [2,2,2,3] forward at 112 px.
        Assert.Equal(133_383_168, BenchFlops.DecoderForward(4, 128, 512, 72, 72, 72), 133_383_168 * 1e-3);
        Assert.Equal(1_120_890_368, BenchFlops.ResNetForward([2, 2, 2, 3], 112), 1_120_890_368 * 1e-3);
        // A training step through a frozen model: forward, gradient for the input (one product per linear, two per attention product).
        var forward = BenchFlops.DecoderForward(4, 128, 512, 72, 72, 72);
        Assert.Equal(2 * forward + 4 * 2 * 2 * 72 * 72 * 128.0, BenchFlops.SoftPromptStep(4, 128, 512, 72), 1.0);
        // The shared-prefix cache reads far fewer operations than recomputing the demonstrations.
        Assert.True(BenchFlops.IclEvaluation(4, 384, 8192, 192, 6, 200, true) * 5 < BenchFlops.IclEvaluation(4, 384, 8192, 192, 6, 200, false));
    }

    [Theory]
    [InlineData(null, "OpenMP wait policy PASSIVE (set by Reprogram before libtorch loaded")]
    [InlineData("ACTIVE", "OpenMP wait policy ACTIVE (from the environment)")]
    public async Task OpenMP_threads_wait_passively_unless_the_user_chose_a_policy(string? policy, string expected)
    {
        // A fresh process: the policy must be in place before libtorch (and so libgomp) loads.
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Reprogram.Cli.dll"));
        foreach (var a in new[] { "bench", "--no-reference", "--workload", "soft-prompt-tiny", "--rounds", "1", "--steps", "1" }) psi.ArgumentList.Add(a);
        if (policy is null) psi.Environment.Remove("OMP_WAIT_POLICY");
        else psi.Environment["OMP_WAIT_POLICY"] = policy;
        using var process = System.Diagnostics.Process.Start(psi)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await error);
        Assert.Contains(expected, output);
    }

    [Fact]
    public void Every_workload_has_its_reference_script_next_to_the_program()
    {
        foreach (var workload in Bench.Workloads)
        {
            Assert.True(File.Exists(Path.Combine(Bench.ScriptFolder, workload.Script)), $"{workload.Name}: {workload.Script} is missing.");
        }
    }

    [Theory]
    [InlineData(0, null, "nothing", "--rounds 0")]
    [InlineData(1, 0, "soft-prompt-tiny", "--steps 0")]
    [InlineData(1, 1, "nothing", "No workload 'nothing'. Known: gemm, pad-prompt")]
    public void Bad_options_are_refused_with_a_clear_message(int rounds, int? steps, string workload, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => Bench.Run(new BenchOptions { Rounds = rounds, Steps = steps, Only = [workload] }, new StringWriter()));
        Assert.Contains(expected, e.Message);
    }
}
