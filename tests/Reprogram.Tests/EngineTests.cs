using Reprogram.Alignments;
using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Instruction;
using Reprogram.Manipulations;
using Reprogram.Models.Causal;
using Reprogram.Models.Vision;
using Reprogram.Taxonomy;
using Reprogram.Training;
using TorchSharp;
using static TorchSharp.torch;
using static Reprogram.Tests.EngineFixtures;

namespace Reprogram.Tests;

public class EngineTests
{
    private static readonly TrainingOptions Short = new() { Epochs = 2, BatchSize = 16, LearningRate = 0.05, Seed = 3 };

    public static TheoryData<string, string> ImageCombinations() => new()
    {
        { "padding", "ilm" }, { "padding", "linear" }, { "watermark", "flm" }, { "patch", "blm" },
        { "parametric", "blm+" }, { "watermark", "rlm" }, { "none", "linear" },
    };

    private static InputManipulation? InputFor(string kind, int size) => kind switch
    {
        "padding" => new PaddingPrompt(3, size, size - 4),
        "watermark" => new WatermarkPrompt(3, size),
        "patch" => new PatchPrompt(3, size, 4),
        "parametric" => new ChannelTransform(3, size),
        _ => null,
    };

    private static IOutputAlignment AlignmentFor(string kind) => kind switch
    {
        "linear" => new LinearHead(10, FourClasses, seed: 2),
        "rlm" => new LabelMapping(LabelMappingMethod.Random, 10, FourClasses, 2),
        "flm" => new LabelMapping(LabelMappingMethod.Frequency, 10, FourClasses, 2),
        "ilm" => new LabelMapping(LabelMappingMethod.Iterative, 10, FourClasses, 2),
        "blm" => new LabelMapping(LabelMappingMethod.Bayesian, 10, FourClasses, 2),
        _ => new LabelMapping(LabelMappingMethod.BayesianTopK, 10, FourClasses, 2),
    };

    [Theory]
    [MemberData(nameof(ImageCombinations))]
    public void Image_reprogramming_trains_only_the_manipulation_and_leaves_the_model_unchanged(string input, string alignment)
    {
        using var backbone = CnnBackbone();
        var manipulation = InputFor(input, 16);
        var align = AlignmentFor(alignment);
        using var split = ImageSplit(48, manipulation?.InputSize ?? 16, seed: 5);
        var task = new MethodTrainingTask(backbone, manipulation, align, split);
        var before = task.TrainableParameters.Select(p => p.detach().clone()).ToArray();

        var report = Trainer.Train(task, Short);

        Assert.Equal(StopReason.Completed, report.Stop);
        Assert.Equal(6, report.Steps);
        Assert.Empty(backbone.ParametersWithGradients());               // no model parameter requires or holds a gradient
        Assert.All(((nn.Module)backbone.Model).parameters(), p => Assert.Null(p.grad));
        Assert.Equal(backbone.ChecksumBefore, backbone.VerifyUnchanged());
        Assert.True(task.TrainableParameters.Zip(before).Any(x => !x.First.detach().SameAs(x.Second)), "the manipulation did not learn");
        Assert.Equal(task.TrainableParameters.Sum(p => p.numel()),
                     (manipulation?.TrainableParameters ?? 0) + align.TrainableParameters);
    }

    public static TheoryData<string> TokenPrompts() => new() { "soft", "deep", "prefix", "prefix-mlp", "p-tuning-v2" };

    private static LearnableManipulation PromptFor(string kind, ITokenModel model) => kind switch
    {
        "soft" => SoftPrompt.Create(model, 4, SoftPromptInit.Vocabulary, seed: 1),
        "deep" => new DeepPrompt(model, 3, seed: 1),
        "prefix" => new PrefixTuning(model, 3, seed: 1),
        "p-tuning-v2" => PrefixTuning.PTuningV2(model, 3, seed: 1),
        _ => new PrefixTuning(model, 3, seed: 1, reparameterisationSize: 8),
    };

