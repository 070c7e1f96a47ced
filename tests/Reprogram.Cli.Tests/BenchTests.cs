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
