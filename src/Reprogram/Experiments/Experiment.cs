using System.Diagnostics;
using Reprogram.Alignments;
using Reprogram.Instruction;
using Reprogram.Manipulations;
using Reprogram.Runtime;
using Reprogram.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>
/// The one entry point of every paradigm. An experiment (<see cref="ExperimentSpec"/>) is run seed by seed: the task's
/// split for the seed (the same for every method), the manipulation and alignment from their registries, whatever is
/// learned fitted on the training examples (the one trainer; label mappings estimated by counting), then every test
/// example scored the one way its alignment reads the model, and the frozen model's checksum verified.
/// </summary>
public static class Experiment
{
    /// <summary>Rows scored together at evaluation.</summary>
    public const int EvaluationBatch = 64;

    /// <summary>Loads the model and runs the experiment on <see cref="ComputeThread"/> (where freed tensor memory stays mapped).</summary>
    public static ExperimentRun Run(ExperimentSpec spec, IProgress<ExperimentProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ComputeThread.Run(() =>
        {
            using var session = new ExperimentSession();
            return session.Run(spec, progress, cancellationToken);
        });

    /// <summary>Runs an experiment on a model already loaded (the C# API for a model of one's own; the caller disposes it).</summary>
    public static ExperimentRun Run(Backbone backbone, ExperimentSpec spec, IProgress<ExperimentProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ComputeThread.Run(() => RunOn(backbone, spec, progress, cancellationToken));

    internal static ExperimentRun RunOn(Backbone backbone, ExperimentSpec spec, IProgress<ExperimentProgress>? progress, CancellationToken cancellationToken)
    {
        using var cancellation = Cancellation.Use(cancellationToken);
        spec.Validate(model: false);
        var task = Registries.Tasks.Resolve(spec.Task);
        var manipulationEntry = Registries.Manipulations.Find(spec.Manipulation);
        var alignmentEntry = Registries.Alignments.Find(spec.Alignment);
        CheckFits(backbone, task, manipulationEntry, alignmentEntry, spec);
        var clock = Stopwatch.StartNew();
        var seeds = new List<SeedRun>();
        string? name = spec.Name;
        var kind = default(Taxonomy.OutputAlignment);
        var alignmentName = alignmentEntry.Name;
        foreach (var seed in spec.Seeds)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var run = RunSeed(backbone, task, manipulationEntry, alignmentEntry, spec, seed, name, progress, cancellationToken, out var label, out var alignment);
            name ??= label;
            kind = alignment.Kind;
            alignmentName = alignment.Name;
            seeds.Add(run);
        }
        return ResultBuilder.Build(spec, backbone, task, manipulationEntry, alignmentEntry, name!, kind, alignmentName, seeds, clock.Elapsed);
    }

    /// <summary>Refuses combinations that cannot run, saying why, before anything is loaded or trained.</summary>
    internal static void CheckFits(Backbone backbone, TaskEntry task, ManipulationEntry manipulation, AlignmentEntry alignment, ExperimentSpec spec)
    {
        if (task.Modality != backbone.Modality)
        {
            throw new ArgumentException($"{backbone.Identity} is a {backbone.Kind} and the task {spec.Task} is an {task.Modality.ToString().ToLowerInvariant()} task: " +
                                        $"pick a {task.Modality.ToString().ToLowerInvariant()} model or a {backbone.Modality.ToString().ToLowerInvariant()} task.");
        }
        if (manipulation.Modality is { } m && m != backbone.Modality)
        {
            throw new ArgumentException($"The manipulation {manipulation.Name} needs an {m.ToString().ToLowerInvariant()} model; {backbone.Identity} is a {backbone.Kind}.");
        }
        if (manipulation.Location is { } location && !backbone.Interfaces.Contains(location))
        {
            throw new ArgumentException($"The manipulation {manipulation.Name} acts at the {Taxonomy.TaxonomyNames.Of(location)} interface, which {backbone.Identity} ({backbone.Kind}) " +
                                        $"does not expose (it has: {string.Join(", ", backbone.Interfaces.Select(Taxonomy.TaxonomyNames.Of))}).");
        }
        switch (alignment.Reads)
        {
            case AlignmentReads.LabelWords when !backbone.ScoresLabelWords:
                throw new ArgumentException($"The alignment {alignment.Name} scores label words, and {backbone.Identity} ({backbone.Kind}) cannot: " +
                                            (backbone.Generates ? "use answer-extraction." : "use a label mapping or the linear alignment."));
            case AlignmentReads.GeneratedText when !backbone.Generates:
                throw new ArgumentException($"The alignment {alignment.Name} reads generated text, and {backbone.Identity} ({backbone.Kind}) does not generate: use the linear alignment or a label mapping.");
            case AlignmentReads.ModelOutputs when backbone.Kind == "chat model":
                throw new ArgumentException($"The alignment {alignment.Name} reads the model's output probabilities, which the remote model {backbone.Identity} does not give: use answer-extraction.");
        }
        if (task.OpenAnswers && alignment.Reads != AlignmentReads.GeneratedText)
        {
            throw new ArgumentException($"The task {spec.Task} has open answers: read them with answer-extraction or self-consistency, not {alignment.Name}.");
        }
    }

    private static SeedRun RunSeed(Backbone backbone, TaskEntry taskEntry, ManipulationEntry manipulationEntry, AlignmentEntry alignmentEntry, ExperimentSpec spec,
        int seed, string? name, IProgress<ExperimentProgress>? progress, CancellationToken cancellationToken, out string label, out IAlignment alignment)
    {
        var options = spec.Options;
        var sizes = new SplitSizes(spec.Budget.TrainExamples, spec.Budget.PoolExamples ?? Math.Max(spec.Budget.TrainExamples, options.Shots), spec.Budget.TestExamples);
        var split = taskEntry.Split(new TaskRequest(spec.Task, seed, sizes, spec.TextData));
        IManipulation? manipulation = null;
        alignment = null!;
        try
        {
            manual_seed(seed);
            manipulation = manipulationEntry.Create(new ManipulationRequest(backbone, split, options, seed));
            if (manipulation is not null && backbone.Refusal(manipulation) is { } refusal) throw new ArgumentException(refusal);
            alignment = alignmentEntry.Create(new AlignmentRequest(backbone, split, manipulation, options, seed));
            (manipulation as nn.Module)?.to(backbone.Device);
            (alignment as nn.Module)?.to(backbone.Device);
            var loaded = spec.Load is not null;
            if (loaded) LoadLearned(spec.Load!, backbone, manipulation, alignment);
            if (!options.TrainManipulation || loaded) Freeze(manipulation as nn.Module);
            if (loaded) Freeze(alignment as nn.Module);
            var size = manipulation is ITokenManipulation { PositionsAttended: > 0 } tokens ? $" ({tokens.PositionsAttended} tokens)" : "";
            label = name ?? $"{manipulation?.Name ?? "no input manipulation"}{size}{(options.TrainManipulation || manipulation is not LearnableManipulation ? "" : " (untrained)")} + {alignment.Name}";

            var tokensBefore = backbone.TokensProcessed;
            var shortenedBefore = backbone.PromptsShortened;
            var learned = Learnable(manipulation, alignment);
            var estimated = alignment is IEstimatedAlignment && !loaded;
            if ((learned.Count > 0 || estimated) && split.Train.Count == 0)
            {
                throw new ArgumentException($"{label} learns from labelled examples, and the budget gives none: set the training examples (--train) to 1 or more.");
            }
            var clock = Stopwatch.StartNew();
            TrainingReport? report = null;
            if (learned.Count > 0)
            {
                SetTraining(manipulation, alignment, true);
                var runName = $"{label}, seed {seed}";
                var sink = progress is null ? null : new TrainingSink(runName, seed, progress);
                var task = new MethodTrainingTask(backbone, manipulation, alignment, split);
                var training = spec.Budget.Training(seed);
                if (spec.Budget.EvaluateEachEpoch)
                {
                    // Scored in eval mode, then back to training mode for the next epoch.
                    var (m, a) = (manipulation, alignment);
                    training = training with { EvaluateAfterEpoch = _ => { SetTraining(m, a, false); var accuracy = task.Accuracy(); SetTraining(m, a, true); return accuracy; } };
                }
                report = Trainer.Train(task, training, sink, cancellationToken);
                SetTraining(manipulation, alignment, false);
                if (report.Stop == StopReason.Cancelled) throw new OperationCanceledException($"{label}, seed {seed}: {report.Message}.");
            }
            else if (alignment is IEstimatedAlignment mapping && !loaded)
            {
                // Nothing learnable (a fixed or no manipulation): the mapping is estimated once, by counting.
                EstimateMapping(backbone, manipulation, mapping, split);
            }
            var trainingTime = clock.Elapsed;

            clock.Restart();
            progress?.Report(new ExperimentProgress(label, ExperimentPhase.Evaluating, seed, 0, split.Queries.Count, clock.Elapsed));
            var (accuracy, flexible, records) = Evaluate(backbone, manipulation, alignment, split, options, label, seed, progress, cancellationToken);
            double? trainAccuracy = learned.Count > 0 || estimated ? Accuracy(backbone, manipulation, alignment, split, split.Train, cancellationToken) : null;
            var evaluationTime = clock.Elapsed;
            var checksum = backbone.VerifyUnchanged();
            var positions = split.Queries.Select(q => backbone.PositionsPerQuery(manipulation, split, q)).ToArray();
            // Distinct labelled examples: those learned from, and those shown as demonstrations (the same examples count once).
            var used = new HashSet<string>(learned.Count > 0 || estimated ? split.Train.Select(e => e.Id) : [], StringComparer.Ordinal);
            used.UnionWith((manipulation as ITextManipulation)?.Shown ?? []);
            var run = new SeedRun
            {
                Seed = seed,
                Task = split.Description,
                TokensProcessed = backbone.TokensProcessed - tokensBefore + (report?.TokensSeen ?? 0),
                PromptsShortened = backbone.PromptsShortened - shortenedBefore,
                TestIds = split.Queries.Select(q => q.Id).ToArray(),
                Labels = split.Labels,
                Template = split is InstructionTask text ? ManipulationEntries.TemplateOf(text.Template, options) : null,
                TestAccuracy = accuracy,
                FlexibleTestAccuracy = flexible,
                TrainAccuracy = trainAccuracy,
                BestEpoch = report?.BestEvaluation,
                LabelledExamples = used.Count,
                TrainableParameters = learned.Sum(p => p.numel()),
                Training = report,
                TrainingTime = trainingTime,
                EvaluationTime = evaluationTime,
                PositionsPerQuery = positions.All(p => p is not null) ? positions.Average(p => (double)p!.Value) : null,
                Records = records,
                ChecksumAfter = checksum,
                Manipulation = manipulation?.Name ?? "none",
                ManipulationSettings = (manipulation as LearnableManipulation)?.Settings ?? new Dictionary<string, string>(),
                Learned = spec.KeepLearned && seed == spec.Seeds[0] ? manipulation : null,
                LearnedAlignment = spec.KeepLearned && seed == spec.Seeds[0] ? alignment : null,
            };
            if (run.Learned is null) (manipulation as IDisposable)?.Dispose();
            if (run.LearnedAlignment is null) (alignment as IDisposable)?.Dispose();
            return run;
        }
        catch
        {
            (manipulation as IDisposable)?.Dispose();
            (alignment as IDisposable)?.Dispose();
            throw;
        }
        finally
        {
            backbone.ReleaseCaches();
            (split as IDisposable)?.Dispose();
        }
    }

    private static void Freeze(nn.Module? module)
    {
        if (module is null) return;
        foreach (var p in module.parameters()) p.requires_grad = false;
    }

    /// <summary>Puts a saved manipulation and alignment into the fresh ones (the file names the model it was made with; a mismatch is refused).</summary>
    private static void LoadLearned(string path, Backbone backbone, IManipulation? manipulation, IAlignment alignment)
    {
        if (manipulation is not LearnableManipulation learnable || alignment is not IOutputAlignment output)
        {
            throw new ArgumentException($"Only a learned manipulation with a label mapping or head can be loaded from {Path.GetFileName(path)}; " +
                                        $"{manipulation?.Name ?? "no manipulation"} + {alignment.Name} has nothing to load.");
        }
        LearnedManipulationFile.Load(path, learnable, output, backbone.Identity, backbone.ChecksumBefore);
        (alignment as LabelMapping)?.Restored();
    }

    /// <summary>The parameters an experiment trains: the manipulation's and the alignment's, never the model's.</summary>
    internal static IReadOnlyList<TorchSharp.Modules.Parameter> Learnable(IManipulation? manipulation, IAlignment alignment) =>
        ((manipulation as nn.Module)?.parameters() ?? []).Concat((alignment as nn.Module)?.parameters() ?? []).Where(p => p.requires_grad).ToArray();

    private static void SetTraining(IManipulation? manipulation, IAlignment alignment, bool training)
    {
        foreach (var module in new[] { manipulation as nn.Module, alignment as nn.Module })
        {
            if (training) module?.train(); else module?.eval();
        }
    }

    /// <summary>
    /// Class scores [B, C] of a batch, read the one way the alignment reads the model: its output through the alignment,
    /// or the label words' log-likelihoods through the verbalizer; -inf outside each example's answer choices.
    /// </summary>
    internal static Tensor ClassScores(Backbone backbone, IManipulation? manipulation, IAlignment alignment, TaskSplit split, IReadOnlyList<TaskExample> batch)
    {
        var scores = alignment switch
        {
            ILabelWordAlignment words => words.Map(backbone.LabelWordScores(manipulation, split, batch),
                words.NeedsContentFreeScores ? backbone.ContentFreeScores(manipulation, split, batch) : null),
            IOutputAlignment output => output.Map(backbone.ModelOutputs(manipulation, split, batch)),
            _ => throw new ArgumentException($"{alignment.Name} reads generated text, not class scores."),
        };
        return Restrict(scores, split, batch);
    }

    /// <summary>Scores [B, C] with -inf outside each example's choices (examples without choices keep every class).</summary>
    internal static Tensor Restrict(Tensor scores, TaskSplit split, IReadOnlyList<TaskExample> batch)
    {
        if (batch.All(e => e.Choices is null)) return scores;
        var classes = split.Labels;
        var allowed = new bool[batch.Count * classes.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            foreach (var choice in split.ChoicesOf(batch[i]))
            {
                var c = IndexOf(classes, choice);
                if (c < 0) throw new ArgumentException($"The answer choice '{choice}' is not one of the task's classes ({string.Join(", ", classes)}).");
                allowed[i * classes.Count + c] = true;
            }
        }
        using var mask = tensor(allowed, [batch.Count, classes.Count], device: scores.device);
        return scores.masked_fill(mask.logical_not(), float.NegativeInfinity);
    }

    internal static int IndexOf(IReadOnlyList<string> labels, string label)
    {
        for (var i = 0; i < labels.Count; i++) if (string.Equals(labels[i], label, StringComparison.Ordinal)) return i;
        return -1;
    }

    /// <summary>Target classes [N] of examples (an answer outside the classes is refused with its id).</summary>
    internal static Tensor Targets(TaskSplit split, IReadOnlyList<TaskExample> batch, Device device)
    {
        var classes = batch.Select(e => split.ClassOf(e) is var c && c >= 0 ? (long)c
            : throw new ArgumentException($"The example {e.Id} has the answer '{e.Answer}', which is not one of the task's classes.")).ToArray();
        return tensor(classes, device: device);
    }

    /// <summary>Estimates a label mapping from the model's outputs on every training example (batched, no gradients).</summary>
    internal static void EstimateMapping(Backbone backbone, IManipulation? manipulation, IEstimatedAlignment mapping, TaskSplit split)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var outputs = split.Train.Chunk(EvaluationBatch).Select(chunk =>
        {
            Cancellation.ThrowIfRequested();
            return backbone.ModelOutputs(manipulation, split, chunk);
        }).ToArray();
        mapping.Estimate(cat(outputs, 0), Targets(split, split.Train, backbone.Device));
    }