    [Theory]
    [MemberData(nameof(TokenPrompts))]
    public void Prompt_tuning_trains_only_the_prompt_and_leaves_the_model_unchanged(string kind)
    {
        using var model = CharGpt();
        using var backbone = new DecoderBackbone(model, ownsModel: false);
        var frozen = model.Frozen!;
        var prompt = PromptFor(kind, model.Local!);
        var task = new MethodTrainingTask(backbone, prompt, new Verbalizer(["even", "odd"]), ParityTask(40, 8, seed: 4));
        var before = prompt.parameters().Select(p => p.detach().clone()).ToArray();

        var report = Trainer.Train(task, Short with { LearningRate = 0.01 });

        Assert.Equal(StopReason.Completed, report.Stop);
        Assert.Empty(frozen.ParametersWithGradients());
        Assert.Equal(frozen.ChecksumAtFreeze, frozen.VerifyUnchanged());
        Assert.True(prompt.parameters().Zip(before).All(x => !x.First.detach().SameAs(x.Second)), "every prompt parameter should have moved");
        Assert.True(report.TokensSeen > 0);
        Assert.Equal(Location.Embedding == prompt.Location ? "soft prompt" : prompt.Name, prompt.Name);
    }

    [Fact]
    public void A_write_into_the_model_is_caught()
    {
        using var frozen = FrozenCnn();
        using (no_grad()) frozen.Model.parameters().First().add_(1e-3f);
        var e = Assert.Throws<FrozenModelChangedException>(() => frozen.VerifyUnchanged());
        Assert.Contains("changed", e.Message);
    }

    [Fact]
    public void Padding_prompt_leaves_the_image_untouched_where_the_mask_is_zero()
    {
        var pad = new PaddingPrompt(3, 16, 10);
        using (no_grad()) pad.Theta.copy_(randn(3, 16, 16));
        var (images, _) = Images(4, 10, seed: 9);
        var output = pad.Apply(images);
        Assert.Equal([4L, 3, 16, 16], output.shape);
        Assert.True(output[.., .., 3..13, 3..13].SameAs(images), "the image area must be the image itself");
        Assert.Equal(3, pad.Width);
        // On the frame, the output is exactly sigmoid(theta): the canvas is zero there.
        Assert.True(output[0, .., 0..3, ..].allclose(sigmoid(pad.Theta)[.., 0..3, ..]));
        Assert.Equal(0f, pad.Mask[0, 8, 8].item<float>());
        Assert.Equal(1f, pad.Mask[0, 0, 8].item<float>());
        Assert.Equal(3 * 16 * 16, pad.TrainableParameters);
    }

    [Fact]
    public void Patch_prompt_changes_only_its_patch_and_watermark_adds_everywhere()
    {
        var patch = new PatchPrompt(3, 16, 4);
        foreach (var p in patch.parameters()) using (no_grad()) p.copy_(ones_like(p));
        var (images, _) = Images(2, 16, seed: 2);
        var diff = patch.Apply(images) - images;
        Assert.Equal(3 * 4 * 4 * 2, diff.ne(0).sum().item<long>());
        Assert.Equal(0, diff[.., .., 4.., ..].abs().sum().item<float>());

        var mark = new WatermarkPrompt(3, 16);
        Assert.True(mark.Apply(images).SameAs(images), "an untrained watermark is zero");
        var channel = new ChannelTransform(3, 16);
        Assert.True(channel.Apply(images).allclose(images, rtol: 0, atol: 1e-6), "an untrained channel transform is the identity");
        Assert.Throws<ArgumentException>(() => mark.Apply(rand(2, 3, 8, 8)));
    }

    [Fact]
    public void Manipulations_declare_their_coordinates()
    {
        using var frozen = FrozenGpt();
        IManipulation[] all =
        [
            new PaddingPrompt(3, 16, 8), new WatermarkPrompt(3, 16), new PatchPrompt(3, 16, 4), new ChannelTransform(3, 16),
            SoftPrompt.Create(frozen.Model, 2, SoftPromptInit.Random, 1), new DeepPrompt(frozen.Model, 2, 1), PrefixTuning.PTuningV2(frozen.Model, 2, 1),
            new PromptTemplate(),
        ];
        Assert.Equal(
            ["Learnable Input Additive", "Learnable Input Additive", "Learnable Input Additive", "Learnable Input Parametric",
             "Learnable Embedding Concatenative", "Learnable Hidden Concatenative", "Learnable Hidden Concatenative", "Fixed Input Concatenative"],
            all.Select(m => $"{m.Format} {m.Location} {m.Operator}"));
        Assert.Equal(0, all[^1].TrainableParameters);
        Assert.Equal(2 * 16, all[4].TrainableParameters);
        Assert.Equal(2 * 2 * 16, all[5].TrainableParameters);
        Assert.Equal(2 * 2 * 2 * 16, all[6].TrainableParameters);
    }

