using System.Diagnostics;
using Microsoft.Extensions.AI;
using Reprogram.Alignments;
using Reprogram.Instruction;
using Reprogram.Instruction.Backends;
using Reprogram.Manipulations;
using Reprogram.Runtime;
using Reprogram.Taxonomy;
using Reprogram.Training;

namespace Reprogram.Experiments;

/// <summary>
/// Prompt instruction on a frozen language model: fixed demonstrations and rationales at the input (the model never
/// changes; its checksum is taken before and after), answers read by label-word likelihood (optionally calibrated),
/// by generation and extraction rules, or by a vote over sampled rationales.
/// </summary>
public static class PromptInstruction
{
    /// <summary>
    /// How remote chat clients are made from a run's options and "provider:model": by default through
    /// <see cref="RemoteChat"/> (the endpoint from --endpoint or the provider's usual one, the key from the environment
    /// variable --api-key-env names). Replace it to add a provider of one's own.
    /// </summary>
    public static Func<InstructionOptionsBase, string, string, IChatClient> RemoteClients { get; set; } = (options, provider, model) =>
        RemoteChat.Create(new RemoteChatOptions
        {
            Provider = provider,
            Endpoint = options.Endpoint ?? (provider == RemoteChat.Ollama ? "http://localhost:11434" : "https://api.openai.com/v1"),
            Model = model,
            ApiKeyVariable = options.ApiKeyVariable,
        });

    /// <summary>Loads the model the options name (zoo, checkpoint or remote), on their device.</summary>
    public static InstructionModel LoadModel(InstructionOptionsBase options, IProgress<TrainingProgress>? training = null, CancellationToken ct = default)
    {
        var device = (options.Device is null ? ExperimentDefaults.Device : DeviceSpec.Parse(options.Device)).Resolve();
        return InstructionModel.Load(options.Model, device, (provider, model) => RemoteClients(options, provider, model), training, ct);
    }

    /// <summary>The task template with the options' overrides.</summary>
    internal static PromptTemplate TemplateOf(PromptTemplate task, InstructionOptionsBase o) => new(
        o.Instruction ?? task.Instruction, o.DemonstrationFormat ?? task.DemonstrationFormat, o.Separator ?? task.Separator, o.QueryFormat ?? task.QueryFormat);

    internal static AnswerExtraction ExtractionOf(AnswerExtraction task, InstructionOptionsBase o) =>
        new(o.StrictRule ?? task.Strict, o.FlexibleRule ?? task.Flexible);

    internal static IReadOnlyList<Demonstration> DemonstrationsOf(InstructionTask task, IReadOnlyList<int> indices) =>
        indices.Select(i => new Demonstration(task.Pool[i].Input, task.Pool[i].Answer, task.Pool[i].Rationale)).ToArray();

    /// <summary>The row of the results table for one setting: coordinates of the fixed input manipulation and the alignment.</summary>
    internal static ExperimentResult Row(string label, string manipulation, IAnswerAlignment alignment, InstructionModel model, InstructionTask task,
        Dictionary<string, double> metrics, TimeSpan wall, long examples, long tokens, IReadOnlyList<int> seeds, string checksumAfter,
        Dictionary<string, string> settings) => new()
    {
        Name = label,
        Coordinates = new Coordinates(Format.Fixed, Location.Input, Operator.Concatenative, alignment.Kind),
        AlignmentKind = alignment.Kind,
        Model = model.Identity,
        Task = task.Description,
        Manipulation = manipulation,
        Alignment = alignment.Name,
        Metrics = metrics,
        TrainableParameters = 0,
        FrozenParameters = model.Parameters,
        WallTime = wall,
        ExamplesProcessed = examples,
        TokensProcessed = tokens,
        Device = model.Device,
        Seed = seeds[0],
        ChecksumBefore = model.ChecksumBefore,
        ChecksumAfter = checksumAfter,
        Settings = model.Precision == Precision.Fp32 ? settings : new(settings) { ["precision"] = model.PrecisionNote },
    };

    /// <summary>Reports progress at most every 100 ms (and at the end).</summary>
    internal sealed class Reporter(IProgress<InstructionProgress>? progress, int total)
    {
        private readonly Stopwatch clock = Stopwatch.StartNew();
        private TimeSpan? last;
        private int done;

