using System.Globalization;
using System.Text.RegularExpressions;
using Reprogram.Alignments;
using Reprogram.Taxonomy;

namespace Reprogram.Instruction;

/// <summary>What kind of answer stage 2 asks for, which decides its answer-extraction prompt and how the answer is cleaned.</summary>
public enum ZeroShotAnswerKind
{
    /// <summary>A number: "Therefore, the answer (arabic numerals) is"; the first number written (Kojima et al.'s arithmetic tasks).</summary>
    Numeric,
    /// <summary>Lettered choices: "Therefore, among A through E, the answer is"; the first of the letters written (AQuA, CommonsenseQA).</summary>
    Letters,
    /// <summary>Label words: "Therefore, the answer (yes or no) is"; the first label word written (StrategyQA, coin flip, generalised to any label words).</summary>
    Words,
    /// <summary>An open answer: "Therefore, the answer is"; the text written, without spaces, quotes or full stops (last letters).</summary>
    Open,
}

/// <summary>
/// Zero-shot chain-of-thought in two stages, as Kojima et al. (NeurIPS 2022, Sec. 3 and Table 9; the authors' code
/// kojima-takeshi188/zero_shot_cot, main.py and utils.py answer_cleansing) do it:
/// <list type="number">
/// <item>reasoning extraction: "Q: {question}\nA: Let's think step by step." and the model writes its reasoning z
/// (up to 128 tokens);</item>
/// <item>answer extraction: the same prompt, then z, then " " and the answer-extraction prompt
/// ("\nTherefore, the answer (arabic numerals) is" for numbers, "\nTherefore, among A through E, the answer is" for
/// lettered choices), and the model writes the answer (up to 32 tokens, greedy);</item>
/// <item>answer cleansing: the first number (commas removed, a final full stop dropped) or the first of the choice
/// letters in what stage 2 wrote.</item>
/// </list>
/// For label-word tasks the extraction prompt lists the label words in parentheses, as the paper's "(Yes or No)" does,
/// and the first label word written is the answer (the paper's yes/no cleansing). For the zoo's adder (arith-cot),
/// whose own format is "123+459:scratchpad;0582.", the trigger is its scratchpad cue ":" and the answer-extraction
/// prompt is its own answer cue ";": stage 1 writes the scratchpad up to that cue (its reasoning), stage 2 appends the
/// cue and reads the sum that follows, cleaned as a number. A model taught one fixed format has no other way to be asked
/// "therefore, the answer is"; this is the same two calls with the model's own words.
/// </summary>
public sealed record ZeroShotChainOfThought : IAnswerAlignment
{
    /// <summary>Kojima et al.'s trigger (their Table 4, no. 1).</summary>
    public const string LetsThinkStepByStep = "Let's think step by step.";
    /// <summary>The authors' token limits: max_length_cot for the reasoning, max_length_direct for the answer.</summary>
    public const int PaperReasoningTokens = 128, PaperAnswerTokens = 32;

    /// <summary>The query before the trigger, with {input}: "Q: {input}\nA:".</summary>
    public required string QueryFormat { get; init; }
    /// <summary>What follows the query, separator included: " Let's think step by step." (the paper joins them with a space).</summary>
    public required string Trigger { get; init; }
    /// <summary>What goes between the reasoning and the cue: " " in the paper (its cues then start with a new line).</summary>
    public string CueSeparator { get; init; } = " ";
    public required ZeroShotAnswerKind AnswerKind { get; init; }
    /// <summary>The model's own answer cue, replacing the paper's English one (the adder's ";"); null: the paper's cue for <see cref="AnswerKind"/>.</summary>
    public string? ModelAnswerCue { get; init; }
    /// <summary>Stage 1 stops at these (besides its token limit); the model's own cue when it has one.</summary>
    public IReadOnlyList<string>? ReasoningStop { get; init; }
    /// <summary>Stage 2 stops at these (besides its token limit); null for none, as the paper.</summary>
    public IReadOnlyList<string>? AnswerStop { get; init; }
    public int ReasoningTokens { get; init; } = PaperReasoningTokens;
    public int AnswerTokens { get; init; } = PaperAnswerTokens;

