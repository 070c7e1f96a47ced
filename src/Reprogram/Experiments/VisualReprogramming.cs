using System.Diagnostics;
using Reprogram.Alignments;
using Reprogram.Data;
using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Models.Vision;
using Reprogram.Models.Zoo;
using Reprogram.Runtime;
using Reprogram.Taxonomy;
using Reprogram.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>Everything <c>#!reprogram</c> takes; the defaults finish in about a minute on a 2-core CPU.</summary>
public sealed record ReprogramOptions
{
    /// <summary>
    /// The session's defaults: what <c>#!reprogram</c> uses for every option a cell does not give. A notebook's
    /// parameters cell can shrink a whole tutorial with one assignment.
    /// </summary>
    public static ReprogramOptions SessionDefaults { get; set; } = new();

    /// <summary>
    /// resnet18 (ImageNet, CNTK export, features), fashion-cnn (a source classifier trained here), resnet18-fashion (the
    /// ImageNet ResNet-18's frozen features with a Fashion-MNIST linear head: a source classifier on the real model), or a
    /// torchvision ResNet-18 .safetensors/.pt file.
    /// </summary>
    public string Model { get; init; } = "resnet18";
    /// <summary>fashion-mnist, digits, or a folder with one sub-folder per class.</summary>
    public string Dataset { get; init; } = "fashion-mnist";
    public int TrainCount { get; init; } = 1000;
    public int TestCount { get; init; } = 500;
    /// <summary>pad, watermark, patch, parametric or none.</summary>
    public string Manipulation { get; init; } = "pad";
    /// <summary>Frame width of the padding prompt in pixels (default: an eighth of the image size).</summary>
    public int? PadWidth { get; init; }
    public int PatchSize { get; init; } = 16;
    /// <summary>rlm, flm, ilm, blm, blm+ or linear (default: linear for feature models, ilm for classifiers).</summary>
    public string? Alignment { get; init; }
    /// <summary>The size of the images the frozen model sees (default: 112 for ResNet-18, the model's own size otherwise).</summary>
    public int? ImageSize { get; init; }
    public int Epochs { get; init; } = 3;
    public int BatchSize { get; init; } = 32;
    public double LearningRate { get; init; } = 0.01;
    /// <summary>constant, multistep (ILM-VP) or cosine.</summary>
    public string Schedule { get; init; } = "multistep";
    public int Seed { get; init; }
    /// <summary>auto, cpu, cuda, cuda:N; null uses the session's (<see cref="ExperimentDefaults.Device"/>).</summary>
    public string? Device { get; init; }
    /// <summary>Also run the baselines: no input manipulation (same alignment), and the untrained prompt.</summary>
    public bool Baselines { get; init; }
    /// <summary>
    /// Allow label mapping over a features-only model by treating its feature channels as source "labels".
    /// They are not classes; results say so.
    /// </summary>
    public bool FeatureChannelsAsLabels { get; init; }

    public static IReadOnlyList<string> Manipulations { get; } = ["pad", "watermark", "patch", "parametric", "none"];
    public static IReadOnlyList<string> Alignments { get; } = ["rlm", "flm", "ilm", "blm", "blm+", "linear"];
    public static IReadOnlyList<string> Models { get; } = ["resnet18", SourceClassifiers.FashionCnnName, ResNet18Fashion.Name];

    public void Validate()
    {
        if (!Manipulations.Contains(Manipulation)) throw new ArgumentException($"'{Manipulation}' is not an input manipulation. Allowed: {string.Join(", ", Manipulations)}.");
        if (Alignment is not null && !Alignments.Contains(Alignment)) throw new ArgumentException($"'{Alignment}' is not an output alignment. Allowed: {string.Join(", ", Alignments)}.");
        if (TrainCount < 1 || TestCount < 1) throw new ArgumentException($"Train and test counts must be at least 1 (got {TrainCount} and {TestCount}).");
        if (PadWidth is <= 0) throw new ArgumentException($"The frame width must be at least 1 pixel, not {PadWidth}.");
        if (PatchSize < 1) throw new ArgumentException($"The patch size must be at least 1 pixel, not {PatchSize}.");
        if (ImageSize is < 8 or > 1024) throw new ArgumentException($"An image size of {ImageSize} px is out of range (8 to 1024).");
        LearningRateSchedule.Parse(Schedule);
        DeviceSpec.Parse(Device ?? "auto");
        new TrainingOptions { Epochs = Epochs, BatchSize = BatchSize, LearningRate = LearningRate }.Validate();
    }
}

