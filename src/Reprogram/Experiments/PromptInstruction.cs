using System.Diagnostics;
using System.Globalization;
using Reprogram.Alignments;
using Reprogram.Instruction;
using Reprogram.Manipulations;
using Reprogram.Runtime;
using Reprogram.Training;

namespace Reprogram.Experiments;

/// <summary>
/// Prompt instruction on a frozen language model, the front-ends of <see cref="Experiment"/> for <c>#!icl</c> and
/// <c>#!cot</c>: each setting (shots, selection, calibration; or chain-of-thought mode and samples) is one experiment on
/// the same loaded model, task and seeds, and its runs become the settings of one <see cref="InstructionResult"/>.
/// </summary>
public static class PromptInstruction
{
    /// <summary>Loads the model the options name (zoo, checkpoint or remote), on their device.</summary>
    public static InstructionModel LoadModel(InstructionOptionsBase options, IProgress<TrainingProgress>? training = null, CancellationToken ct = default)
    {
        using var cancellation = Cancellation.Use(ct);
        var device = (options.Device is null ? ExperimentDefaults.Device : DeviceSpec.Parse(options.Device)).Resolve();
        if (Registries.Models.Resolve(options.Model).Modality != TaskModality.Text || Registries.Models.Resolve(options.Model).Kind == "text encoder")
        {
            throw new ArgumentException($"'{options.Model}' is not a model for prompt instruction (a language model). " +
                                        $"Allowed: {string.Join(", ", Registries.Models.Entries.Where(e => e.Kind is "text decoder" or "chat model").Select(e => e.Name))}.");
        }
        return InstructionModel.Load(options.Model, device,
            (provider, model) => ModelEntries.RemoteClients(provider, model, options.Endpoint, options.ApiKeyVariable), training, ct, options.Chat);
    }

    /// <summary>The settings every prompt-instruction experiment shares, from the options.</summary>
    internal static MethodOptions MethodOptions(InstructionOptionsBase o) => new()
    {
        Instruction = o.Instruction, DemonstrationFormat = o.DemonstrationFormat, Separator = o.Separator, QueryFormat = o.QueryFormat,
        StrictRule = o.StrictRule, FlexibleRule = o.FlexibleRule, MaxNewTokens = o.MaxNewTokens, BatchRows = o.BatchRows,
    };

    /// <summary>Runs one setting as an experiment and puts it in the shape of a prompt-instruction setting.</summary>
    internal static InstructionSetting Setting(Backbone backbone, ExperimentSpec spec, string mode, int shots, string selection, string order, bool calibrated,
        int samples, Reporter reporter, CancellationToken cancellationToken)
    {
        var run = Experiment.RunOn(backbone, spec, reporter.For(spec.Name!), cancellationToken);
        var records = run.Seeds.SelectMany(seed => seed.Records.Select((r, q) => new InstructionRecord(
            r.Method, r.Seed, q, shots, r.Prompt, r.Output, r.Predicted, r.Answer, r.Correct, r.PredictedFlexible, r.CorrectFlexible))).ToArray();
        reporter.Done(spec.Name!, run.Seeds.Sum(s => s.Records.Count) * Math.Max(1, samples));
        return new InstructionSetting
        {
            Label = spec.Name!, Shots = shots, Selection = selection, Order = order, Calibrated = calibrated, Mode = mode, Samples = samples,
            AccuracyPerSeed = run.Seeds.Select(s => s.TestAccuracy).ToArray(),
            FlexibleAccuracyPerSeed = run.Seeds.All(s => s.FlexibleTestAccuracy is not null) ? run.Seeds.Select(s => s.FlexibleTestAccuracy!.Value).ToArray() : null,
            Records = records,
            Run = run,
            // bf16 forward passes are a setting of the result (the checksums stay those of the fp32 weights).
            Main = backbone is DecoderBackbone { Model.Precision: not Precision.Fp32 } decoder
                ? run.Result with { Settings = new Dictionary<string, string>(run.Result.Settings) { ["precision"] = decoder.Model.PrecisionNote } }
                : run.Result,
        };
    }

