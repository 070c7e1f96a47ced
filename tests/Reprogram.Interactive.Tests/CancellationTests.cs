using System.Diagnostics;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Events;
using Reprogram.Runtime;
using TorchSharp.PyBridge;
using Xunit.Abstractions;

namespace Reprogram.Interactive.Tests;

/// <summary>
/// The kernel's Cancel command (what Polyglot Notebooks sends) stops every experiment directive in every phase: loading
/// a checkpoint file, training, evaluation, in-context scoring, KATE's embedding of the demonstration pool, generation, a
/// comparison, and the first-use training of a zoo model. .NET Interactive fails the cell at once ("Command
/// cancelled."); what is measured is how long the work itself takes to stop (<see cref="ComputeThread.Running"/> back to
/// 0), under whatever load the machine has. Each test then checks that what was done before the cancelled cell is kept
/// (a variable defined before it), runs a normal cell and, where it is quick, a small experiment in the same kernel.
/// Latencies are printed, per cancel and as a "LATENCY |" summary line per directive and phase (the maximum over
/// REPROGRAM_CANCEL_REPEATS cancels, default 1); the bound asserted (15 s) only catches work that ignores the cancel:
/// timings on a shared machine are too noisy for the 1 s the issue asks, which the printed numbers are compared with.
/// </summary>
public class CancellationTests(ITestOutputHelper output) : KernelTestBase
{
    /// <summary>What must not be exceeded for the test to pass: a cancel that reached no check would take minutes.</summary>
    private static readonly TimeSpan StopBound = TimeSpan.FromSeconds(15);

    /// <summary>Cancels per test (REPROGRAM_CANCEL_REPEATS, default 1): more give the worst case a closing note reports.</summary>
    private static int Repeats => int.TryParse(Environment.GetEnvironmentVariable("REPROGRAM_CANCEL_REPEATS"), out var n) && n > 0 ? n : 1;

    /// <summary>Cancels <paramref name="cell"/> <see cref="Repeats"/> times, <paramref name="after"/> after its work started; the slowest stop.</summary>
    private async Task<TimeSpan> CancelWhileRunning(string directive, string cell, TimeSpan after)
    {
        // What was done before the cancelled cell is kept: a variable of an earlier cell survives every cancel.
        await SubmitOk("var keptAcrossCancels = 41;");
        var answered = TimeSpan.Zero;
        var stopped = TimeSpan.Zero;
        for (var repeat = 1; repeat <= Repeats; repeat++)
        {
            var (a, s) = await CancelOnce(directive, cell, after, repeat);
            (answered, stopped) = (a > answered ? a : answered, s > stopped ? s : stopped);
        }
        var kept = await SubmitOk("keptAcrossCancels + 1");
        Assert.Equal(42, kept.Events.OfType<ReturnValueProduced>().Single().Value);
        output.WriteLine($"LATENCY | {directive} | cell answered (max) {answered.TotalMilliseconds:0} ms | work stopped (max) {stopped.TotalMilliseconds:0} ms | " +
                         $"{Repeats} cancel(s), each {after.TotalSeconds:0.##} s after the work started");
        return stopped;
    }

