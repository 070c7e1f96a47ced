using System.Text.Json;
using Reprogram.Models.Causal;
using static TorchSharp.torch;

namespace Reprogram.Models.Vision;

/// <summary>
/// Loads a <see cref="VisionTransformer"/> from torchvision's state dict layout (vit_b_16 and its kin, .pth/.pt or
/// .safetensors) or from a Hugging Face folder (config.json + model.safetensors of a ViTModel or a
/// ViTForImageClassification). Strict: every missing, unexpected or wrong-shape tensor is named with the file.
/// </summary>
public static class ViTLoader
{
    /// <summary>
    /// A ViT from a path: a folder is a Hugging Face checkpoint, a file a torchvision state dict.
    /// <paramref name="features"/>: drop the classification head (its tensors are skipped) and output the class-token
    /// features [B, D], as VPT and linear probes use them. <paramref name="heads"/>: the number of attention heads of a
    /// torchvision state dict whose width is not one of torchvision's ViTs (a Hugging Face config.json has it).
    /// </summary>
    public static VisionTransformer Load(string path, bool features = false, int? heads = null) =>
        Directory.Exists(path) ? LoadHuggingFace(path, features) : LoadTorchvision(path, heads, features: features);

    // ---------------------------------------------------------------------------------------------------------------
    // torchvision
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>Heads of torchvision's ViTs by width: vit_b_* 768 -> 12, vit_l_* 1024 -> 16, vit_h_14 1280 -> 16.</summary>
    private static int? StandardHeads(int width) => width switch { 768 => 12, 1024 => 16, 1280 => 16, _ => null };

    /// <summary>
    /// A ViT from a torchvision VisionTransformer state dict. Its shape is read from the tensors (patch size and width
    /// from conv_proj, image size from encoder.pos_embedding, depth from the layer names, MLP width, classes); the
    /// number of heads is not stored in a state dict: <paramref name="heads"/>, or torchvision's for widths 768, 1024
    /// and 1280. Normalisation: ImageNet's mean and std (torchvision's ViT weights). A 1000-class head gets ImageNet's
    /// class names unless <paramref name="labels"/> are given.
    /// </summary>
    public static VisionTransformer LoadTorchvision(string path, int? heads = null, IReadOnlyList<string>? labels = null, bool features = false)
    {
        var file = ResNetLoader.ReadStateDict(path);
        try
        {
            string Need(string name) => file.ContainsKey(name) ? name
                : throw new InvalidDataException($"{path} is not a torchvision VisionTransformer state dict: it has no '{name}' " +
                                                 $"(its first tensors: {string.Join(", ", file.Keys.Take(5))}).");
            var proj = file[Need("conv_proj.weight")];                     // [D, C, p, p]
            var pos = file[Need("encoder.pos_embedding")];                 // [1, 1 + N, D]
            var width = (int)proj.shape[0];
            var patch = (int)proj.shape[2];
            var grid = (int)Math.Round(Math.Sqrt(pos.shape[1] - 1));
            if (grid * grid != pos.shape[1] - 1) throw new InvalidDataException($"{path}: encoder.pos_embedding has {pos.shape[1]} positions, not 1 + a square number of patches.");
            var layers = file.Keys.Where(k => k.StartsWith("encoder.layers.encoder_layer_", StringComparison.Ordinal))
                .Select(k => int.Parse(k["encoder.layers.encoder_layer_".Length..].Split('.')[0])).Distinct().Count();
            var legacyMlp = file.ContainsKey("encoder.layers.encoder_layer_0.mlp.linear_1.weight");
            var mlp = (int)file[Need(legacyMlp ? "encoder.layers.encoder_layer_0.mlp.linear_1.weight" : "encoder.layers.encoder_layer_0.mlp.0.weight")].shape[0];
            var headCount = heads ?? StandardHeads(width) ?? throw new InvalidDataException(
                $"{path}: a torchvision state dict does not store the number of attention heads, and width {width} is not one of torchvision's ViTs (768, 1024, 1280): pass heads.");
            int? classes = features || !file.ContainsKey("heads.head.weight") ? null : (int)file["heads.head.weight"].shape[0];
            int? representation = classes is not null && file.TryGetValue("heads.pre_logits.weight", out var pre) ? (int)pre.shape[0] : null;
            var config = new ViTConfig(grid * patch, patch, layers, headCount, width, mlp, Channels: (int)proj.shape[1],
                                       LayerNormEpsilon: 1e-6, Classes: classes, RepresentationSize: representation);
            labels ??= classes == 1000 ? ImageNetClasses.Names : null;
            var model = new VisionTransformer(config, ImageNormalization.ImageNetMean, ImageNormalization.ImageNetStd, labels);
            try
            {
                var map = TorchvisionMap(model, legacyMlp);
                if (features) map.Ignore(n => n.StartsWith("heads.", StringComparison.Ordinal));
                map.CopyFrom(file, path, $"a torchvision ViT ({Describe(config)})");
            }
            catch
            {
                model.Dispose();
                throw;
            }
            model.eval();
            return model;
        }
        finally
        {
            foreach (var t in file.Values) t.Dispose();
        }
    }

