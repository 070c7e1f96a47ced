using System.Text.Json;

namespace Reprogram.Models.Tokenizers;

/// <summary>What kind of tokenizer a Hugging Face <c>tokenizer.json</c> describes.</summary>
public enum HfTokenizerKind
{
    /// <summary>Byte-level BPE (GPT-2, RoBERTa, Qwen2, Llama 3): a ByteLevel pre-tokenizer or decoder.</summary>
    ByteLevelBpe,
    /// <summary>SentencePiece-style BPE (Llama 2, Mistral): ▁ for spaces (a Replace/Prepend normaliser or a Metaspace pre-tokenizer), byte fallback.</summary>
    SentencePieceBpe,
    /// <summary>SentencePiece Unigram (T5, ALBERT, XLNet style): model.type "Unigram".</summary>
    Unigram,
    /// <summary>WordPiece (BERT).</summary>
    WordPiece,
}

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c>: tells its kind (refusing kinds this library cannot tokenise exactly, with
/// what was found), and turns the SentencePiece kinds into a <see cref="SentencePieceModelProto"/> for
/// <see cref="SentencePieceTextTokenizer"/>. The conversion is Hugging Face's own conversion from SentencePiece read
/// backwards: a Precompiled normaliser is the model's precompiled character map; WhitespaceSplit or a Replace of
/// " {2,}" is remove_extra_whitespaces; Prepend("▁") or a Metaspace with prepend_scheme always/first is the dummy
/// prefix (always: after special tokens too, as a Prepend normaliser does; first: only at the start); BPE merge ranks
/// become piece scores (score = -rank of the first merge that makes the piece, the order SentencePiece's BPE merges in).
/// </summary>
public static class HfTokenizerJson
{
    /// <summary>The kind of a parsed tokenizer.json; <see cref="NotSupportedException"/> naming what was found when it is none of them.</summary>
    public static HfTokenizerKind Kind(JsonElement root, string path = "tokenizer.json")
    {
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path} has no \"model\" object: it is not a Hugging Face tokenizer.json.");
        var type = model.TryGetProperty("type", out var t) ? t.GetString() : null;
        // Older files omit model.type; a vocab object with merges is BPE, a vocab list is Unigram.
        type ??= model.TryGetProperty("merges", out _) ? "BPE" : model.TryGetProperty("vocab", out var v) && v.ValueKind == JsonValueKind.Array ? "Unigram" : null;
        var pre = Describe(root, "pre_tokenizer");
        var normalizer = Describe(root, "normalizer");
        var decoder = Describe(root, "decoder");
        switch (type)
        {
            case "Unigram":
                return HfTokenizerKind.Unigram;
            case "WordPiece":
                return HfTokenizerKind.WordPiece;
            case "BPE":
                if (pre.Contains("ByteLevel") || decoder.Contains("ByteLevel")) return HfTokenizerKind.ByteLevelBpe;
                if (pre.Contains("Metaspace") || normalizer.Contains("\u2581") || decoder.Contains("ByteFallback") || decoder.Contains("\u2581"))
                    return HfTokenizerKind.SentencePieceBpe;
                break;
        }
        throw new NotSupportedException(
            $"{path}: a '{type ?? "unknown"}' tokenizer with pre-tokenizer {pre}, normaliser {normalizer} and decoder {decoder} is not supported. " +
            "Supported: byte-level BPE (GPT-2, Qwen2, Llama 3), SentencePiece BPE (Llama 2, Mistral), SentencePiece Unigram, and WordPiece (BERT encoders).");
    }

    /// <summary>The types named in one part of the pipeline, e.g. "Sequence[Prepend, Replace(' ' -> '▁')]", or "none".</summary>
    private static string Describe(JsonElement root, string part)
    {
        if (!root.TryGetProperty(part, out var e) || e.ValueKind != JsonValueKind.Object) return "none";
        var type = e.TryGetProperty("type", out var t) ? t.GetString() ?? "?" : "?";
        var children = new[] { "normalizers", "pretokenizers", "decoders" }
            .Where(n => e.TryGetProperty(n, out var c) && c.ValueKind == JsonValueKind.Array)
            .SelectMany(n => e.GetProperty(n).EnumerateArray()).ToList();
        string One(JsonElement x)
        {
            var name = x.TryGetProperty("type", out var xt) ? xt.GetString() ?? "?" : "?";
            if (name == "Replace" && x.TryGetProperty("pattern", out var p) && x.TryGetProperty("content", out var c))
                return $"Replace({p.GetRawText()} -> '{c.GetString()}')";
            return name;
        }
        if (children.Count > 0) return $"{type}[{string.Join(", ", children.Select(One))}]";
        return One(e);
    }

    /// <summary>Added tokens (content -> id), and the ones marked special.</summary>
    public static (Dictionary<string, int> All, HashSet<string> Special) AddedTokens(JsonElement root)
    {
        var all = new Dictionary<string, int>(StringComparer.Ordinal);
        var special = new HashSet<string>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
        {
            foreach (var token in added.EnumerateArray())
            {
                var content = token.GetProperty("content").GetString()!;
                all[content] = token.GetProperty("id").GetInt32();
                if (token.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True) special.Add(content);
            }
        }
        return (all, special);
    }

    /// <summary>
    /// A SentencePiece BPE or Unigram tokenizer.json as a SentencePiece model, and whether text after a special token gets
    /// the dummy prefix again. <paramref name="bosToken"/>/<paramref name="eosToken"/> (from tokenizer_config.json, or
    /// null for &lt;s&gt; and &lt;/s&gt;) set the model's BOS and EOS ids.
    /// </summary>
    public static (SentencePieceModelProto Model, bool DummyPrefixAfterSpecialTokens) ToSentencePiece(JsonElement root, string path = "tokenizer.json",
        string? bosToken = null, string? eosToken = null)
    {
        var kind = Kind(root, path);
        if (kind is not (HfTokenizerKind.SentencePieceBpe or HfTokenizerKind.Unigram))
            throw new ArgumentException($"{path} is a {kind} tokenizer, not a SentencePiece one.");
        var model = root.GetProperty("model");
        var byteFallback = model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;
        var (added, special) = AddedTokens(root);

        // The vocabulary in id order.
        List<(string Piece, float Score)> vocabulary;
        int unknownId;
        if (kind == HfTokenizerKind.Unigram)
        {
            vocabulary = model.GetProperty("vocab").EnumerateArray().Select(e => (e[0].GetString()!, (float)e[1].GetDouble())).ToList();
            unknownId = model.TryGetProperty("unk_id", out var u) && u.ValueKind == JsonValueKind.Number ? u.GetInt32() : -1;
        }
        else
        {
            var ids = model.GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Value.GetInt32(), p => p.Name);
            var missing = Enumerable.Range(0, ids.Count).FirstOrDefault(i => !ids.ContainsKey(i), -1);
            if (missing >= 0) throw new InvalidDataException($"{path}: the BPE vocabulary's ids are not 0..{ids.Count - 1} (id {missing} is missing).");
            // Merges are "a b" strings (older files) or ["a", "b"] pairs (newer ones).
            var merges = model.GetProperty("merges").EnumerateArray()
                .Select(e => e.ValueKind == JsonValueKind.Array ? e[0].GetString() + e[1].GetString() : string.Concat(e.GetString()!.Split(' ', 2))).ToList();
            var rank = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var r = 0; r < merges.Count; r++) rank.TryAdd(merges[r], r);
            // A piece no merge makes keeps the lowest priority (SentencePiece merges any adjacent pair that forms a piece).
            vocabulary = Enumerable.Range(0, ids.Count).Select(i => (ids[i], rank.TryGetValue(ids[i], out var r) ? -(float)r : -(float)(merges.Count + i))).ToList();
            var unk = model.TryGetProperty("unk_token", out var ut) && ut.ValueKind == JsonValueKind.String ? ut.GetString() : null;
            unknownId = unk is not null && model.GetProperty("vocab").TryGetProperty(unk, out var uid) ? uid.GetInt32() : -1;
        }
        var pieces = vocabulary.Select((v, id) =>
        {
            var type = id == unknownId ? SentencePieceType.Unknown
                : special.Contains(v.Piece) && added.TryGetValue(v.Piece, out var a) && a == id ? SentencePieceType.Control
                : added.TryGetValue(v.Piece, out var b) && b == id ? SentencePieceType.UserDefined
                : byteFallback && IsBytePiece(v.Piece) ? SentencePieceType.Byte
                : SentencePieceType.Normal;
            return new SentencePiece(v.Piece, v.Score, type);
        }).ToList();
        if (unknownId < 0)
        {
            throw new InvalidDataException($"{path}: the {kind} model names no unknown token (unk_id / unk_token); SentencePiece needs one.");
        }

        // Normaliser and pre-tokenizer: what SentencePiece's normaliser would do.
        byte[] charsmap = [];
        bool prepend = false, prependAfterSpecial = false, escape = false, removeExtra = false;
        void Visit(JsonElement e)
        {
            if (e.ValueKind != JsonValueKind.Object) return;
            var type = e.TryGetProperty("type", out var t) ? t.GetString() : null;
            switch (type)
            {
                case "Sequence":
                    foreach (var list in new[] { "normalizers", "pretokenizers" })
                        if (e.TryGetProperty(list, out var items)) foreach (var item in items.EnumerateArray()) Visit(item);
                    break;
                case "Precompiled":
                    var data = e.TryGetProperty("precompiled_charsmap", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
                    if (!string.IsNullOrEmpty(data)) charsmap = Convert.FromBase64String(data);
                    break;
                case "Prepend":
                    if (e.GetProperty("prepend").GetString() == "\u2581") { prepend = true; prependAfterSpecial = true; }
                    break;
                case "Replace":
                    var pattern = e.GetProperty("pattern");
                    var content = e.GetProperty("content").GetString();
                    if (pattern.TryGetProperty("String", out var s) && s.GetString() == " " && content == "\u2581") escape = true;
                    else if (pattern.TryGetProperty("Regex", out var r) && r.GetString() == " {2,}" && content == " ") removeExtra = true;
                    else throw new NotSupportedException($"{path}: the normaliser Replace({pattern.GetRawText()} -> '{content}') has no SentencePiece equivalent.");
                    break;
                case "WhitespaceSplit":
                    removeExtra = true;
                    break;
                case "Metaspace":
                    escape = true;
                    var scheme = e.TryGetProperty("prepend_scheme", out var ps) ? ps.GetString() : null;
                    var addPrefixSpace = e.TryGetProperty("add_prefix_space", out var aps) ? aps.ValueKind == JsonValueKind.True : scheme is not "never";
                    if (scheme is null ? addPrefixSpace : scheme != "never") prepend = true;
                    if (scheme is null ? addPrefixSpace : scheme == "always") prependAfterSpecial = true;
                    break;
                case "Strip" or "NFKC" or "NFC" or "NFD" or "NFKD" or "Lowercase" or "BertNormalizer" or "StripAccents":
                    throw new NotSupportedException($"{path}: the {type} step has no SentencePiece equivalent here; this SentencePiece-style tokenizer.json is not supported.");
            }
        }
        if (root.TryGetProperty("normalizer", out var normalizer)) Visit(normalizer);
        if (root.TryGetProperty("pre_tokenizer", out var pre)) Visit(pre);
        if (!escape) throw new NotSupportedException($"{path}: a SentencePiece-style tokenizer.json whose spaces are not written as ▁ is not supported.");

        int IdOf(string? token, string fallback)
        {
            var name = token ?? fallback;
            var id = vocabulary.FindIndex(v => v.Piece == name);
            return id >= 0 ? id : -1;
        }
        var bos = IdOf(bosToken, "<s>");
        var eos = IdOf(eosToken, "</s>");
        return (new SentencePieceModelProto
        {
            Pieces = pieces,
            ModelType = kind == HfTokenizerKind.Unigram ? SentencePieceModelProto.Unigram : SentencePieceModelProto.Bpe,
            ByteFallback = byteFallback,
            UnknownId = unknownId,
            UnknownPiece = vocabulary[unknownId].Piece,
            BosId = bos,
            BosPiece = bos >= 0 ? vocabulary[bos].Piece : "<s>",
            EosId = eos,
            EosPiece = eos >= 0 ? vocabulary[eos].Piece : "</s>",
            NormalizerName = charsmap.Length > 0 ? "precompiled" : "identity",
            PrecompiledCharsmap = charsmap,
            AddDummyPrefix = prepend,
            RemoveExtraWhitespaces = removeExtra,
            EscapeWhitespaces = true,
        }, prependAfterSpecial);
    }

    private static bool IsBytePiece(string piece) =>
        piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>' && Uri.IsHexDigit(piece[3]) && Uri.IsHexDigit(piece[4]);
}
