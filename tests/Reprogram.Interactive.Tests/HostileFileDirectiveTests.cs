using System.Buffers.Binary;
using System.Text;
using Microsoft.DotNet.Interactive.Events;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp.PyBridge;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Reprogram.Interactive.Tests;

/// <summary>
/// The hostile files the library's loaders refuse (tests/Reprogram.Tests/*HostileTests.cs) reach them through the
/// directives a user types: each cell fails with one message that names the file and what is wrong, with no stack
/// trace, and the kernel runs the next cell.
/// </summary>
public sealed class HostileFileDirectiveTests(ITestOutputHelper output) : KernelTestBase, IDisposable
{
    private readonly string temp = Directory.CreateTempSubdirectory("reprogram-hostile-cells-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    private const string Gpt2Config = "{\"model_type\": \"gpt2\", \"n_embd\": 8, \"n_head\": 2, \"n_layer\": 1, \"n_positions\": 16, \"vocab_size\": 10}";
    private const string BertConfig = "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"intermediate_size\": 16}";
    private const string BertVocabulary = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\nd\ne\n";

    /// <summary>A checkpoint folder; its name has capitals, as a user's paths do (a path is case-sensitive: it must reach the loader as given).</summary>
    private string Folder(params (string Name, string Text)[] files)
    {
        var folder = Directory.CreateDirectory(Path.Combine(temp, "My-Model-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        foreach (var (name, text) in files) File.WriteAllText(Path.Combine(folder, name), text);
        return folder;
    }

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(Directory.CreateDirectory(Path.Combine(temp, Guid.NewGuid().ToString("N")[..8])).FullName, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A safetensors file: 8-byte little-endian header length, the JSON header, the data.</summary>
    private static byte[] SafetensorsBytes(string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        return bytes;
    }

    /// <summary>An image folder with classes a and b of one small PNG each, and <paramref name="extra"/> written into b.</summary>
    private string ImageFolder(string? extraName = null, byte[]? extra = null, params string[] classes)
    {
        var root = Path.Combine(temp, Guid.NewGuid().ToString("N")[..8]);
        foreach (var c in classes.Length > 0 ? classes : ["a", "b"])
        {
            Directory.CreateDirectory(Path.Combine(root, c));
            using var image = new Image<Rgb24>(4, 4, new Rgb24(10, 200, 30));
            image.SaveAsPng(Path.Combine(root, c, "ok.png"));
        }
        if (extraName is not null) File.WriteAllBytes(Path.Combine(root, "b", extraName), extra!);
        return root;
    }

    private async Task Refused(string cell, params string[] expected)
    {
        var message = await SubmitFails(cell);
        output.WriteLine($"{cell}\n  -> {message}\n");
        foreach (var phrase in expected) Assert.Contains(phrase, message);
        Assert.DoesNotContain("   at ", message);                 // no stack trace
        Assert.DoesNotContain("Exception", message);              // no exception type shown instead of a sentence
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task A_bad_safetensors_file_given_as_a_model_is_refused_by_name()
    {
        var overlapping = Write("overlap.safetensors", SafetensorsBytes(
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24));
        await Refused($"#!reprogram --model {overlapping} --dataset digits --train 8 --test 8 --epochs 1", overlapping, "overlap");
        var beyond = Write("beyond.safetensors", [.. BitConverter.GetBytes(1000UL), .. "{}"u8]);
        await Refused($"#!reprogram --model {beyond} --dataset digits --train 8 --test 8 --epochs 1", beyond, "only 2 follow");
        var dtype = Write("dtype.safetensors", SafetensorsBytes("{\"a\":{\"dtype\":\"F33\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16));
        await Refused($"#!reprogram --model {dtype} --dataset digits --train 8 --test 8 --epochs 1", dtype, "'F33', which is not a safetensors dtype");
    }

    [Fact]
    public async Task A_legacy_pickle_given_as_a_model_is_refused_and_never_unpickled()
    {
        // A bare pickle (protocol 2): what torch.save wrote before PyTorch 1.6; unpickling it could run code.
        var pickle = Write("legacy.pth", [0x80, 0x02, .. "cos\nsystem\n(S'touch pwned'\ntR."u8]);
        await Refused($"#!reprogram --model {pickle} --dataset digits --train 8 --test 8 --epochs 1", pickle, "legacy torch.save format");
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(pickle)!, "pwned")));
    }

    [Fact]
    public async Task Bad_checkpoint_folders_are_refused_by_name()
    {
        var t5 = Folder(("config.json", "{\"model_type\": \"t5\", \"architectures\": [\"T5ForConditionalGeneration\"]}"));
        await Refused($"#!icl --model {t5} --shots 0 --queries 2 --seeds 1", "'t5'", "gpt2");

        var pickleOnly = Folder(("config.json", Gpt2Config), ("pytorch_model.bin", "this would be a pickle; it is never opened"));
        await Refused($"#!icl --model {pickleOnly} --shots 0 --queries 2 --seeds 1", "pytorch_model.bin", "never read here");

        var missing = Folder(("config.json", BertConfig), ("vocab.txt", BertVocabulary));
        using (var word = zeros(10, 8)) TorchSharp.PyBridge.Safetensors.SaveStateDict(Path.Combine(missing, "model.safetensors"), new Dictionary<string, Tensor> { ["embeddings.word_embeddings.weight"] = word });
        await Refused($"#!soft-prompt --model {missing} --task sentiment --train 8 --test 4 --epochs 1", missing, "missing tensor 'encoder.layer.0.attention.self.query.weight'");

        var quantized = Folder(("config.json", BertConfig), ("vocab.txt", BertVocabulary));
        using (var word = ones(10, 8, dtype: ScalarType.Int8)) TorchSharp.PyBridge.Safetensors.SaveStateDict(Path.Combine(quantized, "model.safetensors"), new Dictionary<string, Tensor> { ["embeddings.word_embeddings.weight"] = word });
        await Refused($"#!soft-prompt --model {quantized} --task sentiment --train 8 --test 4 --epochs 1", quantized, "'embeddings.word_embeddings.weight' is Int8, not floating point");
    }

    [Fact]
    public async Task Bad_image_folders_are_refused_by_name()
    {
        var text = ImageFolder("notes.png", "plain text with an image extension"u8.ToArray());
        await Refused($"#!reprogram --model fashion-cnn --dataset {text} --train 2 --test 2 --epochs 1", Path.Combine(text, "b", "notes.png"), "cannot be read");

        var oneClass = ImageFolder(classes: "only");
        await Refused($"#!reprogram --model fashion-cnn --dataset {oneClass} --train 2 --test 2 --epochs 1", "one class (only)");
    }

    [Fact]
    public async Task Bad_csv_and_jsonl_files_are_refused_by_name()
    {
        var binary = Write("binary.csv", [0x89, .. "PNG\r\n"u8, 0x1A, 0x0A, 0, 0, 0, 13]);
        await Refused($"#!icl --model icl-rules --task {binary} --shots 0 --queries 2 --seeds 1", binary, "NUL byte");

        var utf16 = Write("utf16.csv", Encoding.Unicode.GetBytes("text,label\nthe film was great,positive\nawful,negative\n"));
        await Refused($"#!soft-prompt --model minilm --task {utf16} --train 2 --test 2 --epochs 1", utf16, "UTF-16");

        var oneClass = Write("one-class.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": \"x\"}\n"u8.ToArray());
        await Refused($"#!icl --model icl-rules --task {oneClass} --shots 0 --queries 2 --seeds 1", oneClass, "has one class");
    }
}