    /// <summary>The tensor names and shapes a torchvision state dict for <paramref name="model"/> holds (what the loader expects).</summary>
    public static IReadOnlyDictionary<string, long[]> TorchvisionLayout(VisionTransformer model) => TorchvisionMap(model).Shapes;

    /// <summary>The tensor names and shapes a Hugging Face ViTModel (or, with a head, ViTForImageClassification) file for <paramref name="model"/> holds.</summary>
    public static IReadOnlyDictionary<string, long[]> HuggingFaceLayout(VisionTransformer model) =>
        HuggingFaceMap(model, model.Head is null ? "" : "vit.").Shapes;

    /// <summary>torchvision's names (torchvision/models/vision_transformer.py) for each parameter of the model.</summary>
    internal static WeightMap TorchvisionMap(VisionTransformer model, bool legacyMlp = false)
    {
        var map = new WeightMap();
        map.Add("class_token", model.ClassToken);
        map.Add("conv_proj.weight", model.PatchEmbedding.weight!);
        map.Add("conv_proj.bias", model.PatchEmbedding.bias!);
        map.Add("encoder.pos_embedding", model.PositionEmbedding);
        for (var i = 0; i < model.Blocks.Count; i++)
        {
            var b = model.Blocks[i];
            var p = $"encoder.layers.encoder_layer_{i}.";
            map.Add(p + "ln_1.weight", b.ln_1.weight!);
            map.Add(p + "ln_1.bias", b.ln_1.bias!);
            // nn.MultiheadAttention keeps q, k, v fused: in_proj_weight [3D, D], in_proj_bias [3D].
            map.Split(p + "self_attention.in_proj_weight", b.q.weight!, b.k.weight!, b.v.weight!);
            map.Split(p + "self_attention.in_proj_bias", b.q.bias!, b.k.bias!, b.v.bias!);
            map.Add(p + "self_attention.out_proj.weight", b.proj.weight!);
            map.Add(p + "self_attention.out_proj.bias", b.proj.bias!);
            map.Add(p + "ln_2.weight", b.ln_2.weight!);
            map.Add(p + "ln_2.bias", b.ln_2.bias!);
            // MLPBlock: Linear (mlp.0), GELU, Dropout, Linear (mlp.3); torchvision before 0.13 named them linear_1, linear_2.
            var (fc1, fc2) = legacyMlp ? ("mlp.linear_1", "mlp.linear_2") : ("mlp.0", "mlp.3");
            map.Add($"{p}{fc1}.weight", b.fc1.weight!);
            map.Add($"{p}{fc1}.bias", b.fc1.bias!);
            map.Add($"{p}{fc2}.weight", b.fc2.weight!);
            map.Add($"{p}{fc2}.bias", b.fc2.bias!);
        }
        map.Add("encoder.ln.weight", model.Norm.weight!);
        map.Add("encoder.ln.bias", model.Norm.bias!);
        if (model.PreLogits is { } pre)
        {
            map.Add("heads.pre_logits.weight", pre.weight!);
            map.Add("heads.pre_logits.bias", pre.bias!);
        }
        if (model.Head is { } head)
        {
            map.Add("heads.head.weight", head.weight!);
            map.Add("heads.head.bias", head.bias!);
        }
        return map;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Hugging Face
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// A ViT from a Hugging Face folder: config.json (model_type "vit"; missing keys take ViTConfig's defaults) and
    /// model.safetensors in the ViTModel layout (embeddings.*, encoder.layer.N.*, layernorm.*, pooler.dense.* when the
    /// model has a pooler) or the ViTForImageClassification layout (the same under "vit.", and classifier.*; class
    /// names from config.json's id2label). Normalisation from preprocessor_config.json (image_mean, image_std) when
    /// present, otherwise ViTImageProcessor's default 0.5 / 0.5.
    /// </summary>
    public static VisionTransformer LoadHuggingFace(string folder, bool features = false)
    {
        var configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{folder} has no config.json.", configPath);
        var weightsPath = Path.Combine(folder, "model.safetensors");
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"{folder} has no model.safetensors.", weightsPath);
        using var json = Files.CheckpointFolder.ReadConfig(folder);
        configPath = Path.GetFullPath(configPath);
        var root = json.RootElement;
        var type = CheckpointLoader.String(root, "model_type", configPath);
        if (type != "vit") throw new NotSupportedException($"{configPath}: model_type '{type}' is not a ViT ('vit'); CLIP folders load with ClipLoader.");
        var act = root.TryGetProperty("hidden_act", out var a) ? a.GetString() : "gelu";
        if (act != "gelu") throw new NotSupportedException($"{configPath}: hidden_act '{act}' is not supported (gelu).");

        var file = ResNetLoader.ReadStateDict(weightsPath);
        try
        {
            var classifier = file.ContainsKey("vit.embeddings.cls_token");
            var prefix = classifier ? "vit." : "";
            int? classes = !features && classifier && file.TryGetValue("classifier.weight", out var c) ? (int)c.shape[0] : null;
            var config = new ViTConfig(
                ImageSize: CheckpointLoader.Positive(root, "image_size", 224),
                PatchSize: CheckpointLoader.Positive(root, "patch_size", 16),
                Layers: CheckpointLoader.Positive(root, "num_hidden_layers", 12),
                Heads: CheckpointLoader.Positive(root, "num_attention_heads", 12),
                HiddenSize: CheckpointLoader.Positive(root, "hidden_size", 768),
                MlpSize: CheckpointLoader.Positive(root, "intermediate_size", 3072),
                Channels: CheckpointLoader.Positive(root, "num_channels", 3),
                LayerNormEpsilon: CheckpointLoader.Double(root, "layer_norm_eps", 1e-12),
                QkvBias: CheckpointLoader.Bool(root, "qkv_bias", true),
                Classes: classes,
                Pooler: !classifier && file.ContainsKey("pooler.dense.weight"));
            var labels = classes is int n ? Id2Label(root, n, configPath) : null;
            var (mean, std) = Preprocessing(folder, ImageNormalization.HalfMean, ImageNormalization.HalfStd);
            var model = new VisionTransformer(config, mean, std, labels);
            try
            {
                var map = HuggingFaceMap(model, prefix);
                map.Ignore(name => name == prefix + "embeddings.mask_token");   // only for masked image modelling
                if (features) map.Ignore(name => name.StartsWith("classifier.", StringComparison.Ordinal));
                map.CopyFrom(file, weightsPath, $"the Hugging Face {(classifier ? "ViTForImageClassification" : "ViTModel")} of {configPath} ({Describe(config)})");
            }
            catch
            {
                model.Dispose();
                throw;
            }
            model.eval();
            return model;
        }
        finally
        {
            foreach (var w in file.Values) w.Dispose();
        }
    }

