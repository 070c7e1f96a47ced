namespace Reprogram.Models.Zoo;

/// <summary>
/// A family of lookup tasks for comparing paradigms on one frozen model (in the spirit of Garg et al. 2022, "What can
/// transformers learn in-context?": pretrain on a function class, test on held-out members of it). Each task is a rule
/// that gives every item of "abcdef" one label out of the item's own three ("a" from "ghi", "b" from "jkl", ...,
/// "f" from "vwx"): 3^6 = 729 rules. Pretraining sequences show examples "ah;cm;" of one rule each; every eighth rule is
/// held out of pretraining, and the comparison tasks use only those. Nothing but the demonstrations (or what a method
/// learns from labelled examples) tells the rule, so an ideal reader that knows the labels it has seen scores
/// 1/3 + 2/3 (1 - (5/6)^k) after k examples: 0.33, 0.44, 0.54, 0.65, 0.80, 0.94 at k = 0, 1, 2, 4, 8, 16.
/// Items have their own labels so that reading a demonstration is one content-based attention step (see
/// <see cref="RuleInferenceTask"/>), which a tiny model learns in a minute.
/// </summary>
public sealed class RuleFamilyTask
{
    public const string Items = "abcdef";
    public static IReadOnlyList<string> LabelSets { get; } = ["ghi", "jkl", "mno", "pqr", "stu", "vwx"];
    public const int LabelsPerItem = 3;
    public const int TrainingPairs = 20;
    public const char Separator = ';';
    /// <summary>Rules whose index is a multiple of this are held out of pretraining.</summary>
    public const int HeldOutEvery = 8;

    public static int RuleCount => (int)Math.Pow(LabelsPerItem, Items.Length);

    /// <summary>The rules never shown in pretraining (indices 0, 8, 16, ...).</summary>
    public static IReadOnlyList<int> HeldOutRules { get; } =
        Enumerable.Range(0, RuleCount).Where(r => r % HeldOutEvery == 0).ToArray();

    /// <summary>Rule <paramref name="index"/> as one label per item (base-3 digits of the index, first item first).</summary>
    public static char[] Rule(int index)
    {
        if (index < 0 || index >= RuleCount) throw new ArgumentOutOfRangeException(nameof(index), $"Rules are numbered 0 to {RuleCount - 1}.");
        var rule = new char[Items.Length];
        for (var i = 0; i < Items.Length; i++)
        {
            rule[i] = LabelSets[i][index % LabelsPerItem];
            index /= LabelsPerItem;
        }
        return rule;
    }

    /// <summary>The accuracy of an ideal reader that knows only the labels of the items shown (and guesses the rest).</summary>
    public static double IdealAccuracy(int examples) =>
        1.0 / LabelsPerItem + (1 - 1.0 / LabelsPerItem) * (1 - Math.Pow(1 - 1.0 / Items.Length, examples));

    /// <summary>The labels an item can take (its answer choices).</summary>
    public static IReadOnlyList<string> ChoicesOf(char item) => LabelSets[Items.IndexOf(item)].Select(c => c.ToString()).ToArray();

    /// <summary>Pretraining sequences "ah;cm;…" of rules drawn from the ones not held out (deterministic); loss on the labels.</summary>
    public IReadOnlyList<TrainingSequence> TrainingSequences(int count, int seed)
    {
        var random = new Random(seed);
        var sequences = new TrainingSequence[count];
        for (var n = 0; n < count; n++)
        {
            int index;
            do index = random.Next(RuleCount); while (index % HeldOutEvery == 0);
            var rule = Rule(index);
            var text = string.Concat(Enumerable.Range(0, TrainingPairs).Select(_ =>
            {
                var item = random.Next(Items.Length);
                return $"{Items[item]}{rule[item]}{Separator}";
            }));
            var scored = new bool[text.Length];
            for (var i = 1; i < text.Length; i += 3) scored[i] = true;
            sequences[n] = new TrainingSequence(text, scored);
        }
        return sequences;
    }

    /// <summary><paramref name="count"/> examples (item, label) of a rule, items drawn uniformly (deterministic from the seed).</summary>
    public static IReadOnlyList<(string Item, string Label)> Examples(char[] rule, int count, Random random) =>
        Enumerable.Range(0, count).Select(_ =>
        {
            var item = random.Next(Items.Length);
            return (Items[item].ToString(), rule[item].ToString());
        }).ToArray();
}
