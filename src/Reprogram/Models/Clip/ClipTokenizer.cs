using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;
using static TorchSharp.torch;

namespace Reprogram.Models.Clip;

/// <summary>
/// CLIP's byte-level BPE tokenizer (Radford et al. 2021) from a Hugging Face folder's vocab.json and merges.txt, on
/// Microsoft.ML.Tokenizers' BPE with an end-of-word suffix ("&lt;/w&gt;" on the last character of every pre-token,
/// which is what sets CLIP's BPE apart from GPT-2's leading-space marker). Text is normalised as Hugging Face's fast
/// CLIP tokenizer does it: NFC, every run of whitespace to one space (none at the ends), lower case (Python's: İ
/// lower-cases to "i̇" and a final Σ to ς); pre-tokens follow CLIP's pattern (<see cref="ClipPreTokenizer"/>); ids are wrapped in &lt;|startoftext|&gt; ...
/// &lt;|endoftext|&gt;. Not applied, as in Hugging Face's fast tokenizer: ftfy's text repair and the html unescaping
/// OpenAI's own tokenizer does first (they change only mis-encoded text, curly quotes, ligatures, full-width forms and
/// html entities).
/// </summary>
public sealed class ClipTokenizer
{
    public const string StartOfTextToken = "<|startoftext|>", EndOfTextToken = "<|endoftext|>";

    private readonly BpeTokenizer bpe;
    private readonly Dictionary<int, string> tokens;              // id -> symbol, for decoding
    private readonly Dictionary<char, byte> bytes = ByteSymbols(); // printable symbol -> byte

    public int StartOfText { get; }
    public int EndOfText { get; }
    public int VocabularySize { get; }
    /// <summary>The longest sequence, start and end tokens included (the text tower's positions; 77 for CLIP).</summary>
    public int ContextLength { get; }

    private ClipTokenizer(BpeTokenizer bpe, Dictionary<string, int> vocab, int contextLength)
    {
        this.bpe = bpe;
        tokens = vocab.GroupBy(p => p.Value).ToDictionary(g => g.Key, g => g.First().Key);
        (StartOfText, EndOfText, VocabularySize, ContextLength) = (vocab[StartOfTextToken], vocab[EndOfTextToken], vocab.Values.Max() + 1, contextLength);
    }