    private static double Accuracy(Backbone backbone, IManipulation? manipulation, IAlignment alignment, TaskSplit split, IReadOnlyList<TaskExample> examples,
        CancellationToken cancellationToken)
    {
        if (examples.Count == 0 || alignment is IGenerationAlignment) return 0;
        long correct = 0;
        foreach (var chunk in examples.Chunk(EvaluationBatch))
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var predicted = ClassScores(backbone, manipulation, alignment, split, chunk).argmax(-1);
            correct += predicted.eq(Targets(split, chunk, predicted.device)).sum().item<long>();
        }
        return (double)correct / examples.Count;
    }

    /// <summary>Scores every test example: class scores for classification alignments, generation for the others; one record each.</summary>
    internal static (double Accuracy, double? Flexible, IReadOnlyList<PredictionRecord> Records) Evaluate(Backbone backbone, IManipulation? manipulation,
        IAlignment alignment, TaskSplit split, MethodOptions options, string label, int seed, IProgress<ExperimentProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var records = new List<PredictionRecord>(split.Queries.Count);
        if (alignment is IGenerationAlignment reader) return Generate(backbone, manipulation, reader, split, options, label, seed, progress, cancellationToken);
        foreach (var chunk in split.Queries.Chunk(EvaluationBatch))
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var scores = ClassScores(backbone, manipulation, alignment, split, chunk);
            using var probabilities = nn.functional.softmax(scores.to(ScalarType.Float64), -1).cpu();
            var p = probabilities.data<double>().ToArray();
            var classes = split.Labels.Count;
            for (var i = 0; i < chunk.Length; i++)
            {
                var example = chunk[i];
                var choices = split.ChoicesOf(example);
                var row = p[(i * classes)..((i + 1) * classes)];
                var best = 0;
                for (var c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
                var predicted = split.Labels[best];
                var output = string.Join(" | ", choices.Select(c => $"{c} {row[IndexOf(split.Labels, c)]:0.000}"));
                records.Add(new PredictionRecord(label, seed, example.Id, example.Input, backbone.PromptText(manipulation, split, example), output,
                    predicted, example.Answer, string.Equals(predicted, example.Answer, StringComparison.Ordinal)));
            }
            progress?.Report(new ExperimentProgress(label, ExperimentPhase.Evaluating, seed, records.Count, split.Queries.Count, clock.Elapsed));
        }
        return (records.Count(r => r.Correct) / (double)records.Count, null, records);
    }

    private static (double Accuracy, double? Flexible, IReadOnlyList<PredictionRecord> Records) Generate(Backbone backbone, IManipulation? manipulation,
        IGenerationAlignment reader, TaskSplit split, MethodOptions options, string label, int seed, IProgress<ExperimentProgress>? progress, CancellationToken cancellationToken)
    {
        var task = split as InstructionTask ?? throw new ArgumentException($"Generation reads text; the task {split.Name} is not a text task.");
        var answers = (manipulation as DemonstrationPrompt)?.Answers;
        var stop = answers?.Stop ?? task.Stop;
        var length = options.MaxNewTokens ?? answers?.MaxNewTokens ?? task.MaxNewTokens;
        var twoStage = reader as ITwoStageReading;
        var settings = twoStage is null
            ? new GenerationSettings(length, reader.Samples > 1 ? reader.Temperature : 0, reader.TopK, seed, stop)
            : new GenerationSettings(options.MaxNewTokens ?? twoStage.ReasoningTokens, reader.Samples > 1 ? reader.Temperature : 0, reader.TopK, seed, twoStage.ReasoningStop);
        var clock = Stopwatch.StartNew();
        var outputs = backbone.Generate(manipulation, split, split.Queries, settings, reader.Samples, cancellationToken);
        // A two-stage reading: each reasoning, then the answer-extraction prompt, and the model writes the answer (greedy).
        IReadOnlyList<string>? written = null;
        if (twoStage is not null)
        {
            var second = split.Queries.SelectMany((q, i) => outputs.Skip(i * reader.Samples).Take(reader.Samples)
                .Select(o => twoStage.AnswerPrompt(q.Input, o, split.ChoicesOf(q)))).ToArray();
            written = backbone.GenerateText(second, new GenerationSettings(twoStage.AnswerTokens, 0, null, seed, twoStage.AnswerStop), cancellationToken);
        }
        var records = new List<PredictionRecord>(split.Queries.Count);
        for (var q = 0; q < split.Queries.Count; q++)
        {
            var example = split.Queries[q];
            var mine = outputs.Skip(q * reader.Samples).Take(reader.Samples).ToArray();
            var (strict, flexible) = twoStage is null ? reader.Read(mine, split.ChoicesOf(example))
                : twoStage.Read(mine, written!.Skip(q * reader.Samples).Take(reader.Samples).ToArray(), split.ChoicesOf(example));
            var output = mine.Length == 1 ? mine[0] : string.Join("\n", mine.Select((o, i) => $"[{i + 1}] {o}"));
            records.Add(new PredictionRecord(label, seed, example.Id, example.Input, backbone.PromptText(manipulation, split, example), output,
                strict, example.Answer, AnswerExtraction.Matches(strict, example.Answer), flexible, AnswerExtraction.Matches(flexible, example.Answer)));
        }
        progress?.Report(new ExperimentProgress(label, ExperimentPhase.Evaluating, seed, records.Count, split.Queries.Count, clock.Elapsed));
        return (records.Count(r => r.Correct) / (double)records.Count, records.Count(r => r.CorrectFlexible == true) / (double)records.Count, records);
    }

    /// <summary>Reports the trainer's progress as the experiment's.</summary>
    private sealed class TrainingSink(string run, int seed, IProgress<ExperimentProgress> progress) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) =>
            progress.Report(new ExperimentProgress(run, ExperimentPhase.Training, seed, value.Step, value.TotalSteps, value.Elapsed) { Training = value });
    }
}