/// <summary>The outcome of <c>#!reprogram</c>: the run and its baselines in the one result shape, plus what the charts show.</summary>
public sealed record ReprogramResult
{
    public required ExperimentResult Main { get; init; }
    public IReadOnlyList<ExperimentResult> Baselines { get; init; } = [];
    public IEnumerable<ExperimentResult> All => new[] { Main }.Concat(Baselines);
    /// <summary>The learned prompt as an image [C, H, W] (what is added to every input), if the manipulation has one.</summary>
    public float[,,]? PromptImage { get; init; }
    /// <summary>The label-mapping matrix [source, target], for statistical alignments.</summary>
    public float[,]? Mapping { get; init; }
    public IReadOnlyList<string>? SourceLabels { get; init; }
    public required IReadOnlyList<string> TargetLabels { get; init; }
    /// <summary>Said plainly wherever the "source labels" are not classes.</summary>
    public string? Caveat { get; init; }
    public required ReprogramOptions Options { get; init; }
    internal InputManipulation? Manipulation { get; init; }
    internal IOutputAlignment? Alignment { get; init; }

    /// <summary>Saves the learned manipulation and alignment (safetensors with metadata) to evaluate later with <see cref="VisualReprogramming.Evaluate"/>.</summary>
    public void Save(string path)
    {
        if (Manipulation is null) throw new InvalidOperationException("This run has no learned input manipulation to save (--manipulation none).");
        LearnedManipulationFile.Save(path, Manipulation, Alignment!, Main.Model, Main.ChecksumBefore, Main.Settings);
    }
}

/// <summary>
/// Model reprogramming of a frozen vision model (<c>#!reprogram</c>): an input manipulation (a padding, watermark or patch
/// prompt, or a learned transform) and an output alignment (label mapping or a linear head) are trained on a target task
/// while the model stays frozen, and the result carries the proof.
/// </summary>
public static class VisualReprogramming
{
    /// <summary>Called with the run's name and its progress.</summary>
    public delegate void ProgressHandler(string run, TrainingProgress progress);

    /// <summary>Runs on <see cref="ComputeThread"/>, where freed tensor memory stays mapped between steps.</summary>
    public static ReprogramResult Run(ReprogramOptions options, ProgressHandler? progress = null, CancellationToken cancellationToken = default) =>
        ComputeThread.Run(() => RunHere(options, progress, cancellationToken));

