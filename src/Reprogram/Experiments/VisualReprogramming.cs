using Reprogram.Alignments;
using Reprogram.Manipulations;
using Reprogram.Models.Zoo;
using Reprogram.Runtime;
using Reprogram.Training;
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

    /// <summary>An image model of the registry: resnet18 (ImageNet, CNTK export), fashion-cnn (a source classifier trained here), or a torchvision ResNet-18 .safetensors/.pt file.</summary>
    public string Model { get; init; } = "resnet18";
    /// <summary>fashion-mnist, digits, or a folder with one sub-folder per class.</summary>
    public string Dataset { get; init; } = "fashion-mnist";
    public int TrainCount { get; init; } = 1000;
    public int TestCount { get; init; } = 500;
    /// <summary>pad, watermark, patch, parametric or none (the image manipulations of the registry).</summary>
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
    /// <summary>Several seeds (mean and spread in the table; the first seed's prompt is charted and saved); null: <see cref="Seed"/> alone.</summary>
    public IReadOnlyList<int>? Seeds { get; init; }
    /// <summary>auto, cpu, cuda, cuda:N; null uses the session's (<see cref="ExperimentDefaults.Device"/>).</summary>
    public string? Device { get; init; }
    /// <summary>Also run the baselines: no input manipulation (same alignment), and the untrained prompt.</summary>
    public bool Baselines { get; init; }
    /// <summary>
    /// Allow label mapping over a features-only model by treating its feature channels as source "labels".
    /// They are not classes; results say so.
    /// </summary>
    public bool FeatureChannelsAsLabels { get; init; }
    /// <summary>
    /// A published method's settings (<see cref="Recipes"/>: ilm-vp, blm): image size, frame, manipulation, alignment (unless
    /// given), epochs, batch, learning rate and schedule; the best epoch's test accuracy is reported beside the final one.
    /// </summary>
    public string? Recipe { get; init; }

    /// <summary>The registry's image manipulations (and none).</summary>
    public static IReadOnlyList<string> Manipulations => Registries.Manipulations.Entries
        .Where(e => e.Modality is TaskModality.Image or null).Select(e => e.Name).ToArray();
    /// <summary>The registry's alignments that read a model's outputs.</summary>
    public static IReadOnlyList<string> Alignments => Registries.Alignments.Entries
        .Where(e => e.Reads == AlignmentReads.ModelOutputs).Select(e => e.Name).ToArray();
    /// <summary>The registry's image models, by name.</summary>
    public static IReadOnlyList<string> Models => Registries.Models.Entries
        .Where(e => e.Modality == TaskModality.Image && !e.IsPattern).Select(e => e.Name).ToArray();

    /// <summary>The alignment used: the given one, the recipe's, or linear for a features-only model and ilm for a classifier.</summary>
    public string AlignmentOrDefault => Alignment ?? (Recipe is { } r ? Recipes.Find(r).Alignment : Registries.Models.Resolve(Model).Kind == "image features" ? "linear" : "ilm");

    public void Validate()
    {
        if (!Manipulations.Contains(Manipulation)) throw new ArgumentException($"'{Manipulation}' is not an input manipulation. Allowed: {string.Join(", ", Manipulations)}.");
        if (Alignment is not null && !Alignments.Contains(Alignment)) throw new ArgumentException($"'{Alignment}' is not an output alignment. Allowed: {string.Join(", ", Alignments)}.");
        if (TrainCount is < 1 or > Budget.MaxExamples || TestCount is < 1 or > Budget.MaxExamples)
            throw new ArgumentException($"Train and test counts must be 1 to {Budget.MaxExamples:N0} (got {TrainCount} and {TestCount}).");
        if (Registries.Models.Resolve(Model).Modality != TaskModality.Image)
        {
            throw new ArgumentException($"'{Model}' is not a model for #!reprogram. Allowed: {string.Join(", ", Models)}, or the path of a torchvision ResNet-18 .safetensors/.pt file.");
        }
        Registries.Tasks.Resolve(Dataset, TaskModality.Image);
        if (Recipe is { } recipe && Recipes.Find(recipe) is { } r && Manipulation != r.Manipulation)
        {
            // The recipe fixes the manipulation (the paper's); a different one given with it would be replaced silently.
            throw new ArgumentException($"--recipe {r.Name} trains the paper's {r.Manipulation} prompt; --manipulation {Manipulation} does not go with it (drop one).");
        }
        Spec(Manipulation, AlignmentOrDefault).Validate();
    }

    /// <summary>These options with a recipe's settings in place (the data set's images are 28 px, a folder's 128).</summary>
    private ReprogramOptions WithRecipe(out VisualReprogrammingRecipe? recipe)
    {
        recipe = Recipe is { } name ? Recipes.Find(name) : null;
        if (recipe is null) return this;
        var native = Directory.Exists(Dataset) ? ImageTasks.FolderStorageSize : 28;
        return this with
        {
            ImageSize = recipe.ImageSize, PadWidth = recipe.PadWidth(native), Epochs = recipe.Epochs, BatchSize = recipe.BatchSize,
            LearningRate = recipe.LearningRate, Schedule = "multistep",
        };
    }

    /// <summary>The experiment these options describe, with this manipulation and alignment.</summary>
    public ExperimentSpec Spec(string manipulation, string alignment, bool trainManipulation = true)
    {
        var o = WithRecipe(out var recipe);
        // A baseline without a manipulation stays without one, recipe or not.
        return new ExperimentSpec
        {
            Model = Model, Task = Dataset, Manipulation = manipulation == "none" ? "none" : recipe?.Manipulation ?? manipulation, Alignment = alignment, Seeds = Seeds ?? [Seed], Device = Device, KeepLearned = true,
            Budget = new Budget
            {
                TrainExamples = TrainCount, TestExamples = TestCount, Epochs = o.Epochs, BatchSize = o.BatchSize, LearningRate = o.LearningRate, Schedule = o.Schedule,
                EvaluateEachEpoch = recipe is not null,
            },
            Options = new MethodOptions
            {
                PadWidth = o.PadWidth, PatchSize = PatchSize, ImageSize = o.ImageSize, FeatureChannelsAsLabels = FeatureChannelsAsLabels,
                TrainManipulation = trainManipulation,
            },
            Notes = recipe is null ? new Dictionary<string, string>() : new Dictionary<string, string>
            {
                ["recipe"] = $"{recipe.Name}: {recipe.Paper}; " + string.Join("; ", recipe.Settings.Select(s => $"{s.Name} {s.Value} ({s.Source})")),
                ["recipe deviations"] = string.Join("; ", recipe.Deviations),
            },
        };
    }
}

