using Reprogram.Alignments;
using Reprogram.Experiments;
using Reprogram.Data;
using Reprogram.Manipulations;
using Reprogram.Models.Zoo;

namespace Reprogram.Instruction;

/// <summary>
/// How a task is written for chain-of-thought: the direct prompt (the baseline), the prompt whose demonstrations carry
/// rationales (Wei et al.), the zero-shot query format that the trigger phrase follows (Kojima et al.), and the rules
/// that find the answer in a generated rationale.
/// </summary>
public sealed record ChainOfThoughtFormats(PromptTemplate Direct, PromptTemplate WithRationales, string ZeroShotQueryFormat, string Trigger, AnswerExtraction Extraction,
    IReadOnlyList<string>? Stop = null, int? MaxNewTokens = null);

/// <summary>
/// One seed's instance of a text task (see <see cref="TaskSplit"/>): its examples, the label words, the default prompt
/// template (the one place templates come from, for every paradigm), answer-extraction rules, content-free inputs for
/// calibration, and the stop sequence and length of generated answers.
/// </summary>
public sealed record InstructionTask : TaskSplit
{
    public override TaskModality Modality => TaskModality.Text;
    public required PromptTemplate Template { get; init; }
    public required AnswerExtraction Extraction { get; init; }
    /// <summary>Content-free inputs (Zhao et al. 2021 use "N/A", "" and "[MASK]"), written in the task's alphabet.</summary>
    public IReadOnlyList<string> ContentFreeInputs { get; init; } = ["N/A", "", "[MASK]"];
    public IReadOnlyList<string> Stop { get; init; } = ["\n"];
    public int MaxNewTokens { get; init; } = 32;
    public ChainOfThoughtFormats? ChainOfThought { get; init; }
}

/// <summary>
/// The built-in text tasks (generated here, so they need no download) and the user's own CSV/JSONL files, for every
/// paradigm. Generated tasks draw a new member of their family per seed; data sets keep one fixed test part and pool
/// (split seed 0), and the seed draws the training examples (class-balanced) and the demonstrations.
/// </summary>
public static class InstructionTasks
{
    public const string Rules = "icl-rules";
    public const string HeldOutRule = "held-out-rule";
    public const string Addition = "addition";
    public static IReadOnlyList<string> Names { get; } = [HeldOutRule, Rules, Addition, "sentiment", "fortunes"];

    /// <summary>
    /// The task <paramref name="name"/> for one seed: <paramref name="queries"/> test queries, a pool of
    /// <paramref name="pool"/> demonstrations and <paramref name="train"/> training examples; <paramref name="textData"/>
    /// names a data file's columns and the label words (text tasks only; null: the defaults).
    /// </summary>
    public static InstructionTask Load(string name, int seed, int queries = 100, int pool = 32, int train = 0, TextDataOptions? textData = null)
    {
        if (queries < 1) throw new ArgumentException($"The number of queries must be at least 1, not {queries}.");
        if (pool < 0 || train < 0) throw new ArgumentException($"The pool and the training set cannot be negative ({pool}, {train}).");
        var key = name.Trim().ToLowerInvariant();
        if (key is Rules or HeldOutRule or Addition or "arith" && textData is not null && (textData.HasCustomColumns || textData.LabelWords is not null))
            throw new ArgumentException($"--text-column, --label-column and --label-words apply to text tasks (sentiment, fortunes or a file), not to {key}.");
        return key switch
        {
            Rules => RuleInference(seed, queries, pool, train),
            HeldOutRule => HeldOutRuleTask(seed, queries, pool, train),
            Addition or "arith" => ThreeDigitAddition(seed, queries, pool, train),
            _ => FromTextDataset(TextDataSets.Load(name, 0, textData), seed, queries, pool, train),
        };
    }

