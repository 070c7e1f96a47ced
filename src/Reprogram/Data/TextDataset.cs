using System.Globalization;

namespace Reprogram.Data;

/// <summary>Labelled texts: a text classification task for prompt tuning and in-context learning.</summary>
public sealed record TextDataset(string Name, IReadOnlyList<string> Texts, IReadOnlyList<int> Labels, IReadOnlyList<string> ClassNames, string Source)
{
    public int Count => Texts.Count;

    /// <summary>A worked rationale per text (chain-of-thought demonstrations), when the file has a "rationale" column.</summary>
    public IReadOnlyList<string?>? Rationales { get; init; }

    /// <summary>
    /// The word each class is verbalized as, in class order (<see cref="Data.LabelWords"/>); null: the class names themselves.
    /// </summary>
    public IReadOnlyList<string>? LabelWords { get; init; }

    /// <summary>What a language model reads and scores for each class: the label words if given, else the class names.</summary>
    public IReadOnlyList<string> Verbalized => LabelWords ?? ClassNames;

    /// <summary>The rows at these indices, in this order.</summary>
    public TextDataset Rows(IReadOnlyList<int> indices, string? name = null) => this with
    {
        Name = name ?? Name,
        Texts = indices.Select(i => Texts[i]).ToArray(),
        Labels = indices.Select(i => Labels[i]).ToArray(),
        Rationales = Rationales is { } r ? indices.Select(i => r[i]).ToArray() : null,
    };

    /// <summary>A class-balanced subset chosen by the seed (as many per class as available, up to count / classes).</summary>
    public TextDataset Subset(int count, int seed)
    {
        var random = new Random(seed);
        var perClass = Math.Max(1, count / ClassNames.Count);
        var chosen = Enumerable.Range(0, ClassNames.Count)
            .SelectMany(c => Enumerable.Range(0, Count).Where(i => Labels[i] == c).OrderBy(_ => random.Next()).Take(perClass))
            .OrderBy(_ => random.Next()).ToArray();
        return Rows(chosen);
    }

    /// <summary>Disjoint train and test parts, class-balanced, from the seed.</summary>
    public (TextDataset Train, TextDataset Test) Split(int trainCount, int testCount, int seed)
    {
        var random = new Random(seed);
        var order = Enumerable.Range(0, Count).OrderBy(_ => random.Next()).ToArray();
        var test = new List<int>();
        var train = new List<int>();
        var testPerClass = Math.Max(1, testCount / ClassNames.Count);
        var trainPerClass = Math.Max(1, trainCount / ClassNames.Count);
        foreach (var c in Enumerable.Range(0, ClassNames.Count))
        {
            var items = order.Where(i => Labels[i] == c).ToArray();
            test.AddRange(items.Take(testPerClass));
            train.AddRange(items.Skip(testPerClass).Take(trainPerClass));
        }
        TextDataset Part(List<int> idx, string suffix) => Rows(idx, Name + suffix);
        return (Part(train.OrderBy(_ => random.Next()).ToList(), ""), Part(test, ""));
    }
}

/// <summary>Text data sets: Debian's fortune categories (real quotes), a generated sentiment task, and CSV/JSONL files.</summary>
public static class TextDataSets
{
    public const string FortunesFolder = "/usr/share/games/fortunes";
    public static readonly string[] DefaultFortuneCategories = ["computers", "food", "love", "science"];
    public static IReadOnlyList<string> Names { get; } = ["fortunes", "sentiment"];

    /// <summary>
    /// A built-in task (<see cref="Names"/>) or a .csv/.tsv/.jsonl file, read with <paramref name="options"/> (columns
    /// for files; label words for any task).
    /// </summary>
    public static TextDataset Load(string name, int seed = 0, TextDataOptions? options = null)
    {
        options ??= new TextDataOptions();
        options.Validate();
        var key = name.Trim().ToLowerInvariant();
        TextDataset data;
        if (key is "fortunes" or "sentiment")
        {
            options.RequireFileFor(key);
            data = key == "fortunes" ? Fortunes() : GeneratedSentiment(600, seed);
        }
        else if (File.Exists(name)) return FromFile(name, options);
        else if (name.Contains('/') || name.Contains('.'))
            throw new DataSetNotFoundException($"No data file at {Path.GetFullPath(name)}: give a .csv, .tsv or .jsonl file with text and label columns.", name);
        else throw new ArgumentException($"'{name}' is not a text task. Allowed: {string.Join(", ", Names)}, or a .csv/.tsv/.jsonl file with text and label columns.");
        return options.LabelWords is { } words ? words.ApplyTo(data) : data;
    }

