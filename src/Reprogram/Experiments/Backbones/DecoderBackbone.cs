using Reprogram.Frozen;
using Reprogram.Instruction;
using Reprogram.Manipulations;
using Reprogram.Taxonomy;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>
/// A frozen language model (a zoo decoder, a checkpoint folder, or a remote chat model) for every paradigm alike: the
/// prompt comes from the task's template (or a fixed text manipulation), text is normalised one way, label words are
/// scored one way (the whole word's log-likelihood, <see cref="LikelihoodScoring"/> for fixed prompts with the
/// shared-prefix cache, <see cref="TokenReadout"/> under a learned manipulation: the same quantity, with gradients).
/// </summary>
public sealed class DecoderBackbone(InstructionModel model, bool ownsModel = true) : Backbone
{
    private readonly Dictionary<string, long[]> encoded = new(StringComparer.Ordinal);
    private long scored;

    public InstructionModel Model => model;
    /// <summary>Whether the tokenizer's ids are in frequency order (set by the model registry from the checkpoint folder).</summary>
    public VocabularyOrder Order { get; init; }
    public override VocabularyOrder VocabularyOrder => Order;
    public override string Identity => model.Identity;
    public override string Kind => model.CanScore ? "text decoder" : "chat model";
    public override TaskModality Modality => TaskModality.Text;
    public override IReadOnlyList<Location> Interfaces => model.CanScore ? [Location.Input, Location.Embedding, Location.Hidden] : [Location.Input];
    public override bool ScoresLabelWords => model.CanScore;
    public override bool Generates => true;
    public override int OutputSize => model.Local?.VocabularySize ?? 0;
    // Decoded once: a label mapping reads every token's name per seed (about 50,000 decodes for GPT-2).
    private IReadOnlyList<string>? outputNames;
    public override IReadOnlyList<string>? OutputNames => outputNames ??=
        model.Local is { } lm && model.Decoder is { } decode ? Enumerable.Range(0, lm.VocabularySize).Select(i => decode([i])).ToArray() : null;
    public override long ParameterCount => model.Parameters;
    public override string ChecksumBefore => model.ChecksumBefore;
    public override string VerifyUnchanged() => model.VerifyUnchanged();
    public override Device Device => model.Local?.TokenEmbeddings.device ?? CPU;
    public override ITokenModel? TokenModel => model.Local;
    /// <summary>Reuse a shared prompt prefix's keys and values when scoring fixed prompts.</summary>
    public bool SharedPrefixCache { get; init; } = true;
    public int BatchRows { get; init; } = 32;
    /// <summary>Records show the exact text the model read (the prompt in the model's format: BOS, chat template).</summary>
    public bool ShowRenderedPrompt { get; init; }

    public override IReadOnlyDictionary<string, string> Settings
    {
        get
        {
            var settings = new Dictionary<string, string> { ["prompt format"] = model.Format.Name };
            if (model.TextNormalisation is { } n) settings["text normalisation"] = n;
            return settings;
        }
    }

    public override Tensor ModelOutputs(IManipulation? manipulation, TaskSplit split, IReadOnlyList<TaskExample> batch)
    {
        var lm = Local();
        var (prompts, tokens) = Prompts(manipulation, Task(split), batch);
        return TokenReadout.NextTokenLogProbs(lm, tokens, prompts);
    }

    public override Tensor LabelWordScores(IManipulation? manipulation, TaskSplit split, IReadOnlyList<TaskExample> batch)
    {
        var lm = Local();
        var task = Task(split);
        if (task.Labels.Count == 0) throw new ArgumentException($"The task {task.Name} has open answers: there are no label words to score. Generate and extract the answer.");
        if (manipulation is ITokenManipulation tokens)
        {
            var answers = batch.Select(e => (IReadOnlyList<long[]>)task.Labels.Select(l => Encode(task.Template.AnswerText(e.Input, l), $"the label word '{l}'")).ToArray()).ToArray();
            var longest = answers.Max(a => a.Max(t => t.Length));
            var prompts = batch.Select(e => Fit(Encode(model.RenderPrompt(task.Template.Render([], e.Input)), "the prompt"), lm.MaxPositions - tokens.PositionsAdded - longest + 1)).ToArray();
            return Experiment.Restrict(TokenReadout.AnswerLogLikelihood(lm, tokens, prompts, answers), task, batch);
        }
        var text = TextManipulation(manipulation);
        var requests = batch.Select(e => Request(task, text, e, null)).ToArray();
        return Scores(lm, task, batch, requests);
    }