    private async Task<(TimeSpan Answered, TimeSpan Stopped)> CancelOnce(string directive, string cell, TimeSpan after, int repeat)
    {
        Assert.True(await ComputeThread.WaitUntilIdleAsync(TimeSpan.FromSeconds(60)), "work of an earlier cell is still running");
        var running = Submit(cell);
        var waited = Stopwatch.StartNew();
        while (ComputeThread.Running == 0 && !running.IsCompleted && waited.Elapsed < TimeSpan.FromSeconds(60)) await Task.Delay(5);
        await Task.Delay(after);
        if (running.IsCompleted)
        {
            var ended = await running;
            Assert.Fail($"{directive}, cancel {repeat}: the cell ended before the cancel ({ended.Events.OfType<CommandFailed>().FirstOrDefault()?.Message ?? "it succeeded"}); make it longer");
        }
        Assert.True(ComputeThread.Running > 0, $"{directive}: no work is running");

        var clock = Stopwatch.StartNew();
        await Kernel.SendAsync(new Cancel());
        var result = await running;
        var answered = clock.Elapsed;
        var stopped = await ComputeThread.WaitUntilIdleAsync(TimeSpan.FromSeconds(120));
        var latency = clock.Elapsed;
        output.WriteLine($"{directive}, cancel {repeat}: the cell answered {answered.TotalMilliseconds:0} ms after Cancel; the work stopped after {latency.TotalMilliseconds:0} ms " +
                         $"(cancelled {after.TotalSeconds:0.##} s after it started)");
        Assert.True(stopped, $"{directive}: the work was still running 2 minutes after the cancel");
        var failure = result.Events.OfType<CommandFailed>().FirstOrDefault();
        Assert.NotNull(failure);
        Assert.Contains("cancel", failure!.Message, StringComparison.OrdinalIgnoreCase);
        Assert.True(latency < StopBound, $"{directive}: the work took {latency.TotalSeconds:0.0} s to stop after the cancel");
        await AssertKernelStillUsable();
        return (answered, latency);
    }

