using System.Text;
using Reprogram.Experiments;
using Reprogram.Models.Causal;
using Reprogram.Models.Files;
using Reprogram.Models.Text;
using Reprogram.Models.Vision;
using Reprogram.Models.Zoo;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>
/// Every kind of bad safetensors file is refused by the one reader, before any tensor memory is taken, with a message
/// naming the file (full path) and what is wrong; and so by every reader of safetensors in the library: torchvision
/// state dicts (ResNet, ViT), saved manipulations, decoder, encoder and ViT checkpoint folders (single file and
/// shards), and the zoo's cache.
/// </summary>
public sealed class SafetensorsHostileTests(ITestOutputHelper output) : IDisposable
{
    private readonly string temp = Directory.CreateTempSubdirectory("reprogram-hostile-st-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    public static TheoryData<string> Cases() => new(HostileFiles.SafetensorsCases.Select(c => c.Case));

    /// <summary>Every reader of safetensors in the library, each with the bad file where it looks for its weights.</summary>
    public static readonly IReadOnlyDictionary<string, Func<string, byte[], (string BadFile, Action Load)>> Readers =
        new Dictionary<string, Func<string, byte[], (string, Action)>>
        {
            ["SafetensorsFile.Read"] = (dir, bytes) => File(dir, "x.safetensors", bytes, path => SafetensorsFile.Read(path)),
            ["torchvision ResNet state dict"] = (dir, bytes) => File(dir, "resnet.safetensors", bytes, path => ResNetLoader.Load(path)),
            ["torchvision ViT state dict"] = (dir, bytes) => File(dir, "vit.safetensors", bytes, path => ViTLoader.LoadTorchvision(path)),
            ["saved manipulation"] = (dir, bytes) => File(dir, "prompt.safetensors", bytes, path => LearnedManipulationFile.Read(path)),
            ["decoder checkpoint folder"] = (dir, bytes) => Folder(dir, Gpt2Config, bytes, folder => CheckpointLoader.Load(folder)),
            ["sharded decoder checkpoint folder"] = (dir, bytes) => Sharded(dir, bytes),
            ["encoder checkpoint folder"] = (dir, bytes) => Folder(dir, BertConfig, bytes, folder => EncoderCheckpoint.Load(folder), ("vocab.txt", BertVocabulary)),
            ["ViT checkpoint folder"] = (dir, bytes) => Folder(dir, "{\"model_type\": \"vit\"}", bytes, folder => ViTLoader.LoadHuggingFace(folder)),
            ["zoo cache"] = (dir, bytes) => ZooCacheFiles(dir, bytes),
        };

    public static TheoryData<string, string> ReaderCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var reader in Readers.Keys)
        foreach (var (name, _, _) in HostileFiles.ReaderCases) data.Add(reader, name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_reader_refuses_each_kind_of_bad_file_naming_it(string name)
    {
        var (_, bytes, expected) = HostileFiles.SafetensorsCases.Single(c => c.Case == name);
        var path = Path.Combine(temp, "bad.safetensors");
        System.IO.File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Read(path));
        output.WriteLine(e.Message);
        Assert.StartsWith($"{path} is not a valid safetensors file: ", e.Message);
        Assert.Contains(expected, e.Message);
        // The header check alone refuses it too, and the in-memory reader the same way.
        Assert.Equal(e.Message, Assert.Throws<InvalidDataException>(() => SafetensorsFile.ReadHeader(path)).Message);
        Assert.Equal(e.Message, Assert.Throws<InvalidDataException>(() => SafetensorsFile.Read(bytes, path)).Message);
    }