    public override Tensor ContentFreeScores(IManipulation? manipulation, TaskSplit split, IReadOnlyList<TaskExample> batch)
    {
        var lm = Local();
        var task = Task(split);
        using var noGrad = no_grad();
        // Each example's prompt with each content-free input in place of its own (the demonstrations stay the example's).
        var rows = new List<(int Example, TaskExample Variant)>();
        for (var i = 0; i < batch.Count; i++)
        {
            foreach (var input in task.ContentFreeInputs)
            {
                var prompt = manipulation is ITokenManipulation ? task.Template.Render([], input) : Render(task, TextManipulation(manipulation), batch[i], input).Full;
                if (prompt.Length > 0) rows.Add((i, batch[i] with { Input = input }));
            }
            if (rows.All(r => r.Example != i))
            {
                throw new ArgumentException($"No content-free input ({string.Join(", ", task.ContentFreeInputs.Select(c => $"\"{c}\""))}) gives a non-empty prompt: calibration needs one.");
            }
        }
        Tensor scores;
        if (manipulation is ITokenManipulation tokens)
        {
            // A learned prompt is the same for every example: each content-free input is scored once.
            var distinct = rows.Select(r => r.Variant.Input).Distinct().ToArray();
            var variants = distinct.Select(input => batch[0] with { Input = input }).ToArray();
            var once = LabelWordScores(tokens, split, variants.Select(v => v with { Choices = null }).ToArray());
            scores = stack(rows.Select(r => once[Array.IndexOf(distinct, r.Variant.Input)]).ToArray());
            scores = Experiment.Restrict(scores, task, rows.Select(r => batch[r.Example]).ToArray());
        }
        else
        {
            var text = TextManipulation(manipulation);
            scores = Scores(lm, task, rows.Select(r => batch[r.Example]).ToArray(),
                rows.Select(r => Request(task, text, batch[r.Example], r.Variant.Input)).ToArray());
        }
        // p_cf: the mean over content-free inputs of the label probabilities (renormalised over the example's choices).
        var probabilities = nn.functional.softmax(scores.to(ScalarType.Float64), -1);
        var owner = tensor(rows.Select(r => (long)r.Example).ToArray(), device: probabilities.device);
        var sums = zeros(batch.Count, probabilities.shape[1], dtype: ScalarType.Float64, device: probabilities.device).index_add(0, owner, probabilities, 1);
        var counts = zeros(batch.Count, dtype: ScalarType.Float64, device: probabilities.device).index_add(0, owner, ones(rows.Count, dtype: ScalarType.Float64, device: probabilities.device), 1);
        return (sums / counts.unsqueeze(1)).log().to(ScalarType.Float32);
    }

    public override IReadOnlyList<string> Generate(IManipulation? manipulation, TaskSplit split, IReadOnlyList<TaskExample> batch, GenerationSettings settings,
        int samples, CancellationToken cancellationToken)
    {
        if (manipulation is ITokenManipulation) throw new ArgumentException($"{manipulation.Name} is learned in embedding or hidden space: generation reads fixed prompts here; answer by label words instead.");
        var task = Task(split);
        var text = TextManipulation(manipulation);
        var prompts = batch.Select(e => Render(task, text, e, null).Full).SelectMany(p => Enumerable.Repeat(p, samples)).ToArray();
        return model.Generator.Generate(prompts, settings, cancellationToken);
    }

    public override IReadOnlyList<string> GenerateText(IReadOnlyList<string> prompts, GenerationSettings settings, CancellationToken cancellationToken) =>
        model.Generator.Generate(prompts, settings, cancellationToken);

    public override int? PositionsPerQuery(IManipulation? manipulation, TaskSplit split, TaskExample example)
    {
        if (model.Encoder is null) return null;
        var task = Task(split);
        if (manipulation is ITokenManipulation tokens) return Encode(model.RenderPrompt(task.Template.Render([], example.Input)), "the prompt").Length + tokens.PositionsAttended;
        return Encode(model.RenderPrompt(Render(task, TextManipulation(manipulation), example, null).Full), "the prompt").Length;
    }

    public override string PromptText(IManipulation? manipulation, TaskSplit split, TaskExample example)
    {
        var task = Task(split);
        string Shown(string prompt) => ShowRenderedPrompt ? model.RenderPrompt(prompt) : prompt;
        return manipulation switch
        {
            ITokenManipulation tokens => $"[{Describe(tokens)}] {Shown(task.Template.Render([], example.Input))}",
            _ => Shown(Render(task, TextManipulation(manipulation), example, null).Full),
        };
    }

    /// <summary>Positions read by label-word scoring plus those the generator read and wrote.</summary>
    public override long TokensProcessed => scored + model.Generator.TokensProcessed;

    public override void ReleaseCaches() => encoded.Clear();

    public override void Dispose()
    {
        encoded.Clear();
        if (ownsModel) model.Dispose();
    }

    /// <summary>What a learned prompt is, in the records: discrete prompts show their tokens.</summary>
    private string Describe(ITokenManipulation tokens) => tokens switch
    {
        DiscretePrompt discrete when model.Decoder is { } decode => $"{discrete.Name}: \"{decode(discrete.TokenIds())}\"",
        _ when tokens.PositionsAdded > 0 => $"{tokens.Name}: {tokens.PositionsAdded} learned positions",
        _ => tokens.Name,
    };

    private Models.Causal.ICausalLm Local() => model.Local
        ?? throw new ArgumentException($"{model.Identity} is a remote chat model: its weights and token probabilities are not visible. Generate and extract the answer.");

    private static InstructionTask Task(TaskSplit split) => split as InstructionTask
        ?? throw new ArgumentException($"A language model reads text; the task {split.Name} is an {split.Modality.ToString().ToLowerInvariant()} task.");

    private static ITextManipulation? TextManipulation(IManipulation? manipulation) => manipulation switch
    {
        null => null,
        ITextManipulation text => text,
        _ => throw new ArgumentException($"{manipulation.Name} does not act on a language model's text, embeddings or layers."),
    };

    private static InstructionPrompt Render(InstructionTask task, ITextManipulation? text, TaskExample example, string? input) =>
        text?.Render(task, example, input) ?? new InstructionPrompt("", task.Template.Render([], input ?? example.Input), []);

    /// <summary>The prompts of a batch as tokens, with the learned manipulation that acts on them (if any).</summary>
    private (long[][] Prompts, ITokenManipulation? Tokens) Prompts(IManipulation? manipulation, InstructionTask task, IReadOnlyList<TaskExample> batch)
    {
        if (manipulation is ITokenManipulation tokens)
        {
            var room = Local().MaxPositions - tokens.PositionsAdded;
            return (batch.Select(e => Fit(Encode(model.RenderPrompt(task.Template.Render([], e.Input)), "the prompt"), room)).ToArray(), tokens);
        }
        var text = TextManipulation(manipulation);
        return (batch.Select(e => Encode(model.RenderPrompt(Render(task, text, e, null).Full), "the prompt")).ToArray(), null);
    }

    private ScoringRequest Request(InstructionTask task, ITextManipulation? text, TaskExample example, string? input)
    {
        var prompt = Render(task, text, example, input);
        var template = (text as DemonstrationPrompt)?.Template ?? task.Template;
        // In the model's format (a BOS, a chat template) the shared part is the rendering up to the query.
        var (shared, own) = model.Format.Split(prompt.Prefix, prompt.Full);
        var prefix = Encode(shared, "the prompt");
        var query = Encode(own, "the query");
        var choices = task.ChoicesOf(example).Select(c => Encode(template.AnswerText(input ?? example.Input, c), $"the answer '{c}'")).ToArray();
        // A query too long for what the demonstrations leave keeps its end (its answer cue), as under a learned prompt;
        // demonstrations that leave no room at all are refused by the scorer, with the numbers.
        var room = Local().MaxPositions - prefix.Length - choices.Max(c => c.Length) + 1;
        if (room >= 1 && query.Length > room) query = Fit(query, room);
        return new ScoringRequest(prefix, query, choices);
    }

    /// <summary>Fixed prompts scored by <see cref="LikelihoodScoring"/> into [B, C] over the task's labels (-inf outside each example's choices).</summary>
    private Tensor Scores(Models.Causal.ICausalLm lm, InstructionTask task, IReadOnlyList<TaskExample> batch, IReadOnlyList<ScoringRequest> requests)
    {
        var (scores, cost) = LikelihoodScoring.Score(lm, requests, SharedPrefixCache, BatchRows);
        scored += cost.Tokens;
        var result = new float[batch.Count * task.Labels.Count];
        Array.Fill(result, float.NegativeInfinity);
        for (var i = 0; i < batch.Count; i++)
        {
            var choices = task.ChoicesOf(batch[i]);
            for (var j = 0; j < choices.Count; j++)
            {
                var c = Experiment.IndexOf(task.Labels, choices[j]);
                if (c < 0) throw new ArgumentException($"The answer choice '{choices[j]}' is not one of the task's labels ({string.Join(", ", task.Labels)}).");
                result[i * task.Labels.Count + c] = (float)scores[i][j];
            }
        }
        return tensor(result, [batch.Count, task.Labels.Count], device: lm.TokenEmbeddings.device);
    }

    /// <summary>Prompts that leave the manipulation and the answer no room keep their last tokens (the query and its cue).</summary>
    public override long PromptsShortened => shortened;
    private long shortened;

    private long[] Fit(long[] prompt, int room)
    {
        if (room < 1) throw new ArgumentException($"{model.Identity} has {Local().MaxPositions} positions: no room for the text after the learned prompt and the answer.");
        if (prompt.Length <= room) return prompt;
        shortened++;
        return prompt[^room..];
    }

    private long[] Encode(string text, string what) =>
        encoded.TryGetValue(text, out var ids) ? ids : encoded[text] = model.Encode(text, what);
}
