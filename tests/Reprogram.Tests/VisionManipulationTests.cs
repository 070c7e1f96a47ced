using Reprogram.Alignments;
using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Models.Clip;
using Reprogram.Models.Vision;
using Reprogram.Taxonomy;
using Reprogram.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>The new models loaded once, frozen, for the manipulation tests.</summary>
public sealed class FrozenVisionModels : IDisposable
{
    public FrozenModel<VisionTransformer> VitTorchvision { get; }
    public FrozenModel<VisionTransformer> VitHuggingFace { get; }
    public FrozenModel<VisionTransformer> VitHuggingFaceClassifier { get; }
    public FrozenModel<ResNet> ResNet50 { get; }
    public FrozenModel<ClipModel> Clip { get; }

    public FrozenVisionModels()
    {
        var c = VisionCheckpoints.Shared;
        VitTorchvision = new(ViTLoader.Load(Path.Combine(c.Folder("vit_tv"), "model.pth"), heads: 4), "tiny torchvision ViT", CPU);
        VitHuggingFace = new(ViTLoader.Load(c.Folder("vit_hf")), "tiny HF ViTModel", CPU);
        VitHuggingFaceClassifier = new(ViTLoader.Load(c.Folder("vit_hf_cls")), "tiny HF ViTForImageClassification", CPU);
        ResNet50 = new(ResNetLoader.Load(Path.Combine(c.Folder("resnet50"), "model.pth")), "random torchvision resnet50", CPU);
        Clip = new(ClipLoader.Load(c.Folder("clip")), "tiny HF CLIPModel", CPU);
    }

    public void Dispose()
    {
        VitTorchvision.Dispose();
        VitHuggingFace.Dispose();
        VitHuggingFaceClassifier.Dispose();
        ResNet50.Dispose();
        Clip.Dispose();
    }
}

/// <summary>
/// Every manipulation that applies to the new models' interfaces trains for a few steps with the frozen checksum
/// unchanged; VPT and CoOp agree with the independent reference; refusals say why.
/// </summary>
public sealed class VisionManipulationTests(FrozenVisionModels models, ITestOutputHelper output) : IClassFixture<FrozenVisionModels>
{
    private static readonly string[] Targets = ["cat", "dog", "bird"];

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    /// <summary>Seeded synthetic target data: images [n, 3, size, size] in [0, 1] and labels [n] in 0..classes-1.</summary>
    private static (Tensor Images, Tensor Labels) Data(int size, int classes = 3, int n = 8, int seed = 5)
    {
        var g = new Generator((ulong)seed);
        return (rand([n, 3, size, size], generator: g), randint(classes, [n], generator: g));
    }

    /// <summary>A few steps of training; asserts it ran, the learned parts moved, and the frozen model did not.</summary>
    /// <summary>The engine's training task over a model frozen by the fixture: the images are the training examples.</summary>
    private static MethodTrainingTask EngineTask<TModel>(FrozenModel<TModel> frozen, IManipulation? manipulation, IOutputAlignment alignment, Tensor images, Tensor labels)
        where TModel : nn.Module, IImageModel
    {
        var split = ImageTasks.FromTensors("generated", images, labels, alignment.TargetLabels, (int)images.shape[0]);
        return new MethodTrainingTask(ImageBackbone.Over(frozen), manipulation, alignment, split);
    }

    private void TrainAndCheck<TModel>(ITrainingTask task, FrozenModel<TModel> frozen, string what) where TModel : nn.Module
    {
        var before = task.TrainableParameters.Select(p => p.detach().clone()).ToArray();
        Assert.NotEmpty(before);
        var report = Trainer.Train(task, new TrainingOptions { Epochs = 2, BatchSize = 4, LearningRate = 0.05, Seed = 1 });
        Assert.True(report.Stop == StopReason.Completed, $"{what}: {report.Message}");
        Assert.Equal(4, report.Steps);
        Assert.True(report.Curve.All(p => double.IsFinite(p.Loss)), $"{what}: a loss was not finite");
        var moved = task.TrainableParameters.Zip(before).Any(p => !Same(p.First.detach(), p.Second));
        Assert.True(moved, $"{what}: training changed no learned parameter");
        Assert.Equal(frozen.ChecksumAtFreeze, frozen.VerifyUnchanged());
        Assert.Empty(frozen.ParametersWithGradients());
        output.WriteLine($"{what}: {report.Steps} steps, last loss {report.Curve[^1].Loss:F4}, checksum {ParameterChecksum.Short(frozen.ChecksumAtFreeze)} unchanged");
    }

