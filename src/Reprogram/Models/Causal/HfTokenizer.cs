using System.Text.Json;
using Microsoft.ML.Tokenizers;
using Reprogram.Models.Tokenizers;

namespace Reprogram.Models.Causal;

/// <summary>
/// The tokenizer of a Hugging Face decoder folder, routed by kind:
/// <list type="bullet">
/// <item>byte-level BPE (GPT-2, Qwen2, Llama 3, SmolLM): vocab.json + merges.txt, or a tokenizer.json with a ByteLevel
/// pre-tokenizer or decoder (its model.vocab, model.merges, added_tokens and the first Split regex of its pre_tokenizer);</item>
/// <item>SentencePiece (Llama 2, Mistral): a tokenizer.json of the SentencePiece-BPE or Unigram kind, or a
/// tokenizer.model, through <see cref="SentencePieceTextTokenizer"/>.</item>
/// </list>
/// Any other kind is refused with what was found. No BOS or EOS is added (see <see cref="PromptBos(string)"/>).
/// </summary>
public static class HfTokenizer
{
    /// <summary>GPT-2's pre-tokenisation pattern.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public static Tokenizer Load(string folder) => Files.TokenizerFiles.Guard(folder, () => LoadUnguarded(folder));

    private static Tokenizer LoadUnguarded(string folder)
    {
        var vocabPath = Path.Combine(folder, "vocab.json");
        var mergesPath = Path.Combine(folder, "merges.txt");
        var tokenizerJson = Path.Combine(folder, "tokenizer.json");
        var tokenizerModel = Path.Combine(folder, "tokenizer.model");
        if (File.Exists(vocabPath) && File.Exists(mergesPath))
        {
            var vocab = Files.TokenizerFiles.ReadVocabularyJson(vocabPath);
            var merges = File.ReadLines(mergesPath).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToList();
            var special = vocab.Where(p => p.Key.StartsWith("<|", StringComparison.Ordinal) && p.Key.EndsWith("|>", StringComparison.Ordinal))
                .ToDictionary(p => p.Key, p => p.Value);
            foreach (var (token, id) in TokenizerConfig.Read(folder).AddedTokens) special[token] = id;
            return ByteLevelBpe(vocab, merges, special, Gpt2Pattern);
        }
        if (File.Exists(tokenizerJson))
        {
            using var doc = Files.CheckpointFolder.ReadJson(tokenizerJson);
            var root = doc.RootElement;
            switch (HfTokenizerJson.Kind(root, tokenizerJson))
            {
                case HfTokenizerKind.ByteLevelBpe:
                    return ByteLevelBpe(root);
                case HfTokenizerKind.SentencePieceBpe or HfTokenizerKind.Unigram:
                    var config = TokenizerConfig.Read(folder);
                    var (model, prefixAfterSpecial) = HfTokenizerJson.ToSentencePiece(root, tokenizerJson, config.BosToken, config.EosToken);
                    var extra = HfTokenizerJson.AddedTokens(root).All.Where(p => p.Value >= model.Pieces.Count).ToDictionary(p => p.Key, p => p.Value);
                    return SentencePieceTextTokenizer.Create(model, extra, prefixAfterSpecial, tokenizerJson);
                default:
                    throw new NotSupportedException($"{tokenizerJson} is a WordPiece tokenizer (BERT): it belongs to an encoder, not a decoder.");
            }
        }
        if (File.Exists(tokenizerModel))
        {
            var config = TokenizerConfig.Read(folder);
            var model = SentencePieceModelProto.Read(tokenizerModel);
            var extra = config.AddedTokens.Where(p => p.Value >= model.Pieces.Count).ToDictionary(p => p.Key, p => p.Value);
            // Hugging Face's LlamaTokenizer is legacy unless the config says legacy: false.
            return SentencePieceTextTokenizer.FromModelFile(tokenizerModel, extra, dummyPrefixAfterSpecialTokens: config.Legacy ?? true);
        }
        throw new FileNotFoundException($"{folder} has no tokenizer: neither vocab.json + merges.txt, tokenizer.json nor tokenizer.model.");
    }