    [Fact]
    public async Task Reprogram_stops_while_loading_a_checkpoint_file()
    {
        // A torchvision-layout ResNet-50 state dict (25.6 M parameters, about 100 MB of safetensors): building the model
        // and reading the file is the loading phase; the cancel comes 0.2 s after the work started.
        var folder = Directory.CreateTempSubdirectory("reprogram-cancel-load-").FullName;
        try
        {
            var file = Path.Combine(folder, "resnet50.safetensors");
            using (var resnet50 = new Reprogram.Models.Vision.ResNet([3, 4, 6, 3], 1000, bottleneck: true)) resnet50.save_safetensors(file);
            await CancelWhileRunning("#!reprogram --model <ResNet-50 .safetensors> (loading)",
                $"#!reprogram --model {file} --dataset digits --manipulation pad --train 20 --test 20 --epochs 1", TimeSpan.FromSeconds(0.2));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Reprogram_stops_during_training()
    {
        await CancelWhileRunning("#!reprogram (training)",
            "#!reprogram --model fashion-cnn --dataset digits --alignment ilm --train 1000 --test 200 --epochs 200 --batch 32", TimeSpan.FromSeconds(4));
        await SubmitOk("#!reprogram --model fashion-cnn --dataset digits --alignment ilm --train 40 --test 20 --epochs 1 --name afterCancel");
    }

    [Fact]
    public async Task Reprogram_stops_during_evaluation_of_the_real_resnet18()
    {
        // No training (rlm: a fixed random mapping, manipulation none): loading, then scoring 5,000 test images at 112 px.
        await CancelWhileRunning("#!reprogram (evaluation, ResNet-18)",
            "#!reprogram --model resnet18 --dataset fashion-mnist --manipulation none --alignment rlm --feature-channels-as-labels --train 20 --test 5000", TimeSpan.FromSeconds(6));
    }

    [Fact]
    public async Task Soft_prompt_stops_during_training()
    {
        await CancelWhileRunning("#!soft-prompt (MiniLM, training)", "#!soft-prompt --model minilm --task sentiment --train 400 --test 100 --epochs 100", TimeSpan.FromSeconds(5));
        await SubmitOk("#!soft-prompt --model minilm --task sentiment --train 16 --test 8 --epochs 1 --name afterCancel");
    }

    [Fact]
    public async Task Icl_stops_during_label_word_scoring()
    {
        await CancelWhileRunning("#!icl (scoring)",
            "#!icl --model icl-rules --shots 0,1,2,4,8 --seeds 30 --queries 2000 --pool 32 --selection random,balanced --no-cache", TimeSpan.FromSeconds(3));
        await SubmitOk("#!icl --model icl-rules --shots 1 --seeds 1 --queries 5 --name afterCancel");
    }

    [Fact]
    public async Task Icl_stops_while_kate_embeds_the_pool()
    {
        // KATE (--selection similar) embeds the 2,000-example pool and the queries with all-MiniLM-L6-v2 before any scoring.
        await CancelWhileRunning("#!icl --selection similar (KATE embedding)",
            "#!icl --model icl-rules --shots 4 --selection similar --pool 2000 --queries 2000 --seeds 3", TimeSpan.FromSeconds(4));
    }

    [Fact]
    public async Task Icl_stops_during_generation()
    {
        await CancelWhileRunning("#!icl --scoring generation", "#!icl --model icl-rules --shots 8 --scoring generation --queries 3000 --seeds 10 --no-cache", TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task Cot_stops_during_generation()
    {
        await CancelWhileRunning("#!cot (generation, self-consistency)",
            "#!cot --model arith-cot --task addition --mode zero-shot --samples 5 --queries 1000 --seeds 3", TimeSpan.FromSeconds(3));
        await SubmitOk("#!cot --model arith-cot --task addition --mode direct --queries 4 --name afterCancel");
    }

    [Fact]
    public async Task Compare_stops_and_the_kernel_runs_the_next_comparison()
    {
        await CancelWhileRunning("#!compare", "#!compare --methods icl+verbalizer,soft-prompt+verbalizer,prefix+verbalizer --examples 8,32 --seeds 10 --test 400 --epochs 30",
            TimeSpan.FromSeconds(4));
        await SubmitOk("#!compare --methods icl+verbalizer --examples 2 --seeds 1 --test 8 --name afterCancel");
    }

    [Fact]
    public async Task A_zoo_model_stops_training_on_first_use_and_nothing_is_cached()
    {
        var cache = Directory.CreateTempSubdirectory("reprogram-cancel-cache-").FullName;
        var previous = Environment.GetEnvironmentVariable("REPROGRAM_CACHE");
        Environment.SetEnvironmentVariable("REPROGRAM_CACHE", cache);
        try
        {
            await CancelWhileRunning("#!icl on a zoo model's first use (training icl-rules)", "#!icl --model icl-rules --shots 0 --queries 5 --seeds 1", TimeSpan.FromSeconds(5));
            // A half-trained zoo model is not kept: the next use trains it from the start.
            var models = Path.Combine(cache, "models");
            Assert.False(Directory.Exists(models) && Directory.EnumerateFiles(models).Any(), $"files were cached: {string.Join(", ", Directory.Exists(models) ? Directory.GetFiles(models) : [])}");
        }
        finally
        {
            Environment.SetEnvironmentVariable("REPROGRAM_CACHE", previous);
            Directory.Delete(cache, recursive: true);
        }
    }

    [Fact]
    public async Task A_source_classifier_stops_training_on_first_use()
    {
        // resnet18-fashion: the real ResNet-18's features of 2,500 Fashion-MNIST images, then a head, on first use.
        var cache = Directory.CreateTempSubdirectory("reprogram-cancel-cache-").FullName;
        var previous = Environment.GetEnvironmentVariable("REPROGRAM_CACHE");
        Environment.SetEnvironmentVariable("REPROGRAM_CACHE", cache);
        try
        {
            await CancelWhileRunning("#!reprogram --model resnet18-fashion (first-use training)",
                "#!reprogram --model resnet18-fashion --dataset digits --train 20 --test 20 --epochs 1", TimeSpan.FromSeconds(8));
            var models = Path.Combine(cache, "models");
            Assert.False(Directory.Exists(models) && Directory.EnumerateFiles(models).Any(), "a half-trained source classifier was cached");
        }
        finally
        {
            Environment.SetEnvironmentVariable("REPROGRAM_CACHE", previous);
            Directory.Delete(cache, recursive: true);
        }
    }
}
