using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Reprogram.Models.Tokenizers;

/// <summary>
/// A SentencePiece tokenizer (<c>tokenizer.model</c>, or a Hugging Face <c>tokenizer.json</c> of the Unigram or
/// SentencePiece-BPE kind converted to the same model) through Microsoft.ML.Tokenizers' <see cref="SentencePieceTokenizer"/>:
/// ▁ for spaces, a dummy prefix, byte fallback to <c>&lt;0xNN&gt;</c> pieces, special tokens recognised in text.
/// No BOS or EOS is added by <see cref="Tokenizer.EncodeToIds(string, bool, bool)"/> (prompt formats add the BOS as text;
/// see <see cref="BosToken"/>), so prompts and continuations encode alike. Special tokens in text (control pieces and
/// added tokens) are split out first, as Hugging Face does; each piece of text between them is encoded on its own, with
/// the dummy prefix ("▁") on every piece (<see cref="DummyPrefixAfterSpecialTokens"/>, Hugging Face's legacy Llama
/// behaviour) or only at the start of the text (its legacy=false / Metaspace prepend_scheme "first"). Decoding follows
/// google/sentencepiece: control pieces are invisible, an unknown piece reads as its surface (" ⁇ "), runs of byte pieces
/// are UTF-8 with U+FFFD for each invalid byte, and the leading space of the dummy prefix is dropped once.
/// <para>
/// Microsoft.ML.Tokenizers 2.0.1 is exact for SentencePiece BPE with the identity normaliser (Llama 2, Mistral), checked
/// against google/sentencepiece on hundreds of strings. Two faults of 2.0.1 are worked around here, both found in the
/// same checks: in Unigram models, byte-fallback pieces get ids 255 too high (its byte offset is taken from the last byte
/// piece, not &lt;0x00&gt;), and a run of unknown characters becomes one unknown piece per character where SentencePiece
/// emits one for the run. Tokens of unknown characters are therefore rebuilt from the text they cover: one
/// <c>&lt;unk&gt;</c> per run, or the run's UTF-8 bytes as byte pieces. A third fault cannot be worked around: its BPE
/// path ignores a precompiled normalisation map (nmt_nfkc) and drops text under remove_extra_whitespaces; such models are
/// refused with that reason.
/// </para>
/// </summary>
public sealed class SentencePieceTextTokenizer : Tokenizer
{
    private readonly SentencePieceModelProto model;
    private readonly Dictionary<string, int> specialTokens;
    private readonly System.Text.RegularExpressions.Regex? specialPattern;
    private readonly int[] byteIds;   // id of <0xNN>, or -1
    private readonly SentencePieceTokenizer withPrefix;
    private readonly SentencePieceTokenizer? withoutPrefix;