    /// <summary>
    /// The BOS text a plain prompt starts with, as Hugging Face's tokenizer adds it, or null: the first special token of
    /// tokenizer.json's post-processor (Llama 2, Llama 3), else tokenizer_config.json's bos_token when add_bos_token is set,
    /// else a SentencePiece tokenizer.model's BOS piece (Llama's tokenizer adds it unless told not to).
    /// </summary>
    public static string? PromptBos(string folder) => Files.TokenizerFiles.Guard(folder, () => PromptBosUnguarded(folder));

    private static string? PromptBosUnguarded(string folder)
    {
        var config = TokenizerConfig.Read(folder);
        var tokenizerJson = Path.Combine(folder, "tokenizer.json");
        if (File.Exists(tokenizerJson))
        {
            using var doc = Files.CheckpointFolder.ReadJson(tokenizerJson);
            if (doc.RootElement.TryGetProperty("post_processor", out var post) && FirstTemplateSpecial(post) is { } first)
            {
                return config.AddBosToken == false ? null : first;
            }
        }
        if (config.AddBosToken == true) return config.BosToken;
        if (config.AddBosToken is null && !File.Exists(tokenizerJson) && File.Exists(Path.Combine(folder, "tokenizer.model")))
        {
            var model = SentencePieceModelProto.Read(Path.Combine(folder, "tokenizer.model"));
            return model.BosId >= 0 && model.BosId < model.Pieces.Count ? model.Pieces[model.BosId].Piece : null;
        }
        return null;
    }

    /// <summary>The special token a TemplateProcessing's "single" template starts with (inside a Sequence too).</summary>
    private static string? FirstTemplateSpecial(JsonElement post)
    {
        if (post.ValueKind != JsonValueKind.Object) return null;
        var type = post.TryGetProperty("type", out var t) ? t.GetString() : null;
        if (type == "Sequence" && post.TryGetProperty("processors", out var list))
        {
            foreach (var p in list.EnumerateArray()) if (FirstTemplateSpecial(p) is { } found) return found;
            return null;
        }
        if (type == "TemplateProcessing" && post.TryGetProperty("single", out var single) && single.GetArrayLength() > 0 &&
            single[0].TryGetProperty("SpecialToken", out var special))
        {
            return special.GetProperty("id").GetString();
        }
        return null;
    }

    private static Tokenizer ByteLevelBpe(JsonElement root)
    {
        var model = root.GetProperty("model");
        if (!model.TryGetProperty("merges", out var mergeList) || !model.TryGetProperty("vocab", out var vocabJson))
        {
            throw new InvalidDataException("tokenizer.json: the byte-level BPE model lacks its vocab or merges.");
        }
        var vocab = vocabJson.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        // Merges are "a b" strings (older files) or ["a", "b"] pairs (newer ones).
        var merges = mergeList.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Array ? e[0].GetString() + " " + e[1].GetString() : e.GetString()!).ToList();
        var special = HfTokenizerJson.AddedTokens(root).All;
        var pattern = root.TryGetProperty("pre_tokenizer", out var pre) ? FirstRegex(pre) : null;
        return ByteLevelBpe(vocab, merges, special, pattern ?? Gpt2Pattern);
    }

    private static Tokenizer ByteLevelBpe(Dictionary<string, int> vocab, List<string> merges, Dictionary<string, int> special, string pattern)
    {
        var options = new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            SpecialTokens = special.Count > 0 ? special : null,
            PreTokenizer = new RegexPreTokenizer(new System.Text.RegularExpressions.Regex(pattern, System.Text.RegularExpressions.RegexOptions.Compiled), special.Count > 0 ? special : null),
        };
        return BpeTokenizer.Create(options);
    }

    /// <summary>The first {"Regex": ...} pattern inside a pre_tokenizer description (Split, possibly inside a Sequence).</summary>
    private static string? FirstRegex(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    if (p.Name == "Regex" && p.Value.ValueKind == JsonValueKind.String) return p.Value.GetString();
                    if (FirstRegex(p.Value) is { } found) return found;
                }
                return null;
            case JsonValueKind.Array:
                foreach (var item in e.EnumerateArray()) if (FirstRegex(item) is { } found) return found;
                return null;
            default:
                return null;
        }
    }
}
