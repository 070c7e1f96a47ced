using System.Diagnostics;
using Reprogram.Alignments;
using Reprogram.Data;
using Reprogram.Instruction;
using Reprogram.Manipulations;
using Reprogram.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>How a saved manipulation is applied: which model to load it onto, where, and how to read new files.</summary>
public sealed record PredictionOptions
{
    /// <summary>The frozen model (null: the one the file names). Another model is refused by its checksum.</summary>
    public string? Model { get; init; }
    /// <summary>auto, cpu, cuda, cuda:N; null: the session's.</summary>
    public string? Device { get; init; }
    /// <summary>The columns of a new CSV/JSONL file and label words (null: the ones the run read its data with, else text/label).</summary>
    public TextDataOptions? TextData { get; init; }
    /// <summary>Test examples drawn from a task of the registry (null: as many as the saved run had).</summary>
    public int? TestExamples { get; init; }
    /// <summary>The row's name in the results (null: the manipulation and alignment, "loaded").</summary>
    public string? Name { get; init; }
}

/// <summary>
/// A saved manipulation and alignment applied to inputs: one record per input (the prediction, the class probabilities,
/// and with labels the answer and whether it was right), the row in the one results table (accuracy only with labels),
/// and the frozen model's checksum before and after.
/// </summary>
public sealed record PredictionResult
{
    /// <summary>The saved file or PEFT folder.</summary>
    public required string Learned { get; init; }
    /// <summary>What was predicted on.</summary>
    public required string Inputs { get; init; }
    public required ExperimentResult Result { get; init; }
    /// <summary>The run in the experiment model's shape (spec, seed, test ids, records): <c>ToResultSet()</c>, <c>ToDataFrame()</c>.</summary>
    public required ExperimentRun Run { get; init; }
    public required IReadOnlyList<PredictionRecord> Records { get; init; }
    /// <summary>Whether every input had a label (then <see cref="Accuracy"/> is set).</summary>
    public required bool Labelled { get; init; }
    /// <summary>The classes (label words for a verbalizer) predictions are chosen from.</summary>
    public required IReadOnlyList<string> Labels { get; init; }
    /// <summary>Whether the file named the model's checksum (an adapter PEFT wrote names its base model only).</summary>
    public bool ChecksumChecked { get; init; }
    public double? Accuracy => Labelled ? Result.Metric(MetricNames.TestAccuracy) : null;
    /// <summary>The predicted class of each input, in input order.</summary>
    public IReadOnlyList<string?> Predictions => Records.Select(r => r.Predicted).ToArray();

    /// <summary>The table (one row) as CSV.</summary>
    public string ToCsv() => Results.Of(Run, "prediction").ToCsv();
    /// <summary>Everything as JSON in the results format (<see cref="Results.Load(string[])"/> reads it back), with what was loaded and whether the inputs had labels.</summary>
    public string ToJson()
    {
        var doc = ResultExport.Head("prediction", Result.Model, Inputs, new { learned = System.IO.Path.GetFullPath(Learned), inputs = Inputs, labelled = Labelled, checksumChecked = ChecksumChecked }, Result.Provenance);
        doc["labels"] = Labels;
        doc["rows"] = new[] { ResultExport.Row(Result, Run) };
        return ResultExport.Serialize(doc);
    }
    /// <summary>Writes the table as .csv or everything as .json, by the file's extension.</summary>
    public void Export(string path) => ResultFiles.Write(path, ToCsv, ToJson);
}