    private SentencePieceTextTokenizer(SentencePieceModelProto model, IReadOnlyDictionary<string, int> specialTokens, bool dummyPrefixAfterSpecialTokens, string source)
    {
        Source = source;
        if (model.ModelType is not (SentencePieceModelProto.Unigram or SentencePieceModelProto.Bpe))
        {
            throw new NotSupportedException($"{source}: a SentencePiece {model.ModelTypeName} model is not supported (only unigram and bpe).");
        }
        if (model.ModelType == SentencePieceModelProto.Bpe && (model.HasCharacterNormalization || model.RemoveExtraWhitespaces))
        {
            throw new NotSupportedException(
                $"{source}: a SentencePiece BPE model with normalisation '{model.NormalizerName ?? "precompiled"}'" +
                $"{(model.RemoveExtraWhitespaces ? " and remove_extra_whitespaces" : "")} is not supported: Microsoft.ML.Tokenizers 2.0.1 " +
                "ignores the normalisation map and drops characters when removing extra whitespace on its BPE path, so the ids would be wrong. " +
                "BPE models with the identity normaliser (Llama 2, Mistral) and Unigram models of any normaliser are supported.");
        }
        if (model.TreatWhitespaceAsSuffix) throw new NotSupportedException($"{source}: SentencePiece models that treat whitespace as a suffix are not supported.");
        if (!model.EscapeWhitespaces) throw new NotSupportedException($"{source}: SentencePiece models that do not escape whitespace as ▁ are not supported.");
        this.model = model;
        DummyPrefixAfterSpecialTokens = dummyPrefixAfterSpecialTokens;
        this.specialTokens = new Dictionary<string, int>(specialTokens, StringComparer.Ordinal);
        foreach (var (token, id) in this.specialTokens)
        {
            if (id < 0) throw new ArgumentException($"{source}: the special token '{token}' has the negative id {id}.");
        }
        // Longest first, so that "<|im_start|>" wins over a shorter token it contains.
        specialPattern = this.specialTokens.Count == 0 ? null : new System.Text.RegularExpressions.Regex(
            string.Join("|", this.specialTokens.Keys.OrderByDescending(k => k.Length).Select(System.Text.RegularExpressions.Regex.Escape)),
            System.Text.RegularExpressions.RegexOptions.CultureInvariant);
        byteIds = Enumerable.Repeat(-1, 256).ToArray();
        for (var id = 0; id < model.Pieces.Count; id++)
        {
            var p = model.Pieces[id];
            if (p.Type == SentencePieceType.Byte && TryParseByte(p.Piece, out var b)) byteIds[b] = id;
        }
        if (model.ByteFallback && byteIds.Any(id => id < 0))
        {
            throw new InvalidDataException($"{source}: byte fallback is on but the vocabulary lacks byte pieces ({string.Join(", ", Enumerable.Range(0, 256).Where(b => byteIds[b] < 0).Take(4).Select(b => $"<0x{b:X2}>"))}...).");
        }
        // Unigram: 2.0.1's byte fallback gives wrong ids (and can index past the vocabulary), so it runs without it and the
        // unknown runs it reports are turned into byte pieces here.
        var given = model.ModelType == SentencePieceModelProto.Unigram ? model with { ByteFallback = false } : model;
        withPrefix = Inner(given);
        if (model.AddDummyPrefix && !dummyPrefixAfterSpecialTokens) withoutPrefix = Inner(given with { AddDummyPrefix = false });
    }

