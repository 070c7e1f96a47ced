using System.Text.Json;
using Reprogram.Frozen;
using Reprogram.Models.Causal;
using Reprogram.Runtime;
using Reprogram.Training;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Reprogram.Models.Zoo;

/// <summary>Everything that decides a language-zoo model: its shape, its data and its training.</summary>
public sealed record LanguageZooRecipe(string Name, GptConfig Config, int TrainSequences, int DataSeed, TrainingOptions Options);

/// <summary>
/// Tiny GPT-style language models trained here, once and deterministically (seed 0), on generated task mixtures chosen
/// so that the behaviours of in-context learning appear: "icl-rules" infers a hidden rule from its demonstrations
/// (accuracy rises with the shots), "arith-cot" adds 3-digit numbers better when it writes a scratchpad first.
/// Cached in <see cref="ReprogramPaths.Models"/> as safetensors with a JSON <see cref="ModelCard"/>, verified by checksum
/// on load; freeze them (<see cref="FrozenModel{TModel}"/>) to use them.
/// </summary>
public static class LanguageZoo
{
    public const string IclRulesName = "icl-rules";
    public const string ArithCotName = "arith-cot";
    public const string RuleFamilyName = "rule-family";
    public static IReadOnlyList<string> Names { get; } = [IclRulesName, ArithCotName, RuleFamilyName];

    /// <summary>Evaluation items for the model card come from this seed; tests use other seeds for fresh items.</summary>
    public const int CardEvaluationSeed = 1_000;
    public const int CardEvaluationItems = 300;

    /// <summary>The recipe each zoo model is trained with.</summary>
    public static LanguageZooRecipe Recipe(string name) => name switch
    {
        IclRulesName => new LanguageZooRecipe(IclRulesName, new GptConfig(new CharTokenizer().VocabularySize, MaxPositions: 64, Layers: 2, Heads: 4, HiddenSize: 64),
            TrainSequences: 24_000, DataSeed: 0,
            new TrainingOptions { Epochs = 1, BatchSize = 64, LearningRate = 3e-3, Optimizer = OptimizerKind.AdamW, WeightDecay = 0.01, ClipGradientNorm = 1.0, Seed = 0 }),
        ArithCotName => new LanguageZooRecipe(ArithCotName, new GptConfig(new CharTokenizer().VocabularySize, MaxPositions: 64, Layers: 2, Heads: 4, HiddenSize: 64),
            TrainSequences: 40_000, DataSeed: 0,
            new TrainingOptions { Epochs = 1, BatchSize = 64, LearningRate = 3e-3, Optimizer = OptimizerKind.AdamW, WeightDecay = 0.01, ClipGradientNorm = 1.0, Seed = 0 }),
        RuleFamilyName => new LanguageZooRecipe(RuleFamilyName, new GptConfig(new CharTokenizer().VocabularySize, MaxPositions: 64, Layers: 2, Heads: 4, HiddenSize: 64),
            TrainSequences: 24_000, DataSeed: 0,
            new TrainingOptions { Epochs = 1, BatchSize = 64, LearningRate = 3e-3, Optimizer = OptimizerKind.AdamW, WeightDecay = 0.01, ClipGradientNorm = 1.0, Seed = 0 }),
        _ => throw new ArgumentException($"'{name}' is not a language-zoo model. Known: {string.Join(", ", Names)}."),
    };

    /// <summary>
    /// The zoo model <paramref name="name"/> ("icl-rules" or "arith-cot"): trained on first use (about a minute on 2 cores,
    /// with progress) and loaded from the cache after. The model is returned in eval mode, not frozen.
    /// </summary>
    public static (TinyGpt Model, CharTokenizer Tokenizer, ModelCard Card) Load(string name, IProgress<TrainingProgress>? progress = null,
                                                                              CancellationToken ct = default, string? cacheFolder = null)
    {
        using var cancellation = Runtime.Cancellation.Use(ct);
        var recipe = Recipe(name);
        var tokenizer = new CharTokenizer();
        var (model, card) = ZooCache.GetOrTrain(name, cacheFolder, () => new TinyGpt(recipe.Config), () =>
        {
            var (trainedModel, report) = Train(recipe, progress, ct);
            if (report.Stop != StopReason.Completed)
            {
                throw new OperationCanceledException($"Training the language model {name} stopped: {report.Message}. Nothing was cached.");
            }
            return (trainedModel, MakeCard(recipe, trainedModel, tokenizer, report));
        });
        return (model, tokenizer, card);
    }

