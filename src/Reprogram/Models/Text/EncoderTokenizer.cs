using System.Text.Json;
using Microsoft.ML.Tokenizers;
using Reprogram.Models.Causal;
using Reprogram.Models.Tokenizers;
using static TorchSharp.torch;

namespace Reprogram.Models.Text;

/// <summary>What an encoder needs from its tokenizer: start/end tokens around each text, right padding, id look-ups.</summary>
public interface IEncoderTokenizer
{
    int VocabularySize { get; }
    int PaddingId { get; }
    /// <summary>One text to ids: start token, pieces (truncated so that the whole fits <paramref name="maxLength"/>), end token.</summary>
    int[] EncodeOne(string text, int maxLength = 256);
    /// <summary>Texts to ids and attention mask [texts, time] int64, padded right with <see cref="PaddingId"/> and mask 0.</summary>
    (Tensor Ids, Tensor Mask) Encode(IReadOnlyList<string> texts, int maxLength = 256);
    /// <summary>Ids back to text, special tokens and padding skipped.</summary>
    string Decode(IEnumerable<long> tokenIds);
    /// <summary>The token an id stands for as the vocabulary writes it, for nearest-token tables.</summary>
    string TokenText(long id);
}

/// <summary>The batch every encoder tokenizer makes: each text encoded, padded right to the longest, with its attention mask.</summary>
public static class EncoderBatch
{
    /// <summary>Ids and mask, both [texts, time] int64 on the CPU; padding positions hold the tokenizer's padding id and mask 0.</summary>
    public static (Tensor Ids, Tensor Mask) PadRight(IEncoderTokenizer tokenizer, IReadOnlyList<string> texts, int maxLength)
    {
        if (texts.Count == 0) throw new ArgumentException("There are no texts to encode.", nameof(texts));
        var encoded = texts.Select(t => tokenizer.EncodeOne(t, maxLength)).ToArray();
        var time = encoded.Max(e => e.Length);
        var idData = new long[texts.Count * time];
        var maskData = new long[texts.Count * time];
        for (var b = 0; b < encoded.Length; b++)
        {
            for (var t = 0; t < time; t++)
            {
                var real = t < encoded[b].Length;
                idData[b * time + t] = real ? encoded[b][t] : tokenizer.PaddingId;
                maskData[b * time + t] = real ? 1 : 0;
            }
        }
        return (tensor(idData, [texts.Count, time]), tensor(maskData, [texts.Count, time]));
    }
}

/// <summary>
/// The tokenizer of a Hugging Face encoder folder: BERT's WordPiece (vocab.txt, or a tokenizer.json of the WordPiece
/// kind; Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/> with the folder's do_lower_case and strip_accents;
/// [CLS] text [SEP], padded with [PAD]) or RoBERTa's byte-level BPE (vocab.json + merges.txt or tokenizer.json, through
/// <see cref="HfTokenizer"/>; &lt;s&gt; text &lt;/s&gt;, padded with &lt;pad&gt;).
/// </summary>
public sealed class EncoderTokenizer : IEncoderTokenizer
{
    private readonly Tokenizer tokenizer;
    private readonly string[] vocabulary;

    private EncoderTokenizer(Tokenizer tokenizer, string[] vocabulary, int start, int end, int padding, string kind)
    {
        this.tokenizer = tokenizer;
        this.vocabulary = vocabulary;
        (StartId, EndId, PaddingId, Kind) = (start, end, padding, kind);
    }

    public int VocabularySize => vocabulary.Length;
    public int StartId { get; }
    public int EndId { get; }
    public int PaddingId { get; }
    /// <summary>"WordPiece" or "byte-level BPE".</summary>
    public string Kind { get; }
    /// <summary>The underlying Microsoft.ML.Tokenizers tokenizer (pieces only, no start or end token).</summary>
    public Tokenizer Pieces => tokenizer;

    /// <summary>BERT's WordPiece from a folder's vocab.txt or WordPiece tokenizer.json (tokenizer_config.json's do_lower_case / strip_accents).</summary>
    public static EncoderTokenizer ForBert(string folder) => Files.TokenizerFiles.Guard(folder, () => ForBertUnguarded(folder));

