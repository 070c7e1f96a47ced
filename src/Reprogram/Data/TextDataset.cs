using System.Globalization;
using System.Text.Json;

namespace Reprogram.Data;

/// <summary>Labelled texts: a text classification task for prompt tuning and in-context learning.</summary>
public sealed record TextDataset(string Name, IReadOnlyList<string> Texts, IReadOnlyList<int> Labels, IReadOnlyList<string> ClassNames, string Source)
{
    public int Count => Texts.Count;

    /// <summary>A worked rationale per text (chain-of-thought demonstrations), when the file has a "rationale" column.</summary>
    public IReadOnlyList<string?>? Rationales { get; init; }

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

    public static TextDataset Load(string name, int seed = 0) => name.Trim().ToLowerInvariant() switch
    {
        "fortunes" => Fortunes(),
        "sentiment" => GeneratedSentiment(600, seed),
        _ when File.Exists(name) => FromFile(name),
        _ when name.Contains('/') || name.Contains('.') => throw new DataSetNotFoundException($"No data file at {Path.GetFullPath(name)}: give a .csv or .jsonl file with text and label columns."),
        _ => throw new ArgumentException($"'{name}' is not a text task. Allowed: {string.Join(", ", Names)}, or a .csv/.jsonl file with text and label columns."),
    };

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

    /// <summary>A CSV (header with text and label columns; quotes allowed) or JSONL file ({"text": ..., "label": ...} per line).</summary>
    public static TextDataset FromFile(string path, string textColumn = "text", string labelColumn = "label")
    {
        if (!File.Exists(path)) throw new DataSetNotFoundException($"No data file at {Path.GetFullPath(path)}.");
        var rows = new List<(string Text, string Label, string? Rationale)>();
        var lineNumber = 0;
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            foreach (var line in File.ReadLines(path))
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    rows.Add((doc.RootElement.GetProperty(textColumn).ToString(), doc.RootElement.GetProperty(labelColumn).ToString(),
                        doc.RootElement.TryGetProperty("rationale", out var rationale) ? rationale.ToString() : null));
                }
                catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    throw new InvalidDataException($"{path}, line {lineNumber}: not a JSON object with \"{textColumn}\" and \"{labelColumn}\" ({e.Message}).");
                }
            }
        }
        else
        {
            using var reader = new StreamReader(path);
            var header = Fields(reader.ReadLine() ?? throw new InvalidDataException($"{path} is empty."));
            var ti = header.FindIndex(h => h.Equals(textColumn, StringComparison.OrdinalIgnoreCase));
            var li = header.FindIndex(h => h.Equals(labelColumn, StringComparison.OrdinalIgnoreCase));
            var ri = header.FindIndex(h => h.Equals("rationale", StringComparison.OrdinalIgnoreCase));
            if (ti < 0 || li < 0) throw new InvalidDataException($"{path}: the header needs columns '{textColumn}' and '{labelColumn}' (found: {string.Join(", ", header)}).");
            lineNumber = 1;
            while (reader.ReadLine() is { } line)
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                var f = Fields(line);
                if (f.Count <= Math.Max(ti, li)) throw new InvalidDataException($"{path}, line {lineNumber}: {f.Count} fields, expected at least {Math.Max(ti, li) + 1}.");
                rows.Add((f[ti], f[li], ri >= 0 && ri < f.Count ? f[ri] : null));
            }
        }
        if (rows.Count == 0) throw new InvalidDataException($"{path} has no rows.");
        var classes = rows.Select(r => r.Label).Distinct().Order(StringComparer.Ordinal).ToArray();
        return new TextDataset(Path.GetFileNameWithoutExtension(path), rows.Select(r => r.Text).ToArray(),
            rows.Select(r => Array.IndexOf(classes, r.Label)).ToArray(), classes, path)
        {
            Rationales = rows.Any(r => !string.IsNullOrEmpty(r.Rationale)) ? rows.Select(r => r.Rationale).ToArray() : null,
        };
    }

    // A small CSV field splitter: commas, double quotes, "" inside quotes.
    private static List<string> Fields(string line)
    {
        var fields = new List<string>();
        var current = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var ch = line[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < line.Length && line[i + 1] == '"') { current.Append('"'); i++; }
                else if (ch == '"') quoted = false;
                else current.Append(ch);
            }
            else if (ch == '"') quoted = true;
            else if (ch == ',') { fields.Add(current.ToString()); current.Clear(); }
            else current.Append(ch);
        }
        fields.Add(current.ToString());
        return fields;
    }
}