    /// <summary>Trains a fresh model by a recipe (deterministic from its seeds); the model is left in eval mode.</summary>
    public static (TinyGpt Model, TrainingReport Report) Train(LanguageZooRecipe recipe, IProgress<TrainingProgress>? progress = null, CancellationToken ct = default)
    {
        var tokenizer = new CharTokenizer();
        var sequences = recipe.Name switch
        {
            IclRulesName => new RuleInferenceTask().TrainingSequences(recipe.TrainSequences, recipe.DataSeed),
            ArithCotName => new AdditionTask().TrainingSequences(recipe.TrainSequences, recipe.DataSeed),
            RuleFamilyName => new RuleFamilyTask().TrainingSequences(recipe.TrainSequences, recipe.DataSeed),
            _ => throw new ArgumentException($"'{recipe.Name}' is not a language-zoo model. Known: {string.Join(", ", Names)}."),
        };
        manual_seed(recipe.Options.Seed);
        var model = new TinyGpt(recipe.Config);
        using var task = new LanguageModelingTask(model, tokenizer, sequences);
        var report = Trainer.Train(task, recipe.Options, progress, ct);
        model.eval();
        return (model, report);
    }

    private static ModelCard MakeCard(LanguageZooRecipe recipe, TinyGpt model, CharTokenizer tokenizer, TrainingReport report)
    {
        var c = recipe.Config;
        var architecture = $"TinyGpt: {c.Layers} layers, {c.Heads} heads, hidden {c.HiddenSize}, {c.MaxPositions} positions, character vocabulary of {c.VocabularySize}";
        string data, what;
        double accuracy;
        if (recipe.Name == IclRulesName)
        {
            var shots = new[] { 0, 1, 2, 4, 8 };
            var accuracies = shots.ToDictionary(k => k, k => RuleAccuracy(model, tokenizer, k, CardEvaluationItems, CardEvaluationSeed + k));
            accuracy = accuracies[8];
            data = $"{recipe.TrainSequences:N0} generated sequences of {RuleInferenceTask.TrainingPairs} examples \"ag;\" of a hidden rule drawn per sequence " +
                   $"(each item of \"{RuleInferenceTask.Items}\" gets one of its own labels {string.Join("/", RuleInferenceTask.LabelSets)}); loss on every label (0 to {RuleInferenceTask.TrainingPairs - 1} shots)";
            what = "in-context learning: given k demonstrations \"ag;cm;\" and a query \"b\", writes the query's label under the sequence's hidden rule; " +
                   "accuracy rises with the shots because the rule can only be inferred from them. Greedy accuracy on " + CardEvaluationItems + " fresh items: " +
                   string.Join(", ", shots.Select(k => $"{k} shots {accuracies[k]:P0} (ideal {RuleInferenceTask.IdealAccuracy(k):P0})")) +
                   ". TestAccuracy is the 8-shot accuracy.";
        }
        else if (recipe.Name == RuleFamilyName)
        {
            var shots = new[] { 0, 1, 2, 4, 8, 16 };
            var accuracies = shots.ToDictionary(k => k, k => RuleFamilyAccuracy(model, tokenizer, k, CardEvaluationItems, CardEvaluationSeed + k));
            accuracy = accuracies[16];
            data = $"{recipe.TrainSequences:N0} generated sequences of {RuleFamilyTask.TrainingPairs} examples \"ah;\" of a rule drawn per sequence from the " +
                   $"{RuleFamilyTask.RuleCount - RuleFamilyTask.HeldOutRules.Count} rules not held out (each item of \"{RuleFamilyTask.Items}\" gets one of its own labels " +
                   $"{string.Join("/", RuleFamilyTask.LabelSets)}; every {RuleFamilyTask.HeldOutEvery}th rule is held out); loss on every label";
            what = "in-context learning of held-out rules: given k demonstrations \"ah;cm;\" of a rule never seen in pretraining and a query \"b\", writes b's label; " +
                   $"greedy accuracy on {CardEvaluationItems} items of held-out rules: " +
                   string.Join(", ", shots.Select(k => $"{k} shots {accuracies[k]:P0} (ideal {RuleFamilyTask.IdealAccuracy(k):P0})")) +
                   ". TestAccuracy is the 16-shot accuracy.";
        }
        else
        {
            var direct = AdditionAccuracy(model, tokenizer, scratchpad: false, CardEvaluationItems, CardEvaluationSeed);
            accuracy = AdditionAccuracy(model, tokenizer, scratchpad: true, CardEvaluationItems, CardEvaluationSeed);
            data = $"{recipe.TrainSequences:N0} generated 3-digit additions, half written directly (\"123+459=0582.\") and half with a scratchpad of column sums " +
                   "(\"123+459:3+9+0=12,2+5+1=08,1+4+0=05;0582.\"); loss on the completion";
            what = "chain of thought: continues \"123+459:\" with a scratchpad then the sum, or \"123+459=\" with the sum directly; " +
                   $"exact-match greedy accuracy on {CardEvaluationItems} fresh problems: scratchpad {accuracy:P0}, direct {direct:P0}. TestAccuracy is the scratchpad accuracy.";
        }
        return new ModelCard(recipe.Name, architecture, data, recipe.TrainSequences, recipe.Options.Epochs, recipe.Options.Seed,
            report.Curve[^1].Loss, accuracy, CardEvaluationItems, model.parameters().Sum(p => p.numel()), ParameterChecksum.Of(model), what,
            tokenizer.Vocabulary);
    }