    /// <summary>Hugging Face's ViT names (modeling_vit.py) for each parameter, under <paramref name="prefix"/>.</summary>
    internal static WeightMap HuggingFaceMap(VisionTransformer model, string prefix = "")
    {
        var map = new WeightMap();
        var e = prefix + "embeddings.";
        map.Add(e + "cls_token", model.ClassToken);
        map.Add(e + "position_embeddings", model.PositionEmbedding);
        map.Add(e + "patch_embeddings.projection.weight", model.PatchEmbedding.weight!);
        map.Add(e + "patch_embeddings.projection.bias", model.PatchEmbedding.bias!);
        for (var i = 0; i < model.Blocks.Count; i++)
        {
            var b = model.Blocks[i];
            var p = $"{prefix}encoder.layer.{i}.";
            void Linear(string name, TorchSharp.Modules.Linear linear)
            {
                map.Add(p + name + ".weight", linear.weight!);
                if (linear.bias is not null) map.Add(p + name + ".bias", linear.bias);
            }
            map.Add(p + "layernorm_before.weight", b.ln_1.weight!);
            map.Add(p + "layernorm_before.bias", b.ln_1.bias!);
            Linear("attention.attention.query", b.q);
            Linear("attention.attention.key", b.k);
            Linear("attention.attention.value", b.v);
            Linear("attention.output.dense", b.proj);
            map.Add(p + "layernorm_after.weight", b.ln_2.weight!);
            map.Add(p + "layernorm_after.bias", b.ln_2.bias!);
            Linear("intermediate.dense", b.fc1);
            Linear("output.dense", b.fc2);
        }
        map.Add(prefix + "layernorm.weight", model.Norm.weight!);
        map.Add(prefix + "layernorm.bias", model.Norm.bias!);
        if (model.Pooler is { } pooler)
        {
            map.Add("pooler.dense.weight", pooler.weight!);
            map.Add("pooler.dense.bias", pooler.bias!);
        }
        if (model.Head is { } head)
        {
            map.Add("classifier.weight", head.weight!);
            map.Add("classifier.bias", head.bias!);
        }
        return map;
    }

