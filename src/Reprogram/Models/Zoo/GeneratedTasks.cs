using System.Text;

namespace Reprogram.Models.Zoo;

/// <summary>
/// A fixed character vocabulary with a padding token: every character a generated task writes has one id, so the
/// models of the language zoo share one tokenizer. Id 0 is padding; unknown characters are refused.
/// </summary>
public sealed class CharTokenizer
{
    /// <summary>The characters, in id order after the padding token (id 0).</summary>
    public const string Characters = " 0123456789abcdefghijklmnopqrstuvwxyz+-=>;:,.|\n";
    public const int PadId = 0;
    public const string PadToken = "<pad>";

    private readonly Dictionary<char, long> ids;

    public CharTokenizer()
    {
        ids = new Dictionary<char, long>();
        for (var i = 0; i < Characters.Length; i++) ids[Characters[i]] = i + 1;
    }

    public int VocabularySize => Characters.Length + 1;

    /// <summary>The tokens in id order: "&lt;pad&gt;" then one string per character.</summary>
    public IReadOnlyList<string> Vocabulary => [PadToken, .. Characters.Select(c => c.ToString())];

    public long Id(char c) => ids.TryGetValue(c, out var id)
        ? id
        : throw new ArgumentException($"The character '{c}' (U+{(int)c:X4}) is not in the vocabulary \"{Characters.Replace("\n", "\\n")}\".");

    public long[] Encode(string text) => text.Select(Id).ToArray();

    /// <summary>What <see cref="Normalise"/> does, as results state it.</summary>
    public const string NormalisationNote = "lower-cased; characters outside the zoo vocabulary dropped";

    /// <summary>Text in this vocabulary: lower-cased, characters it lacks dropped (the zoo models never saw capitals).</summary>
    public static string Normalise(string text)
    {
        var lower = text.ToLowerInvariant();
        return lower.All(c => Characters.Contains(c)) ? lower : new string(lower.Where(c => Characters.Contains(c)).ToArray());
    }

    /// <summary>Ids back to text; padding is dropped.</summary>
    public string Decode(IEnumerable<long> tokenIds)
    {
        var builder = new StringBuilder();
        foreach (var id in tokenIds)
        {
            if (id == PadId) continue;
            if (id < 1 || id > Characters.Length) throw new ArgumentException($"The id {id} is outside the vocabulary of {VocabularySize}.");
            builder.Append(Characters[(int)id - 1]);
        }
        return builder.ToString();
    }
}

/// <summary>One training sequence: its text and, per character, whether the loss includes predicting it.</summary>
public sealed record TrainingSequence(string Text, bool[] Scored)
{
    public int Length => Text.Length;
}

/// <summary>An input and its output under one sequence's hidden rule, or a worked problem.</summary>
public readonly record struct Demonstration(string Input, string Output);

/// <summary>
/// An evaluation item: demonstrations of a hidden rule, a query and its answer. <see cref="Prompt"/> is what the model
/// reads; a correct model continues it with <see cref="Answer"/> (then its end marker, if the task has one).
/// </summary>
public sealed record EvaluationItem(IReadOnlyList<Demonstration> Demonstrations, string Query, string Answer, string Prompt)
{
    public int Shots => Demonstrations.Count;
}

/// <summary>
/// In-context rule inference. Every sequence draws a hidden rule: for each item of "abcde" one label out of the item's
/// own three ("a" from "fgh", "b" from "ijk", "c" from "lmn", "d" from "opq", "e" from "rst"), 3^5 = 243 rules, and
/// shows examples "ag;" (item, label, separator) of it. Nothing outside the sequence tells the rule, so with 0 shots
/// the best a model can do is guess (1/3); after k shots it knows the label of every item shown so far: an ideal
/// reader scores 1/3 + 2/3 (1 - 0.8^k), i.e. 0.33, 0.47, 0.57, 0.73, 0.89 at k = 0, 1, 2, 4, 8.
/// The query is the item itself ("ag;cm;b" asks for b's label), and each item's labels are its own, so the lookup
/// "which of my labels did the demonstrations show" is one content-based attention step that a tiny model learns in
/// a minute (an "a&gt;x" format with labels shared by all items needs induction heads, which did not form in that budget).
/// Training sequences hold <see cref="TrainingPairs"/> examples and the loss is on every label, so the label of the
/// j-th example is learned as a (j-1)-shot prediction: every shot count from 0 to TrainingPairs - 1 is in the mixture.
/// </summary>
public sealed class RuleInferenceTask
{
    public const string Items = "abcde";
    /// <summary>The labels each item can take, in item order.</summary>
    public static IReadOnlyList<string> LabelSets { get; } = ["fgh", "ijk", "lmn", "opq", "rst"];
    public const int LabelsPerItem = 3;
    public const int TrainingPairs = 10;
    public const char Separator = ';';

    /// <summary>The longest prompt (shots) the training covers.</summary>
    public int MaxShots => TrainingPairs - 1;

    /// <summary>Characters per training sequence.</summary>
    public int SequenceLength => 3 * TrainingPairs;

    /// <summary>The prompt format: "ag;cm;" for the demonstrations, then "b" for the query.</summary>
    public static string Render(IEnumerable<Demonstration> demonstrations, string query) =>
        string.Concat(demonstrations.Select(d => $"{d.Input}{d.Output}{Separator}")) + query;

    /// <summary>The accuracy of an ideal reader that knows only the labels shown (and guesses the rest).</summary>
    public static double IdealAccuracy(int shots) => 1.0 / LabelsPerItem + (1 - 1.0 / LabelsPerItem) * (1 - Math.Pow(1 - 1.0 / Items.Length, shots));

    private static char[] DrawRule(Random random) => LabelSets.Select(set => set[random.Next(set.Length)]).ToArray();

