using System.Text.Json;
using System.Text.Json.Nodes;
using Reprogram.Frozen;
using Reprogram.Models.Causal;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>
/// Writes the tiny random checkpoints and reference logits once per test run, with an independent PyTorch
/// implementation (reference_decoders.py under /usr/bin/python3).
/// </summary>
public sealed class DecoderCheckpoints : IDisposable
{
    public string Root { get; }

    public DecoderCheckpoints()
    {
        Root = Path.Combine(Path.GetTempPath(), "reprogram-decoders-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        PythonReference.Script("reference_decoders.py", [Root, "1234"], TimeSpan.FromMinutes(2));
    }

    public string Folder(string kind) => Path.Combine(Root, kind);

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

public sealed class DecoderTests : IClassFixture<DecoderCheckpoints>
{
    private readonly DecoderCheckpoints checkpoints;

    public DecoderTests(DecoderCheckpoints checkpoints) => this.checkpoints = checkpoints;

    public static TheoryData<string> Kinds => new() { "gpt2", "llama", "qwen2", "mistral" };
    /// <summary>The checkpoint families and the zoo's own decoder (TinyGpt), for the cache, generation and scoring tests.</summary>
    public static TheoryData<string> CachedKinds => new() { "gpt2", "llama", "qwen2", "mistral", "tinygpt" };

    private ICausalLm Load(string kind)
    {
        if (kind != "tinygpt") return CheckpointLoader.Load(checkpoints.Folder(kind));
        manual_seed(3);
        var model = new TinyGpt(new GptConfig(VocabularySize: 100, MaxPositions: 64, Layers: 2, Heads: 2, HiddenSize: 32));
        model.eval();
        return model;
    }

    private static double MaxDifference(Tensor a, Tensor b) => (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();

    /// <summary>Float32 results of the same math in another order: equal within 1e-5 relative to the largest logit.</summary>
    private static void AssertClose(Tensor actual, Tensor expected, string what)
    {
        var difference = MaxDifference(actual, expected);
        var scale = Math.Max(1.0, expected.abs().max().item<float>());
        Assert.True(difference < 1e-5 * scale, $"{what}: max |difference| {difference:E3} (largest logit {scale:F2})");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Logits_match_the_pytorch_reference(string kind)
    {
        using var model = Load(kind);
        var reference = Safetensors.LoadStateDict(Path.Combine(checkpoints.Folder(kind), "reference.safetensors"));
        var ids = reference["input_ids"];
        using var _ = no_grad();
        var logits = model.Forward(ids);
        Assert.Equal(reference["logits"].shape, logits.shape);
        var difference = MaxDifference(logits, reference["logits"]);
        Assert.True(difference < 1e-4, $"{kind}: max |logits - reference| = {difference:E3}");
        Assert.True(reference["logits"].std().item<float>() > 0.1, "the reference logits are not trivially small");
        Console.WriteLine($"{kind} parity: max |diff| = {difference:E3}, largest |logit| {reference["logits"].abs().max().item<float>():F2}");
    }

    [Theory]
    [MemberData(nameof(CachedKinds))]
    public void Cached_forward_equals_full_forward_and_prefix_cache_is_reusable(string kind)
    {
        using var model = Load(kind);
        using var _ = no_grad();
        var prefix = tensor(new long[] { 5, 17, 42, 8 }).unsqueeze(0);
        var first = tensor(new long[] { 9, 3, 77 }).unsqueeze(0);
        var second = tensor(new long[] { 60, 1 }).unsqueeze(0);
        using var shared = new KvCache(model.Layers);
        model.Forward(prefix, shared);
        Assert.Equal(4, shared.Length);
        foreach (var continuation in new[] { first, second })
        {
            using var cache = shared.Clone();
            var cached = model.Forward(continuation, cache);                          // [1, n, V]
            var full = model.Forward(cat([prefix, continuation], 1));                  // [1, 4 + n, V]
            AssertClose(cached, full[.., 4..], $"{kind}: cached continuation vs recomputing");
            Assert.Equal(4 + continuation.shape[1], cache.Length);
        }
        Assert.Equal(4, shared.Length);   // the shared prefix was not modified by its clones
        // One token at a time as well.
        using var stepwise = new KvCache(model.Layers);
        var all = cat([prefix, first], 1);
        var steps = Enumerable.Range(0, (int)all.shape[1]).Select(i => model.Forward(all[.., i..(i + 1)], stepwise)).ToArray();
        AssertClose(cat(steps, 1), model.Forward(all), $"{kind}: token by token vs at once");
        // Logits of the last positions only: the tail of the full logits.
        var tail = model.Forward(all, lastPositions: 2);
        Assert.Equal(2, tail.shape[1]);
        AssertClose(tail, model.Forward(all)[.., ^2..], $"{kind}: last positions vs the full forward");
    }

    [Theory]
    [MemberData(nameof(CachedKinds))]
    public void Generation_is_the_same_with_and_without_cache(string kind)
    {
        using var model = Load(kind);
        var prompt = tensor(new long[] { 3, 14, 15, 92, 65, 35, 89, 79 }, [2, 4]);
        foreach (var (temperature, topK) in new[] { (0.0, (int?)null), (1.0, (int?)null), (0.8, (int?)10) })
        {
            var cached = CausalLm.Generate(model, prompt, 12, temperature, topK, seed: 7, useCache: true);
            var uncached = CausalLm.Generate(model, prompt, 12, temperature, topK, seed: 7, useCache: false);
            Assert.Equal(new long[] { 2, 16 }, cached.shape);
            Assert.Equal(cached.data<long>().ToArray(), uncached.data<long>().ToArray());
            Assert.Equal(prompt.data<long>().ToArray(), cached[.., ..4].contiguous().data<long>().ToArray());
        }
        // Sampling is seeded: another seed gives another sequence (100-token vocabulary, 24 draws).
        var a = CausalLm.Generate(model, prompt, 12, 1.0, null, seed: 7);
        var b = CausalLm.Generate(model, prompt, 12, 1.0, null, seed: 8);
        Assert.NotEqual(a.data<long>().ToArray(), b.data<long>().ToArray());
        // Greedy on a single row through the long[] overload agrees with the batch.
        var greedy = CausalLm.Generate(model, new long[] { 3, 14, 15, 92 }, 12);
        Assert.Equal(CausalLm.Generate(model, prompt, 12)[0].data<long>().ToArray(), greedy);
    }

    [Theory]
    [MemberData(nameof(CachedKinds))]
    public void Left_padded_batch_generates_like_each_row_alone(string kind)
    {
        using var model = Load(kind);
        var ids = tensor(new long[] { 0, 0, 7, 21, 4, 11, 30, 2 }, [2, 4]);
        var mask = tensor(new long[] { 0, 0, 1, 1, 1, 1, 1, 1 }, [2, 4]);
        var batch = CausalLm.Generate(model, ids, 6, attentionMask: mask);
        Assert.Equal(CausalLm.Generate(model, new long[] { 7, 21 }, 6)[2..], batch[0, 4..].data<long>().ToArray());
        Assert.Equal(CausalLm.Generate(model, new long[] { 4, 11, 30, 2 }, 6)[4..], batch[1, 4..].data<long>().ToArray());
    }

    [Theory]
    [MemberData(nameof(CachedKinds))]
    public void Scoring_batched_equals_unbatched_equals_full_forward(string kind)
    {
        using var model = Load(kind);
        long[] prefix = [1, 50, 23, 9];
        var continuations = new List<long[]> { new long[] { 4 }, new long[] { 88, 12, 40 }, new long[] { 7, 7 } };
        var batched = CausalLm.ScoreContinuations(model, prefix, continuations, batch: true);
        var single = CausalLm.ScoreContinuations(model, prefix, continuations, batch: false);
        using var _ = no_grad();
        for (var i = 0; i < continuations.Count; i++)
        {
            var all = prefix.Concat(continuations[i]).ToArray();
            var logp = nn.functional.log_softmax(model.Forward(tensor(all).unsqueeze(0))[0].to(ScalarType.Float64), -1);
            var manual = 0.0;
            for (var j = prefix.Length; j < all.Length; j++) manual += logp[j - 1, all[j]].item<double>();
            Assert.True(Math.Abs(batched[i] - single[i]) < 1e-4, $"{kind} #{i}: batched {batched[i]} vs unbatched {single[i]}");
            Assert.True(Math.Abs(manual - single[i]) < 1e-9, $"{kind} #{i}: unbatched {single[i]} vs manual {manual}");
            Assert.True(batched[i] < 0);
        }
    }

    [Fact]
    public void SentencePiece_llama_checkpoint_tokenizes_as_sentencepiece_and_its_sliding_window_matters()
    {
        // The folder holds a tokenizer.model trained by google/sentencepiece; the reference ids are its encoding, BOS first.
        var folder = checkpoints.Folder("mistral");
        var tokenizer = HfTokenizer.Load(folder);
        Assert.IsType<Reprogram.Models.Tokenizers.SentencePieceTextTokenizer>(tokenizer);
        var bos = HfTokenizer.PromptBos(folder);
        Assert.Equal("<s>", bos);
        var reference = Safetensors.LoadStateDict(Path.Combine(folder, "reference.safetensors"));
        var ids = reference["input_ids"];
        var texts = File.ReadAllLines(Path.Combine(folder, "reference_text.txt"));
        for (var row = 0; row < texts.Length; row++)
        {
            var encoded = tokenizer.EncodeToIds(bos + texts[row]).Select(i => (long)i).ToArray();
            Assert.Equal(ids[row].data<long>().ToArray(), encoded[..(int)ids.shape[1]]);
        }
        using var model = CheckpointLoader.Load(folder);
        Assert.Equal(4, model.Config.SlidingWindow);
        Assert.Equal("mistral", model.Config.ModelType);

        // Without the window the first 4 positions are unchanged and later ones differ: the window is what the reference applies.
        var noWindow = Copy("mistral", "nowindow");
        var configPath = Path.Combine(noWindow, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!;
        config.AsObject().Remove("sliding_window");
        File.WriteAllText(configPath, config.ToJsonString());
        using var full = CheckpointLoader.Load(noWindow);
        using var _ = no_grad();
        var windowed = model.Forward(ids);
        var plain = full.Forward(ids);
        Assert.True(MaxDifference(windowed[.., ..4], plain[.., ..4]) < 1e-5);
        Assert.True(MaxDifference(windowed[.., 4..], plain[.., 4..]) > 1e-2);
        Assert.True(MaxDifference(plain, reference["logits"]) > 1e-2);
    }

    [Fact]
    public void Qwen2_with_use_sliding_window_is_refused_with_the_reason()
    {
        var folder = Copy("qwen2", "window");
        var configPath = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!;
        config["sliding_window"] = 16;
        config["use_sliding_window"] = true;
        File.WriteAllText(configPath, config.ToJsonString());
        var e = Assert.Throws<NotSupportedException>(() => CheckpointLoader.Load(folder));
        Assert.Contains("use_sliding_window", e.Message);
        // Without use_sliding_window Qwen2's sliding_window is ignored, as Hugging Face ignores it.
        config["use_sliding_window"] = false;
        File.WriteAllText(configPath, config.ToJsonString());
        using var model = CheckpointLoader.Load(folder);
        Assert.Null(model.Config.SlidingWindow);
    }

    [Fact]
    public void Missing_tensor_is_named_with_its_shape_and_file()
    {
        var folder = Copy("gpt2", "missing");
        Rewrite(folder, t => t.Remove("transformer.h.1.mlp.c_fc.bias"));
        var e = Assert.Throws<InvalidDataException>(() => CheckpointLoader.Load(folder));
        Assert.Contains("missing tensor 'transformer.h.1.mlp.c_fc.bias'", e.Message);
        Assert.Contains("[256]", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void Wrong_shape_names_the_tensor_and_both_shapes()
    {
        var folder = Copy("llama", "shape");
        Rewrite(folder, t => t["model.layers.0.self_attn.k_proj.weight"] = zeros(48, 64));
        var e = Assert.Throws<InvalidDataException>(() => CheckpointLoader.Load(folder));
        Assert.Contains("'model.layers.0.self_attn.k_proj.weight'", e.Message);
        Assert.Contains("expected shape [32, 64], found [48, 64]", e.Message);
        Assert.Contains(Path.Combine(folder, "model.safetensors"), e.Message);
    }

    [Fact]
    public void Conv1D_shape_is_reported_in_the_checkpoints_layout()
    {
        var folder = Copy("gpt2", "conv");
        Rewrite(folder, t => t["transformer.h.0.attn.c_attn.weight"] = zeros(192, 64));   // nn.Linear layout, not Conv1D
        var e = Assert.Throws<InvalidDataException>(() => CheckpointLoader.Load(folder));
        Assert.Contains("'transformer.h.0.attn.c_attn.weight'", e.Message);
        Assert.Contains("expected shape [64, 192], found [192, 64]", e.Message);
    }

    [Fact]
    public void Unexpected_tensor_is_reported()
    {
        var folder = Copy("qwen2", "unexpected");
        Rewrite(folder, t => t["model.layers.0.self_attn.o_proj.bias"] = zeros(64));
        var e = Assert.Throws<InvalidDataException>(() => CheckpointLoader.Load(folder));
        Assert.Contains("unexpected tensor 'model.layers.0.self_attn.o_proj.bias'", e.Message);
    }

    [Fact]
    public void Unknown_model_type_is_reported()
    {
        var folder = Copy("llama", "unknown");
        var configPath = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!;
        config["model_type"] = "mamba";
        config["architectures"] = new JsonArray("MambaForCausalLM");
        File.WriteAllText(configPath, config.ToJsonString());
        var e = Assert.Throws<NotSupportedException>(() => CheckpointLoader.Load(folder));
        Assert.Contains("'mamba'", e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void Gpt2_tensors_without_the_transformer_prefix_load()
    {
        var folder = Copy("gpt2", "noprefix");
        Rewrite(folder, t =>
        {
            foreach (var name in t.Keys.ToList())
            {
                t[name["transformer.".Length..]] = t[name];
                t.Remove(name);
            }
        });
        using var plain = Load("gpt2");
        using var renamed = CheckpointLoader.Load(folder);
        var ids = tensor(new long[] { 1, 2, 3 }).unsqueeze(0);
        using var _ = no_grad();
        Assert.Equal(0.0, MaxDifference(plain.Forward(ids), renamed.Forward(ids)));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Hidden_manipulation_changes_logits_and_keeps_shapes(string kind)
    {
        using var model = Load(kind);
        using var _ = no_grad();
        var ids = tensor(new long[] { 5, 6, 7, 8, 9, 10 }, [2, 3]);
        var plain = model.ForwardEmbeddings(model.Embed(ids));
        var noop = new TestManipulation(model, prefixLength: 0, inserted: 0);
        Assert.Equal(0.0, MaxDifference(plain, model.ForwardEmbeddings(model.Embed(ids), noop)));

        var prefixOnly = new TestManipulation(model, prefixLength: 3, inserted: 0);
        var withPrefix = model.ForwardEmbeddings(model.Embed(ids), prefixOnly, ones(2, 3, dtype: ScalarType.Int64));
        Assert.Equal(plain.shape, withPrefix.shape);
        Assert.True(MaxDifference(plain, withPrefix) > 1e-3);

        var deep = new TestManipulation(model, prefixLength: 2, inserted: 2);
        var withDeep = model.ForwardEmbeddings(model.Embed(ids), deep, ones(2, 3, dtype: ScalarType.Int64));
        Assert.Equal(new long[] { 2, 5, model.VocabularySize }, withDeep.shape);

        // The manipulation's prefix is stored in the cache on its first pass and reused after.
        using var cache = new KvCache(model.Layers);
        var next = tensor(new long[] { 11, 12 }, [2, 1]);
        model.ForwardEmbeddings(model.Embed(ids), prefixOnly, null, cache);
        var cached = model.Forward(next, cache);
        var full = model.ForwardEmbeddings(model.Embed(cat([ids, next], 1)), prefixOnly);
        AssertClose(cached, full[.., 3..], $"{kind}: prefix + cache vs recomputing");
    }

    /// <summary>Prefix keys/values for every layer with the model's query-head count, and optional positions inserted at layer 0.</summary>
    private sealed class TestManipulation(ICausalLm model, int prefixLength, int inserted) : IHiddenManipulation
    {
        private readonly Tensor keys = randn([1, model.Heads, prefixLength, model.Config.HeadSize], generator: new Generator(3)) * 2;
        private readonly Tensor values = randn([1, model.Heads, prefixLength, model.Config.HeadSize], generator: new Generator(4)) * 2;
        private readonly Tensor extra = randn([1, inserted, model.HiddenSize], generator: new Generator(5));

        public Tensor LayerInput(int layer, Tensor hidden) =>
            layer == 0 && inserted > 0 ? cat([extra.expand(hidden.shape[0], -1, -1), hidden], 1) : hidden;

        public (Tensor Keys, Tensor Values)? PrefixKeyValues(int layer, long batch) =>
            prefixLength == 0 ? null : (keys.expand(batch, -1, -1, -1), values.expand(batch, -1, -1, -1));
    }

    [Fact]
    public void Gpt2_byte_level_bpe_tokenizer_loads_from_vocab_and_merges()
    {
        var folder = Path.Combine(checkpoints.Root, "tokenizer");
        Directory.CreateDirectory(folder);
        // GPT-2's byte-to-unicode table: printable bytes map to themselves, others to 256 + n.
        var chars = new List<string>();
        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            chars.Add(((char)(printable ? b : 256 + n++)).ToString());
        }
        var vocab = chars.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
        string[] merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d"];
        foreach (var m in merges) vocab[m.Replace(" ", "")] = vocab.Count;
        vocab["<|endoftext|>"] = vocab.Count;
        File.WriteAllText(Path.Combine(folder, "vocab.json"), JsonSerializer.Serialize(vocab));
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n" + string.Join("\n", merges) + "\n");
        var tokenizer = HfTokenizer.Load(folder);
        var ids = tokenizer.EncodeToIds("hello world!");
        Assert.Equal(new[] { vocab["hello"], vocab["Ġworld"], vocab["!"] }, ids);
        Assert.Equal(new[] { vocab["h"], vocab["Ã"], vocab["©"] }, tokenizer.EncodeToIds("hé"));   // é = C3 A9 as bytes
        Assert.Equal(new[] { vocab["hello"], vocab["<|endoftext|>"] }, tokenizer.EncodeToIds("hello<|endoftext|>"));
        Assert.Equal("hello world!", tokenizer.Decode(ids));

        // The same vocabulary and merges inside a tokenizer.json.
        var jsonFolder = Path.Combine(checkpoints.Root, "tokenizer-json");
        Directory.CreateDirectory(jsonFolder);
        var tokenizerJson = new JsonObject { ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel" }, ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = JsonSerializer.SerializeToNode(vocab), ["merges"] = JsonSerializer.SerializeToNode(merges) } };
        File.WriteAllText(Path.Combine(jsonFolder, "tokenizer.json"), tokenizerJson.ToJsonString());
        Assert.Equal(ids, HfTokenizer.Load(jsonFolder).EncodeToIds("hello world!"));
    }

    private string Copy(string kind, string name)
    {
        var folder = Path.Combine(checkpoints.Root, $"{kind}-{name}");
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(checkpoints.Folder(kind))) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)), true);
        return folder;
    }

    private static void Rewrite(string folder, Action<Dictionary<string, Tensor>> change)
    {
        var path = Path.Combine(folder, "model.safetensors");
        var tensors = Safetensors.LoadStateDict(path);
        change(tensors);
        Safetensors.SaveStateDict(path, tensors);
    }
}