    /// <summary>
    /// In-context rule inference (the icl-rules zoo model's task): one hidden rule per seed gives each item of "abcde" one of
    /// its own three labels; demonstrations "ag" show it, separated by ";", and a query "b" asks for b's label. Only the
    /// demonstrations tell the rule, so accuracy rises with the shots that cover the query's item.
    /// </summary>
    public static InstructionTask RuleInference(int seed, int queries, int pool, int train = 0)
    {
        var random = new Random(seed);
        var rule = RuleInferenceTask.LabelSets.Select(set => set[random.Next(set.Length)]).ToArray();
        TaskExample Draw(string id)
        {
            var item = random.Next(RuleInferenceTask.Items.Length);
            return new TaskExample(RuleInferenceTask.Items[item].ToString(), rule[item].ToString(),
                RuleInferenceTask.LabelSets[item].Select(c => c.ToString()).ToArray()) { Id = id };
        }
        var poolExamples = Enumerable.Range(0, pool).Select(i => Draw($"{Rules}/{seed}/pool{i}")).ToArray();
        var queryExamples = Enumerable.Range(0, queries).Select(i => Draw($"{Rules}/{seed}/test{i}")).ToArray();
        var trainExamples = Enumerable.Range(0, train).Select(i => Draw($"{Rules}/{seed}/train{i}")).ToArray();
        return new InstructionTask
        {
            Name = Rules,
            Seed = seed,
            Description = $"rule inference (generated: per seed a hidden rule, a pool of {pool} and {queries} queries)",
            Queries = queryExamples,
            Pool = poolExamples,
            Train = trainExamples,
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
    /// A held-out member of the rule family (the rule-family zoo model's comparison task, see <see cref="RuleFamilyTask"/>):
    /// seed s takes held-out rule number s (a rule never shown in pretraining); every example is an item of "abcdef" and its
    /// label under that rule, items drawn uniformly. The training examples are a prefix of the pool's sequence
    /// (nested: the first k of the same draws), so a method given k labelled examples and in-context learning at k shots
    /// see the same k examples.
    /// </summary>
    public static InstructionTask HeldOutRuleTask(int seed, int queries, int pool, int train = 0)
    {
        var heldOut = RuleFamilyTask.HeldOutRules;
        var ruleIndex = heldOut[((seed % heldOut.Count) + heldOut.Count) % heldOut.Count];
        var rule = RuleFamilyTask.Rule(ruleIndex);
        TaskExample Example((string Item, string Label) e, string id) => new(e.Item, e.Label, RuleFamilyTask.ChoicesOf(e.Item[0])) { Id = id };
        // Labelled examples and queries come from separate generators, so the test queries do not depend on the budget.
        var labelled = RuleFamilyTask.Examples(rule, Math.Max(pool, train), new Random(seed * 7919 + 1));
        var test = RuleFamilyTask.Examples(rule, queries, new Random(seed * 7919 + 2));
        return new InstructionTask
        {
            Name = HeldOutRule,
            Seed = seed,
            Description = $"held-out rule #{ruleIndex} of the rule family (never in pretraining; 6 items, 3 labels each; {queries} queries)",
            Queries = test.Select((e, i) => Example(e, $"{HeldOutRule}/{ruleIndex}/test{i}")).ToArray(),
            Pool = labelled.Take(pool).Select((e, i) => Example(e, $"{HeldOutRule}/{ruleIndex}/labelled{i}")).ToArray(),
            Train = labelled.Take(train).Select((e, i) => Example(e, $"{HeldOutRule}/{ruleIndex}/labelled{i}")).ToArray(),
            Labels = RuleFamilyTask.LabelSets.SelectMany(s => s.Select(c => c.ToString())).ToArray(),
            Template = new PromptTemplate("", "{input}{label}", RuleFamilyTask.Separator.ToString(), "{input}"),
            Extraction = new AnswerExtraction(Strict: @"^([a-z])", Flexible: null),
            // "z" is an item no rule uses, and the bare separator: the closest to content-free this alphabet has.
            ContentFreeInputs = ["z", ""],
            Stop = [RuleFamilyTask.Separator.ToString()],
            MaxNewTokens = 2,
        };
    }

    /// <summary>
    /// Three-digit addition (the arith-cot zoo model's task): "123+459=" asks for the sum directly ("0582."), "123+459:"
    /// for a scratchpad of column sums first ("3+9+0=12,2+5+1=08,1+4+0=05;0582."). The rationale of each example is its scratchpad.
    /// </summary>
    public static InstructionTask ThreeDigitAddition(int seed, int queries, int pool, int train = 0)
    {
        var task = new AdditionTask();
        var random = new Random(seed);
        TaskExample Draw(string id)
        {
            var (a, b) = (random.Next(1000), random.Next(1000));
            var scratchpad = task.Completion(a, b, scratchpad: true);
            var sum = (a + b).ToString("0000", System.Globalization.CultureInfo.InvariantCulture);
            return new TaskExample($"{a:000}+{b:000}", sum, null, scratchpad[..scratchpad.LastIndexOf(';')]) { Id = id };
        }
        var poolExamples = Enumerable.Range(0, pool).Select(i => Draw($"{Addition}/{seed}/pool{i}")).ToArray();
        var queryExamples = Enumerable.Range(0, queries).Select(i => Draw($"{Addition}/{seed}/test{i}")).ToArray();
        var trainExamples = Enumerable.Range(0, train).Select(i => Draw($"{Addition}/{seed}/train{i}")).ToArray();
        var direct = new PromptTemplate("", "{input}={label}.", "", "{input}=");
        return new InstructionTask
        {
            Name = Addition,
            Seed = seed,
            Description = $"3-digit addition (generated: {queries} problems per seed)",
            Queries = queryExamples,
            Pool = poolExamples,
            Train = trainExamples,
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

    /// <summary>
    /// A labelled text data set. The test queries and the pool are one fixed split (seed 0), so every seed and every
    /// method answers the same queries; the seed chooses the demonstrations and draws the <paramref name="train"/>
    /// training examples (class-balanced, from the rows outside the test part).
    /// </summary>
    public static InstructionTask FromTextDataset(TextDataset data, int seed, int queries, int pool, int train = 0)
    {
        // Classification: a class-balanced split. Open answers (about as many distinct labels as rows, e.g. sums of word
        // problems): a plain seeded split, since balancing by answer would put every single-example answer in one part.
        var classification = data.ClassNames.Count * 2 <= data.Count;
        int[] testRows, poolRows;
        if (classification) (poolRows, testRows) = BalancedSplit(data, pool, queries, 0);
        else
        {
            var order = Demonstrations.Permutation(data.Count, 0);
            testRows = order.Take(queries).ToArray();
            poolRows = order.Skip(queries).Take(pool).ToArray();
        }
        if (pool > 0 && poolRows.Length == 0) throw new ArgumentException($"{data.Name} has {data.Count} rows: none left for demonstrations after {testRows.Length} queries (fewer --queries).");
        var rest = Enumerable.Range(0, data.Count).Except(testRows).ToArray();
        var trainRows = train == 0 ? [] : classification ? BalancedSubset(data, rest, train, seed) : Demonstrations.Permutation(rest.Length, seed).Take(train).Select(i => rest[i]).ToArray();
        if (train > 0 && trainRows.Length == 0) throw new ArgumentException($"{data.Name} has no rows left for training after {testRows.Length} queries (fewer --test).");
        // Demonstrations and answers use the label words (--label-words), else the class names.
        var words = data.Verbalized;
        var numeric = words.All(c => decimal.TryParse(c, System.Globalization.NumberStyles.Number, System.Globalization.CultureInfo.InvariantCulture, out _));
        TaskExample[] Examples(int[] rows) =>
            rows.Select(r => new TaskExample(data.Texts[r], words[data.Labels[r]], null, data.Rationales?[r]) { Id = $"{data.Name}#{r}" }).ToArray();
        return new InstructionTask
        {
            Name = data.Name,
            Seed = seed,
            Description = $"{data.Name} ({testRows.Length} queries, pool of {poolRows.Length}{(train > 0 ? $", {trainRows.Length} training examples" : "")}, " +
                          $"labels {string.Join(", ", words)}; {data.Source})",
            Queries = Examples(testRows),
            Pool = Examples(poolRows),
            Train = Examples(trainRows),
            Labels = words,
            Template = FileTemplate,
            Extraction = FileExtraction,
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

    /// <summary>The prompt template of a text data set (fortunes, sentiment, a file) and its answer rule.</summary>
    public static PromptTemplate FileTemplate { get; } = new("", "Input: {input}\nLabel: {label}", "\n\n", "Input: {input}\nLabel:");
    public static AnswerExtraction FileExtraction { get; } = new(Strict: @"^\s*(\S+)", Flexible: null);

    /// <summary>
    /// Disjoint class-balanced parts (rows): per class, in a seeded order, the first test share goes to the test part and
    /// the next train share to the other part (the order <see cref="TextDataset.Split"/> uses, by row index).
    /// </summary>
    private static (int[] Train, int[] Test) BalancedSplit(TextDataset data, int trainCount, int testCount, int seed)
    {
        var random = new Random(seed);
        var order = Enumerable.Range(0, data.Count).OrderBy(_ => random.Next()).ToArray();
        var test = new List<int>();
        var train = new List<int>();
        var classes = data.ClassNames.Count;
        // Each class's share, the remainder to the first classes: exactly the counts asked for, where the classes have them.
        int Share(int count, int c) => count / classes + (c < count % classes ? 1 : 0);
        foreach (var c in Enumerable.Range(0, classes))
        {
            var items = order.Where(i => data.Labels[i] == c).ToArray();
            var testShare = Math.Max(1, Share(testCount, c));
            test.AddRange(items.Take(testShare));
            train.AddRange(items.Skip(testShare).Take(Share(trainCount, c)));
        }
        return (train.OrderBy(_ => random.Next()).ToArray(), test.ToArray());
    }

    /// <summary>
    /// <paramref name="count"/> rows of <paramref name="rows"/>, classes in turn in a seeded order, each class's rows in a
    /// seeded order: class counts differ by at most one, and a smaller count is a prefix of a larger one (nested budgets).
    /// </summary>
    private static int[] BalancedSubset(TextDataset data, int[] rows, int count, int seed)
    {
        var random = new Random(seed);
        var byClass = Enumerable.Range(0, data.ClassNames.Count)
            .Select(c => new Queue<int>(rows.Where(r => data.Labels[r] == c).OrderBy(_ => random.Next()))).ToArray();
        var classOrder = Demonstrations.Permutation(byClass.Length, seed + 1);
        var chosen = new List<int>();
        while (chosen.Count < Math.Min(count, rows.Length))
        {
            foreach (var c in classOrder)
            {
                if (chosen.Count == count) break;
                if (byClass[c].Count > 0) chosen.Add(byClass[c].Dequeue());
            }
        }
        return chosen.ToArray();
    }
}