/// <summary>The outcome of <c>#!reprogram</c>: the run and its baselines in the one result shape, plus what the charts show.</summary>
public sealed record ReprogramResult
{
    public required ExperimentResult Main { get; init; }
    public IReadOnlyList<ExperimentResult> Baselines { get; init; } = [];
    public IEnumerable<ExperimentResult> All => new[] { Main }.Concat(Baselines);
    /// <summary>Versions, git commit, machine, device and time of the main run.</summary>
    public RunProvenance? Provenance => Main.Provenance;
    /// <summary>The experiment runs behind the rows (main first), with every prediction.</summary>
    public IReadOnlyList<ExperimentRun> Runs { get; init; } = [];
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
        LearnedManipulationFile.Save(path, Manipulation, Alignment!, Main.Model, Main.ChecksumBefore, Main.Settings,
            Runs.Count > 0 ? SavedExperiment.Metadata(Runs[0].Spec) : null);
    }

    /// <summary>The table (one row per result) as CSV.</summary>
    public string ToCsv() => Results.Of(this).ToCsv();
    /// <summary>Everything as JSON: options, spec, provenance, seeds with test ids, every prediction (<see cref="Results.Load(string[])"/> reads it back).</summary>
    public string ToJson() => ResultExport.Json(this);
    /// <summary>Writes the table as .csv or everything as .json, by the file's extension.</summary>
    public void Export(string path) => ResultFiles.Write(path, ToCsv, ToJson);
}