    private static ReprogramResult RunHere(ReprogramOptions options, ProgressHandler? progress, CancellationToken cancellationToken)
    {
        options.Validate();
        var device = (options.Device is null ? ExperimentDefaults.Device : DeviceSpec.Parse(options.Device)).Resolve();
        var (model, identity, shared) = LoadModel(options, progress, cancellationToken);
        using var frozen = new FrozenModel<ResNetOrCnn>(new ResNetOrCnn(model), identity, device, ownsModel: !shared);
        var alignmentName = options.Alignment ?? (model.OutputLabels is null ? "linear" : "ilm");
        string? caveat = null;
        if (model.OutputLabels is null && alignmentName != "linear")
        {
            if (!options.FeatureChannelsAsLabels)
            {
                throw new ArgumentException(
                    $"{identity} outputs {model.OutputSize} features, not classes, so there are no source labels to map. " +
                    "Use --alignment linear (the honest default), --model resnet18-fashion (the same ResNet-18 with a Fashion-MNIST head: real classes), " +
                    "or --feature-channels-as-labels to treat each feature channel as a source label.");
            }
            caveat = $"Label mapping here treats the {model.OutputSize} feature channels of {identity} as source labels: they are not classes.";
        }

        using var data = LoadData(options, model);
        var size = options.ImageSize ?? (model.OutputLabels is null ? 112 : model.InputSize);
        if (model.OutputLabels is not null && size != model.InputSize)
        {
            throw new ArgumentException($"{identity} takes {model.InputSize} px images; --image-size {size} does not fit it.");
        }
        var width = options.PadWidth ?? Math.Max(1, size / 8);
        var inner = options.Manipulation == "pad" ? size - 2 * width : size;
        if (inner < 4) throw new ArgumentException($"A frame of {width} px leaves no room for the image in {size} px.");
        using var train = data.Train.Fit(inner, model.InputChannels);
        using var test = data.Test.Fit(inner, model.InputChannels);
        var target = train.ClassNames;

        var main = RunOne(frozen, options, options.Manipulation, alignmentName, trainPrompt: true, train, test, size, width, target, model, progress, cancellationToken, out var manipulation, out var alignment);
        var baselines = new List<ExperimentResult>();
        if (options.Baselines)
        {
            if (options.Manipulation != "none")
            {
                using var trainPlain = data.Train.Fit(size, model.InputChannels);
                using var testPlain = data.Test.Fit(size, model.InputChannels);
                baselines.Add(RunOne(frozen, options, "none", alignmentName, true, trainPlain, testPlain, size, width, target, model, progress, cancellationToken, out _, out _)
                    with { Name = "baseline: no input manipulation" });
                baselines.Add(RunOne(frozen, options, options.Manipulation, alignmentName, trainPrompt: false, train, test, size, width, target, model, progress, cancellationToken, out _, out _)
                    with { Name = "baseline: untrained prompt" });
            }
        }
        return new ReprogramResult
        {
            Main = main,
            Baselines = baselines,
            PromptImage = PromptOf(manipulation),
            Mapping = (alignment as LabelMapping)?.Omega(),
            SourceLabels = model.OutputLabels ?? (caveat is null ? null : Enumerable.Range(0, model.OutputSize).Select(i => $"feature {i}").ToArray()),
            TargetLabels = target,
            Caveat = caveat,
            Options = options,
            Manipulation = manipulation,
            Alignment = alignment,
        };
    }

    /// <summary>Evaluates a saved manipulation and alignment on a data set's test split, with the same options.</summary>
    public static double Evaluate(string path, ReprogramOptions options) => ComputeThread.Run(() => EvaluateHere(path, options));

    private static double EvaluateHere(string path, ReprogramOptions options)
    {
        options.Validate();
        var device = (options.Device is null ? ExperimentDefaults.Device : DeviceSpec.Parse(options.Device)).Resolve();
        var (model, identity, shared) = LoadModel(options, null, default);
        using var frozen = new FrozenModel<ResNetOrCnn>(new ResNetOrCnn(model), identity, device, ownsModel: !shared);
        using var data = LoadData(options, model);
        var size = options.ImageSize ?? (model.OutputLabels is null ? 112 : model.InputSize);
        var width = options.PadWidth ?? Math.Max(1, size / 8);
        var inner = options.Manipulation == "pad" ? size - 2 * width : size;
        using var test = data.Test.Fit(inner, model.InputChannels);
        var manipulation = CreateManipulation(options.Manipulation, model.InputChannels, size, width, options.PatchSize)
            ?? throw new ArgumentException("--manipulation none has nothing to load.");
        var alignment = CreateAlignment(options.Alignment ?? (model.OutputLabels is null ? "linear" : "ilm"), model.OutputSize, test.ClassNames, options.Seed);
        LearnedManipulationFile.Load(path, manipulation, alignment, identity, frozen.ChecksumAtFreeze);
        var task = new ImageReprogrammingTask<ResNetOrCnn>(frozen, manipulation, alignment, test.Images, test.Labels);
        return task.Accuracy(test.Images, test.Labels);
    }