    /// <summary>Reports progress over all settings at most every 100 ms (and at the end).</summary>
    internal sealed class Reporter(IProgress<InstructionProgress>? progress, int total)
    {
        private readonly Stopwatch clock = Stopwatch.StartNew();
        private TimeSpan? last;
        private int done;

        public IProgress<ExperimentProgress>? For(string setting) => progress is null ? null : new Sink(this, setting);

        public void Done(string setting, int count)
        {
            done += count;
            Show(setting, done);
        }

        private void Show(string setting, int value)
        {
            if (progress is null) return;
            if (value < total && last is { } l && clock.Elapsed - l < TimeSpan.FromMilliseconds(100)) return;
            last = clock.Elapsed;
            progress.Report(new InstructionProgress(setting, Math.Min(value, total), total, clock.Elapsed));
        }

        private sealed class Sink(Reporter reporter, string setting) : IProgress<ExperimentProgress>
        {
            public void Report(ExperimentProgress value)
            {
                if (value.Phase == ExperimentPhase.Evaluating) reporter.Show(setting, reporter.done + value.Done);
            }
        }
    }
}

/// <summary>
/// In-context learning (<c>#!icl</c>): k-shot prompts from a template, demonstrations chosen at random, class-balanced
/// or by similarity (KATE), over several seeds; answers by label-word likelihood (verbalizer), optionally with
/// contextual calibration, or by generation with answer extraction. Demonstrations shared by many queries are run
/// once into a key/value cache.
/// </summary>
public static class InContextLearning
{
    /// <summary>Loads the model the options name and runs on <see cref="ComputeThread"/> (where freed tensor memory stays mapped).</summary>
    public static InstructionResult Run(InContextOptions options, IProgress<InstructionProgress>? progress = null, CancellationToken cancellationToken = default,
        IProgress<TrainingProgress>? training = null) => ComputeThread.Run(() =>
    {
        options.Validate();
        Registries.Tasks.Resolve(options.Task, TaskModality.Text);
        using var model = PromptInstruction.LoadModel(options, training, cancellationToken);
        return Run(model, options, progress, cancellationToken);
    });

    /// <summary>In-context learning on a model already loaded (the C# API; the caller disposes the model).</summary>
    public static InstructionResult Run(InstructionModel model, InContextOptions options, IProgress<InstructionProgress>? progress = null,
        CancellationToken cancellationToken = default, ISentenceEmbedder? embedder = null) =>
        ComputeThread.Run(() => RunHere(model, options, progress, cancellationToken, embedder));