        public void Step(string setting, int count = 1)
        {
            done += count;
            if (progress is null) return;
            if (done < total && last is { } l && clock.Elapsed - l < TimeSpan.FromMilliseconds(100)) return;
            last = clock.Elapsed;
            progress.Report(new InstructionProgress(setting, Math.Min(done, total), total, clock.Elapsed));
        }
    }
}

/// <summary>A query's prompt: the part shared with other queries (instruction and demonstrations) and the whole text.</summary>
public sealed record InstructionPrompt(string Prefix, string Full, IReadOnlyList<Demonstration> Demonstrations);

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
        options.Validate();
        model.UsePrecision(options.Precision);
        if (options.Scoring == "likelihood" && !model.CanScore)
        {
            throw new ArgumentException($"{model.Identity} is a remote chat model: it cannot score label words. Use --scoring generation.");
        }
        var clock = Stopwatch.StartNew();
        var tasks = options.Seeds.Select(seed => InstructionTasks.Load(options.Task, seed, options.Queries, options.Pool)).ToArray();
        var first = tasks[0];
        if (options.Scoring == "likelihood" && first.Labels.Count == 0 && first.Queries.All(q => q.Choices is null))
        {
            throw new ArgumentException($"The task {first.Name} has open answers (no label words to score): use --scoring generation.");
        }
        var template = PromptInstruction.TemplateOf(first.Template, options);
        var extraction = PromptInstruction.ExtractionOf(first.Extraction, options);
        embedder ??= options.Selections.Contains("similar") ? new MiniLmSentenceEmbedder() : null;
        var selections = options.Selections.Select(s => Demonstrations.Selection(s, embedder)).ToArray();
        var calibrations = options.Calibration switch { "contextual" => new[] { true }, "both" => [false, true], _ => [false] };
        var settingsCount = selections.Length * options.Shots.Count * calibrations.Length;
        var reporter = new PromptInstruction.Reporter(progress, selections.Length * options.Shots.Count * tasks.Length * first.Queries.Count);
        var results = new List<InstructionSetting>();
        long totalTokens = 0;
        foreach (var selection in selections)
        {
            var order = options.Order is { } o ? Demonstrations.Order(o) : selection is SimilarDemonstrations ? DemonstrationOrder.Reversed : DemonstrationOrder.AsSelected;
            foreach (var shots in options.Shots)
            {
                var perCalibration = calibrations.ToDictionary(c => c, _ => (Accuracy: new List<double>(), Flexible: new List<double>(), Records: new List<InstructionRecord>()));
                var settingClock = Stopwatch.StartNew();
                var tokensBefore = totalTokens;
                var name = $"{shots}-shot, {selection.Name}";
                foreach (var (task, seed) in tasks.Zip(options.Seeds))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var prompts = BuildPrompts(task, template, selection, order, shots, seed);
                    if (options.Scoring == "likelihood")
                    {
                        var (predictions, tokens) = ScoreAll(model, task, template, prompts, calibrations, options, reporter, name, cancellationToken);
                        totalTokens += tokens;
                        foreach (var calibrated in calibrations)
                        {
                            var bucket = perCalibration[calibrated];
                            var label = Label(name, calibrated);
                            var correct = 0;
                            for (var q = 0; q < task.Queries.Count; q++)
                            {
                                var (predicted, scores) = predictions[calibrated][q];
                                var ok = AnswerExtraction.Matches(predicted, task.Queries[q].Answer);
                                if (ok) correct++;
                                bucket.Records.Add(new InstructionRecord(label, seed, q, shots, prompts[q].Full, scores, predicted, task.Queries[q].Answer, ok));
                            }
                            bucket.Accuracy.Add((double)correct / task.Queries.Count);
                        }
                    }
                    else
                    {
                        var before = model.Generator.TokensProcessed;
                        var settings = new GenerationSettings(options.MaxNewTokens ?? task.MaxNewTokens, 0, null, seed, task.Stop);
                        var outputs = model.Generator.Generate(prompts.Select(p => p.Full).ToArray(), settings, cancellationToken);
                        totalTokens += model.Generator.TokensProcessed - before;
                        reporter.Step(name, task.Queries.Count);
                        var bucket = perCalibration[false];
                        int strictCorrect = 0, flexibleCorrect = 0;
                        for (var q = 0; q < task.Queries.Count; q++)
                        {
                            var query = task.Queries[q];
                            var strict = extraction.ExtractStrict(outputs[q]);
                            var flexible = extraction.ExtractFlexible(outputs[q], task.ChoicesOf(query));
                            var ok = AnswerExtraction.Matches(strict, query.Answer);
                            var okFlexible = AnswerExtraction.Matches(flexible, query.Answer);
                            strictCorrect += ok ? 1 : 0;
                            flexibleCorrect += okFlexible ? 1 : 0;
                            bucket.Records.Add(new InstructionRecord(name, seed, q, shots, prompts[q].Full, outputs[q], strict, query.Answer, ok, flexible, okFlexible));
                        }
                        bucket.Accuracy.Add((double)strictCorrect / task.Queries.Count);
                        bucket.Flexible.Add((double)flexibleCorrect / task.Queries.Count);
                    }
                }
                var checksum = model.VerifyUnchanged();
                foreach (var calibrated in calibrations)
                {
                    var bucket = perCalibration[calibrated];
                    var label = Label(name, calibrated);
                    IAnswerAlignment alignment = options.Scoring == "generation" ? extraction : calibrated ? new ContextualCalibration() : new LabelWordLikelihood();
                    var generated = options.Scoring == "generation";
                    var metrics = generated
                        ? new Dictionary<string, double> { ["accuracy (strict)"] = bucket.Accuracy.Average(), ["accuracy (flexible)"] = bucket.Flexible.Average() }
                        : new Dictionary<string, double> { ["accuracy"] = bucket.Accuracy.Average() };
                    metrics["spread over seeds (sd)"] = Statistics.StandardDeviation(bucket.Accuracy);
                    var share = calibrations.Length;
                    var main = PromptInstruction.Row(label, $"{shots}-shot demonstrations ({selection.Name}, {Describe(order)})", alignment, model, tasks[0], metrics,
                        settingClock.Elapsed / share, (long)tasks.Length * first.Queries.Count, (totalTokens - tokensBefore) / share, options.Seeds, checksum,
                        new Dictionary<string, string>
                        {
                            ["shots"] = shots.ToString(), ["selection"] = selection.Name, ["order"] = Describe(order),
                            ["calibration"] = calibrated ? "contextual" : "none", ["scoring"] = options.Scoring,
                            ["shared-prefix cache"] = options.SharedPrefixCache ? "on" : "off", ["seeds"] = string.Join(",", options.Seeds),
                        });
                    results.Add(new InstructionSetting
                    {
                        Label = label, Shots = shots, Selection = selection.Name, Order = Describe(order), Calibrated = calibrated, Mode = "in-context",
                        AccuracyPerSeed = bucket.Accuracy, FlexibleAccuracyPerSeed = generated ? bucket.Flexible : null, Records = bucket.Records, Main = main,
                    });
                }
            }
        }
        var after = model.VerifyUnchanged();
        return new InstructionResult
        {
            Kind = "in-context learning", Model = model.Identity, Task = first.Description, Settings = results, Seeds = options.Seeds,
            WallTime = clock.Elapsed, TokensProcessed = totalTokens, ChecksumBefore = model.ChecksumBefore, ChecksumAfter = after, Options = options,
        };
    }

    private static string Label(string name, bool calibrated) => calibrated ? name + ", calibrated" : name;

    private static string Describe(DemonstrationOrder order) => order switch
    {
        DemonstrationOrder.Shuffled => "shuffled",
        DemonstrationOrder.Reversed => "reversed",
        _ => "as selected",
    };

    /// <summary>A query's prompt: the shared part (instruction and demonstrations) and the whole text.</summary>


    /// <summary>The prompt of every query for one seed: query-independent selections choose once, KATE per query.</summary>
    public static InstructionPrompt[] BuildPrompts(InstructionTask task, PromptTemplate template, IDemonstrationSelection selection, DemonstrationOrder order, int shots, int seed)
    {
        if (shots > task.Pool.Count) throw new ArgumentException($"{shots} shots need a pool of at least {shots} examples; the task has {task.Pool.Count}.");
        IReadOnlyList<Demonstration>? shared = selection.DependsOnQuery ? null
            : PromptInstruction.DemonstrationsOf(task, Demonstrations.Arrange(selection.Select(task, 0, shots, seed), order, seed));
        var prompts = new InstructionPrompt[task.Queries.Count];
        for (var q = 0; q < prompts.Length; q++)
        {
            var demonstrations = shared ?? PromptInstruction.DemonstrationsOf(task, Demonstrations.Arrange(selection.Select(task, q, shots, seed), order, seed));
            prompts[q] = new InstructionPrompt(template.SharedPrefix(demonstrations), template.Render(demonstrations, task.Queries[q].Input), demonstrations);
        }
        return prompts;
    }

    /// <summary>
    /// Scores every query's choices (and, for calibration, each distinct prompt prefix's content-free inputs) and returns
    /// each query's prediction with its scores as text, without and with calibration.
    /// </summary>
    private static (Dictionary<bool, (string Predicted, string Scores)[]> Predictions, long Tokens) ScoreAll(InstructionModel model, InstructionTask task,
        PromptTemplate template, InstructionPrompt[] prompts, bool[] calibrations, InContextOptions options, PromptInstruction.Reporter reporter, string name,
        CancellationToken cancellationToken)
    {
        var lm = model.Local!;
        var prefixIds = new Dictionary<string, long[]>();
        long[] PrefixIds(string prefix) => prefixIds.TryGetValue(prefix, out var ids) ? ids : prefixIds[prefix] = model.Encode(prefix, "the prompt");
        var requests = new List<ScoringRequest>();
        var choiceSets = new List<IReadOnlyList<string>>();
        for (var q = 0; q < prompts.Length; q++)
        {
            var query = task.Queries[q];
            var choices = task.ChoicesOf(query);
            requests.Add(Request(prompts[q], prompts[q].Full[prompts[q].Prefix.Length..], query.Input, choices));
            choiceSets.Add(choices);
        }
        ScoringRequest Request(InstructionPrompt prompt, string suffix, string input, IReadOnlyList<string> choices) => new(
            PrefixIds(prompt.Prefix), model.Encode(suffix, "the query"),
            choices.Select(c => model.Encode(template.AnswerText(input, c), $"the answer '{c}'")).ToArray());

        // Content-free requests: one per distinct (prefix, choice set) and content-free input.
        var contentFree = new List<(string Key, ScoringRequest Request)>();
        string Key(InstructionPrompt p, IReadOnlyList<string> choices) => p.Prefix + "\u0001" + string.Join("\u0002", choices);
        if (calibrations.Contains(true))
        {
            var seen = new HashSet<string>();
            for (var q = 0; q < prompts.Length; q++)
            {
                var key = Key(prompts[q], choiceSets[q]);
                if (!seen.Add(key)) continue;
                foreach (var input in task.ContentFreeInputs)
                {
                    var full = template.Render(prompts[q].Demonstrations, input);
                    if (full.Length == 0) continue;   // nothing to condition on
                    contentFree.Add((key, Request(prompts[q], full[prompts[q].Prefix.Length..], input, choiceSets[q])));
                }
                if (!contentFree.Any(c => c.Key == key))
                {
                    throw new ArgumentException($"No content-free input gives a non-empty prompt at {prompts[q].Demonstrations.Count} shots; calibration needs one.");
                }
            }
        }
        var (scores, cost) = LikelihoodScoring.Score(lm, [.. requests, .. contentFree.Select(c => c.Request)], options.SharedPrefixCache, options.BatchRows, cancellationToken);
        reporter.Step(name, prompts.Length);
        var prior = contentFree.Select((c, i) => (c.Key, Scores: scores[requests.Count + i])).GroupBy(c => c.Key)
            .ToDictionary(g => g.Key, g => ContextualCalibration.ContentFree(g.Select(x => (IReadOnlyList<double>)x.Scores).ToArray()));
        var predictions = new Dictionary<bool, (string, string)[]>();
        foreach (var calibrated in calibrations)
        {
            predictions[calibrated] = Enumerable.Range(0, prompts.Length).Select(q =>
            {
                var choices = choiceSets[q];
                var probabilities = ContextualCalibration.Probabilities(scores[q]);
                if (calibrated) probabilities = ContextualCalibration.Apply(probabilities, prior[Key(prompts[q], choices)]);
                var best = Array.IndexOf(probabilities, probabilities.Max());
                var text = string.Join(" | ", choices.Select((c, j) => $"{c} {probabilities[j]:0.000}"));
                return (choices[best], text);
            }).ToArray();
        }
        return (predictions, cost.Tokens);
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
        using var model = PromptInstruction.LoadModel(options, training, cancellationToken);
        return Run(model, options, progress, cancellationToken);
    });

    /// <summary>Chain-of-thought on a model already loaded (the C# API; the caller disposes the model).</summary>
    public static InstructionResult Run(InstructionModel model, ChainOfThoughtOptions options, IProgress<InstructionProgress>? progress = null,
        CancellationToken cancellationToken = default) => ComputeThread.Run(() => RunHere(model, options, progress, cancellationToken));

    private static InstructionResult RunHere(InstructionModel model, ChainOfThoughtOptions options, IProgress<InstructionProgress>? progress,
        CancellationToken cancellationToken)
    {
        options.Validate();
        model.UsePrecision(options.Precision);
        var clock = Stopwatch.StartNew();
        var tasks = options.Seeds.Select(seed => InstructionTasks.Load(options.Task, seed, options.Queries, options.Pool)).ToArray();
        var first = tasks[0];
        var formats = first.ChainOfThought ?? throw new ArgumentException($"The task {first.Name} has no chain-of-thought format; try addition or a text task.");
        if (options.Modes.Contains("few-shot") && first.Pool.Any(p => string.IsNullOrEmpty(p.Rationale)))
        {
            throw new ArgumentException($"--mode few-shot needs demonstrations with rationales, and the task {first.Name} has none (its pool has no rationale).");
        }
        var extraction = PromptInstruction.ExtractionOf(formats.Extraction, options);
        var stop = formats.Stop ?? first.Stop;
        var maxTokens = options.MaxNewTokens ?? formats.MaxNewTokens ?? first.MaxNewTokens;
        var selection = Demonstrations.Selection(options.Selection);
        var runs = options.Modes.SelectMany(m => options.Samples > 1 && m != "direct" ? new[] { (Mode: m, Samples: 1), (Mode: m, Samples: options.Samples) } : [(Mode: m, Samples: 1)]).ToArray();
        var reporter = new PromptInstruction.Reporter(progress, runs.Sum(r => r.Samples) * tasks.Length * first.Queries.Count);
        var results = new List<InstructionSetting>();
        long totalTokens = 0;
        foreach (var (mode, samples) in runs)
        {
            var (template, shots, trigger) = mode switch
            {
                "direct" => (PromptInstruction.TemplateOf(formats.Direct, options), options.Shots, (string?)null),
                "few-shot" => (PromptInstruction.TemplateOf(formats.WithRationales, options), options.Shots, null),
                _ => (new PromptTemplate(options.Instruction ?? "", "", "", formats.ZeroShotQueryFormat + (options.Trigger ?? formats.Trigger)), 0, options.Trigger ?? formats.Trigger),
            };
            var label = mode switch
            {
                "direct" => shots > 0 ? $"direct, {shots}-shot" : "direct",
                "few-shot" => $"few-shot CoT, {shots} rationales",
                _ => $"zero-shot CoT, trigger \"{trigger}\"",
            } + (samples > 1 ? $", self-consistency ({samples} samples, T={options.Temperature:0.##})" : "");
            var settingClock = Stopwatch.StartNew();
            var tokensBefore = totalTokens;
            var strictPerSeed = new List<double>();
            var flexiblePerSeed = new List<double>();
            var records = new List<InstructionRecord>();
            foreach (var (task, seed) in tasks.Zip(options.Seeds))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var prompts = InContextLearning.BuildPrompts(task, template, selection, DemonstrationOrder.AsSelected, shots, seed);
                var texts = prompts.Select(p => p.Full).SelectMany(p => Enumerable.Repeat(p, samples)).ToArray();
                var settings = new GenerationSettings(maxTokens, samples > 1 ? options.Temperature : 0, options.TopK, seed, stop);
                var before = model.Generator.TokensProcessed;
                var outputs = model.Generator.Generate(texts, settings, cancellationToken);
                totalTokens += model.Generator.TokensProcessed - before;
                reporter.Step(label, texts.Length);
                int strictCorrect = 0, flexibleCorrect = 0;
                for (var q = 0; q < task.Queries.Count; q++)
                {
                    var query = task.Queries[q];
                    var choices = task.ChoicesOf(query);
                    var mine = outputs.Skip(q * samples).Take(samples).ToArray();
                    string? strict, flexible;
                    if (samples == 1)
                    {
                        strict = extraction.ExtractStrict(mine[0]);
                        flexible = extraction.ExtractFlexible(mine[0], choices);
                    }
                    else
                    {
                        strict = MajorityVote.Vote(mine.Select(extraction.ExtractStrict)).Answer;
                        flexible = MajorityVote.Vote(mine.Select(o => extraction.ExtractFlexible(o, choices))).Answer;
                    }
                    var ok = AnswerExtraction.Matches(strict, query.Answer);
                    var okFlexible = AnswerExtraction.Matches(flexible, query.Answer);
                    strictCorrect += ok ? 1 : 0;
                    flexibleCorrect += okFlexible ? 1 : 0;
                    var output = samples == 1 ? mine[0] : string.Join("\n", mine.Select((o, i) => $"[{i + 1}] {o}"));
                    records.Add(new InstructionRecord(label, seed, q, shots, prompts[q].Full, output, strict, query.Answer, ok, flexible, okFlexible));
                }
                strictPerSeed.Add((double)strictCorrect / task.Queries.Count);
                flexiblePerSeed.Add((double)flexibleCorrect / task.Queries.Count);
            }
            var checksum = model.VerifyUnchanged();
            IAnswerAlignment alignment = samples > 1 ? new MajorityVote() : extraction;
            var metrics = new Dictionary<string, double>
            {
                ["accuracy (strict)"] = strictPerSeed.Average(), ["accuracy (flexible)"] = flexiblePerSeed.Average(),
                ["spread over seeds (sd)"] = Statistics.StandardDeviation(strictPerSeed),
            };
            var manipulation = mode switch
            {
                "direct" => shots > 0 ? $"{shots} direct demonstrations" : "the bare question",
                "few-shot" => $"{shots} demonstrations with rationales (chain-of-thought)",
                _ => $"zero-shot chain-of-thought trigger \"{trigger}\"",
            };
            var main = PromptInstruction.Row(label, manipulation, alignment, model, first, metrics, settingClock.Elapsed,
                (long)tasks.Length * first.Queries.Count * samples, totalTokens - tokensBefore, options.Seeds, checksum,
                new Dictionary<string, string>
                {
                    ["mode"] = mode, ["shots"] = shots.ToString(), ["samples"] = samples.ToString(),
                    ["temperature"] = samples > 1 ? options.Temperature.ToString(System.Globalization.CultureInfo.InvariantCulture) : "0 (greedy)",
                    ["strict rule"] = extraction.Strict, ["flexible rule"] = extraction.Flexible ?? "first answer choice in the text",
                    ["seeds"] = string.Join(",", options.Seeds),
                });
            results.Add(new InstructionSetting
            {
                Label = label, Shots = shots, Selection = shots > 0 ? selection.Name : "none", Order = "as selected", Mode = mode, Samples = samples,
                AccuracyPerSeed = strictPerSeed, FlexibleAccuracyPerSeed = flexiblePerSeed, Records = records, Main = main,
            });
        }
        var after = model.VerifyUnchanged();
        return new InstructionResult
        {
            Kind = "chain-of-thought", Model = model.Identity, Task = first.Description, Settings = results, Seeds = options.Seeds,
            WallTime = clock.Elapsed, TokensProcessed = totalTokens, ChecksumBefore = model.ChecksumBefore, ChecksumAfter = after, Options = options,
        };
    }
}
