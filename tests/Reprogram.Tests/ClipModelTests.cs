using System.Text.Json.Nodes;
using Reprogram.Models.Clip;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>CLIP in the Hugging Face CLIPModel layout against the independent PyTorch reference; strict loading.</summary>
public sealed class ClipModelTests(ITestOutputHelper output)
{
    private static VisionCheckpoints Checkpoints => VisionCheckpoints.Shared;
    private static string Folder => Checkpoints.Folder("clip");

    [Fact]
    public void Image_and_text_embeddings_and_logits_match_the_reference()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var reference = Checkpoints.Reference("clip");
        using var clip = ClipLoader.Load(Folder);
        Assert.Equal(24, clip.OutputSize);
        Assert.Null(clip.OutputLabels);
        Assert.Equal([0.48145466f, 0.4578275f, 0.40821073f], clip.Vision.Mean);   // OpenAI CLIP's, no preprocessor_config.json

        var image = clip.ImageEmbeddings(reference["images"]);
        var ids = reference["input_ids"];
        var text = clip.Text.TextEmbeddings(ids);                                  // end positions found from the ids
        var di = VisionCheckpoints.AssertParity(image, reference["image_embeds"], "CLIP image embeddings");
        var dt = VisionCheckpoints.AssertParity(text, reference["text_embeds"], "CLIP text embeddings");
        var dl = VisionCheckpoints.AssertParity(clip.Logits(image, text), reference["logits_per_image"], "CLIP logits_per_image");
        output.WriteLine($"CLIP: max |diff| image {di:E3}, text {dt:E3}, logits {dl:E3}");

        // Through the tokenizer: the same prompts give the same ids and embeddings.
        string[] prompts = ["a photo of a cat.", "a photo of a dog.", "a photo of a bird.", "a photo of a car.", "a photo of a ship."];
        var (encoded, ends) = clip.Tokenizer!.EncodeBatch(prompts);
        Assert.Equal(ids.data<long>().ToArray(), encoded.data<long>().ToArray());
        Assert.Equal(clip.Text.EndPositions(ids).data<long>().ToArray(), ends.data<long>().ToArray());
        VisionCheckpoints.AssertParity(clip.TextEmbeddings(prompts), reference["text_embeds"], "CLIP text embeddings from strings");
    }

    [Fact]
    public void Zero_shot_classifier_scores_the_prompts_with_clips_logits()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var reference = Checkpoints.Reference("clip");
        using var clip = ClipLoader.Load(Folder);
        using var classifier = clip.ZeroShotClassifier(["cat", "dog", "bird", "car", "ship"]);
        Assert.Equal(["a photo of a cat.", "a photo of a dog.", "a photo of a bird.", "a photo of a car.", "a photo of a ship."], classifier.OutputLabels);
        VisionCheckpoints.AssertParity(classifier.Forward(reference["images"]), reference["logits_per_image"], "zero-shot classifier");
        using var two = clip.ZeroShotClassifier(["cat", "dog"], ["a photo of a {}.", "a drawing of a {}."]);
        Assert.Equal(["a photo of a cat.", "a photo of a dog.", "a drawing of a cat.", "a drawing of a dog."], two.OutputLabels);
        Assert.Throws<ArgumentException>(() => clip.ZeroShotClassifier(["cat"], ["no slot"]));
    }

    [Fact]
    public void Gelu_towers_match_the_reference()
    {
        // LAION's OpenCLIP ports say hidden_act "gelu": the same weights with erf GELU in both towers.
        var folder = Directory.CreateTempSubdirectory("clip-gelu-");
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            foreach (var f in Directory.GetFiles(Folder)) File.Copy(f, Path.Combine(folder.FullName, Path.GetFileName(f)));
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder.FullName, "config.json")))!;
            config["text_config"]!["hidden_act"] = "gelu";
            config["vision_config"]!["hidden_act"] = "gelu";
            File.WriteAllText(Path.Combine(folder.FullName, "config.json"), config.ToJsonString());
            var reference = Checkpoints.Reference("clip");
            using var clip = ClipLoader.Load(folder.FullName);
            VisionCheckpoints.AssertParity(clip.ImageEmbeddings(reference["images"]), reference["image_embeds_gelu"], "CLIP (gelu) image embeddings");
            VisionCheckpoints.AssertParity(clip.Text.TextEmbeddings(reference["input_ids"]), reference["text_embeds_gelu"], "CLIP (gelu) text embeddings");
            Assert.True(VisionCheckpoints.MaxDifference(reference["image_embeds_gelu"], reference["image_embeds"]) > 1e-3, "the activation made no difference");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Loader_is_strict_and_names_the_tensor_and_file()
    {
        var folder = Directory.CreateTempSubdirectory("clip-strict-");
        try
        {
            using var scope = NewDisposeScope();
            foreach (var f in Directory.GetFiles(Folder)) File.Copy(f, Path.Combine(folder.FullName, Path.GetFileName(f)));
            var weights = Path.Combine(folder.FullName, "model.safetensors");
            var dict = Safetensors.LoadStateDict(weights);
            dict.Remove("vision_model.encoder.layers.1.mlp.fc2.bias");
            dict["text_projection.weight"] = zeros(24, 33);
            dict["text_model.pooler.weight"] = zeros(4);
            using (var stream = File.Create(weights)) Safetensors.SaveStateDict(stream, dict);
            var e = Assert.Throws<InvalidDataException>(() => ClipLoader.Load(folder.FullName));
            output.WriteLine(e.Message);
            Assert.Contains("'vision_model.encoder.layers.1.mlp.fc2.bias' [48]", e.Message);
            Assert.Contains("'text_projection.weight' is [24, 33] in the file, expected [24, 32]", e.Message);
            Assert.Contains("'text_model.pooler.weight' [4]", e.Message);
            Assert.Contains(weights, e.Message);

            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder.FullName, "config.json")))!;
            config["text_config"]!["hidden_act"] = "relu";
            File.WriteAllText(Path.Combine(folder.FullName, "config.json"), config.ToJsonString());
            var n = Assert.Throws<NotSupportedException>(() => ClipLoader.Load(folder.FullName));
            Assert.Contains("hidden_act 'relu'", n.Message);
            config["text_config"]!["hidden_act"] = "quick_gelu";
            File.WriteAllText(Path.Combine(folder.FullName, "config.json"), config.ToJsonString());

            File.Delete(Path.Combine(folder.FullName, "merges.txt"));
            var m = Assert.Throws<FileNotFoundException>(() => ClipLoader.Load(folder.FullName));
            Assert.Contains("vocab.json and merges.txt", m.Message);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Long_texts_are_refused_or_truncated_with_the_end_token_last()
    {
        using var clip = ClipLoader.Load(Folder);
        var tokenizer = clip.Tokenizer!;
        var longText = string.Join(" ", Enumerable.Repeat("cat", 100));
        var e = Assert.Throws<ArgumentException>(() => tokenizer.EncodeBatch([longText]));
        Assert.Contains("longer than CLIP's context of 77", e.Message);
        var (ids, ends) = tokenizer.EncodeBatch([longText, "a cat"], truncate: true);
        Assert.Equal([2, 77], ids.shape);
        Assert.Equal(tokenizer.EndOfText, ids[0, 76].item<long>());
        Assert.Equal([76L, 3L], ends.data<long>().ToArray());
        Assert.Equal("a cat", tokenizer.Decode(tokenizer.Encode("A  Cat")));
    }
}
