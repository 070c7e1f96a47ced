using System.Text.Json;
using Reprogram.Models.Vision;

namespace Reprogram.Models.Clip;

/// <summary>
/// Loads a Hugging Face CLIPModel folder: config.json, model.safetensors (text_model.*, vision_model.*,
/// visual_projection, text_projection, logit_scale), vocab.json + merges.txt (the tokenizer) and, when present,
/// preprocessor_config.json (image_mean, image_std; OpenAI CLIP's otherwise). Strict: every missing, unexpected or
/// wrong-shape tensor is named with the file; the position_ids buffers of older checkpoints are skipped.
/// </summary>
public static class ClipLoader
{
    public static ClipModel Load(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"No CLIP checkpoint folder at {Path.GetFullPath(folder)}.");
        var configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{folder} has no config.json.", configPath);
        var weightsPath = Path.Combine(folder, "model.safetensors");
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"{folder} has no model.safetensors.", weightsPath);
        ClipConfig config;
        using (var json = Files.CheckpointFolder.ReadConfig(folder)) config = ClipConfig.Read(json.RootElement, Path.GetFullPath(configPath));
        var tokenizer = ClipTokenizer.Load(folder, config.Text.MaxPositions);
        if (tokenizer.VocabularySize > config.Text.VocabularySize)
            throw new InvalidDataException($"{folder}: vocab.json has ids up to {tokenizer.VocabularySize - 1}, the text tower embeds {config.Text.VocabularySize}.");
        var (mean, std) = ViTLoader.Preprocessing(folder, ImageNormalization.ClipMean, ImageNormalization.ClipStd);
        var model = new ClipModel(config, mean, std, tokenizer);
        var file = ResNetLoader.ReadStateDict(weightsPath);
        try
        {
            var map = Map(model);
            map.Ignore(name => name.EndsWith(".embeddings.position_ids", StringComparison.Ordinal));
            map.CopyFrom(file, weightsPath, $"the CLIPModel of {configPath}");
        }
        catch
        {
            model.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in file.Values) t.Dispose();
        }
        model.eval();
        return model;
    }

    /// <summary>The tensor names and shapes a Hugging Face CLIPModel file for <paramref name="model"/> holds.</summary>
    public static IReadOnlyDictionary<string, long[]> HuggingFaceLayout(ClipModel model) => Map(model).Shapes;

    /// <summary>Hugging Face's CLIP names (modeling_clip.py) for each parameter.</summary>
    internal static WeightMap Map(ClipModel model)
    {
        var map = new WeightMap();
        void Blocks(string prefix, IList<PreNormBlock> blocks)
        {
            for (var i = 0; i < blocks.Count; i++)
            {
                var b = blocks[i];
                var p = $"{prefix}.encoder.layers.{i}.";
                void Linear(string name, TorchSharp.Modules.Linear linear)
                {
                    map.Add(p + name + ".weight", linear.weight!);
                    map.Add(p + name + ".bias", linear.bias!);
                }
                map.Add(p + "layer_norm1.weight", b.ln_1.weight!);
                map.Add(p + "layer_norm1.bias", b.ln_1.bias!);
                Linear("self_attn.q_proj", b.q);
                Linear("self_attn.k_proj", b.k);
                Linear("self_attn.v_proj", b.v);
                Linear("self_attn.out_proj", b.proj);
                map.Add(p + "layer_norm2.weight", b.ln_2.weight!);
                map.Add(p + "layer_norm2.bias", b.ln_2.bias!);
                Linear("mlp.fc1", b.fc1);
                Linear("mlp.fc2", b.fc2);
            }
        }
        var text = model.Text;
        map.Add("text_model.embeddings.token_embedding.weight", text.TokenEmbedding.weight!);
        map.Add("text_model.embeddings.position_embedding.weight", text.PositionEmbedding.weight!);
        Blocks("text_model", text.Blocks);
        map.Add("text_model.final_layer_norm.weight", text.FinalNorm.weight!);
        map.Add("text_model.final_layer_norm.bias", text.FinalNorm.bias!);
        map.Add("text_projection.weight", text.Projection.weight!);
        var vision = model.Vision;
        map.Add("vision_model.embeddings.class_embedding", vision.ClassEmbedding);
        map.Add("vision_model.embeddings.patch_embedding.weight", vision.PatchEmbedding.weight!);
        map.Add("vision_model.embeddings.position_embedding.weight", vision.PositionEmbedding.weight!);
        map.Add("vision_model.pre_layrnorm.weight", vision.PreNorm.weight!);   // sic: Hugging Face's spelling
        map.Add("vision_model.pre_layrnorm.bias", vision.PreNorm.bias!);
        Blocks("vision_model", vision.Blocks);
        map.Add("vision_model.post_layernorm.weight", vision.PostNorm.weight!);
        map.Add("vision_model.post_layernorm.bias", vision.PostNorm.bias!);
        map.Add("visual_projection.weight", vision.Projection.weight!);
        map.Add("logit_scale", model.LogitScale);
        return map;
    }
}
