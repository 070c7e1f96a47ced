using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;
using Reprogram.Models.Causal;
using Reprogram.Models.Tokenizers;
using Xunit;

namespace Reprogram.Tests;

/// <summary>
/// SentencePiece models trained once per test run by google/sentencepiece (reference_sentencepiece.py under
/// /usr/bin/python3, Debian's python3-sentencepiece), with their reference tokenisations of a few hundred strings.
/// </summary>
public sealed class SentencePieceModels : IDisposable
{
    public string Root { get; }
    public string[] Strings { get; }
    public JsonElement Expected { get; }

    public SentencePieceModels()
    {
        Root = Path.Combine(Path.GetTempPath(), "reprogram-sentencepiece-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        PythonReference.Script("reference_sentencepiece.py", [Root, "11"], TimeSpan.FromMinutes(2), "python3-sentencepiece");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "expected.json")));
        Strings = doc.RootElement.GetProperty("strings").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Expected = doc.RootElement.GetProperty("expected").Clone();
    }

    public string Folder(string model) => Path.Combine(Root, model);

    public int[][] Ids(string model) => Expected.GetProperty(model).GetProperty("ids").EnumerateArray()
        .Select(a => a.EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToArray();

    public string[] Decoded(string model) => Expected.GetProperty(model).GetProperty("decoded").EnumerateArray().Select(e => e.GetString()!).ToArray();

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

public sealed class SentencePieceTests : IClassFixture<SentencePieceModels>
{
    private readonly SentencePieceModels models;

    public SentencePieceTests(SentencePieceModels models) => this.models = models;

    public static TheoryData<string, string> Sources => new()
    {
        { "bpe_llama", "tokenizer.model" }, { "bpe_llama", "tokenizer.json" },
        { "unigram_llama", "tokenizer.model" }, { "unigram_llama", "tokenizer.json" },
        { "unigram_t5", "tokenizer.model" }, { "unigram_t5", "tokenizer.json" },
    };

    /// <summary>A folder holding only the one tokenizer file (and the config), so that the loader has no other choice.</summary>
    private string Only(string model, string file)
    {
        var folder = Path.Combine(models.Root, $"{model}-{file}");
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(models.Folder(model), file), Path.Combine(folder, file), overwrite: true);
        File.Copy(Path.Combine(models.Folder(model), "tokenizer_config.json"), Path.Combine(folder, "tokenizer_config.json"), overwrite: true);
        return folder;
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void Ids_and_decoded_text_match_sentencepiece_on_every_string(string model, string file)
    {
        var tokenizer = HfTokenizer.Load(Only(model, file));
        Assert.IsType<SentencePieceTextTokenizer>(tokenizer);
        var expected = models.Ids(model);
        var decoded = models.Decoded(model);
        Assert.True(models.Strings.Length >= 300, $"only {models.Strings.Length} strings");
        var failures = new List<string>();
        for (var i = 0; i < models.Strings.Length; i++)
        {
            var ids = tokenizer.EncodeToIds(models.Strings[i]).ToArray();
            if (!ids.SequenceEqual(expected[i]))
            {
                failures.Add($"#{i} {JsonSerializer.Serialize(models.Strings[i])}: [{string.Join(",", ids)}], sentencepiece [{string.Join(",", expected[i])}]");
            }
            var text = tokenizer.Decode(expected[i]);
            if (text != decoded[i]) failures.Add($"#{i} decodes to {JsonSerializer.Serialize(text)}, sentencepiece {JsonSerializer.Serialize(decoded[i])}");
        }
        Assert.True(failures.Count == 0, $"{model} from {file}: {failures.Count} differences of {models.Strings.Length} strings:\n{string.Join("\n", failures.Take(10))}");
        // The strings do exercise byte fallback / unknown pieces, spaces and special tokens.
        var all = expected.SelectMany(e => e).ToHashSet();
        var unk = models.Expected.GetProperty(model).GetProperty("unk").GetInt32();
        Assert.True(model == "unigram_t5" ? all.Contains(unk) : all.Contains(3 + '\n'), "no unknown or byte-fallback piece among the references");
        Assert.Contains(models.Expected.GetProperty(model).GetProperty("bos").GetInt32(), all);
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void Odd_id_sequences_decode_as_sentencepiece_decodes_them(string model, string file)
    {
        var tokenizer = HfTokenizer.Load(Only(model, file));
        var odd = models.Expected.GetProperty(model).GetProperty("odd_ids").EnumerateArray().Select(a => a.EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToArray();
        var decoded = models.Expected.GetProperty(model).GetProperty("odd_decoded").EnumerateArray().Select(e => e.GetString()!).ToArray();
        for (var i = 0; i < odd.Length; i++) Assert.Equal(decoded[i], tokenizer.Decode(odd[i]));
    }

    [Fact]
    public void Sentencepiece_bpe_with_a_normalisation_map_is_refused_with_the_reason()
    {
        var e = Assert.Throws<NotSupportedException>(() => HfTokenizer.Load(Only("bpe_nfkc", "tokenizer.model")));
        Assert.Contains("nmt_nfkc", e.Message);
        Assert.Contains("Microsoft.ML.Tokenizers 2.0.1", e.Message);
        Assert.Contains("tokenizer.model", e.Message);
    }

    [Fact]
    public void Tokenizer_json_of_an_unknown_kind_is_refused_naming_what_it_found()
    {
        var folder = Path.Combine(models.Root, "wordlevel");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"),
            """{"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}, "pre_tokenizer": {"type": "Whitespace"}}""");
        var e = Assert.Throws<NotSupportedException>(() => HfTokenizer.Load(folder));
        Assert.Contains("'WordLevel'", e.Message);
        Assert.Contains("Whitespace", e.Message);

        // A BPE with neither byte-level nor ▁ markers: neither kind can be assumed.
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"),
            """{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}, "pre_tokenizer": {"type": "Whitespace"}}""");
        e = Assert.Throws<NotSupportedException>(() => HfTokenizer.Load(folder));
        Assert.Contains("'BPE'", e.Message);

        // A WordPiece tokenizer belongs to an encoder.
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), """{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}}""");
        e = Assert.Throws<NotSupportedException>(() => HfTokenizer.Load(folder));
        Assert.Contains("WordPiece", e.Message);
    }

    [Fact]
    public void Metaspace_first_puts_no_dummy_prefix_after_a_special_token()
    {
        // Hugging Face's non-legacy Llama/Mistral tokenizer.json: no normaliser, a Metaspace pre-tokenizer prepending "▁" only at the start.
        var folder = Only("bpe_llama", "tokenizer.json");
        var path = Path.Combine(folder, "tokenizer.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json["normalizer"] = null;
        json["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "\u2581", ["prepend_scheme"] = "first", ["split"] = false };
        var firstFolder = Path.Combine(models.Root, "bpe_llama-first");
        Directory.CreateDirectory(firstFolder);
        File.WriteAllText(Path.Combine(firstFolder, "tokenizer.json"), json.ToJsonString());
        var legacy = (SentencePieceTextTokenizer)HfTokenizer.Load(folder);
        var first = (SentencePieceTextTokenizer)HfTokenizer.Load(firstFolder);
        Assert.False(first.DummyPrefixAfterSpecialTokens);
        Assert.True(legacy.DummyPrefixAfterSpecialTokens);
        // Without special tokens both are the SentencePiece ids.
        var expected = models.Ids("bpe_llama");
        for (var i = 0; i < models.Strings.Length; i++)
        {
            if (!models.Strings[i].Contains("<s>") && !models.Strings[i].Contains("</s>") && !models.Strings[i].Contains("<unk>"))
                Assert.Equal(expected[i], first.EncodeToIds(models.Strings[i]).ToArray());
        }
        var withBos = first.EncodeToIds("<s>hello world").ToArray();
        var legacyIds = legacy.EncodeToIds("<s>hello world").ToArray();
        Assert.Equal(first.BosId, withBos[0]);
        Assert.StartsWith("\u2581", legacy.Piece(legacyIds[1]));
        Assert.False(first.Piece(withBos[1]).StartsWith('\u2581'), $"'{first.Piece(withBos[1])}' after <s> carries a dummy prefix");
        Assert.Equal("hello world", first.Decode(withBos));
        Assert.Equal("hello world", legacy.Decode(legacyIds));
    }

    [Fact]
    public void Prompt_bos_comes_from_the_post_processor_or_the_config()
    {
        Assert.Equal("<s>", HfTokenizer.PromptBos(Only("bpe_llama", "tokenizer.json")));
        var modelOnly = Only("unigram_llama", "tokenizer.model");
        Assert.Equal("<s>", HfTokenizer.PromptBos(modelOnly));
        File.WriteAllText(Path.Combine(modelOnly, "tokenizer_config.json"), """{"add_bos_token": false}""");
        Assert.Null(HfTokenizer.PromptBos(modelOnly));
    }

    [Fact]
    public void Added_tokens_beyond_the_vocabulary_are_recognised_in_text()
    {
        var folder = Only("bpe_llama", "tokenizer.json");
        var path = Path.Combine(folder, "tokenizer.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        var size = models.Expected.GetProperty("bpe_llama").GetProperty("pieces").GetInt32();
        json["added_tokens"]!.AsArray().Add(new JsonObject { ["id"] = size, ["content"] = "<|im_end|>", ["special"] = true });
        File.WriteAllText(path, json.ToJsonString());
        var tokenizer = HfTokenizer.Load(folder);
        var ids = tokenizer.EncodeToIds("hi<|im_end|>").ToArray();
        Assert.Equal(size, ids[^1]);
        Assert.Equal("hi", tokenizer.Decode(ids));
    }
}