    public string Name => ModelAnswerCue is null
        ? "two-stage answer extraction (Kojima et al.): extraction prompt, then the first answer"
        : $"two-stage answer extraction (Kojima et al.) with the model's answer cue \"{ModelAnswerCue}\", then the first number";
    /// <summary>Reading the answer with a second prompt and a fixed rule is rule-based alignment.</summary>
    public OutputAlignment Kind => OutputAlignment.RuleBased;

    /// <summary>Stage 1's prompt: the query and the trigger.</summary>
    public string ReasoningPrompt(string input) => QueryFormat.Replace("{input}", input, StringComparison.Ordinal) + Trigger;

    /// <summary>The answer-extraction prompt for a query with these answer choices (empty: the task has none).</summary>
    public string AnswerCue(IReadOnlyList<string> choices) => ModelAnswerCue ?? AnswerKind switch
    {
        ZeroShotAnswerKind.Numeric => "\nTherefore, the answer (arabic numerals) is",
        ZeroShotAnswerKind.Letters => $"\nTherefore, among {choices[0]} through {choices[^1]}, the answer is",
        ZeroShotAnswerKind.Words => $"\nTherefore, the answer ({ListWords(choices)}) is",
        _ => "\nTherefore, the answer is",
    };

    /// <summary>
    /// Stage 2's prompt: stage 1's prompt, the reasoning as written (a trailing model cue cut off, since it is appended
    /// again), the separator and the answer-extraction prompt.
    /// </summary>
    public string AnswerPrompt(string input, string reasoning, IReadOnlyList<string> choices) =>
        ReasoningPrompt(input) + ReasoningOnly(reasoning) + (ModelAnswerCue is null ? CueSeparator : "") + AnswerCue(choices);

    /// <summary>The reasoning without the model's answer cue (or anything after it) that stage 1 may have written.</summary>
    public string ReasoningOnly(string reasoning)
    {
        if (ModelAnswerCue is null) return reasoning;
        var at = reasoning.IndexOf(ModelAnswerCue, StringComparison.Ordinal);
        return at < 0 ? reasoning : reasoning[..at];
    }

    /// <summary>
    /// The paper's answer cleansing of what stage 2 wrote: the first number (commas removed, a final full stop dropped),
    /// the first choice letter, the first label word (case-insensitive, as the yes/no rule), or the open answer without
    /// spaces, quotes and full stops; null when there is none.
    /// </summary>
    public string? Clean(string answer, IReadOnlyList<string> choices)
    {
        switch (AnswerKind)
        {
            case ZeroShotAnswerKind.Numeric:
                var number = Regex.Match(answer.Replace(",", "", StringComparison.Ordinal), @"-?\d+\.?\d*", RegexOptions.CultureInvariant);
                return number.Success ? number.Value.TrimEnd('.') : null;
            case ZeroShotAnswerKind.Letters:
                var letters = string.Concat(choices.Select(Regex.Escape).Select((c, i) => (i > 0 ? "|" : "") + c));
                var letter = Regex.Match(answer, letters, RegexOptions.CultureInvariant);
                return letter.Success ? letter.Value : null;
            case ZeroShotAnswerKind.Words:
                // The yes/no rule: lower-case; quotes, new lines, full stops, colons, commas and spaces separate words; the
                // first label word wins. Labels of several words (not in the paper) are matched as whole word sequences.
                var text = " " + Regex.Replace(answer.ToLowerInvariant(), "[\"'\\n.\\s:,]+", " ").Trim() + " ";
                var first = choices.Select(c => (Choice: c, At: text.IndexOf(" " + Regex.Replace(c.ToLowerInvariant().Trim(), "\\s+", " ") + " ", StringComparison.Ordinal)))
                    .Where(p => p.At >= 0).OrderBy(p => p.At).ThenByDescending(p => p.Choice.Length).FirstOrDefault();
                return first.Choice;
            default:
                var open = Regex.Replace(answer, "[\"'\\n.\\s]", "");
                return open.Length == 0 ? null : open;
        }
    }