/// <summary>
/// Model reprogramming of a frozen vision model (<c>#!reprogram</c>), a front-end of <see cref="Experiment"/>: an input
/// manipulation (a padding, watermark or patch prompt, or a learned transform) and an output alignment (label mapping or a
/// linear head) learned on a target task while the model stays frozen; with the baselines, the same model and split.
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
        var alignmentName = options.AlignmentOrDefault;
        var sink = progress is null ? null : new Progress(progress);
        using var session = new ExperimentSession();
        var main = session.Run(options.Spec(options.Manipulation, alignmentName), sink, cancellationToken);
        var runs = new List<ExperimentRun> { main };
        var baselines = new List<ExperimentResult>();
        if (options.Baselines && options.Manipulation != "none")
        {
            var plain = session.Run(options.Spec("none", alignmentName), sink, cancellationToken);
            var untrained = session.Run(options.Spec(options.Manipulation, alignmentName, trainManipulation: false), sink, cancellationToken);
            runs.AddRange([plain, untrained]);
            baselines.Add(plain.Result with { Name = "baseline: no input manipulation" });
            baselines.Add(untrained.Result with { Name = "baseline: untrained prompt" });
            foreach (var r in new[] { plain, untrained }) Dispose(r.Seeds[0]);
        }
        var backbone = session.Backbone(options.Spec(options.Manipulation, alignmentName));
        var first = main.Seeds[0];
        var manipulation = first.Learned as InputManipulation;
        var alignment = first.LearnedAlignment as IOutputAlignment;
        var featureChannels = backbone.OutputNames is null && alignment is LabelMapping;
        return new ReprogramResult
        {
            Main = main.Result,
            Baselines = baselines,
            Runs = runs,
            PromptImage = PromptOf(manipulation),
            Mapping = (alignment as LabelMapping)?.Omega(),
            SourceLabels = backbone.OutputNames ?? (featureChannels ? Enumerable.Range(0, backbone.OutputSize).Select(i => $"feature {i}").ToArray() : null),
            TargetLabels = alignment?.TargetLabels ?? [],
            Caveat = featureChannels
                ? $"Label mapping here treats the {backbone.OutputSize} feature channels of {backbone.Identity} as source labels: they are not classes."
                : null,
            Options = options,
            Manipulation = manipulation,
            Alignment = alignment,
        };
    }

    /// <summary>Evaluates a saved manipulation and alignment on a data set's test split, with the same options.</summary>
    public static double Evaluate(string path, ReprogramOptions options) => ComputeThread.Run(() =>
    {
        options.Validate();
        if (options.Manipulation == "none") throw new ArgumentException("--manipulation none has nothing to load.");
        using var session = new ExperimentSession();
        var run = session.Run(options.Spec(options.Manipulation, options.AlignmentOrDefault) with { Load = path, KeepLearned = false });
        return run.TestAccuracy;
    });

    private static void Dispose(SeedRun run)
    {
        (run.Learned as IDisposable)?.Dispose();
        (run.LearnedAlignment as IDisposable)?.Dispose();
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

    /// <summary>The experiment's training progress as the run's (loading a source classifier trains it on first use).</summary>
    private sealed class Progress(ProgressHandler handler) : IProgress<ExperimentProgress>
    {
        public void Report(ExperimentProgress value)
        {
            if (value.Training is { } training) handler(value.Phase == ExperimentPhase.Loading ? $"training the source classifier (first use only)" : value.Run, training);
        }
    }
}
