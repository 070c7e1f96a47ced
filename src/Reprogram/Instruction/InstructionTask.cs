using Reprogram.Alignments;
using Reprogram.Data;
using Reprogram.Manipulations;
using Reprogram.Models.Zoo;

namespace Reprogram.Instruction;

/// <summary>
/// One labelled example of a prompt-instruction task: its input, its answer, the answers it may be scored against
/// (null: the task's labels) and, for chain-of-thought demonstrations, a worked rationale.
/// </summary>
public sealed record InstructionExample(string Input, string Answer, IReadOnlyList<string>? Choices = null, string? Rationale = null);

/// <summary>
/// How a task is written for chain-of-thought: the direct prompt (the baseline), the prompt whose demonstrations carry
/// rationales (Wei et al.), the zero-shot query format that the trigger phrase follows (Kojima et al.), and the rules
/// that find the answer in a generated rationale.
/// </summary>
public sealed record ChainOfThoughtFormats(PromptTemplate Direct, PromptTemplate WithRationales, string ZeroShotQueryFormat, string Trigger, AnswerExtraction Extraction,
    IReadOnlyList<string>? Stop = null, int? MaxNewTokens = null);

/// <summary>
/// One instance of a prompt-instruction task (for one seed): the queries to answer, the pool demonstrations are chosen
/// from, the label words, the default prompt template, answer-extraction rules, content-free inputs for calibration,
/// and the stop sequence and length of generated answers.
/// </summary>
public sealed record InstructionTask
{
    public required string Name { get; init; }
    public required string Description { get; init; }
    public required IReadOnlyList<InstructionExample> Queries { get; init; }
    public required IReadOnlyList<InstructionExample> Pool { get; init; }
    /// <summary>The label words of a classification task (empty for open answers such as sums).</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];
    public required PromptTemplate Template { get; init; }
    public required AnswerExtraction Extraction { get; init; }
    /// <summary>Content-free inputs (Zhao et al. 2021 use "N/A", "" and "[MASK]"), written in the task's alphabet.</summary>
    public IReadOnlyList<string> ContentFreeInputs { get; init; } = ["N/A", "", "[MASK]"];
    public IReadOnlyList<string> Stop { get; init; } = ["\n"];
    public int MaxNewTokens { get; init; } = 32;
    public ChainOfThoughtFormats? ChainOfThought { get; init; }

    /// <summary>The answers a query is scored against.</summary>
    public IReadOnlyList<string> ChoicesOf(InstructionExample example) => example.Choices ?? Labels;
}

/// <summary>
/// The built-in prompt-instruction tasks (generated here, so they need no download) and the user's own CSV/JSONL files.
/// Generated tasks draw a new instance per seed; file tasks keep one split and the seed changes the demonstrations.
/// </summary>
public static class InstructionTasks
{
    public const string Rules = "icl-rules";
    public const string Addition = "addition";
    public static IReadOnlyList<string> Names { get; } = [Rules, Addition, "sentiment", "fortunes"];

    /// <summary>
    /// The task <paramref name="name"/> for one seed: <paramref name="queries"/> queries and a pool of demonstrations;
    /// <paramref name="textData"/> names a data file's columns and the label words (text tasks only; null: the defaults).
    /// </summary>
    public static InstructionTask Load(string name, int seed, int queries = 100, int pool = 32, TextDataOptions? textData = null)
    {
        if (queries < 1) throw new ArgumentException($"The number of queries must be at least 1, not {queries}.");
        if (pool < 1) throw new ArgumentException($"The demonstration pool must hold at least 1 example, not {pool}.");
        var key = name.Trim().ToLowerInvariant();
        if (key is Rules or Addition or "arith" && textData is not null && (textData.HasCustomColumns || textData.LabelWords is not null))
            throw new ArgumentException($"--text-column, --label-column and --label-words apply to text tasks (sentiment, fortunes or a file), not to {key}.");
        return key switch
        {
            Rules => RuleInference(seed, queries, pool),
            Addition or "arith" => ThreeDigitAddition(seed, queries, pool),
            _ => FromTextDataset(TextDataSets.Load(name, 0, textData), seed, queries, pool),
        };
    }

    /// <summary>
    /// In-context rule inference (the icl-rules zoo model's task): one hidden rule per seed gives each item of "abcde" one of
    /// its own three labels; demonstrations "ag" show it, separated by ";", and a query "b" asks for b's label. Only the
    /// demonstrations tell the rule, so accuracy rises with the shots that cover the query's item.
    /// </summary>
    public static InstructionTask RuleInference(int seed, int queries, int pool)
    {
        var random = new Random(seed);
        var rule = RuleInferenceTask.LabelSets.Select(set => set[random.Next(set.Length)]).ToArray();
        InstructionExample Draw()
        {
            var item = random.Next(RuleInferenceTask.Items.Length);
            return new InstructionExample(RuleInferenceTask.Items[item].ToString(), rule[item].ToString(),
                RuleInferenceTask.LabelSets[item].Select(c => c.ToString()).ToArray());
        }
        var poolExamples = Enumerable.Range(0, pool).Select(_ => Draw()).ToArray();
        var queryExamples = Enumerable.Range(0, queries).Select(_ => Draw()).ToArray();
        return new InstructionTask
        {
            Name = Rules,
            Description = $"rule inference (generated: per seed a hidden rule, a pool of {pool} and {queries} queries)",
            Queries = queryExamples,
            Pool = poolExamples,
            Labels = RuleInferenceTask.LabelSets.SelectMany(s => s.Select(c => c.ToString())).ToArray(),
            Template = new PromptTemplate("", "{input}{label}", RuleInferenceTask.Separator.ToString(), "{input}"),
            // The answer is one character (the zoo model was trained on labels only, never on what follows them): strict
            // takes the first character written, flexible the first of the query's labels anywhere in the output.
            Extraction = new AnswerExtraction(Strict: @"^([a-z])", Flexible: null),
            // No text is content-free in this alphabet; an item the rule never uses ("x") and the bare separator stand in.
            ContentFreeInputs = ["x", ""],
            Stop = [RuleInferenceTask.Separator.ToString()],
            MaxNewTokens = 2,
        };
    }