    private static ExperimentResult RunOne(FrozenModel<ResNetOrCnn> frozen, ReprogramOptions options, string manipulationName, string alignmentName,
        bool trainPrompt, ImageDataset train, ImageDataset test, int size, int width, IReadOnlyList<string> target, IImageModel model,
        ProgressHandler? progress, CancellationToken cancellationToken, out InputManipulation? manipulation, out IOutputAlignment alignment)
    {
        var clock = Stopwatch.StartNew();
        manual_seed(options.Seed);
        var input = CreateManipulation(manipulationName, model.InputChannels, size, width, options.PatchSize);
        if (input is not null && !trainPrompt) foreach (var p in input.parameters()) p.requires_grad = false;
        manipulation = input;
        alignment = CreateAlignment(alignmentName, model.OutputSize, target, options.Seed);
        var task = new ImageReprogrammingTask<ResNetOrCnn>(frozen, input, alignment, train.Images, train.Labels);
        var runName = $"{input?.Name ?? "no input manipulation"}{(trainPrompt ? "" : " (untrained)")} + {alignment.Name}";
        var training = new TrainingOptions
        {
            Epochs = options.Epochs, BatchSize = options.BatchSize, LearningRate = options.LearningRate,
            Schedule = LearningRateSchedule.Parse(options.Schedule), Seed = options.Seed,
        };
        TrainingReport report;
        if (task.TrainableParameters.Count == 0)
        {
            // Nothing learnable (an untrained prompt with a counted label mapping): the mapping is estimated once.
            task.BeforeEpoch(0);
            report = new TrainingReport(StopReason.Completed, "nothing to train: mapping estimated once", [], [], 0, 0, 0, TimeSpan.Zero);
        }
        else
        {
            var sink = progress is null ? null : new Progress(runName, progress);
            report = Trainer.Train(task, training, sink, cancellationToken);
        }
        var trainAccuracy = task.Accuracy(train.Images, train.Labels);
        var testAccuracy = task.Accuracy(test.Images, test.Labels);
        var after = frozen.VerifyUnchanged();
        Coordinates? coordinates = input is null ? null : new Coordinates(input.Format, input.Location, input.Operator, alignment.Kind);
        return new ExperimentResult
        {
            Name = runName,
            Coordinates = coordinates,
            AlignmentKind = alignment.Kind,
            Model = frozen.Identity,
            Task = $"{train.Name} ({train.Count} train / {test.Count} test, {target.Count} classes)",
            Manipulation = input?.Name ?? "none",
            Alignment = alignment.Name,
            Metrics = new Dictionary<string, double> { ["train accuracy"] = trainAccuracy, ["test accuracy"] = testAccuracy },
            TrainableParameters = task.TrainableParameters.Sum(p => p.numel()),
            FrozenParameters = frozen.ParameterCount,
            WallTime = clock.Elapsed,
            ExamplesProcessed = report.ExamplesSeen,
            Device = frozen.Device.ToString(),
            Seed = options.Seed,
            ChecksumBefore = frozen.ChecksumAtFreeze,
            ChecksumAfter = after,
            Curve = report.Curve,
            Stop = report.Stop,
            StopMessage = report.Message,
            Settings = new Dictionary<string, string>
            {
                ["image size"] = size.ToString(), ["epochs"] = options.Epochs.ToString(), ["batch"] = options.BatchSize.ToString(),
                ["learning rate"] = options.LearningRate.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["schedule"] = training.Schedule.ToString()!, ["seed"] = options.Seed.ToString(),
            },
        };
    }

    internal static InputManipulation? CreateManipulation(string name, int channels, int size, int width, int patch) => name switch
    {
        "pad" => new PaddingPrompt(channels, size, size - 2 * width),
        "watermark" => new WatermarkPrompt(channels, size),
        "patch" => new PatchPrompt(channels, size, Math.Min(patch, size)),
        "parametric" => new ChannelTransform(channels, size),
        _ => null,
    };

    internal static IOutputAlignment CreateAlignment(string name, int sourceSize, IReadOnlyList<string> target, int seed) => name switch
    {
        "linear" => new LinearHead(sourceSize, target, seed),
        "rlm" => new LabelMapping(LabelMappingMethod.Random, sourceSize, target, seed),
        "flm" => new LabelMapping(LabelMappingMethod.Frequency, sourceSize, target, seed),
        "ilm" => new LabelMapping(LabelMappingMethod.Iterative, sourceSize, target, seed),
        "blm" => new LabelMapping(LabelMappingMethod.Bayesian, sourceSize, target, seed),
        _ => new LabelMapping(LabelMappingMethod.BayesianTopK, sourceSize, target, seed),
    };

    private static readonly Dictionary<string, ResNet> ResNetCache = new();