    [Fact]
    public void Soft_tokens_and_deep_prompts_lengthen_the_sequence_and_prefixes_do_not()
    {
        using var frozen = FrozenGpt();
        var model = frozen.Model;
        var ids = randint(50, [2, 6]);
        var soft = SoftPrompt.Create(model, 3, SoftPromptInit.Random, 1);
        Assert.Equal([2L, 9, 16], soft.Prepend(model.Embed(ids)).shape);
        Assert.Equal([2L, 9, 50], model.ForwardEmbeddings(soft.Prepend(model.Embed(ids))).shape);
        Assert.Equal([2L, 9, 50], model.ForwardEmbeddings(model.Embed(ids), new DeepPrompt(model, 3, 1)).shape);
        Assert.Equal([2L, 6, 50], model.ForwardEmbeddings(model.Embed(ids), new PrefixTuning(model, 3, 1)).shape);
    }

    [Fact]
    public void Prefixes_are_seen_by_every_position_and_causality_is_kept()
    {
        using var frozen = FrozenGpt();
        var model = frozen.Model;
        var ids = randint(50, [1, 6]);
        var prefixA = new PrefixTuning(model, 2, seed: 1);
        var prefixB = new PrefixTuning(model, 2, seed: 2);
        using var _ = no_grad();
        var a = model.ForwardEmbeddings(model.Embed(ids), prefixA);
        var b = model.ForwardEmbeddings(model.Embed(ids), prefixB);
        Assert.False(a[0, 0].allclose(b[0, 0]), "the first position must attend to the prefix");

        // Changing the last token changes nothing before it, with a prefix and with deep prompts.
        var changed = ids.clone();
        changed[0, 5] = (ids[0, 5] + 1).remainder(50);
        var c = model.ForwardEmbeddings(model.Embed(changed), prefixA);
        Assert.True(a[0, ..5].allclose(c[0, ..5]));
        Assert.False(a[0, 5].allclose(c[0, 5]));
        var deep = new DeepPrompt(model, 2, 1);
        var d1 = model.ForwardEmbeddings(model.Embed(ids), deep);
        var d2 = model.ForwardEmbeddings(model.Embed(changed), deep);
        Assert.True(d1[0, ..7].allclose(d2[0, ..7]));
    }

    [Fact]
    public void Soft_prompt_initialisations()
    {
        using var frozen = FrozenGpt();
        var model = frozen.Model;
        var vocab = SoftPrompt.Create(model, 3, SoftPromptInit.Vocabulary, seed: 7).Vectors;
        Assert.All(Enumerable.Range(0, 3), i => Assert.True(model.TokenEmbeddings.sub(vocab[i]).abs().sum(1).min().item<float>() == 0f));
        var text = SoftPrompt.Create(model, 5, SoftPromptInit.Text, seed: 7, textTokenIds: [4L, 9L]).Vectors;
        Assert.True(text[0].SameAs(model.TokenEmbeddings[4]) && text[1].SameAs(model.TokenEmbeddings[9]) && text[2].SameAs(model.TokenEmbeddings[4]));
        Assert.True(SoftPrompt.Create(model, 3, SoftPromptInit.Random, 7).Vectors.SameAs(SoftPrompt.Create(model, 3, SoftPromptInit.Random, 7).Vectors));
        Assert.Throws<ArgumentException>(() => SoftPrompt.Create(model, 3, SoftPromptInit.Text, 7));
        Assert.Throws<ArgumentException>(() => SoftPrompt.Create(model, 0, SoftPromptInit.Random, 7));
    }

