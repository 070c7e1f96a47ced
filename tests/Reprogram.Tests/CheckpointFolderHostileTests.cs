using Reprogram.Instruction;
using Reprogram.Models.Causal;
using Reprogram.Models.Clip;
using Reprogram.Models.Files;
using Reprogram.Models.Text;
using Reprogram.Models.Vision;
using TorchSharp.PyBridge;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>
/// Bad Hugging Face checkpoint folders are refused by name: a config.json that names an unknown architecture, is not
/// JSON, or has sizes that cannot be these weights; missing tensors; pickle weights only (never unpickled); a shard
/// index that points outside the folder; integer (quantized) tensors in a weight's place; corrupt tokenizer files of
/// every kind the loaders read.
/// </summary>
public sealed class CheckpointFolderHostileTests(ITestOutputHelper output) : IDisposable
{
    private readonly string temp = Directory.CreateTempSubdirectory("reprogram-hostile-ckpt-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    private const string Gpt2Config = "{\"model_type\": \"gpt2\", \"n_embd\": 8, \"n_head\": 2, \"n_layer\": 1, \"n_positions\": 16, \"vocab_size\": 10}";
    private const string BertConfig = "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"intermediate_size\": 16}";
    private const string BertVocabulary = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\nd\ne\n";

    private string NewFolder(params (string Name, string Text)[] files)
    {
        var folder = Directory.CreateDirectory(Path.Combine(temp, Guid.NewGuid().ToString("N")[..8])).FullName;
        foreach (var (name, text) in files) File.WriteAllText(Path.Combine(folder, name), text);
        return folder;
    }

    private static void Weights(string folder, params (string Name, long[] Shape)[] tensors)
    {
        var dict = tensors.ToDictionary(t => t.Name, t => zeros(t.Shape));
        Safetensors.SaveStateDict(Path.Combine(folder, "model.safetensors"), dict);
        foreach (var t in dict.Values) t.Dispose();
    }

    private T Refused<T>(Action load, params string[] expected) where T : Exception
    {
        var e = Assert.ThrowsAny<T>(load);
        output.WriteLine($"{e.GetType().Name}: {e.Message}");
        foreach (var phrase in expected) Assert.Contains(phrase, e.Message);
        return e;
    }

    [Fact]
    public void A_config_naming_an_unknown_architecture_is_refused_with_the_supported_ones()
    {
        var t5 = NewFolder(("config.json", "{\"model_type\": \"t5\", \"architectures\": [\"T5ForConditionalGeneration\"]}"));
        var config = Path.Combine(t5, "config.json");
        Refused<NotSupportedException>(() => CheckpointLoader.Load(t5), config, "'t5'", "supported: gpt2, llama");
        Refused<NotSupportedException>(() => EncoderCheckpoint.Load(t5), config, "'t5'", "supported: bert, roberta");
        Refused<NotSupportedException>(() => ViTLoader.LoadHuggingFace(NewFolder(("config.json", "{\"model_type\": \"t5\"}"), ("model.safetensors", ""))), "'t5'", "not a ViT");
        // model_type of the wrong JSON type: named, not an InvalidOperationException from the JSON reader.
        Refused<InvalidDataException>(() => CheckpointLoader.Load(NewFolder(("config.json", "{\"model_type\": 5}"))), "'model_type' is 5, not a string");
    }

    [Fact]
    public void A_config_that_is_not_json_or_whose_sizes_are_impossible_is_refused_before_anything_is_built()
    {
        var broken = NewFolder(("config.json", "{\"model_type\": \"gpt2\", \"n_embd\": "));
        Refused<InvalidDataException>(() => CheckpointLoader.Load(broken), Path.Combine(broken, "config.json"), "not valid JSON");
        Refused<InvalidDataException>(() => EncoderCheckpoint.Load(broken), Path.Combine(broken, "config.json"), "not valid JSON");
        Assert.False(EncoderCheckpoint.IsEncoderFolder(broken));

        var zeroHeads = NewFolder(("config.json", Gpt2Config.Replace("\"n_head\": 2", "\"n_head\": 0")));
        Refused<InvalidDataException>(() => CheckpointLoader.Load(zeroHeads), "'n_head' is 0");
        var notWhole = NewFolder(("config.json", Gpt2Config.Replace("\"n_layer\": 1", "\"n_layer\": 1e100")));
        Refused<InvalidDataException>(() => CheckpointLoader.Load(notWhole), "'n_layer' is 1e100, not a whole number");

        // A config asking for a 60-billion-parameter model next to a 16-byte weight file: refused from the headers, nothing allocated.
        var huge = NewFolder(("config.json", Gpt2Config.Replace("\"n_embd\": 8", "\"n_embd\": 65536").Replace("\"n_layer\": 1", "\"n_layer\": 12")));
        File.WriteAllBytes(Path.Combine(huge, "model.safetensors"), HostileFiles.ValidSafetensors());
        Refused<InvalidDataException>(() => CheckpointLoader.Load(huge), Path.Combine(huge, "config.json"), "does not belong to these weights");
    }

    [Fact]
    public void Missing_tensors_are_named_with_the_file()
    {
        var decoder = NewFolder(("config.json", Gpt2Config));
        Weights(decoder, ("wte.weight", [10, 8]));
        Refused<InvalidDataException>(() => CheckpointLoader.Load(decoder), "missing tensor 'transformer.wpe.weight'", Path.Combine(decoder, "model.safetensors"));

        var encoder = NewFolder(("config.json", BertConfig), ("vocab.txt", BertVocabulary));
        Weights(encoder, ("embeddings.word_embeddings.weight", [10, 8]));
        Refused<InvalidDataException>(() => EncoderCheckpoint.Load(encoder), "missing tensor 'encoder.layer.0.attention.self.query.weight'", encoder);
    }

    [Fact]
    public void A_weight_stored_as_integers_is_refused_by_name_not_converted()
    {
        // Wrong dtype: a quantized checkpoint's int8 values (or any integer tensor) in a weight's place would otherwise
        // be converted silently into a model that computes nonsense.
        static void IntegerWeights(string path, params (string Name, long[] Shape)[] tensors)
        {
            var dict = tensors.ToDictionary(t => t.Name, t => ones(t.Shape, dtype: ScalarType.Int8));
            Safetensors.SaveStateDict(path, dict);
            foreach (var t in dict.Values) t.Dispose();
        }

        var decoder = NewFolder(("config.json", Gpt2Config));
        IntegerWeights(Path.Combine(decoder, "model.safetensors"), ("wte.weight", [10, 8]));
        Refused<InvalidDataException>(() => CheckpointLoader.Load(decoder), "tensor 'wte.weight' is Int8, not floating point", Path.Combine(decoder, "model.safetensors"));

        var encoder = NewFolder(("config.json", BertConfig), ("vocab.txt", BertVocabulary));
        IntegerWeights(Path.Combine(encoder, "model.safetensors"), ("embeddings.word_embeddings.weight", [10, 8]));
        Refused<InvalidDataException>(() => EncoderCheckpoint.Load(encoder), "'embeddings.word_embeddings.weight' is Int8, not floating point", encoder);

        var vit = NewFolder(("config.json", "{\"model_type\": \"vit\", \"image_size\": 8, \"patch_size\": 4, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"hidden_size\": 8, \"intermediate_size\": 16}"));
        IntegerWeights(Path.Combine(vit, "model.safetensors"), ("embeddings.cls_token", [1, 1, 8]));
        Refused<InvalidDataException>(() => ViTLoader.LoadHuggingFace(vit), "'embeddings.cls_token' is Int8, not floating point", Path.Combine(vit, "model.safetensors"));

        // A whole torchvision ResNet-18 state dict with one weight as int8 (its int64 num_batches_tracked buffers are fine).
        var resnetFile = Path.Combine(temp, "resnet18-int8.safetensors");
        using (var resnet = new ResNet([2, 2, 2, 2], 1000))
        {
            var dict = resnet.state_dict().ToDictionary(kv => kv.Key, kv => kv.Key == "conv1.weight" ? ones(kv.Value.shape, dtype: ScalarType.Int8) : kv.Value);
            Safetensors.SaveStateDict(resnetFile, dict);
            dict["conv1.weight"].Dispose();
        }
        Refused<InvalidDataException>(() => ResNetLoader.Load(resnetFile), resnetFile, "1 tensor(s) of the wrong type: 'conv1.weight' is Int8, not floating point");
    }

    [Theory]
    [InlineData("pytorch_model.bin")]
    [InlineData("model.pt")]
    [InlineData("checkpoint.ckpt")]
    public void A_folder_with_only_pickle_weights_is_refused_and_the_pickle_never_read(string pickle)
    {
        var decoder = NewFolder(("config.json", Gpt2Config), (pickle, "this would be a pickle; it is never opened"));
        Refused<InvalidDataException>(() => CheckpointLoader.Load(decoder), decoder, pickle, "never read here", "safetensors");
        var encoder = NewFolder(("config.json", BertConfig), ("vocab.txt", BertVocabulary), (pickle, "never opened"));
        Refused<InvalidDataException>(() => EncoderCheckpoint.Load(encoder), encoder, pickle, "never read here");
        // The decoder front door of #!icl / #!cot / #!soft-prompt too.
        Refused<InvalidDataException>(() => InstructionModel.Load(decoder, CPU), pickle, "never read here");
    }

    [Theory]
    [InlineData("../outside.safetensors", "not a plain file name")]
    [InlineData("/etc/passwd", "not a plain file name")]
    [InlineData("pytorch_model-00001.bin", "pickle files are never read")]
    [InlineData("missing.safetensors", "is missing")]
    public void A_shard_index_is_followed_only_inside_the_folder(string shard, string expected)
    {
        var folder = NewFolder(("config.json", Gpt2Config),
            (CheckpointFolder.IndexFile, $"{{\"weight_map\": {{\"wte.weight\": \"{shard}\"}}}}"));
        File.WriteAllBytes(Path.Combine(temp, "outside.safetensors"), HostileFiles.ValidSafetensors());
        Refused<Exception>(() => CheckpointLoader.Load(folder), expected);
    }

    [Fact]
    public void Corrupt_tokenizer_files_are_named()
    {
        // Decoder tokenizers (HfTokenizer): tokenizer.json, vocab.json + merges.txt, tokenizer.model, tokenizer_config.json.
        var truncatedJson = NewFolder(("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0"));
        Refused<InvalidDataException>(() => HfTokenizer.Load(truncatedJson), Path.Combine(truncatedJson, "tokenizer.json"), "not valid JSON");
        var noModel = NewFolder(("tokenizer.json", "{\"version\": \"1.0\"}"));
        Refused<InvalidDataException>(() => HfTokenizer.Load(noModel), noModel, "tokenizer.json");
        var badIds = NewFolder(("vocab.json", "{\"a\": \"zero\"}"), ("merges.txt", "#version: 0.2\n"));
        Refused<InvalidDataException>(() => HfTokenizer.Load(badIds), Path.Combine(badIds, "vocab.json"), "not a whole number");
        var binaryVocab = NewFolder(("merges.txt", ""));
        File.WriteAllBytes(Path.Combine(binaryVocab, "vocab.json"), [0xFF, 0xFE, 0x00, 0x01, 0x80]);
        Refused<InvalidDataException>(() => HfTokenizer.Load(binaryVocab), Path.Combine(binaryVocab, "vocab.json"));
        var sentencePiece = NewFolder();
        File.WriteAllBytes(Path.Combine(sentencePiece, "tokenizer.model"), Enumerable.Range(0, 200).Select(i => (byte)(i * 91 + 7)).ToArray());
        Refused<InvalidDataException>(() => HfTokenizer.Load(sentencePiece), Path.Combine(sentencePiece, "tokenizer.model"));
        var config = NewFolder(("vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2}"), ("merges.txt", "a b\n"), ("tokenizer_config.json", "[not json"));
        Refused<InvalidDataException>(() => HfTokenizer.Load(config), Path.Combine(config, "tokenizer_config.json"), "not valid JSON");

        // Encoder tokenizers: BERT's vocab.txt / tokenizer.json, RoBERTa's vocab.json.
        var bert = NewFolder(("config.json", BertConfig), ("vocab.txt", "just\nsome\nwords\n"));
        Refused<InvalidDataException>(() => EncoderTokenizer.ForBert(bert), bert, "vocab.txt");
        var bertJson = NewFolder(("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": [1, 2]}}"));
        Refused<InvalidDataException>(() => EncoderTokenizer.ForBert(bertJson), bertJson, "tokenizer.json");
        var roberta = NewFolder(("vocab.json", "[1, 2, 3]"), ("merges.txt", ""));
        Refused<InvalidDataException>(() => EncoderTokenizer.ForRoberta(roberta), Path.Combine(roberta, "vocab.json"), "not an object");

        // CLIP's vocab.json.
        var clip = NewFolder(("vocab.json", "{\"<|startoftext|>\": 0, \"<|endoftext|>\": -1}"), ("merges.txt", ""));
        Refused<InvalidDataException>(() => ClipTokenizer.Load(clip), Path.Combine(clip, "vocab.json"), "not a whole number of at least 0");
    }
}
