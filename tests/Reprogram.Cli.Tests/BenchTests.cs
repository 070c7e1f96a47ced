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
        Assert.Contains("| workload | ours median (best) | PyTorch glibc median (best) | PyTorch jemalloc median (best) | ratio vs glibc | ratio vs jemalloc |", text);
        var row = text.Split('\n').Single(l => l.StartsWith("| soft-prompt-tiny (tokens/s) | ", StringComparison.Ordinal));
        var ours = row.Split('|')[2].Trim().Split(' ')[0];
        Assert.True(double.Parse(ours, System.Globalization.CultureInfo.InvariantCulture) > 0, row);
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
    [InlineData(1, 1, "nothing", "No workload 'nothing'. Known: pad-prompt")]
    public void Bad_options_are_refused_with_a_clear_message(int rounds, int? steps, string workload, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => Bench.Run(new BenchOptions { Rounds = rounds, Steps = steps, Only = [workload] }, new StringWriter()));
        Assert.Contains(expected, e.Message);
    }
}
