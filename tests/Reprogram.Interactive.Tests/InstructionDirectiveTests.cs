using System.Net;
using System.Net.Sockets;
using Microsoft.DotNet.Interactive.Events;
using Reprogram.Experiments;

namespace Reprogram.Interactive.Tests;

public class InstructionDirectiveTests : KernelTestBase
{
    private const string SmallIcl = "--model icl-rules --shots 0,2,4 --seeds 2 --queries 30 --pool 8";

    [Fact]
    public async Task Icl_shows_the_table_the_shots_chart_and_paged_records_and_shares_the_result()
    {
        var folder = Path.Combine(Path.GetTempPath(), "rp-icl-cell-" + Guid.NewGuid().ToString("N"));
        var export = Path.Combine(folder, "icl.csv");
        var result = await SubmitOk($"#!icl {SmallIcl} --selection random,balanced --calibration both --export {export} --name run1");
        var html = string.Join("\n", Html(result));
        Assert.Contains("In-context learning", html);
        Assert.Contains("4-shot, balanced, calibrated", html);           // a row per setting
        Assert.Contains("rp-v-statistical", html);                        // calibrated rows are statistical alignment
        Assert.Contains("rp-v-rule-based", html);                         // label-word likelihood is rule-based
        Assert.Contains("against shots", html);                           // the accuracy-vs-shots chart
        Assert.Contains("error_y", html);                                 // with the spread over seeds
        Assert.Contains("page 1 of", html);                               // the records are paged
        Assert.Contains("unchanged ✓", html);
        Assert.True(File.Exists(export));
        Assert.Equal(1 + 3 * 2 * 2 * 2 * 30, File.ReadAllLines(export).Length);   // 3 shots x 2 selections x 2 calibrations x 2 seeds x 30
        var count = await SubmitOk("run1.Settings.Count");
        Assert.Equal(12, count.Events.OfType<ReturnValueProduced>().Single().Value);
        var page = await SubmitOk("run1.Page(2, 5)");
        Assert.Contains("data-page", string.Join("\n", Html(page)));
        Directory.Delete(folder, true);
    }

    [Fact]
    public async Task Icl_without_the_cache_gives_the_same_answers()
    {
        await SubmitOk($"#!icl {SmallIcl} --name cached");
        await SubmitOk($"#!icl {SmallIcl} --no-cache --name uncached");
        var same = await SubmitOk("cached.Records.Select(r => r.Extracted).SequenceEqual(uncached.Records.Select(r => r.Extracted)) && cached.TokensProcessed < uncached.TokensProcessed");
        Assert.Equal(true, same.Events.OfType<ReturnValueProduced>().Single().Value);
    }

    [Fact]
    public async Task Cot_compares_direct_and_zero_shot_with_strict_and_flexible_rules()
    {
        var result = await SubmitOk("#!cot --model arith-cot --task addition --mode direct,zero-shot --queries 20 --samples 3 --temperature 0.5 --name c");
        var html = string.Join("\n", Html(result));
        Assert.Contains("zero-shot CoT (two-stage), trigger", html);
        Assert.Contains("self-consistency (3 samples", html);
        Assert.Contains("flexible rule", html);
        Assert.Contains("accuracy per setting", html);                    // the comparison chart
        var better = await SubmitOk("c.Settings[1].Accuracy > c.Settings[0].Accuracy");
        Assert.Equal(true, better.Events.OfType<ReturnValueProduced>().Single().Value);
    }

    [Theory]
    [InlineData("#!icl --shots two", "--shots: 'two' is not a whole number")]
    [InlineData("#!icl --selection nearest", "is not a demonstration selection")]
    [InlineData("#!icl --calibration contextual --scoring generation", "use it with --scoring likelihood")]
    [InlineData("#!icl --model gpt-17", "is not a model")]
    [InlineData("#!icl --task /no/such/file.csv", "No data file at")]
    [InlineData("#!cot --mode tree", "is not a chain-of-thought mode")]
    [InlineData("#!cot --mode few-shot", "few-shot needs --shots")]
    [InlineData("#!cot --selection similar", "--selection similar (KATE) is for #!icl")]
    [InlineData("#!cot --model openai:gpt-4o-mini --api-key-env REPROGRAM_NO_SUCH_VARIABLE", "REPROGRAM_NO_SUCH_VARIABLE")]
    [InlineData("#!icl --name 2bad", "cannot be a C# variable name")]
    [InlineData("#!icl --chat vicuna", "not a --chat value")]
    [InlineData("#!icl --model icl-rules --chat template --show-prompt", "applies to Hugging Face checkpoint folders")]
    public async Task Bad_options_give_clear_messages_and_the_kernel_stays_usable(string cell, string message)
    {
        Assert.Contains(message, await SubmitFails(cell));
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_named_and_the_kernel_stays_usable()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var message = await SubmitFails($"#!cot --model ollama:llama3 --endpoint http://127.0.0.1:{port} --queries 2");
        Assert.Contains($"127.0.0.1:{port}", message);
        await AssertKernelStillUsable();
    }
}

public class InstructionCancellationTests : KernelTestBase
{
    [Fact]
    public async Task A_cancelled_icl_cell_stops_with_a_message_and_the_kernel_stays_usable()
    {
        // Large enough to be still running when the cancel arrives (about a minute uncancelled).
        var running = Submit("#!icl --model icl-rules --shots 0,1,2,4,8 --seeds 30 --queries 2000 --pool 32 --selection random,balanced --no-cache");
        await Task.Delay(TimeSpan.FromSeconds(3));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Kernel.SendAsync(new Microsoft.DotNet.Interactive.Commands.Cancel());
        var result = await running;
        var failure = result.Events.OfType<Microsoft.DotNet.Interactive.Events.CommandFailed>().FirstOrDefault();
        Assert.NotNull(failure);
        Assert.Contains("cancel", failure!.Message, StringComparison.OrdinalIgnoreCase);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the cell took {clock.Elapsed.TotalSeconds:0} s to stop");
        await AssertKernelStillUsable();
        await SubmitOk("#!icl --model icl-rules --shots 1 --seeds 1 --queries 5 --name afterCancel");
    }
}