    [Fact]
    public void The_same_seed_gives_bit_identical_losses()
    {
        double[] Run(int seed)
        {
            using var backbone = CnnBackbone();
            using var split = ImageSplit(48, 12, seed: 5);
            var task = new MethodTrainingTask(backbone, new PaddingPrompt(3, 16, 12), new LabelMapping(LabelMappingMethod.Iterative, 10, FourClasses, 2), split);
            return Trainer.Train(task, Short with { Seed = seed }).Curve.Select(c => c.Loss).ToArray();
        }
        var first = Run(11);
        Assert.Equal(first, Run(11));
        Assert.NotEqual(first, Run(12));
    }

    [Fact]
    public void A_nan_loss_stops_training_before_it_reaches_the_parameters()
    {
        using var backbone = CnnBackbone();
        var (images, labels) = Images(40, 16, seed: 5);
        images[0, 0, 0, 0] = float.NaN;
        images[17, 0, 0, 0] = float.NaN;
        using var split = ImageTasks.FromTensors("quadrants", images, labels, FourClasses, 32);
        var mark = new WatermarkPrompt(3, 16);
        var task = new MethodTrainingTask(backbone, mark, new LinearHead(10, FourClasses, 1), split);
        var report = Trainer.Train(task, Short with { BatchSize = 32 });
        Assert.Equal(StopReason.NonFiniteLoss, report.Stop);
        Assert.Contains("NaN", report.Message);
        Assert.Equal(0, report.Steps);
        Assert.Equal(0f, mark.Prompt().abs().sum().item<float>());
    }

    [Fact]
    public void Cancellation_stops_between_steps_and_keeps_the_results_so_far()
    {
        using var backbone = CnnBackbone();
        using var split = ImageSplit(96, 16, seed: 5);
        var task = new MethodTrainingTask(backbone, new WatermarkPrompt(3, 16), new LinearHead(10, FourClasses, 1), split);
        using var cts = new CancellationTokenSource();
        var cancelledAt = System.Diagnostics.Stopwatch.StartNew();
        var progress = new SyncProgress(p => { if (p.Step >= 3 && !cts.IsCancellationRequested) { cts.Cancel(); cancelledAt.Restart(); } });
        var previous = Trainer.ProgressInterval;
        Trainer.ProgressInterval = TimeSpan.Zero;
        try
        {
            var report = Trainer.Train(task, Short with { Epochs = 50, BatchSize = 8 }, progress, cts.Token);
            Assert.Equal(StopReason.Cancelled, report.Stop);
            Assert.Equal(3, report.Steps);
            Assert.Equal(3, report.Curve.Count);
            Assert.True(cancelledAt.Elapsed < TimeSpan.FromSeconds(1), $"stopping took {cancelledAt.Elapsed}");
        }
        finally
        {
            Trainer.ProgressInterval = previous;
        }
        Assert.Equal(backbone.ChecksumBefore, backbone.VerifyUnchanged());
    }

    [Fact]
    public void Bad_training_options_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new TrainingOptions { Epochs = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new TrainingOptions { LearningRate = double.NaN }.Validate());
        Assert.Throws<ArgumentException>(() => new TrainingOptions { BatchSize = -1 }.Validate());
        Assert.Throws<ArgumentException>(() => LearningRateSchedule.Parse("warmup"));
        Assert.Equal([5, 7], ((MultiStepSchedule)LearningRateSchedule.IlmVp).Milestones(10));
    }

    [Fact]
    public void The_multistep_schedule_lowers_the_learning_rate_at_half_and_72_percent()
    {
        using var backbone = CnnBackbone();
        using var split = ImageSplit(16, 16, seed: 5);
        var task = new MethodTrainingTask(backbone, new WatermarkPrompt(3, 16), new LinearHead(10, FourClasses, 1), split);
        var report = Trainer.Train(task, Short with { Epochs = 10, LearningRate = 0.1, Schedule = LearningRateSchedule.IlmVp });
        var rates = report.Epochs.Select(e => Math.Round(e.LearningRate, 6)).ToArray();
        Assert.Equal([0.1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.001], rates);
    }

    private sealed class SyncProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }
}