    [Theory]
    [MemberData(nameof(ReaderCases))]
    public void Every_reader_of_safetensors_refuses_it_naming_the_file(string reader, string name)
    {
        var (_, bytes, expected) = HostileFiles.ReaderCases.Single(c => c.Case == name);
        var (badFile, load) = Readers[reader](Directory.CreateDirectory(Path.Combine(temp, Guid.NewGuid().ToString("N")[..8])).FullName, bytes);
        var e = Assert.ThrowsAny<Exception>(load);
        output.WriteLine($"{e.GetType().Name}: {e.Message}");
        Assert.True(e is InvalidDataException or LearnedFileException, $"{e.GetType().Name}: {e.Message}");
        Assert.Contains(badFile, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_header_length_past_the_end_is_refused_without_allocating_it()
    {
        var path = Path.Combine(temp, "claims.safetensors");
        System.IO.File.WriteAllBytes(path, HostileFiles.Safetensors("{}", 0, claimedLength: 99_000_000));
        var before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<InvalidDataException>(() => SafetensorsFile.ReadHeader(path));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1_000_000, $"refusing a 99 MB header claim allocated {allocated:N0} bytes");
    }

    [Fact]
    public void A_valid_file_reads_and_a_several_megabyte_header_within_the_format_is_accepted()
    {
        var path = Path.Combine(temp, "good.safetensors");
        System.IO.File.WriteAllBytes(path, HostileFiles.ValidSafetensors());
        var tensors = SafetensorsFile.Read(path);
        Assert.Equal([2L, 2L], tensors["w"].shape);
        Assert.Equal([1f, 2f, 3f, 4f], tensors["w"].data<float>().ToArray());

        // Decided: the limit is the format's own (100,000,000 bytes), so a large but consistent header (here 5 MB of
        // metadata) is read; what makes a several-MB header hostile (overlaps, claims past the end) is refused above.
        var big = "{\"__metadata__\":{\"notes\":\"" + new string('x', 5_000_000) + "\"},\"w\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}";
        var bigPath = Path.Combine(temp, "big-header.safetensors");
        System.IO.File.WriteAllBytes(bigPath, HostileFiles.Safetensors(Encoding.UTF8.GetBytes(big), [7, 8, 9]));
        var header = SafetensorsFile.ReadHeader(bigPath);
        Assert.Equal(5_000_000, header.Metadata["notes"].Length);
        Assert.Equal([7, 8, 9], SafetensorsFile.Read(bigPath)["w"].data<byte>().ToArray());

        // Decided: bytes after the last tensor are ignored (the reference implementation refuses them), because
        // TorchSharp.PyBridge's SaveStateDict(path) leaves the old tail when it overwrites a longer file.
        var tail = Path.Combine(temp, "tail.safetensors");
        System.IO.File.WriteAllBytes(tail, [.. HostileFiles.ValidSafetensors(), .. new byte[96]]);
        Assert.Equal([1f, 2f, 3f, 4f], SafetensorsFile.Read(tail)["w"].data<float>().ToArray());
    }

    // ---- where each reader finds its weights ---------------------------------------------------------------------

    private const string Gpt2Config = "{\"model_type\": \"gpt2\", \"n_embd\": 8, \"n_head\": 2, \"n_layer\": 1, \"n_positions\": 16, \"vocab_size\": 10}";

    private const string BertConfig = "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1, " +
                                      "\"num_attention_heads\": 2, \"intermediate_size\": 16}";

    private const string BertVocabulary = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\nd\ne\n";

    private static (string, Action) File(string dir, string name, byte[] bytes, Action<string> load)
    {
        var path = Path.Combine(dir, name);
        System.IO.File.WriteAllBytes(path, bytes);
        return (path, () => load(path));
    }

    private static (string, Action) Folder(string dir, string config, byte[] bytes, Action<string> load, params (string Name, string Text)[] extra)
    {
        System.IO.File.WriteAllText(Path.Combine(dir, "config.json"), config);
        foreach (var (name, text) in extra) System.IO.File.WriteAllText(Path.Combine(dir, name), text);
        var path = Path.Combine(dir, "model.safetensors");
        System.IO.File.WriteAllBytes(path, bytes);
        return (path, () => load(dir));
    }

    private static (string, Action) Sharded(string dir, byte[] bytes)
    {
        System.IO.File.WriteAllText(Path.Combine(dir, "config.json"), Gpt2Config);
        System.IO.File.WriteAllText(Path.Combine(dir, CheckpointFolder.IndexFile),
            "{\"metadata\": {}, \"weight_map\": {\"wte.weight\": \"model-00001-of-00002.safetensors\", \"h.0.ln_1.weight\": \"model-00002-of-00002.safetensors\"}}");
        System.IO.File.WriteAllBytes(Path.Combine(dir, "model-00001-of-00002.safetensors"), HostileFiles.ValidSafetensors());
        var path = Path.Combine(dir, "model-00002-of-00002.safetensors");
        System.IO.File.WriteAllBytes(path, bytes);
        return (path, () => CheckpointLoader.Load(dir));
    }

    private static (string, Action) ZooCacheFiles(string dir, byte[] bytes)
    {
        var name = LanguageZoo.IclRulesName;
        var card = new ModelCard(name, "TinyGpt", "generated", 1, 1, 0, 0, 0, 0, 0, "0", "a test card", []);
        System.IO.File.WriteAllText(Path.Combine(dir, $"{name}-v1.json"), System.Text.Json.JsonSerializer.Serialize(card));
        var path = Path.Combine(dir, $"{name}-v1.safetensors");
        System.IO.File.WriteAllBytes(path, bytes);
        return (path, () => LanguageZoo.Load(name, cacheFolder: dir));
    }
}