    /// <summary>Class names from config.json's id2label ({"0": "tench", ...}), or null when absent or not one per class.</summary>
    internal static IReadOnlyList<string>? Id2Label(JsonElement root, int classes, string configPath)
    {
        if (!root.TryGetProperty("id2label", out var map) || map.ValueKind != JsonValueKind.Object) return null;
        var names = new string?[classes];
        foreach (var entry in map.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, out var id) || id < 0 || id >= classes)
                throw new InvalidDataException($"{configPath}: id2label has the id '{entry.Name}', outside 0..{classes - 1}.");
            names[id] = entry.Value.GetString();
        }
        // A default "LABEL_0", "LABEL_1" map carries no names; a partial map is refused rather than guessed.
        if (names.Any(n => n is null)) throw new InvalidDataException($"{configPath}: id2label names {names.Count(n => n is not null)} of the {classes} classes.");
        return names.All(n => n!.StartsWith("LABEL_", StringComparison.Ordinal)) ? null : names.Select(n => n!).ToArray();
    }

    /// <summary>image_mean and image_std from a folder's preprocessor_config.json, or the given defaults.</summary>
    internal static (float[] Mean, float[] Std) Preprocessing(string folder, float[] mean, float[] std)
    {
        var path = Path.Combine(folder, "preprocessor_config.json");
        if (!File.Exists(path)) return (mean, std);
        using var json = Files.CheckpointFolder.ReadJson(path);
        float[]? Read(string name) => json.RootElement.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
            ? v.EnumerateArray().Select(x => (float)x.GetDouble()).ToArray() : null;
        var m = Read("image_mean") ?? mean;
        var s = Read("image_std") ?? std;
        if (m.Length != 3 || s.Length != 3) throw new InvalidDataException($"{path}: image_mean and image_std need one value per channel.");
        return (m, s);
    }

    private static string Describe(ViTConfig c) =>
        $"{c.ImageSize} px, patch {c.PatchSize}, {c.Layers} layers, {c.Heads} heads, width {c.HiddenSize}, MLP {c.MlpSize}" +
        (c.Classes is int n ? $", {n} classes" : ", no head");
}
