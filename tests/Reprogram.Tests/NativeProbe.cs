using System.Text.Json;
using Reprogram.Alignments;
using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Models.Causal;
using Reprogram.Runtime;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>
/// The test assembly's entry point (`dotnet Reprogram.Tests.dll probe NAME`): work that needs a fresh process, because
/// what it checks happens once per process before libtorch loads (the MKL shim). Tests run it as a child process and
/// read the one JSON line it prints. Under the test runner this Main is not used.
/// </summary>
public static class NativeProbe
{
    public static int Main(string[] args)
    {
        if (args is not ["probe", "mkl"])
        {
            Console.Error.WriteLine("usage: dotnet Reprogram.Tests.dll probe mkl");
            return 2;
        }
        Console.WriteLine(JsonSerializer.Serialize(Mkl()));
        return 0;
    }

    public sealed record MklProbe(string? LibTorchBeforeApply, bool InEffect, string Summary, string? ShimPath, string? ResolvedTo,
        string? MklBranch, string? LibTorchAfter, float[] Logits, double Loss, float[] Gradient, float[] PromptAfterStep);

    /// <summary>
    /// Loads libtorch the way the library does (the shim first where the gate says so), then runs a forward pass of a
    /// small decoder and one soft-prompt training step (the product's TokenClassificationTask, Adam), and reports the
    /// shim's status with the numbers.
    /// </summary>
    private static MklProbe Mkl()
    {
        var before = MklOnAmd.LoadedLibTorchCpu();
        TorchRuntime.EnsureLoaded();
        var status = MklOnAmd.Status();
        manual_seed(0);
        var config = new GptConfig(512, 72, 2, 4, 128);
        using var frozen = new FrozenModel<TinyGpt>(new TinyGpt(config), "probe", CPU);
        using var ids = randint(4, config.VocabularySize, [16, 64]);
        float[] logits;
        using (no_grad())
        using (var output = frozen.Model.forward(ids))
        {
            logits = output[0, -1].data<float>().ToArray();
        }
        using var lengths = full(16, 64L, dtype: ScalarType.Int64);
        using var labels = randint(2, [16]);
        var prompt = SoftPrompt.Create(frozen.Model, 8, SoftPromptInit.Random, 0);
        var task = new TokenClassificationTask<TinyGpt>(frozen, prompt, new Verbalizer(["a", "b"], [1L, 2L]), ids, lengths, labels);
        using var optimizer = optim.Adam(task.TrainableParameters, 0.01);
        optimizer.zero_grad();
        var step = task.Step(Enumerable.Range(0, 16).Select(i => (long)i).ToArray());
        step.Loss.backward();
        var parameter = task.TrainableParameters[0];
        var gradient = parameter.grad!.data<float>().ToArray();
        optimizer.step();
        return new MklProbe(before, status.InEffect, status.Summary, status.ShimPath, status.ResolvedTo, status.MklBranch,
            MklOnAmd.LoadedLibTorchCpu(), logits, step.Loss.item<float>(), gradient, parameter.data<float>().ToArray());
    }
}