    private static InputManipulation Input(string name, int size, int inner) => name switch
    {
        "pad" => new PaddingPrompt(3, size, inner),
        "watermark" => new WatermarkPrompt(3, size),
        "patch" => new PatchPrompt(3, size, size / 4),
        "parametric" => new ChannelTransform(3, size),
        _ => throw new ArgumentException(name),
    };

    public static TheoryData<string, string> ImageModelsAndInputPrompts()
    {
        var data = new TheoryData<string, string>();
        foreach (var model in new[] { "vit-torchvision", "vit-hf", "vit-hf-classifier", "resnet50", "clip" })
            foreach (var prompt in new[] { "pad", "watermark", "patch", "parametric" }) data.Add(model, prompt);
        return data;
    }

    /// <summary>Input prompts (pad, watermark, patch, parametric) on every new image model, with a fitting alignment.</summary>
    [Theory]
    [MemberData(nameof(ImageModelsAndInputPrompts))]
    public void Input_prompts_train_on_every_new_image_model(string model, string prompt)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        switch (model)
        {
            case "resnet50":
                Run(models.ResNet50, new LabelMapping(LabelMappingMethod.Iterative, 1000, Targets, seed: 1, ImageNetClasses.Names), 32);
                break;
            case "clip":
                Run(models.Clip, ClipTextHead.ZeroShot(models.Clip.Model, Targets), models.Clip.Model.InputSize);
                break;
            case "vit-hf":
                Run(models.VitHuggingFace, new LinearHead(models.VitHuggingFace.Model.OutputSize, Targets, seed: 1), 32);
                break;
            case "vit-hf-classifier":
                Run(models.VitHuggingFaceClassifier, new LabelMapping(LabelMappingMethod.Iterative, 3, ["a", "b"], 1, models.VitHuggingFaceClassifier.Model.OutputLabels), 32, classes: 2);
                break;
            default:
                Run(models.VitTorchvision, new LabelMapping(LabelMappingMethod.Iterative, 10, Targets, seed: 1), 32);
                break;
        }