    private static SentencePieceTokenizer Inner(SentencePieceModelProto model)
    {
        using var stream = new MemoryStream(model.ToBytes());
        return SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false);
    }

    /// <summary>
    /// From a SentencePiece <c>tokenizer.model</c>. <paramref name="specialTokens"/> are added tokens recognised in text
    /// besides the model's control and user-defined pieces.
    /// </summary>
    public static SentencePieceTextTokenizer FromModelFile(string path, IReadOnlyDictionary<string, int>? specialTokens = null, bool dummyPrefixAfterSpecialTokens = true) =>
        Create(SentencePieceModelProto.Read(path), specialTokens, dummyPrefixAfterSpecialTokens, path);

    /// <summary>
    /// From a parsed or converted SentencePiece model. Control, unknown and user-defined pieces (&lt;s&gt;, &lt;/s&gt;,
    /// &lt;unk&gt;) are recognised in text, as Hugging Face's tokenizers recognise their special tokens.
    /// </summary>
    public static SentencePieceTextTokenizer Create(SentencePieceModelProto model, IReadOnlyDictionary<string, int>? specialTokens = null,
        bool dummyPrefixAfterSpecialTokens = true, string source = "SentencePiece model")
    {
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var id = 0; id < model.Pieces.Count; id++)
        {
            var p = model.Pieces[id];
            if (p.Type is SentencePieceType.Control or SentencePieceType.UserDefined or SentencePieceType.Unknown && p.Piece.Length > 0) special.TryAdd(p.Piece, id);
        }
        if (specialTokens is not null) foreach (var (token, id) in specialTokens) special[token] = id;
        return new SentencePieceTextTokenizer(model, special, dummyPrefixAfterSpecialTokens, source);
    }

    /// <summary>Where the tokenizer came from (for messages).</summary>
    public string Source { get; }
    public SentencePieceModelProto Model => model;
    /// <summary>Whether text after a special token gets the dummy prefix again (Hugging Face's legacy Llama tokenizer) or not.</summary>
    public bool DummyPrefixAfterSpecialTokens { get; }
    public int VocabularySize => Math.Max(model.Pieces.Count, specialTokens.Count == 0 ? 0 : specialTokens.Values.Max() + 1);
    public string? BosToken => model.BosId >= 0 && model.BosId < model.Pieces.Count ? model.Pieces[model.BosId].Piece : null;
    public int BosId => model.BosId;
    public string? EosToken => model.EosId >= 0 && model.EosId < model.Pieces.Count ? model.Pieces[model.EosId].Piece : null;
    public int EosId => model.EosId;
    public IReadOnlyDictionary<string, int> SpecialTokens => specialTokens;

    /// <summary>The piece an id stands for ("▁the", "&lt;0x0A&gt;", "&lt;s&gt;", or an added token).</summary>
    public string Piece(int id)
    {
        if (id >= 0 && id < model.Pieces.Count) return model.Pieces[id].Piece;
        foreach (var (token, special) in specialTokens) if (special == id) return token;
        throw new ArgumentOutOfRangeException(nameof(id), id, $"The vocabulary has {model.Pieces.Count} pieces.");
    }

    public override Normalizer? Normalizer => withPrefix.Normalizer;

    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        var source = text ?? textSpan.ToString();
        var result = new List<EncodedToken>();
        var at = 0;
        void Text(int end)
        {
            if (end <= at) return;
            var inner = at == 0 || DummyPrefixAfterSpecialTokens || withoutPrefix is null ? withPrefix : withoutPrefix;
            var segment = source[at..end];
            var tokens = inner.EncodeToTokens(segment, out var normalized, addBeginningOfSentence: false, addEndOfSentence: false,
                considerPreTokenization: false, considerNormalization: settings.ConsiderNormalization);
            if (model.ModelType == SentencePieceModelProto.Unigram) tokens = RebuildUnknownRuns(tokens, normalized ?? segment);
            var shift = at;
            result.AddRange(tokens.Select(t => new EncodedToken(t.Id, t.Value, new Range(t.Offset.Start.Value + shift, t.Offset.End.Value + shift))));
        }
        if (specialPattern is not null && settings.ConsiderPreTokenization)
        {
            foreach (System.Text.RegularExpressions.Match match in specialPattern.Matches(source))
            {
                Text(match.Index);
                result.Add(new EncodedToken(specialTokens[match.Value], match.Value, new Range(match.Index, match.Index + match.Length)));
                at = match.Index + match.Length;
            }
        }
        Text(source.Length);
        if (settings.MaxTokenCount < result.Count) result = result.Take(settings.MaxTokenCount).ToList();
        return new EncodeResults<EncodedToken> { Tokens = result, NormalizedText = null, CharsConsumed = result.Count > 0 ? Math.Min(source.Length, result[^1].Offset.End.Value) : 0 };
    }

    /// <summary>
    /// Tokens of unknown characters (the unknown piece, byte pieces, or a piece that does not spell the text it covers)
    /// merged into runs, each emitted as SentencePiece does: one unknown piece, or with byte fallback the run's UTF-8 bytes.
    /// </summary>
    private IReadOnlyList<EncodedToken> RebuildUnknownRuns(IReadOnlyList<EncodedToken> tokens, string normalized)
    {
        var result = new List<EncodedToken>(tokens.Count);
        var runStart = -1;
        var runEnd = -1;
        void Flush()
        {
            if (runStart < 0) return;
            var run = normalized[runStart..runEnd];
            if (model.ByteFallback)
            {
                foreach (var b in Encoding.UTF8.GetBytes(run)) result.Add(new EncodedToken(byteIds[b], model.Pieces[byteIds[b]].Piece, new Range(runStart, runEnd)));
            }
            else
            {
                result.Add(new EncodedToken(model.UnknownId, model.UnknownPiece, new Range(runStart, runEnd)));
            }
            runStart = runEnd = -1;
        }
        foreach (var token in tokens)
        {
            var (start, end) = (token.Offset.Start.Value, token.Offset.End.Value);
            if (IsKnown(token, normalized, start, end))
            {
                Flush();
                result.Add(token);
                continue;
            }
            if (runStart < 0) (runStart, runEnd) = (start, end);
            else runEnd = Math.Max(runEnd, end);
        }
        Flush();
        return result;
    }

    private bool IsKnown(EncodedToken token, string normalized, int start, int end)
    {
        if (token.Id == model.UnknownId || token.Id < 0 || token.Id >= model.Pieces.Count) return false;
        var piece = model.Pieces[token.Id];
        if (piece.Type == SentencePieceType.Byte) return false;
        return end <= normalized.Length && start <= end && normalized.AsSpan(start, end - start).SequenceEqual(piece.Piece);
    }

    /// <summary>Ids to text as google/sentencepiece decodes them (see the class summary); added tokens are invisible too.</summary>
    public override string Decode(IEnumerable<int> ids)
    {
        var text = new StringBuilder();
        var bytes = new List<byte>();
        var (isBosWs, bosWsSeen) = (true, false);
        void FlushBytes()
        {
            var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes);
            while (span.Length > 0)
            {
                // One character at a time; a structurally invalid byte is one U+FFFD, as in SentencePiece.
                if (System.Text.Rune.DecodeFromUtf8(span, out var rune, out var consumed) == OperationStatus.Done) text.Append(rune.ToString());
                else { text.Append('\uFFFD'); consumed = 1; }
                span = span[consumed..];
            }
            bytes.Clear();
        }
        foreach (var id in ids)
        {
            if (id >= 0 && id < model.Pieces.Count && model.Pieces[id].Type == SentencePieceType.Byte)
            {
                bytes.Add((byte)Array.IndexOf(byteIds, id));
                continue;
            }
            FlushBytes();
            if (bosWsSeen || text.Length > 0) isBosWs = false;
            bosWsSeen = false;
            if (id < 0 || id >= model.Pieces.Count)
            {
                if (specialTokens.ContainsValue(id)) continue;   // an added token: invisible, like a control piece
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"{Source}: id {id} is outside the vocabulary of {model.Pieces.Count} pieces.");
            }
            var p = model.Pieces[id];
            if (p.Type == SentencePieceType.Control) continue;
            if (p.Type == SentencePieceType.Unknown) { text.Append(model.UnknownSurface); continue; }
            var piece = p.Piece.AsSpan();
            if (isBosWs && (model.AddDummyPrefix || model.RemoveExtraWhitespaces) && piece.StartsWith("\u2581"))
            {
                piece = piece[1..];
                // With extra whitespace removed, every leading space is dropped, so the next piece may still be at the start.
                bosWsSeen = !model.RemoveExtraWhitespaces;
            }
            text.Append(piece.ToString().Replace('\u2581', ' '));
        }
        FlushBytes();
        return text.ToString();
    }

    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        var all = ids.ToList();
        var text = Decode(all);
        if (text.Length > destination.Length)
        {
            (idsConsumed, charsWritten) = (0, 0);
            return OperationStatus.DestinationTooSmall;
        }
        text.AsSpan().CopyTo(destination);
        (idsConsumed, charsWritten) = (all.Count, text.Length);
        return OperationStatus.Done;
    }

    private static bool TryParseByte(string piece, out int value)
    {
        value = -1;
        return piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>' &&
               int.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out value);
    }
}