    /// <summary>GPT-2's and CLIP's table, inverted: printable Latin-1 bytes stand for themselves, the other 68 bytes for U+0100 on.</summary>
    private static Dictionary<char, byte> ByteSymbols()
    {
        var table = new Dictionary<char, byte>();
        var moved = 0;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174 and <= 255;
            table[printable ? (char)b : (char)(256 + moved++)] = (byte)b;
        }
        return table;
    }

    /// <summary>The tokenizer of a Hugging Face CLIP folder (vocab.json and merges.txt).</summary>
    public static ClipTokenizer Load(string folder, int contextLength = 77) => Reprogram.Models.Files.TokenizerFiles.Guard(folder, () => LoadUnguarded(folder, contextLength));

    private static ClipTokenizer LoadUnguarded(string folder, int contextLength)
    {
        var vocabPath = Path.Combine(folder, "vocab.json");
        var mergesPath = Path.Combine(folder, "merges.txt");
        if (!File.Exists(vocabPath) || !File.Exists(mergesPath))
            throw new FileNotFoundException($"{folder} has no vocab.json and merges.txt (CLIP's BPE tokenizer files).", File.Exists(vocabPath) ? mergesPath : vocabPath);
        var vocab = Reprogram.Models.Files.TokenizerFiles.ReadVocabularyJson(vocabPath);
        foreach (var name in new[] { StartOfTextToken, EndOfTextToken })
        {
            if (!vocab.ContainsKey(name)) throw new InvalidDataException($"{vocabPath} has no {name}: it is not a CLIP vocabulary.");
        }
        var merges = File.ReadLines(mergesPath).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToList();
        foreach (var merge in merges)
        {
            var parts = merge.Split(' ');
            if (parts.Length != 2 || !vocab.ContainsKey(parts[0] + parts[1]))
                throw new InvalidDataException($"{mergesPath}: the merge '{merge}' is not two symbols whose concatenation is in vocab.json.");
        }
        var special = new Dictionary<string, int> { [StartOfTextToken] = vocab[StartOfTextToken], [EndOfTextToken] = vocab[EndOfTextToken] };
        var options = new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            EndOfWordSuffix = "</w>",
            SpecialTokens = special,
            Normalizer = new ClipNormalizer(),
            PreTokenizer = new ClipPreTokenizer(),
        };
        return new ClipTokenizer(BpeTokenizer.Create(options), vocab, contextLength);
    }

    /// <summary>The ids of a text without the start and end tokens.</summary>
    public IReadOnlyList<int> EncodeWithoutSpecials(string text) => bpe.EncodeToIds(text);

    /// <summary>&lt;|startoftext|&gt;, the text's ids, &lt;|endoftext|&gt;.</summary>
    public int[] Encode(string text) => [StartOfText, .. bpe.EncodeToIds(text), EndOfText];

    /// <summary>The text of ids: start and end tokens dropped, "&lt;/w&gt;" read as a space, symbols back to UTF-8 bytes.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var symbols = string.Concat(ids.Where(i => i != StartOfText && i != EndOfText)
            .Select(i => tokens.TryGetValue(i, out var t) ? t : throw new ArgumentException($"{i} is not a token id of this vocabulary (0..{VocabularySize - 1}).")));
        var words = symbols.Split("</w>");
        var decoded = words.Select(w => Encoding.UTF8.GetString(w.Select(c => bytes.TryGetValue(c, out var b) ? b : (byte)'?').ToArray()));
        return string.Join(" ", decoded).Trim();
    }

    /// <summary>
    /// Texts to ids [N, T] (right-padded with 0 to the longest, T ≤ <see cref="ContextLength"/>) and the position of
    /// each text's &lt;|endoftext|&gt; [N], where CLIP reads the text feature. A text longer than the context is refused
    /// with its length, unless <paramref name="truncate"/> (then it is cut and ends with &lt;|endoftext|&gt;, as
    /// clip.tokenize(truncate=True) does).
    /// </summary>
    public (Tensor Ids, Tensor EndPositions) EncodeBatch(IReadOnlyList<string> texts, bool truncate = false)
    {
        var rows = texts.Select(t =>
        {
            var ids = Encode(t);
            if (ids.Length <= ContextLength) return ids;
            if (!truncate) throw new ArgumentException($"The text \"{(t.Length > 60 ? t[..60] + "…" : t)}\" is {ids.Length} tokens, longer than CLIP's context of {ContextLength}.");
            ids = ids[..ContextLength];
            ids[^1] = EndOfText;
            return ids;
        }).ToList();
        var width = rows.Max(r => r.Length);
        var flat = new long[rows.Count * width];
        for (var i = 0; i < rows.Count; i++)
        {
            for (var j = 0; j < rows[i].Length; j++) flat[i * width + j] = rows[i][j];
        }
        return (tensor(flat, [rows.Count, width]), tensor(rows.Select(r => (long)r.Length - 1).ToArray()));
    }
}

/// <summary>
/// The text normalisation of Hugging Face's fast CLIP tokenizer: NFC, whitespace runs to one space and none at the ends,
/// then Python's (and Rust's) full lower-casing, which differs from .NET's invariant one for İ (U+0130 -> "i̇") and for
/// a word-final capital sigma (-> ς).
/// </summary>
internal sealed class ClipNormalizer : Normalizer
{
    /// <summary>Unicode's White_Space characters (what Hugging Face's \s+ replaces).</summary>
    private static bool IsWhiteSpace(char c) =>
        c is '\t' or '\n' or '\v' or '\f' or '\r' or ' ' or '\u0085' or '\u00a0' or '\u1680' or '\u2028' or '\u2029' or '\u202f' or '\u205f' or '\u3000'
        || c is >= '\u2000' and <= '\u200a';

    public override string Normalize(string original) => Normalize(original.AsSpan());

    public override string Normalize(ReadOnlySpan<char> original)
    {
        var text = original.ToString().Normalize(NormalizationForm.FormC);
        var collapsed = new StringBuilder(text.Length);
        var pendingSpace = false;
        foreach (var c in text)
        {
            if (IsWhiteSpace(c)) { pendingSpace = true; continue; }
            if (pendingSpace && collapsed.Length > 0) collapsed.Append(' ');
            pendingSpace = false;
            collapsed.Append(c);
        }
        return Lower(collapsed.ToString());
    }