    private static EncoderTokenizer ForBertUnguarded(string folder)
    {
        var vocabPath = Path.Combine(folder, "vocab.txt");
        var jsonPath = Path.Combine(folder, "tokenizer.json");
        bool? lower = null, stripAccents = null;
        string[] vocabulary;
        if (File.Exists(vocabPath))
        {
            vocabulary = File.ReadAllLines(vocabPath);
            var n = vocabulary.Length;
            while (n > 0 && vocabulary[n - 1].Length == 0) n--;
            vocabulary = vocabulary[..n];
        }
        else if (File.Exists(jsonPath))
        {
            using var doc = Files.CheckpointFolder.ReadJson(jsonPath);
            var root = doc.RootElement;
            var kind = HfTokenizerJson.Kind(root, jsonPath);
            if (kind != HfTokenizerKind.WordPiece) throw new NotSupportedException($"{jsonPath} is a {kind} tokenizer; a BERT encoder needs WordPiece.");
            var ids = root.GetProperty("model").GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Value.GetInt32(), p => p.Name);
            vocabulary = Enumerable.Range(0, ids.Count).Select(i => ids.TryGetValue(i, out var t) ? t
                : throw new InvalidDataException($"{jsonPath}: the WordPiece vocabulary's ids are not 0..{ids.Count - 1} (id {i} is missing).")).ToArray();
            if (root.TryGetProperty("normalizer", out var norm) && norm.ValueKind == JsonValueKind.Object)
            {
                if (norm.TryGetProperty("lowercase", out var l) && l.ValueKind is JsonValueKind.True or JsonValueKind.False) lower = l.GetBoolean();
                if (norm.TryGetProperty("strip_accents", out var sa) && sa.ValueKind is JsonValueKind.True or JsonValueKind.False) stripAccents = sa.GetBoolean();
            }
        }
        else throw new FileNotFoundException($"{folder} has no BERT tokenizer: neither vocab.txt nor tokenizer.json.");
        var config = ReadConfig(folder);
        lower ??= config.TryGetProperty("do_lower_case", out var dl) && dl.ValueKind is JsonValueKind.True or JsonValueKind.False ? dl.GetBoolean() : true;
        stripAccents ??= config.TryGetProperty("strip_accents", out var st) && st.ValueKind is JsonValueKind.True or JsonValueKind.False ? st.GetBoolean() : lower;
        var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", vocabulary) + "\n"));
        var bert = BertTokenizer.Create(stream, new BertOptions
        {
            LowerCaseBeforeTokenization = lower.Value,
            RemoveNonSpacingMarks = stripAccents.Value,
            ApplyBasicTokenization = true,
            IndividuallyTokenizeCjk = true,
        });
        return new EncoderTokenizer(bert, vocabulary, bert.ClassificationTokenId, bert.SeparatorTokenId, bert.PaddingTokenId, "WordPiece");
    }

    /// <summary>RoBERTa's byte-level BPE from a folder's vocab.json + merges.txt or byte-level tokenizer.json.</summary>
    public static EncoderTokenizer ForRoberta(string folder) => Files.TokenizerFiles.Guard(folder, () => ForRobertaUnguarded(folder));

    private static EncoderTokenizer ForRobertaUnguarded(string folder)
    {
        var tokenizer = HfTokenizer.Load(folder);
        if (tokenizer is SentencePieceTextTokenizer) throw new NotSupportedException($"{folder}: a RoBERTa encoder needs a byte-level BPE tokenizer, not SentencePiece.");
        var vocab = ReadVocabulary(folder);
        var vocabulary = new string[vocab.Count == 0 ? 0 : vocab.Values.Max() + 1];
        foreach (var (token, id) in vocab) vocabulary[id] = token;
        int Id(string token) => vocab.TryGetValue(token, out var id) ? id : throw new InvalidDataException($"{folder}: the RoBERTa vocabulary has no '{token}'.");
        var config = ReadConfig(folder);
        string Special(string name, string fallback) =>
            config.TryGetProperty(name, out var e) ? e.ValueKind == JsonValueKind.String ? e.GetString()! : e.TryGetProperty("content", out var c) ? c.GetString()! : fallback : fallback;
        return new EncoderTokenizer(tokenizer, vocabulary, Id(Special("bos_token", "<s>")), Id(Special("eos_token", "</s>")), Id(Special("pad_token", "<pad>")), "byte-level BPE");
    }

    private static Dictionary<string, int> ReadVocabulary(string folder)
    {
        var vocabPath = Path.Combine(folder, "vocab.json");
        if (File.Exists(vocabPath)) return Files.TokenizerFiles.ReadVocabularyJson(vocabPath);
        using var doc = Files.CheckpointFolder.ReadJson(Path.Combine(folder, "tokenizer.json"));
        var vocab = doc.RootElement.GetProperty("model").GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        foreach (var (token, id) in HfTokenizerJson.AddedTokens(doc.RootElement).All) vocab[token] = id;
        return vocab;
    }

    private static JsonElement ReadConfig(string folder)
    {
        var path = Path.Combine(folder, TokenizerConfig.FileName);
        if (!File.Exists(path)) return JsonDocument.Parse("{}").RootElement;
        using var doc = Files.CheckpointFolder.ReadJson(path);
        return doc.RootElement.Clone();
    }

    public int[] EncodeOne(string text, int maxLength = 256)
    {
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "There must be room for the start and end tokens.");
        var pieces = tokenizer is BertTokenizer bert ? bert.EncodeToIds(text, addSpecialTokens: false) : tokenizer.EncodeToIds(text);
        return [StartId, .. pieces.Take(maxLength - 2), EndId];
    }

    public (Tensor Ids, Tensor Mask) Encode(IReadOnlyList<string> texts, int maxLength = 256) => EncoderBatch.PadRight(this, texts, maxLength);

    public string Decode(IEnumerable<long> tokenIds)
    {
        var ids = tokenIds.Select(i => (int)i).Where(i => i != StartId && i != EndId && i != PaddingId);
        return (tokenizer is BertTokenizer bert ? bert.Decode(ids, skipSpecialTokens: true) : tokenizer.Decode(ids)) ?? "";
    }

    /// <summary>The vocabulary's text for an id; an embedding row past the tokenizer's vocabulary (padded tables) reads "[row N]".</summary>
    public string TokenText(long id) =>
        id < 0 ? throw new ArgumentOutOfRangeException(nameof(id), id, "Token ids are not negative.")
            : id < vocabulary.Length && vocabulary[id] is { } token ? token : $"[row {id}]";
}