    /// <summary>Both stages for every query (and sample); stage 1 samples when <paramref name="temperature"/> &gt; 0, stage 2 is greedy.</summary>
    public IReadOnlyList<ZeroShotOutput> Generate(ITextGenerator generator, IReadOnlyList<(string Input, IReadOnlyList<string> Choices)> queries,
        int samples, double temperature, int? topK, long seed, CancellationToken cancellationToken = default)
    {
        if (samples < 1) throw new ArgumentException($"At least one sample per query, not {samples}.");
        var rows = queries.SelectMany(q => Enumerable.Repeat(q, samples)).ToArray();
        var reasonings = generator.Generate(rows.Select(r => ReasoningPrompt(r.Input)).ToArray(),
            new GenerationSettings(ReasoningTokens, temperature, topK, seed, ReasoningStop), cancellationToken);
        var answerPrompts = rows.Select((r, i) => AnswerPrompt(r.Input, reasonings[i], r.Choices)).ToArray();
        var answers = generator.Generate(answerPrompts, new GenerationSettings(AnswerTokens, 0, null, seed, AnswerStop), cancellationToken);
        return rows.Select((r, i) => new ZeroShotOutput(ReasoningPrompt(r.Input), ReasoningOnly(reasonings[i]), answerPrompts[i], answers[i], Clean(answers[i], r.Choices)))
            .ToArray();
    }

    /// <summary>
    /// The two-stage format for a task: the zoo adder (<see cref="InstructionTasks.Addition"/>) uses its own cues; text
    /// tasks use their zero-shot query format and trigger, and the paper's extraction prompt for their kind of answer.
    /// </summary>
    public static ZeroShotChainOfThought For(InstructionTask task, string? trigger = null)
    {
        var formats = task.ChainOfThought ?? throw new ArgumentException($"The task {task.Name} has no chain-of-thought format; try addition or a text task.");
        if (task.Name == InstructionTasks.Addition)
        {
            const string cue = ";";   // the adder writes "{scratchpad};{sum}." after "{a}+{b}:"
            return new ZeroShotChainOfThought
            {
                QueryFormat = formats.ZeroShotQueryFormat, Trigger = trigger ?? formats.Trigger, AnswerKind = ZeroShotAnswerKind.Numeric,
                ModelAnswerCue = cue, CueSeparator = "", ReasoningStop = [cue, "."], AnswerStop = ["."],
                ReasoningTokens = formats.MaxNewTokens ?? task.MaxNewTokens, AnswerTokens = 8,
            };
        }
        return new ZeroShotChainOfThought
        {
            QueryFormat = formats.ZeroShotQueryFormat, Trigger = trigger ?? formats.Trigger, AnswerKind = KindOf(task),
            // Deviation: the reasoning stops at the task's stop (a blank line) as well as at 128 tokens, so that a local model
            // does not write the next question before the extraction prompt; the paper's GPT-3 calls had no stop.
            ReasoningStop = formats.Stop, AnswerStop = null,
        };
    }

    /// <summary>Numbers when every label is a number; lettered choices when every label is one capital letter; label words otherwise; open without labels.</summary>
    public static ZeroShotAnswerKind KindOf(InstructionTask task)
    {
        var labels = task.Labels.Count > 0 ? task.Labels : task.Queries.Select(q => q.Answer).Distinct().ToArray();
        if (labels.Count > 0 && labels.All(l => decimal.TryParse(l, NumberStyles.Number, CultureInfo.InvariantCulture, out _))) return ZeroShotAnswerKind.Numeric;
        if (task.Labels.Count == 0) return ZeroShotAnswerKind.Open;
        if (task.Labels.All(l => l.Length == 1 && char.IsAsciiLetterUpper(l[0]))) return ZeroShotAnswerKind.Letters;
        return ZeroShotAnswerKind.Words;
    }

    private static string ListWords(IReadOnlyList<string> words) => words.Count switch
    {
        0 => "",
        1 => words[0],
        _ => string.Join(", ", words.Take(words.Count - 1)) + " or " + words[^1],
    };
}

/// <summary>One query's two stages: the reasoning prompt and what the model wrote, the answer prompt and its answer, and the cleaned answer.</summary>
public sealed record ZeroShotOutput(string ReasoningPrompt, string Reasoning, string AnswerPrompt, string Answer, string? Cleaned)
{
    /// <summary>What the model wrote in both stages, with the answer-extraction prompt between them, as the results show it.</summary>
    public string Text => AnswerPrompt[ReasoningPrompt.Length..] + Answer;
}
