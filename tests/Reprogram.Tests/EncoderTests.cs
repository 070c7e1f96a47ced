using System.Text.Json.Nodes;
using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Models.Text;
using Reprogram.Taxonomy;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>Tiny random BERT and RoBERTa checkpoints and reference hidden states from reference_encoders.py (plain PyTorch).</summary>
public sealed class EncoderCheckpoints : IDisposable
{
    public string Root { get; }

    public EncoderCheckpoints()
    {
        Root = Path.Combine(Path.GetTempPath(), "reprogram-encoders-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        PythonReference.Script("reference_encoders.py", [Root, "5"], TimeSpan.FromMinutes(2));
    }

    public string Folder(string family) => Path.Combine(Root, family);

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

public sealed class EncoderTests : IClassFixture<EncoderCheckpoints>
{
    private readonly EncoderCheckpoints checkpoints;

    public EncoderTests(EncoderCheckpoints checkpoints) => this.checkpoints = checkpoints;

    public static TheoryData<string> Families => new() { "bert", "roberta" };

    [Theory]
    [MemberData(nameof(Families))]
    public void Hidden_states_match_the_pytorch_reference_at_every_real_position(string family)
    {
        var loaded = EncoderCheckpoint.Load(checkpoints.Folder(family));
        using var model = loaded.Model;
        var reference = Safetensors.LoadStateDict(Path.Combine(checkpoints.Folder(family), "reference.safetensors"));
        var (ids, mask, expected) = (reference["input_ids"], reference["attention_mask"], reference["last_hidden_state"]);
        using var _ = no_grad();
        var hidden = model.Forward(ids, mask);
        Assert.Equal(expected.shape, hidden.shape);
        var real = mask.to(ScalarType.Bool).unsqueeze(-1).expand_as(hidden);
        var difference = (hidden.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs().masked_select(real).max().item<double>();
        Assert.True(difference < 1e-4, $"{family}: max |hidden - reference| = {difference:E3}");
        Assert.True(expected.std().item<float>() > 0.1, "the reference is not trivially small");
        // Padding changes nothing at real positions: row 1 alone (unpadded) gives the same states.
        var alone = model.Forward(ids[1..2, ..7], ones(1, 7, dtype: ScalarType.Int64));
        Assert.True((alone - hidden[1..2, ..7]).abs().max().item<float>() < 1e-5);
        // Mean pooling over real positions.
        var pooled = BertEncoder.MeanPooled(hidden, mask);
        var expectedPooled = (expected * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim: true);
        Assert.True((pooled - expectedPooled).abs().max().item<float>() < 1e-4);
        Console.WriteLine($"{family} parity: max |diff| = {difference:E3}, largest |hidden| {expected.abs().max().item<float>():F2}");
    }

    [Fact]
    public void Task_model_heads_are_skipped_and_listed_and_roberta_positions_start_after_the_padding_id()
    {
        var bert = EncoderCheckpoint.Load(checkpoints.Folder("bert"));
        Assert.Equal("bert", bert.Family);
        Assert.Contains("cls.predictions.transform.dense.weight", bert.SkippedHeads);
        Assert.Contains("bert.pooler.dense.weight", bert.SkippedHeads);
        Assert.Equal(40, bert.Model.MaxPositions);
        var roberta = EncoderCheckpoint.Load(checkpoints.Folder("roberta"));
        Assert.Equal(["pooler.dense.bias", "pooler.dense.weight"], roberta.SkippedHeads);
        Assert.Equal(2, roberta.Model.Config.PositionOffset);
        Assert.Equal(32, roberta.Model.MaxPositions);
        Assert.Contains("Longer", Assert.Throws<ArgumentException>(() => roberta.Model.forward(zeros(1, 33, dtype: ScalarType.Int64))).Message.Replace("longer", "Longer"));
        bert.Model.Dispose();
        roberta.Model.Dispose();
    }

    [Fact]
    public void Tokenizers_put_start_and_end_tokens_around_word_pieces_and_byte_level_pieces()
    {
        var bert = EncoderCheckpoint.Load(checkpoints.Folder("bert"));
        var vocab = File.ReadAllLines(Path.Combine(checkpoints.Folder("bert"), "vocab.txt"));
        int B(string token) => Array.IndexOf(vocab, token);
        Assert.Equal([B("[CLS]"), B("hello"), B(","), B("world"), B("!"), B("[SEP]")], bert.Tokenizer.EncodeOne("Hello, WORLD!"));
        Assert.Equal([B("[CLS]"), B("frozen"), B("model"), B("##s"), B("[SEP]")], bert.Tokenizer.EncodeOne("Frozen models"));
        Assert.Equal("##s", bert.Tokenizer.TokenText(B("##s")));
        var (ids, mask) = bert.Tokenizer.Encode(["hello", "hello world"]);
        Assert.Equal(new long[] { B("[CLS]"), B("hello"), B("[SEP]"), B("[PAD]") }, ids[0].data<long>().ToArray());
        Assert.Equal(new long[] { 1, 1, 1, 0 }, mask[0].data<long>().ToArray());

        var roberta = EncoderCheckpoint.Load(checkpoints.Folder("roberta"));
        var rv = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Path.Combine(checkpoints.Folder("roberta"), "vocab.json")))!;
        Assert.Equal([rv["<s>"], rv["hello"], rv["\u0120world"], rv["!"], rv["</s>"]], roberta.Tokenizer.EncodeOne("hello world!"));
        Assert.Equal(rv["<pad>"], roberta.Tokenizer.PaddingId);
        Assert.Equal("hello world!", roberta.Tokenizer.Decode(roberta.Tokenizer.EncodeOne("hello world!").Select(i => (long)i)));
        bert.Model.Dispose();
        roberta.Model.Dispose();
    }

    [Fact]
    public void Strict_loader_names_missing_unexpected_and_wrong_shape_tensors()
    {
        var folder = Copy("roberta", "broken");
        Rewrite(folder, t =>
        {
            t.Remove("encoder.layer.1.output.dense.bias");
            t["encoder.layer.0.attention.self.key.weight"] = zeros(64, 32);
            t["encoder.layer.0.attention.self.rotary.weight"] = zeros(4);
        });
        var e = Assert.Throws<InvalidDataException>(() => EncoderCheckpoint.Load(folder));
        Assert.Contains("missing tensor 'encoder.layer.1.output.dense.bias' (expected shape [64])", e.Message);
        Assert.Contains("'encoder.layer.0.attention.self.key.weight'", e.Message);
        Assert.Contains("expected shape [64, 64], found [64, 32]", e.Message);
        Assert.Contains("unexpected tensor 'encoder.layer.0.attention.self.rotary.weight'", e.Message);
        Assert.Contains(Path.Combine(folder, "model.safetensors"), e.Message);
    }

    [Theory]
    [InlineData("hidden_act", "relu", "hidden_act 'relu'")]
    [InlineData("position_embedding_type", "relative_key", "position_embedding_type 'relative_key'")]
    [InlineData("model_type", "electra", "'electra' is not an encoder")]
    public void Configs_the_encoder_cannot_follow_are_refused_by_name(string key, string value, string expected)
    {
        var folder = Copy("bert", $"config-{key}");
        var path = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!;
        config[key] = value;
        config["architectures"] = new JsonArray("X");
        File.WriteAllText(path, config.ToJsonString());
        Assert.Contains(expected, Assert.ThrowsAny<Exception>(() => EncoderCheckpoint.Load(folder)).Message);
    }

    [Theory]
    [InlineData("bert", "soft", Location.Embedding)]
    [InlineData("bert", "prefix", Location.Hidden)]
    [InlineData("bert", "deep", Location.Hidden)]
    [InlineData("roberta", "soft", Location.Embedding)]
    [InlineData("roberta", "prefix", Location.Hidden)]
    [InlineData("roberta", "deep", Location.Hidden)]
    public void Soft_prompt_takes_the_checkpoint_folder_and_every_prompt_leaves_the_encoder_unchanged(string family, string method, Location location)
    {
        var options = new PromptTuningOptions
        {
            Model = checkpoints.Folder(family), Method = method, Task = "sentiment", TrainCount = 24, TestCount = 8, Tokens = 3,
            Epochs = 2, BatchSize = 8, MaxLength = 16, Device = "cpu",
        };
        var result = PromptTuning.Run(options);
        Assert.True(result.Main.FrozenUnchanged);
        Assert.Equal(result.Main.ChecksumBefore, result.Main.ChecksumAfter);
        Assert.Equal(location, result.Main.Coordinates!.Location);
        Assert.Contains(family, result.Main.Model);
        Assert.True(result.Main.TrainableParameters > 0);
        Assert.True(result.Main.Curve.Count > 0 && result.Main.Curve.All(p => double.IsFinite(p.Loss)));
        // The checkpoint on disk, loaded afresh, has the checksum the run started from.
        var fresh = EncoderCheckpoint.Load(checkpoints.Folder(family));
        using var frozen = new FrozenModel<BertEncoder>(fresh.Model, "fresh", CPU);
        Assert.Equal(result.Main.ChecksumBefore, frozen.ChecksumAtFreeze);
        if (method == "soft") Assert.Equal(3, result.Nearest.Count);
    }

    private string Copy(string family, string name)
    {
        var folder = Path.Combine(checkpoints.Root, $"{family}-{name}");
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(checkpoints.Folder(family))) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)), true);
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