        void Run<TModel>(FrozenModel<TModel> frozen, IOutputAlignment alignment, int size, int classes = 3) where TModel : nn.Module, IImageModel
        {
            var input = Input(prompt, size, size - 8);
            var (images, labels) = Data(input.InputSize, classes);
            var task = EngineTask(frozen, input, alignment, images, labels);
            TrainAndCheck(task, frozen, $"{prompt} prompt + {alignment.Name} on {model}");
        }
    }

    public static TheoryData<string, LabelMappingMethod> ClassifiersAndMappings()
    {
        var data = new TheoryData<string, LabelMappingMethod>();
        foreach (var model in new[] { "vit-torchvision", "resnet50", "clip-prompts" })
            foreach (var method in Enum.GetValues<LabelMappingMethod>()) data.Add(model, method);
        return data;
    }

    /// <summary>
    /// The label mappings work unchanged on the new classifiers: a ViT's head, ResNet-50's 1000 ImageNet classes, and
    /// CLIP's prompts as source labels with a watermark (BLM's CLIP row: templates kept separate, then the mapping).
    /// </summary>
    [Theory]
    [MemberData(nameof(ClassifiersAndMappings))]
    public void Label_mappings_work_unchanged_on_the_new_classifiers(string model, LabelMappingMethod method)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        if (model == "clip-prompts")
        {
            // Target classes 0..2 named, two templates: six source prompts.
            using var classifier = models.Clip.Model.ZeroShotClassifier(Targets, ["a photo of a {}.", "a drawing of a {}."]);
            using var frozen = new FrozenModel<ClipZeroShotClassifier>(classifier, "CLIP over 6 prompts", CPU, ownsModel: false);
            Run(frozen, 6, classifier.OutputLabels, 32);
            Assert.Equal(models.Clip.ChecksumAtFreeze, models.Clip.VerifyUnchanged());
        }
        else if (model == "resnet50") Run(models.ResNet50, 1000, ImageNetClasses.Names, 32);
        else Run(models.VitTorchvision, 10, null, 32);

        void Run<TModel>(FrozenModel<TModel> frozen, int sourceClasses, IReadOnlyList<string>? sourceLabels, int size) where TModel : nn.Module, IImageModel
        {
            var mapping = new LabelMapping(method, sourceClasses, Targets, seed: 1, sourceLabels);
            var (images, labels) = Data(size);
            var task = EngineTask(frozen, new WatermarkPrompt(3, size), mapping, images, labels);
            TrainAndCheck(task, frozen, $"watermark + {mapping.Name} on {model}");
            Assert.Equal(sourceClasses, mapping.Omega().GetLength(0));
        }
    }

    public static TheoryData<string, bool> PatchTokenModels()
    {
        var data = new TheoryData<string, bool>();
        foreach (var model in new[] { "vit-torchvision", "vit-hf", "vit-hf-classifier", "clip" })
        {
            data.Add(model, false);
            data.Add(model, true);
        }
        return data;
    }

    /// <summary>VPT-shallow and VPT-deep on every patch-token model, with a linear head (VPT's) or CLIP's text head.</summary>
    [Theory]
    [MemberData(nameof(PatchTokenModels))]
    public void Vpt_trains_on_every_patch_token_model(string model, bool deep)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        switch (model)
        {
            case "clip": Run(models.Clip, ClipTextHead.ZeroShot(models.Clip.Model, Targets)); break;
            case "vit-hf": Run(models.VitHuggingFace, null); break;
            case "vit-hf-classifier": Run(models.VitHuggingFaceClassifier, null); break;
            default: Run(models.VitTorchvision, null); break;
        }

        void Run<TModel>(FrozenModel<TModel> frozen, IOutputAlignment? alignment) where TModel : nn.Module, IPatchTokenModel
        {
            var vpt = VisualPromptTuning.Create(frozen.Model, new VptOptions(Tokens: 3, Deep: deep), seed: 2);
            Assert.Equal(deep ? Location.Hidden : Location.Embedding, vpt.Location);
            Assert.Equal(Operator.Concatenative, vpt.Operator);
            Assert.Equal(deep ? frozen.Model.Layers * 3 * frozen.Model.HiddenSize : 3 * frozen.Model.HiddenSize, vpt.TrainableParameters);
            alignment ??= new LinearHead(frozen.Model.OutputSize, Targets, seed: 1);
            var (images, labels) = Data(frozen.Model.InputSize);
            var task = EngineTask(frozen, vpt, alignment, images, labels);
            TrainAndCheck(task, frozen, $"{vpt.Name} + {alignment.Name} on {model}");
        }
    }

    [Fact]
    public void Vpt_shallow_and_deep_match_the_reference()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var reference = VisionCheckpoints.Shared.Reference("vit_tv");
        var model = models.VitTorchvision.Model;
        foreach (var deep in new[] { false, true })
        {
            var vpt = VisualPromptTuning.Create(model, new VptOptions(3, deep));
            vpt.Prompts.copy_(reference[deep ? "vpt_deep_prompts" : "vpt_shallow_prompts"]);
            var logits = vpt.Forward(model, reference["images"]);
            var d = VisionCheckpoints.AssertParity(logits, reference[deep ? "vpt_deep_logits" : "vpt_shallow_logits"], vpt.Name);
            output.WriteLine($"{vpt.Name}: max |logits - reference| = {d:E3}");
            // The prompts change the output (they are not ignored).
            Assert.True(VisionCheckpoints.MaxDifference(logits, reference["logits"]) > 1e-2);
        }
    }

    [Fact]
    public void Vpt_starts_as_the_authors_code_and_is_seeded()
    {
        var model = models.VitTorchvision.Model;                                   // patch 8, width 64, 3 channels
        var vpt = VisualPromptTuning.Create(model, new VptOptions(50, Deep: true), seed: 7);
        var bound = Math.Sqrt(6.0 / (3 * 8 * 8 + 64));
        Assert.Equal(bound, vpt.InitBound, 12);
        Assert.Equal([2, 50, 64], vpt.Prompts.shape);
        Assert.True(vpt.Prompts.abs().max().item<float>() <= bound);
        Assert.True(vpt.Prompts.abs().max().item<float>() > 0.9 * bound);          // uniform over the whole interval
        Assert.True(Math.Abs(vpt.Prompts.mean().item<float>()) < 0.05 * bound);
        Assert.True(Same(vpt.Prompts, VisualPromptTuning.Create(model, new VptOptions(50, Deep: true), seed: 7).Prompts));
        Assert.False(Same(vpt.Prompts, VisualPromptTuning.Create(model, new VptOptions(50, Deep: true), seed: 8).Prompts));
        // Deep prompts replace, at layers after the first, exactly the n positions after the class token.
        var hidden = randn(2, 1 + 3 + 16, 64);
        var small = VisualPromptTuning.Create(model, new VptOptions(3, Deep: true), seed: 1);
        var replaced = small.LayerInput(1, hidden);
        Assert.True(Same(replaced[.., 0], hidden[.., 0]) && Same(replaced[.., 4..], hidden[.., 4..]));
        Assert.True(Same(replaced[0, 1..4], small.Prompts[1]));
        Assert.True(Same(small.LayerInput(0, hidden), hidden));
        Assert.True(Same(VisualPromptTuning.Create(model, new VptOptions(3), seed: 1).LayerInput(1, hidden), hidden));
    }

    [Fact]
    public void Zero_shot_head_is_clips_logits_and_rule_based()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var reference = VisionCheckpoints.Shared.Reference("clip");
        var head = ClipTextHead.ZeroShot(models.Clip.Model, ["cat", "dog", "bird", "car", "ship"]);
        Assert.Equal(OutputAlignment.RuleBased, head.Kind);
        Assert.Equal(0, head.TrainableParameters);
        VisionCheckpoints.AssertParity(head.Map(reference["image_embeds"]), reference["logits_per_image"], "zero-shot head");
        // Prompt ensembling: two templates give the renormalised mean of the two unit features per class.
        var two = ClipTextHead.ZeroShot(models.Clip.Model, ["cat", "dog"], ["a photo of a {}.", "a drawing of a {}."]);
        var a = nn.functional.normalize(models.Clip.Model.TextEmbeddings(["a photo of a cat.", "a photo of a dog."]), p: 2, dim: -1);
        var b = nn.functional.normalize(models.Clip.Model.TextEmbeddings(["a drawing of a cat.", "a drawing of a dog."]), p: 2, dim: -1);
        Assert.True(VisionCheckpoints.MaxDifference(two.ClassFeatures(), nn.functional.normalize(a + b, p: 2, dim: -1)) < 1e-5);
    }

    [Fact]
    public void CoOp_matches_the_reference_and_declares_its_coordinates()
    {
        using var scope = NewDisposeScope();
        var reference = VisionCheckpoints.Shared.Reference("clip");
        var head = ClipTextHead.CoOp(models.Clip.Model, ["cat", "dog", "bird"], new CoOpOptions(ContextTokens: 4));
        var coop = head.Prompt!;
        Assert.Equal(OutputAlignment.Linear, head.Kind);
        Assert.Equal((Location.Embedding, Operator.Concatenative, Format.Learnable), (coop.Location, coop.Operator, coop.Format));
        Assert.Equal(4 * 32, head.TrainableParameters);
        using (no_grad()) coop.Context.copy_(reference["coop_context"]);
        var d = VisionCheckpoints.AssertParity(head.Map(reference["image_embeds"]), reference["coop_logits"], "CoOp logits");
        output.WriteLine($"CoOp: max |logits - reference| = {d:E3}");
        // Gradients reach the context and nothing else.
        head.Map(reference["image_embeds"]).sum().backward();
        Assert.NotNull(coop.Context.grad);
        Assert.Empty(models.Clip.ParametersWithGradients());
    }

    public static TheoryData<ClassTokenPosition, bool, string?> CoOpSettings() => new()
    {
        { ClassTokenPosition.End, false, null },
        { ClassTokenPosition.Middle, false, null },
        { ClassTokenPosition.Front, true, null },
        { ClassTokenPosition.End, false, "a photo of a" },
    };

    [Theory]
    [MemberData(nameof(CoOpSettings))]
    public void CoOp_trains_in_every_setting(ClassTokenPosition position, bool classSpecific, string? init)
    {
        using var scope = NewDisposeScope();
        var options = new CoOpOptions(ContextTokens: 4, ContextInit: init, ClassSpecific: classSpecific, Position: position);
        var head = ClipTextHead.CoOp(models.Clip.Model, ["cat", "ankle_boot", "bird"], options, seed: 3);
        var coop = head.Prompt!;
        Assert.Equal("ankle boot", coop.ClassNames[1]);                            // underscores to spaces, as CoOp
        if (init is not null)
        {
            // Initialised from the words' token embeddings.
            var ids = models.Clip.Model.Tokenizer!.EncodeWithoutSpecials(init).Select(i => (long)i).ToArray();
            Assert.True(Same(coop.Context.detach(), models.Clip.Model.Text.TokenEmbeddings.index_select(0, tensor(ids))));
        }
        // Rearranging context and class name keeps each prompt's length and end token.
        var prompts = coop.Prompts();
        Assert.Equal(3, prompts.shape[0]);
        var (images, labels) = Data(models.Clip.Model.InputSize);
        var task = EngineTask(models.Clip, null, head, images, labels);
        TrainAndCheck(task, models.Clip, $"CoOp ({position}, class-specific {classSpecific}, init {init ?? "random"})");
    }

    public static TheoryData<string> TextTowerManipulations() => new() { "soft prompt", "deep prompts", "prefix-tuning", "soft + prefix" };

    /// <summary>CLIP's text tower is a token model: prompt tuning, deep prompts and prefix-tuning act on it through the text head.</summary>
    [Theory]
    [MemberData(nameof(TextTowerManipulations))]
    public void Text_prompts_train_on_clips_text_tower(string kind)
    {
        using var scope = NewDisposeScope();
        var text = (ITokenModel)ModelRequirements.Tokens(models.Clip.Model, kind);
        Assert.Same(models.Clip.Model.Text, text);
        SoftPrompt? soft = kind.Contains("soft") ? SoftPrompt.Create(text, 3, SoftPromptInit.Vocabulary, seed: 1) : null;
        IHiddenManipulation? hidden = kind switch
        {
            "deep prompts" => new DeepPrompt(text, 2, seed: 1),
            "prefix-tuning" or "soft + prefix" => new PrefixTuning(text, 2, seed: 1),
            _ => null,
        };
        var head = ClipTextHead.WithTextPrompts(models.Clip.Model, Targets, soft, hidden);
        Assert.Equal(OutputAlignment.Linear, head.Kind);
        var (images, labels) = Data(models.Clip.Model.InputSize);
        var task = EngineTask(models.Clip, null, head, images, labels);
        TrainAndCheck(task, models.Clip, $"{kind} in CLIP's text tower");
    }

    [Fact]
    public void Clip_visual_reprogramming_pads_the_image_and_reads_the_text_head()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var size = models.Clip.Model.InputSize;
        var head = ClipTextHead.ZeroShot(models.Clip.Model, Targets);
        var pad = new PaddingPrompt(3, size, size - 8);
        var (images, labels) = Data(size - 8);
        var task = EngineTask(models.Clip, pad, head, images, labels);
        TrainAndCheck(task, models.Clip, "padding prompt on CLIP + zero-shot text head");
        Assert.Equal(0, head.TrainableParameters);                                 // only the frame learns
        Assert.Equal(pad.parameters().Sum(p => p.numel()), task.TrainableParameters.Sum(p => p.numel()));
    }

    [Fact]
    public void Refusals_name_what_the_manipulation_needs_and_what_the_model_is()
    {
        var resnet = models.ResNet50.Model;
        var vit = models.VitTorchvision.Model;
        var e = Assert.Throws<ArgumentException>(() => VisualPromptTuning.Create(resnet, new VptOptions(Deep: true)));
        output.WriteLine(e.Message);
        Assert.Contains("VPT-deep", e.Message);
        Assert.Contains("patch-token model", e.Message);
        Assert.Contains("ResNet", e.Message);
        Assert.Contains("Input prompts", e.Message);

        e = Assert.Throws<ArgumentException>(() => ClipTextHead.CoOp(vit, Targets));
        output.WriteLine(e.Message);
        Assert.Contains("CoOp", e.Message);
        Assert.Contains("vision-language model", e.Message);
        Assert.Contains("VisionTransformer", e.Message);

        foreach (object model in new object[] { resnet, vit })
        {
            e = Assert.Throws<ArgumentException>(() => ModelRequirements.Tokens(model, "soft prompt"));
            output.WriteLine(e.Message);
            Assert.Contains("soft prompt", e.Message);
            Assert.Contains("needs a token model", e.Message);
        }
        Assert.Contains("On patch tokens use VPT", Assert.Throws<ArgumentException>(() => ModelRequirements.Tokens(vit, "soft prompt")).Message);

        e = Assert.Throws<ArgumentException>(() => ClipTextHead.ZeroShot(resnet, Targets));
        Assert.Contains("text tower", e.Message);
        e = Assert.Throws<ArgumentException>(() => ModelRequirements.Image(models.Clip.Model.Text, "pad prompt"));
        Assert.Contains("needs an image model", e.Message);

        // Prompts made for one model do not go into another.
        var clipPrompts = VisualPromptTuning.Create(models.Clip.Model, new VptOptions(2));
        var (images, labels) = Data(vit.InputSize);
        e = Assert.Throws<ArgumentException>(() => EngineTask(models.VitTorchvision, clipPrompts, new LinearHead(10, Targets, 1), images, labels).Step([0, 1]));
        Assert.Contains("made for another model", e.Message);
    }
}