    private static IEnumerable<Demonstration> Examples(Random random, char[] rule, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var item = random.Next(Items.Length);
            yield return new Demonstration(Items[item].ToString(), rule[item].ToString());
        }
    }

    /// <summary>Training sequences "ag;cm;…" (deterministic from the seed); the loss is on the labels.</summary>
    public IReadOnlyList<TrainingSequence> TrainingSequences(int count, int seed)
    {
        var random = new Random(seed);
        var sequences = new TrainingSequence[count];
        for (var n = 0; n < count; n++)
        {
            var rule = DrawRule(random);
            var text = Render(Examples(random, rule, TrainingPairs), "");
            var scored = new bool[text.Length];
            for (var i = 1; i < text.Length; i += 3) scored[i] = true;
            sequences[n] = new TrainingSequence(text, scored);
        }
        return sequences;
    }

    /// <summary>Fresh items with this many shots, each under its own hidden rule (deterministic from the seed).</summary>
    public IReadOnlyList<EvaluationItem> EvaluationItems(int count, int shots, int seed)
    {
        if (shots < 0 || shots > MaxShots) throw new ArgumentOutOfRangeException(nameof(shots), $"Shots must be in 0..{MaxShots}, the range training covered.");
        var random = new Random(seed);
        var items = new EvaluationItem[count];
        for (var n = 0; n < count; n++)
        {
            var rule = DrawRule(random);
            var demonstrations = Examples(random, rule, shots).ToArray();
            var query = Examples(random, rule, 1).Single();
            items[n] = new EvaluationItem(demonstrations, query.Input, query.Output, Render(demonstrations, query.Input));
        }
        return items;
    }
}

/// <summary>
/// Addition of two <see cref="Digits"/>-digit numbers (zero-padded), written either directly, "123+459=0582.", or
/// with a scratchpad of column sums from the units up, each with its incoming carry, before the answer:
/// "123+459:3+9+0=12,2+5+1=08,1+4+0=05;0582.". The separator after the operands ("=" or ":") chooses the format;
/// training mixes both halves and halves. Direct answering needs the whole carry chain in one forward pass for the
/// first digit; with the scratchpad every character is a local step.
/// </summary>
public sealed class AdditionTask(int digits = 3)
{
    public int Digits { get; } = digits is >= 1 and <= 6 ? digits : throw new ArgumentOutOfRangeException(nameof(digits));

    /// <summary>Characters of the longest (scratchpad) sequence.</summary>
    public int SequenceLength => (2 * Digits + 2) + 9 * Digits + (Digits + 2);

    public const char DirectSeparator = '=';
    public const char ScratchpadSeparator = ':';
    public const char End = '.';

    /// <summary>The query "123+459" in the prompt format: "123+459=" (direct) or "123+459:" (scratchpad).</summary>
    public static string Render(string query, bool scratchpad) => query + (scratchpad ? ScratchpadSeparator : DirectSeparator);

    /// <summary>What follows the prompt in a correct solution, end marker included.</summary>
    public string Completion(int a, int b, bool scratchpad)
    {
        var sum = (a + b).ToString().PadLeft(Digits + 1, '0');
        if (!scratchpad) return sum + End;
        var sa = Pad(a);
        var sb = Pad(b);
        var builder = new StringBuilder();
        var carry = 0;
        for (var i = Digits - 1; i >= 0; i--)
        {
            var (x, y) = (sa[i] - '0', sb[i] - '0');
            var column = x + y + carry;
            if (builder.Length > 0) builder.Append(',');
            builder.Append($"{x}+{y}+{carry}={column:00}");
            carry = column / 10;
        }
        return builder.Append(';').Append(sum).Append(End).ToString();
    }

    /// <summary>The answer in a completion (digits before the end marker, after the scratchpad's ';'), or null.</summary>
    public static string? ParseAnswer(string completion, bool scratchpad)
    {
        var end = completion.IndexOf(End);
        if (end < 0) return null;
        var body = completion[..end];
        if (!scratchpad) return body;
        var semicolon = body.LastIndexOf(';');
        return semicolon < 0 ? null : body[(semicolon + 1)..];
    }

    private string Pad(int n) => n.ToString().PadLeft(Digits, '0');
    private int Bound => (int)Math.Pow(10, Digits);

    /// <summary>Training sequences, half direct and half with a scratchpad (deterministic); the loss is on the completion.</summary>
    public IReadOnlyList<TrainingSequence> TrainingSequences(int count, int seed)
    {
        var random = new Random(seed);
        var sequences = new TrainingSequence[count];
        for (var n = 0; n < count; n++)
        {
            var (a, b) = (random.Next(Bound), random.Next(Bound));
            var scratchpad = random.Next(2) == 1;
            var prompt = Render($"{Pad(a)}+{Pad(b)}", scratchpad);
            var text = prompt + Completion(a, b, scratchpad);
            var scored = new bool[text.Length];
            for (var i = prompt.Length; i < text.Length; i++) scored[i] = true;
            sequences[n] = new TrainingSequence(text, scored);
        }
        return sequences;
    }

    /// <summary>Fresh problems: query "123+459", answer "0582", prompt in the chosen format (deterministic from the seed).</summary>
    public IReadOnlyList<EvaluationItem> EvaluationItems(int count, bool scratchpad, int seed)
    {
        var random = new Random(seed);
        var items = new EvaluationItem[count];
        for (var n = 0; n < count; n++)
        {
            var (a, b) = (random.Next(Bound), random.Next(Bound));
            var query = $"{Pad(a)}+{Pad(b)}";
            items[n] = new EvaluationItem([], query, (a + b).ToString().PadLeft(Digits + 1, '0'), Render(query, scratchpad));
        }
        return items;
    }
}
