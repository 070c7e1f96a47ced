using System.Text.Json;

namespace Reprogram.Models.Files;

/// <summary>
/// Reading a checkpoint folder's tokenizer files so that a corrupt one is named: vocab.json as a JSON object of
/// token ids, and a guard that turns what a tokenizer library throws on a malformed file (a missing key, a wrong JSON
/// type, an id that is not a number, a vocabulary without its special tokens) into an <see cref="InvalidDataException"/>
/// naming the folder and its tokenizer files.
/// </summary>
public static class TokenizerFiles
{
    /// <summary>The files a tokenizer may be read from, in the order they are looked for.</summary>
    public static IReadOnlyList<string> Names { get; } =
        ["tokenizer.json", "vocab.json", "merges.txt", "vocab.txt", "tokenizer.model", "tokenizer_config.json", "chat_template.jinja"];

    /// <summary>A vocab.json: a JSON object of token -> id (whole numbers, not negative).</summary>
    public static Dictionary<string, int> ReadVocabularyJson(string path)
    {
        var full = Path.GetFullPath(path);
        using var document = CheckpointFolder.ReadJson(path, "the tokenizer's vocabulary");
        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in document.RootElement.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id) || id < 0)
                throw new InvalidDataException($"{full}: the token '{Shorten(entry.Name)}' has the id {Shorten(entry.Value.GetRawText())}, not a whole number of at least 0.");
            if (!vocabulary.TryAdd(entry.Name, id)) throw new InvalidDataException($"{full}: the token '{Shorten(entry.Name)}' appears twice.");
        }
        if (vocabulary.Count == 0) throw new InvalidDataException($"{full} holds no tokens.");
        return vocabulary;
    }

    /// <summary>
    /// Runs a tokenizer load, naming the folder's tokenizer files when it fails on their content. Errors that already
    /// say what is wrong (<see cref="InvalidDataException"/>, <see cref="FileNotFoundException"/>,
    /// <see cref="NotSupportedException"/>) pass unchanged.
    /// </summary>
    public static T Guard<T>(string folder, Func<T> load)
    {
        try
        {
            return load();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException
                                      or IndexOutOfRangeException or ArgumentException)
        {
            var full = Path.GetFullPath(folder);
            var present = Names.Where(n => File.Exists(Path.Combine(folder, n))).ToList();
            throw new InvalidDataException($"The tokenizer in {full} ({(present.Count > 0 ? string.Join(", ", present) : "no tokenizer files")}) cannot be read: " +
                                           $"{e.Message} The file{(present.Count == 1 ? " is" : "s are")} corrupt or not in Hugging Face's format.", e);
        }
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..37] + "...";
}