    /// <summary>
    /// Quotes from Debian's fortune files, labelled by category (the file they come from). Quotes over 300 characters
    /// are left out, so a text fits a small model's context.
    /// </summary>
    public static TextDataset Fortunes(IReadOnlyList<string>? categories = null, string folder = FortunesFolder)
    {
        categories ??= DefaultFortuneCategories;
        var texts = new List<string>();
        var labels = new List<int>();
        for (var c = 0; c < categories.Count; c++)
        {
            var path = Path.Combine(folder, categories[c]);
            if (!File.Exists(path))
            {
                throw new DataSetNotFoundException(
                    $"The fortune category file {path} is missing. Install it with `sudo apt-get install fortunes` (Debian/Ubuntu), " +
                    $"or pick categories that exist in {folder}.");
            }
            foreach (var quote in File.ReadAllText(path).Split("\n%\n"))
            {
                var text = string.Join(' ', quote.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Trim();
                if (text.Length is > 10 and <= 300)
                {
                    texts.Add(text);
                    labels.Add(c);
                }
            }
        }
        return new TextDataset("fortunes", texts, labels, categories, $"Debian fortunes: {folder} ({string.Join(", ", categories)})");
    }

    /// <summary>A generated two-class sentiment task from templates and word lists (deterministic from the seed).</summary>
    public static TextDataset GeneratedSentiment(int count, int seed)
    {
        string[] positive = ["wonderful", "great", "delightful", "excellent", "lovely", "superb", "brilliant", "pleasant"];
        string[] negative = ["terrible", "awful", "dreadful", "boring", "poor", "disappointing", "horrible", "dull"];
        string[] things = ["film", "meal", "concert", "book", "hotel", "game", "lecture", "trip"];
        string[] templates = ["The {0} was {1}.", "What a {1} {0}!", "I found the {0} {1}.", "Honestly, a {1} {0}.", "That {0} felt {1} to me."];
        var random = new Random(seed);
        var texts = new List<string>();
        var labels = new List<int>();
        for (var i = 0; i < count; i++)
        {
            var label = i % 2;
            var word = label == 1 ? positive[random.Next(positive.Length)] : negative[random.Next(negative.Length)];
            texts.Add(string.Format(CultureInfo.InvariantCulture, templates[random.Next(templates.Length)], things[random.Next(things.Length)], word));
            labels.Add(label);
        }
        return new TextDataset("sentiment (generated)", texts, labels, ["negative", "positive"], $"generated from templates, seed {seed}");
    }

    /// <summary>A CSV/TSV file with a header, or a JSONL file (one object per line), with these text and label columns.</summary>
    public static TextDataset FromFile(string path, string textColumn = TextDataOptions.DefaultTextColumn, string labelColumn = TextDataOptions.DefaultLabelColumn) =>
        FromFile(path, new TextDataOptions { TextColumn = textColumn, LabelColumn = labelColumn });

    /// <summary>
    /// A CSV/TSV file with a header, or a JSONL file, read as <paramref name="options"/> say (see <see cref="TextFileReader"/>):
    /// classes are the distinct labels in ordinal order; label words, if given, must cover exactly those classes.
    /// </summary>
    public static TextDataset FromFile(string path, TextDataOptions options)
    {
        var rows = TextFileReader.Read(path, options);
        var classes = rows.Select(r => r.Label).Distinct().Order(StringComparer.Ordinal).ToArray();
        if (classes.Length < 2)
        {
            throw new InvalidDataException($"{Path.GetFullPath(path)} has one class: every one of its {rows.Count} row{(rows.Count == 1 ? "" : "s")} is labelled '{classes[0]}' " +
                                           $"(column '{options.LabelColumn}'); a classification task needs at least two.");
        }
        var data = new TextDataset(Path.GetFileNameWithoutExtension(path), rows.Select(r => r.Text).ToArray(),
            rows.Select(r => Array.IndexOf(classes, r.Label)).ToArray(), classes, path)
        {
            Rationales = rows.Any(r => r.Rationale is not null) ? rows.Select(r => r.Rationale).ToArray() : null,
        };
        return options.LabelWords is { } words ? words.ApplyTo(data) : data;
    }
}