    /// <summary>
    /// Greedy continuation of each prompt by up to <paramref name="maxNewTokens"/> characters, stopping after
    /// <paramref name="stop"/> when given. Prompts of the same length are decoded together.
    /// </summary>
    public static IReadOnlyList<string> GreedyComplete(TinyGpt model, CharTokenizer tokenizer, IReadOnlyList<string> prompts, int maxNewTokens, char? stop = null)
    {
        var results = new string[prompts.Count];
        using var _ = no_grad();
        foreach (var group in Enumerable.Range(0, prompts.Count).GroupBy(i => prompts[i].Length))
        {
            var indices = group.ToArray();
            using var scope = NewDisposeScope();
            var ids = tensor(indices.SelectMany(i => tokenizer.Encode(prompts[i])).ToArray(), [indices.Length, group.Key]);
            var generated = new List<long[]>();
            var done = new bool[indices.Length];
            var steps = Math.Min(maxNewTokens, model.MaxPositions - group.Key);
            for (var s = 0; s < steps && !done.All(d => d); s++)
            {
                var next = model.forward(ids)[.., -1, ..].argmax(-1);
                var values = next.data<long>().ToArray();
                generated.Add(values);
                for (var b = 0; b < values.Length; b++)
                {
                    if (stop is { } c && values[b] == tokenizer.Id(c)) done[b] = true;
                }
                ids = cat([ids, next.unsqueeze(1)], 1);
            }
            for (var b = 0; b < indices.Length; b++)
            {
                var text = tokenizer.Decode(generated.Select(g => g[b]));
                if (stop is { } c && text.IndexOf(c) is var at && at >= 0) text = text[..(at + 1)];
                results[indices[b]] = text;
            }
        }
        return results;
    }

    /// <summary>Greedy accuracy of the first generated character against the label, on fresh rule-inference items with this many shots.</summary>
    public static double RuleAccuracy(TinyGpt model, CharTokenizer tokenizer, int shots, int items, int seed)
    {
        var evaluation = new RuleInferenceTask().EvaluationItems(items, shots, seed);
        var completions = GreedyComplete(model, tokenizer, evaluation.Select(e => e.Prompt).ToArray(), 1);
        return evaluation.Zip(completions).Count(p => p.Second == p.First.Answer) / (double)items;
    }