    private static string Lower(string text)
    {
        var lower = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\u0130') lower.Append("i\u0307");
            else if (c == 'Σ') lower.Append(FinalSigma(text, i) ? 'ς' : 'σ');
            else if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                lower.Append(text.Substring(i, 2).ToLowerInvariant());
                i++;
            }
            else lower.Append(char.ToLowerInvariant(c));
        }
        return lower.ToString();
    }

    /// <summary>Unicode's Final_Sigma: a cased letter before (skipping case-ignorable marks) and none after.</summary>
    private static bool FinalSigma(string text, int at)
    {
        static bool Ignorable(char c) => char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.NonSpacingMark
            or System.Globalization.UnicodeCategory.EnclosingMark or System.Globalization.UnicodeCategory.Format
            or System.Globalization.UnicodeCategory.ModifierLetter or System.Globalization.UnicodeCategory.ModifierSymbol
            || c is '\'' or '.' or ':' or '\u00b7' or '\u2019';
        static bool Cased(char c) => char.IsUpper(c) || char.IsLower(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.TitlecaseLetter;
        var before = at - 1;
        while (before >= 0 && Ignorable(text[before])) before--;
        if (before < 0 || !Cased(text[before])) return false;
        var after = at + 1;
        while (after < text.Length && Ignorable(text[after])) after++;
        return after >= text.Length || !Cased(text[after]);
    }
}

/// <summary>
/// CLIP's pre-tokenisation, the pattern <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
/// (as Hugging Face's tokenizer.json has it, without OpenAI's case-insensitive flag), matched by hand over Unicode
/// scalar values: .NET's Regex classifies UTF-16 code units, so \p{L} and \p{N} would miss letters and digits outside
/// the Basic Multilingual Plane (𝔢, 𝟙). At each position the first alternative that matches wins; spaces match none and
/// are skipped (the normaliser has turned every whitespace run into one space).
/// </summary>
internal sealed class ClipPreTokenizer : PreTokenizer
{
    private static readonly string[] Specials = [ClipTokenizer.StartOfTextToken, ClipTokenizer.EndOfTextToken];
    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    private enum Kind { Space, Letter, Number, Other }

    private static Kind Classify(Rune r)
    {
        if (r.Value == ' ') return Kind.Space;
        return Rune.GetUnicodeCategory(r) switch
        {
            >= System.Globalization.UnicodeCategory.UppercaseLetter and <= System.Globalization.UnicodeCategory.OtherLetter => Kind.Letter,
            >= System.Globalization.UnicodeCategory.DecimalDigitNumber and <= System.Globalization.UnicodeCategory.OtherNumber => Kind.Number,
            _ => Kind.Other,
        };
    }

    /// <summary>The scalar value at <paramref name="i"/> and its UTF-16 width; a lone surrogate is U+FFFD of width 1.</summary>
    private static Rune At(string text, int i, out int width)
    {
        Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out width);
        return rune;
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Split(text);

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text.ToString());

    private static List<(int Offset, int Length)> Split(string text)
    {
        var tokens = new List<(int, int)>();
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            var special = Specials.FirstOrDefault(s => string.CompareOrdinal(text, i, s, 0, s.Length) == 0);
            var contraction = special is null ? Contractions.FirstOrDefault(c => string.CompareOrdinal(text, i, c, 0, c.Length) == 0) : null;
            if ((special ?? contraction) is { } literal)
            {
                i += literal.Length;
                tokens.Add((start, i - start));
                continue;
            }
            var kind = Classify(At(text, i, out var width));
            switch (kind)
            {
                case Kind.Space:
                    i += width;
                    continue;
                case Kind.Number:
                    i += width;                                       // one digit at a time
                    break;
                default:
                    i += width;                                       // a run of letters, or of anything else but spaces, letters and numbers
                    while (i < text.Length && Classify(At(text, i, out var next)) == kind) i += next;
                    break;
            }
            tokens.Add((start, i - start));
        }
        return tokens;
    }
}