/// <summary>
/// Applies a saved manipulation and alignment (<see cref="LearnedManipulationFile"/>, or a PEFT prompt-tuning folder) to
/// inputs, the C# side of <c>--load</c>: the saved run's own test examples (no data given), another task of the registry,
/// an image folder (one sub-folder per class: accuracy; images directly in it: predictions only), a CSV/TSV/JSONL file
/// (with the label column: accuracy; without: predictions only), texts or image tensors. The manipulation and alignment
/// are rebuilt by the registries' factories from the experiment the file records and then given the saved tensors; inputs
/// are scored exactly as <see cref="Experiment"/> scores test examples, so the saved run's own test examples give its
/// accuracy again (exactly, on the CPU). A model other than the one the file was learned on is refused by checksum.
/// </summary>
public static class Prediction
{
    /// <summary>Predictions on <paramref name="data"/> (see the class summary; null: the saved run's own test examples).</summary>
    public static PredictionResult Predict(string learned, string? data = null, PredictionOptions? options = null,
        IProgress<ExperimentProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Run(learned, Inputs.Of(data), options, false, progress, cancellationToken);

    /// <summary>As <see cref="Predict(string, string?, PredictionOptions?, IProgress{ExperimentProgress}?, CancellationToken)"/>, for labelled data only (refused otherwise).</summary>
    public static PredictionResult Evaluate(string learned, string? data = null, PredictionOptions? options = null,
        IProgress<ExperimentProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Run(learned, Inputs.Of(data), options, true, progress, cancellationToken);

    /// <summary>The predicted class of each text.</summary>
    public static PredictionResult Predict(string learned, IEnumerable<string> texts, PredictionOptions? options = null, CancellationToken cancellationToken = default) =>
        Run(learned, new TextInputs(texts.ToArray(), null), options, false, null, cancellationToken);

    /// <summary>Accuracy on labelled texts (the labels are class names, or the label words the file was learned with).</summary>
    public static PredictionResult Evaluate(string learned, IEnumerable<(string Text, string Label)> examples, PredictionOptions? options = null, CancellationToken cancellationToken = default)
    {
        var rows = examples.ToArray();
        return Run(learned, new TextInputs(rows.Select(r => r.Text).ToArray(), rows.Select(r => r.Label).ToArray()), options, true, null, cancellationToken);
    }

    /// <summary>The predicted class of each image of <paramref name="images"/> [N, C, H, W], values in [0, 1] (resized to what the manipulation needs).</summary>
    public static PredictionResult Predict(string learned, Tensor images, PredictionOptions? options = null, CancellationToken cancellationToken = default) =>
        Run(learned, new ImageInputs(images, null), options, false, null, cancellationToken);

    /// <summary>Accuracy on images [N, C, H, W] with their class names.</summary>
    public static PredictionResult Evaluate(string learned, Tensor images, IReadOnlyList<string> labels, PredictionOptions? options = null, CancellationToken cancellationToken = default) =>
        Run(learned, new ImageInputs(images, labels), options, true, null, cancellationToken);

    /// <summary>Saves the first seed's learned manipulation and alignment of a run made with <see cref="ExperimentSpec.KeepLearned"/>, with its experiment, to load later.</summary>
    public static void SaveLearned(this ExperimentRun run, string path)
    {
        var first = run.Seeds[0];
        if (first.Learned is not LearnableManipulation manipulation || first.LearnedAlignment is not IOutputAlignment alignment)
        {
            throw new InvalidOperationException($"{run.Name} kept no learned manipulation with its alignment: run it with KeepLearned = true and a learned manipulation.");
        }
        LearnedManipulationFile.Save(path, manipulation, alignment, run.Result.Model, run.Result.ChecksumBefore, run.Result.Settings, SavedExperiment.Metadata(run.Spec));
    }

    private static PredictionResult Run(string learned, Inputs inputs, PredictionOptions? options, bool requireLabels,
        IProgress<ExperimentProgress>? progress, CancellationToken cancellationToken) => ComputeThread.Run(() =>
    {
        options ??= new PredictionOptions();
        if (options.TestExamples is < 1) throw new ArgumentException($"At least one test example is needed, not {options.TestExamples}.");
        var source = LearnedSource.Open(learned);
        if (inputs is TaskInputs { Task: { } name }) Registries.Tasks.Resolve(name);   // an unknown task is refused before the model loads
        var spec = SpecOf(source, options, inputs);
        DeviceSpec.Parse(spec.Device ?? "auto");
        using var session = new ExperimentSession();
        var backbone = session.Backbone(spec, progress, cancellationToken);
        source.CheckModel(backbone);
        var (split, labelled) = PredictionInputs.Split(inputs, source, spec, backbone, options);
        if (requireLabels && !labelled)
        {
            (split as IDisposable)?.Dispose();
            throw new ArgumentException($"{split.Description} has no labels to measure accuracy against: give labelled data (a label column, class sub-folders), or ask for predictions only.");
        }
        return Apply(source, spec, backbone, split, labelled, options, progress, cancellationToken);
    });

    /// <summary>The experiment to rebuild: the file's, on the model asked for; an adapter PEFT wrote is a soft prompt read by a verbalizer.</summary>
    private static ExperimentSpec SpecOf(LearnedSource source, PredictionOptions options, Inputs inputs)
    {
        if (source.Experiment is { } saved)
        {
            return saved.Spec() with { Model = options.Model ?? saved.Model, Device = options.Device, Load = source.FilePath, Name = options.Name };
        }
        var adapter = source.Adapter!;
        var model = options.Model ?? adapter.Config.BaseModelNameOrPath
            ?? throw new ArgumentException($"{source.FilePath} names no base model (base_model_name_or_path): give the model with --model.");
        try { Registries.Models.Resolve(model); }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{source.FilePath} was made for the base model '{model}', which is not a model here ({e.Message}) Give its checkpoint folder with --model.");
        }
        if (inputs is TaskInputs { Task: null })
        {
            throw new ArgumentException($"{source.FilePath} is a PEFT adapter made elsewhere: it does not say which task it was learned on. Name the data or task to evaluate it on (--task).");
        }
        return new ExperimentSpec
        {
            Model = model, Task = inputs switch { TaskInputs t => t.Task!, PathInputs p => p.Path, _ => "texts" },
            Manipulation = "soft-prompt", Alignment = "verbalizer", Seeds = [0],
            Device = options.Device, Load = source.FilePath, Name = options.Name, TextData = options.TextData,
            Budget = new Budget { TrainExamples = 0, TestExamples = options.TestExamples ?? 100 },
            Options = new MethodOptions { Tokens = adapter.Tokens },
        };
    }

    /// <summary>Records of inputs without labels: no answer, nothing right or wrong.</summary>
    private static PredictionRecord[] Unlabelled(IEnumerable<PredictionRecord> records) => records.Select(r => r with { Answer = "", Correct = false }).ToArray();

    /// <summary>
    /// The manipulation and alignment from the registries' factories, the saved tensors in them, frozen, and every input
    /// scored the way <see cref="Experiment"/> scores test examples.
    /// </summary>
    private static PredictionResult Apply(LearnedSource source, ExperimentSpec spec, Backbone backbone, TaskSplit split, bool labelled, PredictionOptions options,
        IProgress<ExperimentProgress>? progress, CancellationToken cancellationToken)
    {
        var manipulationEntry = Registries.Manipulations.Find(spec.Manipulation);
        var alignmentEntry = Registries.Alignments.Find(spec.Alignment);
        var task = new TaskEntry { Name = split.Name, Description = split.Description, Modality = split.Modality, Split = _ => split };
        var seed = spec.Seeds[0];
        IManipulation? manipulation = null;
        IAlignment? alignment = null;
        var clock = Stopwatch.StartNew();
        try
        {
            Experiment.CheckFits(backbone, task, manipulationEntry, alignmentEntry, spec);
            manual_seed(seed);
            manipulation = manipulationEntry.Create(new ManipulationRequest(backbone, split, spec.Options, seed));
            if (manipulation is not null && backbone.Refusal(manipulation) is { } refusal) throw new ArgumentException(refusal);
            alignment = alignmentEntry.Create(new AlignmentRequest(backbone, split, manipulation, spec.Options, seed));
            (manipulation as nn.Module)?.to(backbone.Device);
            (alignment as nn.Module)?.to(backbone.Device);
            source.Restore(backbone, manipulation, alignment);
            var loaded = 0L;
            foreach (var module in new[] { manipulation as nn.Module, alignment as nn.Module })
            {
                if (module is null) continue;
                foreach (var p in module.parameters()) { p.requires_grad = false; loaded += p.numel(); }
                module.eval();
            }
            var label = spec.Name ?? $"{manipulation?.Name ?? "no input manipulation"} + {alignment.Name} (loaded)";
            var tokensBefore = backbone.TokensProcessed;
            var evaluation = Stopwatch.StartNew();
            var (accuracy, _, records) = Experiment.Evaluate(backbone, manipulation, alignment, split, spec.Options, label, seed, progress, cancellationToken);
            var after = backbone.VerifyUnchanged();
            var run = new SeedRun
            {
                Seed = seed, Task = split.Description, TestIds = split.Queries.Select(q => q.Id).ToArray(), TestAccuracy = labelled ? accuracy : double.NaN, LabelledExamples = 0,
                Labels = split.Labels, Template = split is InstructionTask text ? ManipulationEntries.TemplateOf(text.Template, spec.Options) : null,
                TrainableParameters = loaded, TrainingTime = TimeSpan.Zero, EvaluationTime = evaluation.Elapsed, Records = records, ChecksumAfter = after,
                TokensProcessed = backbone.TokensProcessed - tokensBefore,
                Manipulation = manipulation?.Name ?? "none",
                ManipulationSettings = (manipulation as LearnableManipulation)?.Settings ?? new Dictionary<string, string>(),
            };
            var experiment = ResultBuilder.Build(spec, backbone, task, manipulationEntry, alignmentEntry, label, alignment.Kind, alignment.Name,
                [labelled ? run : run with { Records = Unlabelled(records) }], clock.Elapsed);
            var built = experiment.Result;
            var settings = new Dictionary<string, string>(built.Settings);
            settings.Remove("training");
            settings.Remove("seeds");
            settings["split"] = split.Description;
            settings["loaded from"] = $"{Path.GetFullPath(source.FilePath)} ({source.Kind}; {loaded:N0} parameters, learned before, not trained now)";
            settings["frozen model checked"] = source.ModelChecksum is not null
                ? $"the file's checksum {Frozen.ParameterChecksum.Short(source.ModelChecksum)} is the model's"
                : $"not by checksum: a PEFT adapter names its base model only ('{source.Adapter?.Config.BaseModelNameOrPath}'); its token_dim, layers and heads match";
            if (source.Adapter is { FromReprogram: false }) settings["prompt format"] = "the task's template (a PEFT adapter records no prompt format)";
            var result = built with
            {
                Metrics = labelled ? built.Metrics.Where(m => m.Key != MetricNames.TrainAccuracy).ToDictionary() : new Dictionary<string, double>(),
                Settings = settings,
                TestAccuracyPerSeed = labelled ? built.TestAccuracyPerSeed : [],
            };
            return new PredictionResult
            {
                Learned = source.FilePath,
                Inputs = split.Description,
                Result = result,
                Run = experiment with { Result = result },
                Records = experiment.Seeds[0].Records,
                Labelled = labelled,
                Labels = split.Labels,
                ChecksumChecked = source.ModelChecksum is not null,
            };
        }
        finally
        {
            (manipulation as IDisposable)?.Dispose();
            (alignment as IDisposable)?.Dispose();
            backbone.ReleaseCaches();
            (split as IDisposable)?.Dispose();
        }
    }
}
