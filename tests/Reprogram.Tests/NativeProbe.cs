using System.Text.Json;
using Reprogram.Alignments;
using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Instruction;
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
        switch (args)
        {
            case ["probe", "mkl"]:
                Console.WriteLine(JsonSerializer.Serialize(Mkl()));
                return 0;
            case ["probe", "mkl-late"]:
                // libtorch loaded by TorchSharp directly, before the library had a chance to put the shim in front of it.
                TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU);
                var late = MklOnAmd.Status();
                Console.WriteLine(JsonSerializer.Serialize(new { late.InEffect, late.Summary, late.Advice, late.ShimPath }));
                return 0;
            case ["probe", "bf16-agreement", .. var rest]:
                Bf16Agreement(rest is ["ci"]);
                return 0;
            default:
                Console.Error.WriteLine("usage: dotnet Reprogram.Tests.dll probe mkl | probe mkl-late | probe bf16-agreement [ci]");
                return 2;
        }
    }

    /// <summary>
    /// Tutorial 04's #!icl and #!cot runs (its full settings, or its CI settings with "ci") in fp32 and in bf16, on the
    /// same loaded models: per setting the accuracies, the share of queries whose extracted answer is identical, and the
    /// wall times. bf16 runs even where it is emulated (REPROGRAM_BF16=allow-slow is set here), so the times mean
    /// something only on hardware with native bf16.
    /// </summary>
    private static void Bf16Agreement(bool ci)
    {
        PrecisionSupport.AllowEmulated = true;
        var icl = new InContextOptions { Queries = ci ? 30 : 100, Seeds = ci ? [0, 1] : [0, 1, 2, 3, 4] };
        var cot = new ChainOfThoughtOptions { Queries = ci ? 20 : 100, Seeds = ci ? [0] : [0, 1, 2] };
        var runs = new (string Name, Func<Precision, InstructionResult> Run)[]
        {
            ("icl shots", p => InContextLearning.Run(icl with { Shots = [0, 1, 2, 4, 8], Precision = p })),
            ("icl selection", p => InContextLearning.Run(icl with { Shots = [1, 2, 4], Selections = ["random", "balanced", "similar"], Precision = p })),
            ("icl calibration", p => InContextLearning.Run(icl with { Shots = [0, 2, 4, 8], Calibration = "both", Precision = p })),
            ("cot", p => ChainOfThought.Run(cot with { Modes = ["direct", "zero-shot"], Samples = 5, Temperature = 0.7, Precision = p })),
        };
        long same = 0, total = 0;
        Console.WriteLine($"CPU: {CpuFeatures.Current?.Describe()}; {CpuFeatures.Current?.VectorFlags()}; tutorial 04 {(ci ? "CI" : "full")} settings.");
        Console.WriteLine("| run | setting | fp32 accuracy | bf16 accuracy | difference | identical answers | fp32 s | bf16 s |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (var (name, run) in runs)
        {
            var fp32 = run(Precision.Fp32);
            var bf16 = run(Precision.Bf16);
            if (!bf16.FrozenUnchanged || bf16.ChecksumBefore != fp32.ChecksumBefore) throw new InvalidOperationException("The frozen fp32 weights changed.");
            foreach (var setting in fp32.Settings)
            {
                var other = bf16[setting.Label];
                var pairs = setting.Records.Zip(other.Records).ToArray();
                if (pairs.Any(p => p.First.Query != p.Second.Query || p.First.Seed != p.Second.Seed)) throw new InvalidOperationException("Records do not line up.");
                var identical = pairs.Count(p => p.First.Extracted == p.Second.Extracted);
                same += identical;
                total += pairs.Length;
                Console.WriteLine(FormattableString.Invariant(
                    $"| {name} | {setting.Label} | {setting.Accuracy:P1} | {other.Accuracy:P1} | {100 * (other.Accuracy - setting.Accuracy):+0.0;-0.0;0.0} pt | {identical}/{pairs.Length} ({100.0 * identical / pairs.Length:0.0}%) | {fp32.WallTime.TotalSeconds:0.0} | {bf16.WallTime.TotalSeconds:0.0} |"));
            }
        }
        Console.WriteLine(FormattableString.Invariant($"All settings: {same}/{total} answers identical ({100.0 * same / total:0.00}%)."));
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
        var gpt = new TinyGpt(config);
        long[] Encode(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(t => t switch { "a" => 1L, "b" => 2L, _ => long.Parse(t) }).ToArray();
        using var model = InstructionModel.FromLocal(gpt, "probe", Encode, x => string.Join(' ', x), CPU);
        using var ids = randint(4, config.VocabularySize, [16, 64]);
        float[] logits;
        using (no_grad())
        using (var output = gpt.forward(ids))
        {
            logits = output[0, -1].data<float>().ToArray();
        }
        // The same 16 texts as one soft-prompt training step of the engine (texts are token ids written out; labels a=1, b=2).
        var rows = ids.data<long>().ToArray();
        var examples = Enumerable.Range(0, 16).Select(i => new TaskExample(string.Join(' ', rows.Skip(i * 64).Take(64)), i % 2 == 0 ? "a" : "b") { Id = $"probe#{i}" }).ToArray();
        var split = new InstructionTask
        {
            Name = "probe", Description = "random token texts", Train = examples, Pool = examples, Queries = examples[..1], Labels = ["a", "b"],
            Template = new PromptTemplate("", "{input} {label}", "", "{input}"), Extraction = new AnswerExtraction(@"(\S+)", null),
        };
        using var backbone = new DecoderBackbone(model, ownsModel: false);
        var prompt = SoftPrompt.Create(model.Local!, 8, SoftPromptInit.Random, 0);
        var task = new MethodTrainingTask(backbone, prompt, new Verbalizer(["a", "b"]), split);
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
