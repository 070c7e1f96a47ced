using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Reprogram.Data;
using Reprogram.Experiments;
using Reprogram.Manipulations;

namespace Reprogram.Tests;

/// <summary>
/// A soft prompt in Hugging Face PEFT's prompt-tuning adapter layout: the configuration's fields and the weights' key
/// against PEFT's documented names, the bytes read by an independent safetensors reader, write → read back the same
/// tensor, and the adapter loaded into an experiment (written here, and written as PEFT writes it).
/// </summary>
[Collection("zoo")]
public sealed class PeftPromptTuningTests(DecoderCheckpoints checkpoints) : IClassFixture<DecoderCheckpoints>, IDisposable
{
    private readonly string temp = Directory.CreateTempSubdirectory("reprogram-peft-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    /// <summary>
    /// Every field PEFT writes to adapter_config.json for prompt tuning (asdict of PromptTuningConfig): huggingface/peft
    /// src/peft/config.py (PeftConfigMixin: task_type, peft_type, auto_mapping, peft_version; PeftConfig:
    /// base_model_name_or_path, revision, inference_mode; PromptLearningConfig: num_virtual_tokens, token_dim,
    /// num_transformer_submodules, num_attention_heads, num_layers, modules_to_save) and
    /// src/peft/tuners/prompt_tuning/config.py (prompt_tuning_init, prompt_tuning_init_text, tokenizer_name_or_path, tokenizer_kwargs).
    /// </summary>
    private static readonly string[] PeftFields =
    [
        "task_type", "peft_type", "auto_mapping", "peft_version", "base_model_name_or_path", "revision", "inference_mode",
        "num_virtual_tokens", "token_dim", "num_transformer_submodules", "num_attention_heads", "num_layers", "modules_to_save",
        "prompt_tuning_init", "prompt_tuning_init_text", "tokenizer_name_or_path", "tokenizer_kwargs",
    ];

    /// <summary>The generated GPT-2 checkpoint with a byte-level vocabulary that fits it and a two-class CSV (as DecoderPromptTuningTests).</summary>
    private (string Model, string Csv) Gpt2AndTask()
    {
        var folder = Path.Combine(temp, "gpt2");
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(checkpoints.Folder("gpt2"))) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        var vocab = new Dictionary<string, int>();
        for (var b = 32; b < 127; b++) vocab[b == 32 ? "Ġ" : ((char)b).ToString()] = vocab.Count;
        vocab["Ġx"] = vocab.Count;
        vocab["Ġy"] = vocab.Count;
        File.WriteAllText(Path.Combine(folder, "vocab.json"), JsonSerializer.Serialize(vocab));
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\nĠ x\nĠ y\n");
        var csv = Path.Combine(temp, "task.csv");
        File.WriteAllLines(csv, ["text,label", .. Enumerable.Range(0, 24).Select(i => $"{(i % 2 == 0 ? "aaa bab" : "bbb aba")} {i},{(i % 2 == 0 ? "x" : "y")}")]);
        return (folder, csv);
    }

    private PromptTuningResult Tune(string model, string csv) =>
        PromptTuning.Run(new PromptTuningOptions { Model = model, Task = csv, TrainCount = 16, TestCount = 8, Tokens = 3, Epochs = 2, BatchSize = 8, Init = "vocab" });

