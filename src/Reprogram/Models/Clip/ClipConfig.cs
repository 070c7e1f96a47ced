using System.Text.Json;
using Reprogram.Models.Causal;
using Reprogram.Models.Vision;

namespace Reprogram.Models.Clip;

/// <summary>CLIP's text tower (Hugging Face CLIPTextConfig; the defaults are its, those of ViT-B/32's text tower).</summary>
public sealed record ClipTextConfig(
    int VocabularySize = 49408, int HiddenSize = 512, int MlpSize = 2048, int Heads = 8, int Layers = 12,
    int MaxPositions = 77, double LayerNormEpsilon = 1e-5, int EndOfTextId = 49407,
    BlockActivation Activation = BlockActivation.QuickGelu);

/// <summary>CLIP's image tower (Hugging Face CLIPVisionConfig; the defaults are ViT-B/32's).</summary>
public sealed record ClipVisionConfig(
    int HiddenSize = 768, int MlpSize = 3072, int Heads = 12, int Layers = 12, int ImageSize = 224, int PatchSize = 32,
    int Channels = 3, double LayerNormEpsilon = 1e-5, BlockActivation Activation = BlockActivation.QuickGelu)
{
    public int Patches => (ImageSize / PatchSize) * (ImageSize / PatchSize);
}

/// <summary>A CLIP model's shape: the two towers and the width of the shared embedding space.</summary>
public sealed record ClipConfig(ClipTextConfig Text, ClipVisionConfig Vision, int ProjectionSize = 512)
{
    /// <summary>
    /// A Hugging Face CLIPModel config.json: text_config and vision_config (or the older text_config_dict and
    /// vision_config_dict), missing keys taking Hugging Face's defaults, as transformers writes only what differs.
    /// hidden_act is quick_gelu (OpenAI's CLIP) or gelu (LAION's OpenCLIP ports); others are refused.
    /// </summary>
    public static ClipConfig Read(JsonElement root, string path)
    {
        var type = root.TryGetProperty("model_type", out var t) ? t.GetString() : null;
        if (type != "clip") throw new NotSupportedException($"{path}: model_type '{type}' is not CLIP ('clip').");
        JsonElement Section(string name) =>
            root.TryGetProperty(name, out var s) && s.ValueKind == JsonValueKind.Object ? s
            : root.TryGetProperty(name + "_dict", out var d) && d.ValueKind == JsonValueKind.Object ? d
            : JsonDocument.Parse("{}").RootElement;
        var text = Section("text_config");
        var vision = Section("vision_config");
        BlockActivation Activation(JsonElement section, string name)
        {
            var act = section.TryGetProperty("hidden_act", out var a) ? a.GetString() : "quick_gelu";
            return act switch
            {
                "quick_gelu" => BlockActivation.QuickGelu,
                "gelu" => BlockActivation.Gelu,
                _ => throw new NotSupportedException($"{path}: {name}.hidden_act '{act}' is not supported (quick_gelu, gelu)."),
            };
        }
        var vocabulary = CheckpointLoader.Int(text, "vocab_size", 49408);
        return new ClipConfig(
            new ClipTextConfig(
                VocabularySize: vocabulary,
                HiddenSize: CheckpointLoader.Int(text, "hidden_size", 512),
                MlpSize: CheckpointLoader.Int(text, "intermediate_size", 2048),
                Heads: CheckpointLoader.Int(text, "num_attention_heads", 8),
                Layers: CheckpointLoader.Int(text, "num_hidden_layers", 12),
                MaxPositions: CheckpointLoader.Int(text, "max_position_embeddings", 77),
                LayerNormEpsilon: CheckpointLoader.Double(text, "layer_norm_eps", 1e-5),
                // transformers before PR #24773 wrote eos_token_id 2 and pooled at the argmax id (the end token is the
                // highest id); 2 is kept as that legacy marker.
                EndOfTextId: CheckpointLoader.Int(text, "eos_token_id", 2),
                Activation: Activation(text, "text_config")),
            new ClipVisionConfig(
                HiddenSize: CheckpointLoader.Int(vision, "hidden_size", 768),
                MlpSize: CheckpointLoader.Int(vision, "intermediate_size", 3072),
                Heads: CheckpointLoader.Int(vision, "num_attention_heads", 12),
                Layers: CheckpointLoader.Int(vision, "num_hidden_layers", 12),
                ImageSize: CheckpointLoader.Int(vision, "image_size", 224),
                PatchSize: CheckpointLoader.Int(vision, "patch_size", 32),
                Channels: CheckpointLoader.Int(vision, "num_channels", 3),
                LayerNormEpsilon: CheckpointLoader.Double(vision, "layer_norm_eps", 1e-5),
                Activation: Activation(vision, "vision_config")),
            ProjectionSize: CheckpointLoader.Int(root, "projection_dim", 512));
    }
}
