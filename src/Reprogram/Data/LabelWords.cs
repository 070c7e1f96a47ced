namespace Reprogram.Data;

/// <summary>
/// A verbalizer's words: which word stands for each class of a text data set when a language model reads or writes
/// the label ("negative=bad,positive=good"). The classes keep their names in results; the words are what a decoder
/// scores (prompt tuning's verbalizer) and what demonstrations and answers say (in-context learning).
/// </summary>
public sealed class LabelWords
{
    private readonly Dictionary<string, string> wordOf;

    /// <summary>The pairs in the order given.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Pairs { get; }

    public LabelWords(IEnumerable<KeyValuePair<string, string>> pairs)
    {
        Pairs = pairs.ToArray();
        if (Pairs.Count == 0) throw new ArgumentException("Label words need at least one class=word pair, e.g. negative=bad,positive=good.");
        wordOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (label, word) in Pairs)
        {
            if (string.IsNullOrWhiteSpace(label)) throw new ArgumentException($"A label-word pair has no class before '=' ('={word}').");
            if (string.IsNullOrWhiteSpace(word)) throw new ArgumentException($"The class '{label}' has no word after '=' ('{label}=').");
            if (!wordOf.TryAdd(label, word)) throw new ArgumentException($"The class '{label}' is given a word twice.");
        }
        var shared = Pairs.GroupBy(p => p.Value, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (shared is not null)
        {
            throw new ArgumentException($"The word '{shared.Key}' stands for several classes ({string.Join(", ", shared.Select(p => p.Key))}): " +
                                        "a verbalizer needs one word per class.");
        }
    }

    /// <summary>
    /// "class=word,class=word" (spaces around names are ignored; a word may contain spaces, e.g. "positive=very good").
    /// </summary>
    public static LabelWords Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new ArgumentException("--label-words is empty: give class=word pairs, e.g. negative=bad,positive=good.");
        var pairs = new List<KeyValuePair<string, string>>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = part.IndexOf('=');
            if (equals < 0) throw new ArgumentException($"--label-words: '{part.Trim()}' is not class=word (e.g. negative=bad,positive=good).");
            pairs.Add(new(part[..equals].Trim(), part[(equals + 1)..].Trim()));
        }
        return new LabelWords(pairs);
    }

    /// <summary>The word for a class.</summary>
    public string this[string label] => wordOf.TryGetValue(label, out var word)
        ? word
        : throw new KeyNotFoundException($"No label word for the class '{label}'. Words are given for: {string.Join(", ", wordOf.Keys)}.");

    /// <summary>
    /// The data set with these words as its <see cref="TextDataset.LabelWords"/>. Every class of the data must have a
    /// word, and every class named here must be a class of the data (an error lists the data's classes otherwise).
    /// </summary>
    public TextDataset ApplyTo(TextDataset data)
    {
        var unknown = wordOf.Keys.Where(k => !data.ClassNames.Contains(k, StringComparer.Ordinal)).ToArray();
        if (unknown.Length > 0)
        {
            throw new ArgumentException($"--label-words names {Plural(unknown.Length, "class", "classes")} that {data.Name} does not have: " +
                                        $"{string.Join(", ", unknown)}. Its classes: {string.Join(", ", data.ClassNames)}.");
        }
        var missing = data.ClassNames.Where(c => !wordOf.ContainsKey(c)).ToArray();
        if (missing.Length > 0)
        {
            throw new ArgumentException($"--label-words gives no word for {string.Join(", ", missing)}: give one for every class of {data.Name} " +
                                        $"({string.Join(", ", data.ClassNames)}).");
        }
        return data with { LabelWords = data.ClassNames.Select(c => wordOf[c]).ToArray() };
    }

    public override string ToString() => string.Join(",", Pairs.Select(p => $"{p.Key}={p.Value}"));

    private static string Plural(int n, string one, string many) => n == 1 ? one : many;
}
