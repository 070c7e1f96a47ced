using Reprogram.Alignments;
using Reprogram.Experiments;
using Reprogram.Manipulations;
using Reprogram.Models.Vision;
using Reprogram.Training;
using Xunit.Abstractions;
using static Reprogram.Tests.EngineFixtures;

namespace Reprogram.Tests;

public class MemoryTests(ITestOutputHelper output)
{
    private static long ResidentBytes() =>
        // "VmRSS:\t  123456 kB": the number may follow the tab directly, so split on any whitespace.
        long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:"))["VmRSS:".Length..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[0]) * 1024;

    private static void ShortRun(int seed)
    {
        using var backbone = CnnBackbone(seed);
        using var split = ImageSplit(64, 12, seed);
        var prompt = new PaddingPrompt(3, 16, 12);
        var mapping = new LabelMapping(LabelMappingMethod.Iterative, 10, FourClasses, seed);
        var task = new MethodTrainingTask(backbone, prompt, mapping, split);
        Trainer.Train(task, new TrainingOptions { Epochs = 2, BatchSize = 16, Seed = seed });
        task.Accuracy(split.Train);
        task.Accuracy();
        backbone.ReleaseCaches();
        prompt.Dispose();
        mapping.Dispose();
    }

    [Fact]
    public void Twenty_short_training_runs_grow_native_memory_by_less_than_100_MB()
    {
        ShortRun(0); // warm-up: libtorch's one-time allocations
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = ResidentBytes();
        for (var i = 1; i <= 20; i++) ShortRun(i);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var growth = ResidentBytes() - before;
        output.WriteLine($"resident memory growth over 20 runs: {growth / 1048576.0:0.0} MB");
        Console.WriteLine($"[memory] resident memory growth over 20 short training runs: {growth / 1048576.0:0.0} MB");
        Assert.True(growth < 100L * 1024 * 1024, $"grew {growth / 1048576.0:0.0} MB");
    }
}