    private static (IImageModel Model, string Identity, bool Shared) LoadModel(ReprogramOptions options, ProgressHandler? progress, CancellationToken ct)
    {
        switch (options.Model)
        {
            case "resnet18":
                var onnx = ResNetLoader.FindCntkResNet18Onnx() ?? throw new FileNotFoundException(ResNetLoader.CntkResNet18MissingMessage);
                lock (ResNetCache)
                {
                    if (!ResNetCache.TryGetValue(onnx, out var resnet)) ResNetCache[onnx] = resnet = ResNetLoader.LoadCntkResNet18(onnx);
                    return (resnet, "ResNet-18 (ImageNet, CNTK export, features)", true);
                }
            case SourceClassifiers.FashionCnnName:
                var sink = progress is null ? null : new Progress("training the source classifier fashion-cnn (first use only)", progress);
                var (cnn, card) = SourceClassifiers.FashionCnn(sink, ct);
                return (cnn, $"{card.Name} (Fashion-MNIST CNN, test accuracy {card.TestAccuracy:P1})", false);
            case ResNet18Fashion.Name:
                var headSink = progress is null ? null : new Progress($"training the {ResNet18Fashion.Name} head on frozen ResNet-18 features (first use only)", progress);
                var (classifier, headCard) = ResNet18Fashion.Load(headSink, ct);
                return (classifier, $"{headCard.Name} (ImageNet ResNet-18 features + Fashion-MNIST linear head, test accuracy {headCard.TestAccuracy:P1})", true);
            case var path when File.Exists(path):
                return (ResNetLoader.LoadTorchvision(path, [2, 2, 2, 2], 1000, null), $"ResNet-18 from {Path.GetFileName(path)}", false);
            default:
                throw new ArgumentException($"'{options.Model}' is not a model. Allowed: {string.Join(", ", ReprogramOptions.Models)}, or the path of a torchvision ResNet-18 .safetensors/.pt file.");
        }
    }

    private static (ImageDataset Train, ImageDataset Test) LoadDataInner(ReprogramOptions options)
    {
        switch (options.Dataset)
        {
            case "fashion-mnist":
                using (var train = DataSets.FashionMnist(train: true))
                using (var test = DataSets.FashionMnist(train: false))
                {
                    return (train.Subset(options.TrainCount, options.Seed), test.Subset(options.TestCount, options.Seed + 1));
                }
            default:
                using (var all = DataSets.Load(options.Dataset, 28))
                {
                    var (train, test) = all.Split(options.TestCount / (double)Math.Max(1, options.TrainCount + options.TestCount), options.Seed);
                    using (train)
                    using (test)
                    {
                        return (train.Subset(Math.Min(options.TrainCount, train.Count), options.Seed), test.Subset(Math.Min(options.TestCount, test.Count), options.Seed + 1));
                    }
                }
        }
    }

    private static TrainTest LoadData(ReprogramOptions options, IImageModel model)
    {
        var (train, test) = LoadDataInner(options);
        return new TrainTest(train, test);
    }

    private sealed record TrainTest(ImageDataset Train, ImageDataset Test) : IDisposable
    {
        public void Dispose()
        {
            Train.Dispose();
            Test.Dispose();
        }
    }

    private static float[,,]? PromptOf(InputManipulation? manipulation)
    {
        Tensor? prompt = manipulation switch
        {
            PaddingPrompt p => p.Prompt(),
            WatermarkPrompt mark => mark.Prompt(),
            PatchPrompt p => p.Prompt(),
            _ => null,
        };
        if (prompt is null) return null;
        using var cpu = prompt.cpu().contiguous();
        var result = new float[cpu.shape[0], cpu.shape[1], cpu.shape[2]];
        var flat = cpu.data<float>().ToArray();
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(float));
        prompt.Dispose();
        return result;
    }

    private sealed class Progress(string run, ProgressHandler handler) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => handler(run, value);
    }
}

/// <summary>Lets one frozen-model wrapper hold either kind of image model.</summary>
public sealed class ResNetOrCnn : nn.Module<Tensor, Tensor>, IImageModel
{
    private readonly nn.Module<Tensor, Tensor> inner;
    private readonly IImageModel image;

    public ResNetOrCnn(IImageModel model) : base(model.GetType().Name)
    {
        image = model;
        inner = (nn.Module<Tensor, Tensor>)model;
        register_module("model", inner);
    }

    public int InputChannels => image.InputChannels;
    public int InputSize => image.InputSize;
    public int OutputSize => image.OutputSize;
    public IReadOnlyList<string>? OutputLabels => image.OutputLabels;
    public override Tensor forward(Tensor x) => image.Forward(x);
    public Tensor Forward(Tensor images) => image.Forward(images);
}