    private static InstructionResult RunHere(InstructionModel model, InContextOptions options, IProgress<InstructionProgress>? progress,
        CancellationToken cancellationToken, ISentenceEmbedder? embedder)
    {
        using var cancellation = Cancellation.Use(cancellationToken);
        options.Validate();
        model.UsePrecision(options.Precision);
        Registries.Tasks.Resolve(options.Task, TaskModality.Text);
        if (options.Scoring == "likelihood" && !model.CanScore)
        {
            throw new ArgumentException($"{model.Identity} is a remote chat model: it cannot score label words. Use --scoring generation.");
        }
        var clock = Stopwatch.StartNew();
        var first = InstructionTasks.Load(options.Task, options.Seeds[0], options.Queries, options.Pool, textData: options.TextData);
        if (options.Scoring == "likelihood" && first.OpenAnswers)
        {
            throw new ArgumentException($"The task {first.Name} has open answers (no label words to score): use --scoring generation.");
        }
        using var backbone = new DecoderBackbone(model, ownsModel: false) { SharedPrefixCache = options.SharedPrefixCache, BatchRows = options.BatchRows, ShowRenderedPrompt = options.ShowPrompt };
        var tokensBefore = backbone.TokensProcessed;
        var calibrations = options.Calibration switch { "contextual" => new[] { true }, "both" => [false, true], _ => [false] };
        var reporter = new PromptInstruction.Reporter(progress, options.Selections.Count * options.Shots.Count * calibrations.Length * options.Seeds.Count * options.Queries);
        var shared = PromptInstruction.MethodOptions(options) with { SharedPrefixCache = options.SharedPrefixCache, Embedder = embedder };
        var settings = new List<InstructionSetting>();
        foreach (var selectionName in options.Selections)
        {
            var selection = Demonstrations.Selection(selectionName, embedder);
            var order = options.Order is { } o ? Demonstrations.Order(o) : selection is SimilarDemonstrations ? DemonstrationOrder.Reversed : DemonstrationOrder.AsSelected;
            foreach (var shots in options.Shots)
            {
                foreach (var calibrated in calibrations)
                {
                    var label = $"{shots}-shot, {selection.Name}" + (calibrated ? ", calibrated" : "");
                    var spec = new ExperimentSpec
                    {
                        Model = options.Model, Task = options.Task, TextData = options.TextData, Manipulation = "icl", Name = label, Seeds = options.Seeds, Device = options.Device,
                        Alignment = options.Scoring == "generation" ? "answer-extraction" : calibrated ? "calibration" : "verbalizer",
                        Budget = new Budget { TrainExamples = 0, PoolExamples = options.Pool, TestExamples = options.Queries },
                        Options = shared with { Shots = shots, Selection = selectionName, Order = options.Order },
                    };
                    settings.Add(PromptInstruction.Setting(backbone, spec, "in-context", shots, selection.Name, Describe(order), calibrated, 1, reporter, cancellationToken));
                }
            }
        }
        var after = model.VerifyUnchanged();
        return new InstructionResult
        {
            Kind = "in-context learning", Model = model.Identity, Task = first.Description, Settings = settings, Seeds = options.Seeds,
            WallTime = clock.Elapsed, TokensProcessed = backbone.TokensProcessed - tokensBefore, ChecksumBefore = model.ChecksumBefore, ChecksumAfter = after, Options = options,
            Provenance = RunProvenance.Capture(backbone.Device.ToString()),
        };
    }

    internal static string Describe(DemonstrationOrder order) => order switch
    {
        DemonstrationOrder.Shuffled => "shuffled",
        DemonstrationOrder.Reversed => "reversed",
        _ => "as selected",
    };

    /// <summary>The prompt of every query for one seed: query-independent selections choose once, KATE per query.</summary>
    public static InstructionPrompt[] BuildPrompts(InstructionTask task, PromptTemplate template, IDemonstrationSelection selection, DemonstrationOrder order, int shots, int seed)
    {
        var prompt = new DemonstrationPrompt(template, selection, order, shots, seed, "demonstrations");
        return task.Queries.Select(q => prompt.Render(task, q)).ToArray();
    }
}

/// <summary>
/// Chain-of-thought (<c>#!cot</c>): direct answers as the baseline, a zero-shot trigger phrase (Kojima et al. 2022),
/// demonstrations with rationales (Wei et al. 2022), and self-consistency (Wang et al. 2023: a majority vote over
/// sampled rationales); answers found by a strict and a flexible rule.
/// </summary>
public static class ChainOfThought
{
    /// <summary>Loads the model the options name and runs on <see cref="ComputeThread"/> (where freed tensor memory stays mapped).</summary>
    public static InstructionResult Run(ChainOfThoughtOptions options, IProgress<InstructionProgress>? progress = null, CancellationToken cancellationToken = default,
        IProgress<TrainingProgress>? training = null) => ComputeThread.Run(() =>
    {
        options.Validate();
        Registries.Tasks.Resolve(options.Task, TaskModality.Text);
        using var model = PromptInstruction.LoadModel(options, training, cancellationToken);
        return Run(model, options, progress, cancellationToken);
    });

    /// <summary>Chain-of-thought on a model already loaded (the C# API; the caller disposes the model).</summary>
    public static InstructionResult Run(InstructionModel model, ChainOfThoughtOptions options, IProgress<InstructionProgress>? progress = null,
        CancellationToken cancellationToken = default) => ComputeThread.Run(() => RunHere(model, options, progress, cancellationToken));

    /// <summary>The registry manipulation of each mode.</summary>
    private static string ManipulationOf(string mode) => mode switch
    {
        "direct" => "direct",
        "few-shot" => "few-shot-cot",
        _ => "zero-shot-cot",
    };