    [Fact]
    public void The_adapter_has_PEFTs_files_fields_and_tensor_key_and_reads_back_bit_exact()
    {
        var (model, csv) = Gpt2AndTask();
        var result = Tune(model, csv);
        var folder = Path.Combine(temp, "adapter");
        result.SavePeft(folder);
        var learned = ((SoftPrompt)result.Run!.Seeds[0].Learned!).Vectors.detach().cpu().data<float>().ToArray();

        Assert.True(File.Exists(Path.Combine(folder, "adapter_config.json")));
        Assert.True(File.Exists(Path.Combine(folder, "adapter_model.safetensors")));
        var json = File.ReadAllText(Path.Combine(folder, "adapter_config.json"));
        var config = JsonNode.Parse(json)!.AsObject();
        Assert.Equal(PeftFields.Order(StringComparer.Ordinal), config.Select(p => p.Key));          // every field, sorted as PEFT's json.dumps(sort_keys=True)
        Assert.Contains("\n  \"auto_mapping\": null,", json);                                       // indent 2, nulls written
        var gpt2 = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "config.json")))!;
        Assert.Equal("PROMPT_TUNING", (string?)config["peft_type"]);
        Assert.Equal("CAUSAL_LM", (string?)config["task_type"]);
        Assert.Equal(3, (int)config["num_virtual_tokens"]!);
        Assert.Equal((int)gpt2["n_embd"]!, (int)config["token_dim"]!);
        Assert.Equal((int)gpt2["n_layer"]!, (int)config["num_layers"]!);
        Assert.Equal((int)gpt2["n_head"]!, (int)config["num_attention_heads"]!);
        Assert.Equal(1, (int)config["num_transformer_submodules"]!);
        Assert.True((bool)config["inference_mode"]!);
        Assert.Equal("SAMPLE_VOCAB", (string?)config["prompt_tuning_init"]);
        Assert.Equal(Path.GetFullPath(model), (string?)config["base_model_name_or_path"]);
        Assert.Null(config["peft_version"]);   // PEFT fills in its own version when it loads a config without one

        // An independent reader (Python, the safetensors layout by hand): one tensor, prompt_embeddings, F32 [3, D], format "pt".
        var reference = ReadWithPython(Path.Combine(folder, "adapter_model.safetensors"));
        Assert.Equal(["prompt_embeddings"], reference["keys"]!.AsArray().Select(k => (string)k!));
        Assert.Equal("F32", (string?)reference["dtype"]);
        Assert.Equal([3, (int)gpt2["n_embd"]!], reference["shape"]!.AsArray().Select(d => (int)d!));
        Assert.Equal("pt", (string?)reference["metadata"]!["format"]);
        Assert.Equal(learned, reference["values"]!.AsArray().Select(v => (float)(double)v!));

        var read = PeftPromptTuning.Read(folder);
        Assert.Equal(learned, read.Embeddings);
        Assert.True(read.FromReprogram);
        Assert.Equal(result.Main.ChecksumBefore, read.Metadata["model.checksum"]);
        Assert.Contains("PeftModel.from_pretrained", File.ReadAllText(Path.Combine(folder, "README.md")));
    }

    [Fact]
    public void An_exported_adapter_loads_into_an_experiment_and_gives_the_runs_accuracy_again()
    {
        var (model, csv) = Gpt2AndTask();
        var result = Tune(model, csv);
        var folder = Path.Combine(temp, "adapter");
        result.SavePeft(folder);

        var again = Prediction.Evaluate(folder);
        Assert.Equal(result.Main.Metric(MetricNames.TestAccuracy)!.Value, again.Accuracy!.Value);    // exactly
        Assert.Equal(result.Run!.Seeds[0].Records.Select(r => r.Output), again.Records.Select(r => r.Output));
        Assert.True(again.ChecksumChecked);
        Assert.Contains("PEFT prompt-tuning adapter", again.Result.Settings["loaded from"]);
        Assert.True(again.Result.FrozenUnchanged);
    }

    [Fact]
    public void An_adapter_written_the_way_PEFT_writes_it_loads_onto_its_base_model_and_a_wrong_one_is_refused()
    {
        var (model, csv) = Gpt2AndTask();
        var gpt2 = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "config.json")))!;
        int hidden = (int)gpt2["n_embd"]!, layers = (int)gpt2["n_layer"]!, heads = (int)gpt2["n_head"]!;
        var folder = Path.Combine(temp, "from-python");
        var values = Enumerable.Range(0, 4 * hidden).Select(i => MathF.Sin(i) * 0.02f).ToArray();
        WriteAsPeft(folder, model, 4, hidden, layers, heads, values);

        var read = PeftPromptTuning.Read(folder);
        Assert.False(read.FromReprogram);
        Assert.Equal(values, read.Embeddings);

        var evaluated = Prediction.Evaluate(folder, csv);
        Assert.True(evaluated.Labelled);
        Assert.Equal(24, evaluated.Records.Count);
        Assert.False(evaluated.ChecksumChecked);
        Assert.Contains("names its base model only", evaluated.Result.Settings["frozen model checked"]);
        Assert.Equal(["x", "y"], evaluated.Labels);
        Assert.True(evaluated.Result.FrozenUnchanged);

        // Without a task it cannot know what to answer; a token width that is not the model's is refused; so is LoRA.
        Assert.Contains("does not say which task", Assert.Throws<ArgumentException>(() => Prediction.Evaluate(folder)).Message);
        var wide = Path.Combine(temp, "wide");
        WriteAsPeft(wide, model, 4, hidden * 2, layers, heads, new float[4 * hidden * 2]);
        Assert.Contains("token_dim", Assert.Throws<LearnedFileException>(() => Prediction.Evaluate(wide, csv)).Message);
        var lora = Path.Combine(temp, "lora");
        Directory.CreateDirectory(lora);
        File.WriteAllText(Path.Combine(lora, "adapter_config.json"), "{\"peft_type\": \"LORA\", \"task_type\": \"CAUSAL_LM\", \"r\": 8}");
        Assert.Contains("LORA", Assert.Throws<LearnedFileException>(() => PeftPromptTuning.Read(lora)).Message);
        File.WriteAllBytes(Path.Combine(folder, "adapter_model.safetensors"), [1, 2, 3]);
        Assert.Contains("a safetensors file starts with an 8-byte header length", Assert.Throws<LearnedFileException>(() => PeftPromptTuning.Read(folder)).Message);
    }

    [Fact]
    public void An_encoder_soft_prompt_or_a_prefix_is_not_exported_and_says_why()
    {
        var sentiment = new PromptTuningOptions { Task = "sentiment", TrainCount = 16, TestCount = 8, Tokens = 2, Epochs = 1, BatchSize = 8, MaxLength = 24 };
        var encoder = PromptTuning.Run(sentiment);
        Assert.Contains("not a decoder", Assert.Throws<InvalidOperationException>(() => encoder.SavePeft(Path.Combine(temp, "a"))).Message);
        var prefix = PromptTuning.Run(sentiment with { Model = "icl-rules", Method = "prefix", Reparameterisation = 8, MaxLength = 40 });
        Assert.Contains("holds a soft prompt", Assert.Throws<InvalidOperationException>(() => prefix.SavePeft(Path.Combine(temp, "b"))).Message);
    }

    /// <summary>What PEFT's save_pretrained writes for prompt tuning (json.dumps(sort_keys=True, indent=2); safetensors with {"format": "pt"}), by hand.</summary>
    private static void WriteAsPeft(string folder, string baseModel, int tokens, int hidden, int layers, int heads, float[] values)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "adapter_config.json"), $$"""
            {
              "auto_mapping": null,
              "base_model_name_or_path": {{JsonSerializer.Serialize(baseModel)}},
              "inference_mode": true,
              "modules_to_save": null,
              "num_attention_heads": {{heads}},
              "num_layers": {{layers}},
              "num_transformer_submodules": 1,
              "num_virtual_tokens": {{tokens}},
              "peft_type": "PROMPT_TUNING",
              "peft_version": "0.17.1",
              "prompt_tuning_init": "RANDOM",
              "prompt_tuning_init_text": null,
              "revision": null,
              "task_type": "CAUSAL_LM",
              "token_dim": {{hidden}},
              "tokenizer_kwargs": null,
              "tokenizer_name_or_path": null
            }
            """);
        var header = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" },
            ["prompt_embeddings"] = new { dtype = "F32", shape = new[] { tokens, hidden }, data_offsets = new[] { 0, values.Length * 4 } },
        }));
        using var file = File.Create(Path.Combine(folder, "adapter_model.safetensors"));
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        file.Write(length);
        file.Write(header);
        Span<byte> b = stackalloc byte[4];
        foreach (var v in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(b, v);
            file.Write(b);
        }
    }

    /// <summary>Reads a safetensors file with Python's struct and json only (no safetensors package), as an independent check of the bytes.</summary>
    private static JsonNode ReadWithPython(string path)
    {
        const string script = """
            import json, struct, sys
            data = open(sys.argv[1], 'rb').read()
            (n,) = struct.unpack('<Q', data[:8])
            header = json.loads(data[8:8 + n].decode('utf-8'))
            meta = header.pop('__metadata__', {})
            keys = sorted(header)
            t = header[keys[0]]
            start, end = t['data_offsets']
            raw = data[8 + n + start: 8 + n + end]
            values = list(struct.unpack('<%df' % (len(raw) // 4), raw))
            print(json.dumps({'keys': keys, 'dtype': t['dtype'], 'shape': t['shape'], 'metadata': meta, 'values': values}))
            """;
        return JsonNode.Parse(PythonReference.Run(["-c", script, path], "The Python reader of the adapter file", TimeSpan.FromMinutes(1), "python3 (standard library only)"))!;
    }
}
