using System.Text.Json;
using Reprogram.Experiments;
using Reprogram.Taxonomy;

namespace Reprogram.Tests;

[Collection("zoo")]
public class DecoderPromptTuningTests(DecoderCheckpoints checkpoints) : IClassFixture<DecoderCheckpoints>
{
    [Theory]
    [InlineData("soft", Location.Embedding)]
    [InlineData("deep", Location.Hidden)]
    [InlineData("prefix", Location.Hidden)]
    public void Each_method_tunes_a_frozen_zoo_decoder_with_a_verbalizer(string method, Location location)
    {
        var result = PromptTuning.Run(new PromptTuningOptions
        {
            Method = method, Model = "icl-rules", Task = "sentiment", TrainCount = 32, TestCount = 16, Tokens = 3, Epochs = 1, BatchSize = 8, MaxLength = 40,
        });
        Assert.True(result.Main.FrozenUnchanged);
        Assert.Equal(location, result.Main.Coordinates!.Location);
        Assert.Equal(OutputAlignment.RuleBased, result.Main.AlignmentKind);
        Assert.Contains("verbalizer", result.Main.Name);
        Assert.Equal(method == "soft", result.Nearest.Count == 3);
    }

    [Fact]
    public void A_hugging_face_checkpoint_folder_is_tuned_with_its_own_tokenizer()
    {
        // The generated GPT-2 checkpoint (vocabulary of 100) with a byte-level BPE vocabulary that fits it: the 95 printable
        // ASCII bytes in GPT-2's byte-to-unicode form, plus the label words " x" and " y".
        var folder = Path.Combine(Path.GetTempPath(), $"gpt2-tuning-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(checkpoints.Folder("gpt2"))) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        var vocab = new Dictionary<string, int>();
        for (var b = 32; b < 127; b++) vocab[b == 32 ? "Ġ" : ((char)b).ToString()] = vocab.Count;
        vocab["Ġx"] = vocab.Count;
        vocab["Ġy"] = vocab.Count;
        File.WriteAllText(Path.Combine(folder, "vocab.json"), JsonSerializer.Serialize(vocab));
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\nĠ x\nĠ y\n");
        var csv = Path.Combine(folder, "task.csv");
        File.WriteAllLines(csv, ["text,label", .. Enumerable.Range(0, 24).Select(i => $"{(i % 2 == 0 ? "aaa bab" : "bbb aba")} {i},{(i % 2 == 0 ? "x" : "y")}")]);

        var result = PromptTuning.Run(new PromptTuningOptions { Model = folder, Task = csv, TrainCount = 16, TestCount = 8, Tokens = 2, Epochs = 1, BatchSize = 8 });
        Assert.True(result.Main.FrozenUnchanged);
        Assert.Equal(OutputAlignment.RuleBased, result.Main.AlignmentKind);
        Assert.Contains("gpt2", result.Main.Model);
        Assert.Equal(2, result.Nearest.Count);
    }

    [Theory]
    [InlineData("soft", Location.Embedding)]
    [InlineData("deep", Location.Hidden)]
    [InlineData("prefix", Location.Hidden)]
    public void A_sentencepiece_llama_with_a_sliding_window_takes_every_prompt_and_stays_unchanged(string method, Location location)
    {
        // The generated Mistral checkpoint: SentencePiece tokenizer.model (byte fallback, so any text encodes), window 4.
        var result = PromptTuning.Run(new PromptTuningOptions
        {
            Method = method, Model = checkpoints.Folder("mistral"), Task = "sentiment", TrainCount = 16, TestCount = 8, Tokens = 2, Epochs = 2, BatchSize = 8,
            MaxLength = 48, Device = "cpu",
        });
        Assert.True(result.Main.FrozenUnchanged);
        Assert.Equal(result.Main.ChecksumBefore, result.Main.ChecksumAfter);
        Assert.Equal(location, result.Main.Coordinates!.Location);
        Assert.Contains("mistral", result.Main.Model);
        Assert.True(result.Main.Curve.Count > 0 && result.Main.Curve.All(p => double.IsFinite(p.Loss)));
        Assert.Equal(method == "soft", result.Nearest.Count == 2);
    }

    [Fact]
    public void A_folder_that_is_not_a_checkpoint_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => PromptTuning.Run(new PromptTuningOptions { Model = Path.GetTempPath() }));
        Assert.Contains("checkpoint folder", e.Message);
    }
}