    /// <summary>
    /// The registry alignment of each mode: zero-shot chain-of-thought reads its answer in two stages (Kojima et al.),
    /// the others by the task's rules; several samples are voted on.
    /// </summary>
    private static string AlignmentOf(string mode, int samples) => (mode, samples > 1) switch
    {
        ("zero-shot", false) => "two-stage",
        ("zero-shot", true) => "two-stage-self-consistency",
        (_, false) => "answer-extraction",
        _ => "self-consistency",
    };

    private static InstructionResult RunHere(InstructionModel model, ChainOfThoughtOptions options, IProgress<InstructionProgress>? progress,
        CancellationToken cancellationToken)
    {
        using var cancellation = Cancellation.Use(cancellationToken);
        options.Validate();
        model.UsePrecision(options.Precision);
        Registries.Tasks.Resolve(options.Task, TaskModality.Text);
        cancellationToken.ThrowIfCancellationRequested();
        var clock = Stopwatch.StartNew();
        var first = InstructionTasks.Load(options.Task, options.Seeds[0], options.Queries, options.Pool, textData: options.TextData);
        var formats = first.ChainOfThought ?? throw new ArgumentException($"The task {first.Name} has no chain-of-thought format; try addition or a text task.");
        using var backbone = new DecoderBackbone(model, ownsModel: false) { BatchRows = options.BatchRows, ShowRenderedPrompt = options.ShowPrompt };
        var tokensBefore = backbone.TokensProcessed;
        var runs = options.Modes.SelectMany(m => options.Samples > 1 && m != "direct" ? new[] { (Mode: m, Samples: 1), (Mode: m, Samples: options.Samples) } : [(Mode: m, Samples: 1)]).ToArray();
        var reporter = new PromptInstruction.Reporter(progress, runs.Sum(r => r.Samples) * options.Seeds.Count * options.Queries);
        var shared = PromptInstruction.MethodOptions(options) with
        {
            Trigger = options.Trigger, Selection = options.Selection, Temperature = options.Temperature, TopK = options.TopK,
        };
        var trigger = options.Trigger ?? formats.Trigger;
        var settings = new List<InstructionSetting>();
        foreach (var (mode, samples) in runs)
        {
            var shots = mode.StartsWith("zero-shot", StringComparison.Ordinal) ? 0 : options.Shots;
            var label = mode switch
            {
                "direct" => shots > 0 ? $"direct, {shots}-shot" : "direct",
                "few-shot" => $"few-shot CoT, {shots} rationales",
                "zero-shot" => $"zero-shot CoT (two-stage), trigger \"{trigger}\"",
                _ => $"zero-shot CoT (one stage), trigger \"{trigger}\"",
            } + (samples > 1 ? $", self-consistency ({samples} samples, T={options.Temperature.ToString("0.##", CultureInfo.InvariantCulture)})" : "");
            var spec = new ExperimentSpec
            {
                Model = options.Model, Task = options.Task, TextData = options.TextData, Manipulation = ManipulationOf(mode), Name = label, Seeds = options.Seeds, Device = options.Device,
                Alignment = AlignmentOf(mode, samples),
                Budget = new Budget { TrainExamples = 0, PoolExamples = options.Pool, TestExamples = options.Queries },
                Options = shared with { Shots = shots, Samples = samples },
            };
            settings.Add(PromptInstruction.Setting(backbone, spec, mode, shots, shots > 0 ? options.Selection : "none", "as selected", false, samples, reporter, cancellationToken));
        }
        var after = model.VerifyUnchanged();
        return new InstructionResult
        {
            Kind = "chain-of-thought", Model = model.Identity, Task = first.Description, Settings = settings, Seeds = options.Seeds,
            WallTime = clock.Elapsed, TokensProcessed = backbone.TokensProcessed - tokensBefore, ChecksumBefore = model.ChecksumBefore, ChecksumAfter = after, Options = options,
            Provenance = RunProvenance.Capture(backbone.Device.ToString()),
        };
    }
}