    /// <summary>
    /// Three-digit addition (the arith-cot zoo model's task): "123+459=" asks for the sum directly ("0582."), "123+459:"
    /// for a scratchpad of column sums first ("3+9+0=12,2+5+1=08,1+4+0=05;0582."). The rationale of each example is its scratchpad.
    /// </summary>
    public static InstructionTask ThreeDigitAddition(int seed, int queries, int pool)
    {
        var task = new AdditionTask();
        var random = new Random(seed);
        InstructionExample Draw()
        {
            var (a, b) = (random.Next(1000), random.Next(1000));
            var scratchpad = task.Completion(a, b, scratchpad: true);
            var sum = (a + b).ToString("0000", System.Globalization.CultureInfo.InvariantCulture);
            return new InstructionExample($"{a:000}+{b:000}", sum, null, scratchpad[..scratchpad.LastIndexOf(';')]);
        }
        var poolExamples = Enumerable.Range(0, pool).Select(_ => Draw()).ToArray();
        var queryExamples = Enumerable.Range(0, queries).Select(_ => Draw()).ToArray();
        var direct = new PromptTemplate("", "{input}={label}.", "", "{input}=");
        return new InstructionTask
        {
            Name = Addition,
            Description = $"3-digit addition (generated: {queries} problems per seed)",
            Queries = queryExamples,
            Pool = poolExamples,
            Template = direct,
            // Strict: the format the model was taught (the sum right after "=" or after the scratchpad's ";", then ".").
            // Flexible: the last number written, whatever surrounds it.
            Extraction = new AnswerExtraction(Strict: @"(?:^|;)(\d+)\.", Flexible: @"(\d+)(?!.*\d)"),
            ContentFreeInputs = [""],
            Stop = [AdditionTask.End.ToString()],
            MaxNewTokens = task.SequenceLength,
            // The zoo model was taught ":" as its cue to write a scratchpad: its trigger phrase is that one character.
            ChainOfThought = new ChainOfThoughtFormats(direct, new PromptTemplate("", "{input}:{rationale};{label}.", "", "{input}:"), "{input}", ":",
                new AnswerExtraction(Strict: @"(?:^|;)(\d+)\.", Flexible: @"(\d+)(?!.*\d)")),
        };
    }

    /// <summary>A labelled text data set: the queries from its test part, the pool from the rest, labels as label words.</summary>
    public static InstructionTask FromTextDataset(TextDataset data, int seed, int queries, int pool)
    {
        // The split is fixed (seed 0) so that every seed answers the same queries; the seed changes the demonstrations.
        // Classification: a class-balanced split. Open answers (about as many distinct labels as rows, e.g. sums of word
        // problems): a plain seeded split, since balancing by answer would put every single-example answer in one part.
        TextDataset train, test;
        if (data.ClassNames.Count * 2 <= data.Count) (train, test) = data.Split(pool, queries, 0);
        else
        {
            var order = Demonstrations.Permutation(data.Count, 0);
            test = data.Rows(order.Take(queries).ToArray());
            train = data.Rows(order.Skip(queries).Take(pool).ToArray());
        }
        if (train.Count == 0) throw new ArgumentException($"{data.Name} has {data.Count} rows: none left for demonstrations after {test.Count} queries (fewer --queries).");
        // Demonstrations and answers use the label words (--label-words), else the class names.
        var words = data.Verbalized;
        var numeric = words.All(c => decimal.TryParse(c, System.Globalization.NumberStyles.Number, System.Globalization.CultureInfo.InvariantCulture, out _));
        InstructionExample[] Examples(TextDataset part) =>
            part.Texts.Select((t, i) => new InstructionExample(t, words[part.Labels[i]], null, part.Rationales?[i])).ToArray();
        return new InstructionTask
        {
            Name = data.Name,
            Description = $"{data.Name} ({test.Count} queries, pool of {train.Count}, labels {string.Join(", ", words)}; {data.Source})",
            Queries = Examples(test),
            Pool = Examples(train),
            Labels = words,
            Template = new PromptTemplate("", "Input: {input}\nLabel: {label}", "\n\n", "Input: {input}\nLabel:"),
            Extraction = new AnswerExtraction(Strict: @"^\s*(\S+)", Flexible: null),
            MaxNewTokens = 8,
            ChainOfThought = new ChainOfThoughtFormats(
                new PromptTemplate("", "Q: {input}\nA: The answer is {label}.", "\n\n", "Q: {input}\nA: The answer is"),
                new PromptTemplate("", "Q: {input}\nA: {rationale} The answer is {label}.", "\n\n", "Q: {input}\nA:"),
                "Q: {input}\nA:", " Let's think step by step.",
                // Numeric answers (word problems): flexible takes the last number written; otherwise the first label word found.
                new AnswerExtraction(Strict: @"[Tt]he answer is:?\s*(.+?)\.?\s*$", Flexible: numeric ? @"(-?\d+(?:,\d{3})*(?:\.\d+)?)(?!.*\d)" : null),
                Stop: ["\n\n"], MaxNewTokens: 128),
        };
    }
}