    /// <summary>Greedy accuracy of the first generated character on items of held-out rules, with this many shots of the same rule.</summary>
    public static double RuleFamilyAccuracy(TinyGpt model, CharTokenizer tokenizer, int shots, int items, int seed)
    {
        var random = new Random(seed);
        var prompts = new string[items];
        var answers = new string[items];
        for (var n = 0; n < items; n++)
        {
            var rule = RuleFamilyTask.Rule(RuleFamilyTask.HeldOutRules[random.Next(RuleFamilyTask.HeldOutRules.Count)]);
            var examples = RuleFamilyTask.Examples(rule, shots + 1, random);
            prompts[n] = string.Concat(examples.Take(shots).Select(e => $"{e.Item}{e.Label}{RuleFamilyTask.Separator}")) + examples[^1].Item;
            answers[n] = examples[^1].Label;
        }
        var completions = GreedyComplete(model, tokenizer, prompts, 1);
        return answers.Zip(completions).Count(p => p.First == p.Second) / (double)items;
    }

    /// <summary>Exact-match greedy accuracy of the sum, directly or after a scratchpad, on fresh 3-digit additions.</summary>
    public static double AdditionAccuracy(TinyGpt model, CharTokenizer tokenizer, bool scratchpad, int items, int seed)
    {
        var task = new AdditionTask();
        var evaluation = task.EvaluationItems(items, scratchpad, seed);
        var completions = GreedyComplete(model, tokenizer, evaluation.Select(e => e.Prompt).ToArray(), task.SequenceLength, AdditionTask.End);
        return evaluation.Zip(completions).Count(p => AdditionTask.ParseAnswer(p.Second, scratchpad) == p.First.Answer) / (double)items;
    }

    /// <summary>Next-character training of a whole model on generated sequences, loss on the scored characters only.</summary>
    private sealed class LanguageModelingTask : ITrainingTask, IDisposable
    {
        private readonly TinyGpt model;
        private readonly Tensor inputs, targets, mask;

        public LanguageModelingTask(TinyGpt model, CharTokenizer tokenizer, IReadOnlyList<TrainingSequence> sequences)
        {
            this.model = model;
            TrainableParameters = model.parameters().ToArray();
            var length = sequences.Max(s => s.Length);
            if (length > model.MaxPositions + 1) throw new ArgumentException($"Sequences of {length} characters do not fit the model's {model.MaxPositions} positions.");
            var ids = new long[sequences.Count * length];
            var scored = new bool[sequences.Count * length];
            for (var n = 0; n < sequences.Count; n++)
            {
                var encoded = tokenizer.Encode(sequences[n].Text);
                Array.Copy(encoded, 0, ids, n * length, encoded.Length);
                Array.Copy(sequences[n].Scored, 0, scored, n * length, encoded.Length);
            }
            using var all = tensor(ids, [sequences.Count, length]);
            using var allScored = tensor(scored, [sequences.Count, length]);
            inputs = all[.., ..^1].contiguous();
            targets = all[.., 1..].contiguous();
            mask = allScored[.., 1..].contiguous();
            ExampleCount = sequences.Count;
        }

        public IReadOnlyList<Parameter> TrainableParameters { get; }
        public int ExampleCount { get; }
        public void BeforeEpoch(int epoch) => model.train();

        public BatchOutput Step(long[] indices)
        {
            using var index = tensor(indices);
            var x = inputs.index_select(0, index);
            var y = targets.index_select(0, index);
            var m = mask.index_select(0, index);
            var logits = model.forward(x);
            var scoredLogits = logits[m];
            var scoredTargets = y[m];
            var loss = nn.functional.cross_entropy(scoredLogits, scoredTargets);
            // A sequence is correct when every scored character is the model's argmax.
            var wrong = logits.argmax(-1).ne(y).logical_and(m).any(1);
            var correct = indices.Length - wrong.sum().item<long>();
            return new BatchOutput(loss, correct, indices.Length, m.sum().item<long>());
        }

        public void Dispose()
        {
            inputs.Dispose();
            targets.Dispose();
            mask.Dispose();
        }
    }
}
