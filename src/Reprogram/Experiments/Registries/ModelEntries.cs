using Microsoft.Extensions.AI;
using Reprogram.Instruction;
using Reprogram.Instruction.Backends;
using Reprogram.Manipulations;
using Reprogram.Frozen;
using Reprogram.Models.Clip;
using Reprogram.Models.Text;
using Reprogram.Models.Vision;
using Reprogram.Models.Zoo;
using Reprogram.Training;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>What loading a model is given: the name or path, the device, the settings, progress for first-use training, cancellation.</summary>
public sealed record ModelRequest(string Spec, Device Device, MethodOptions Options, IProgress<TrainingProgress>? Training, CancellationToken CancellationToken);

/// <summary>A frozen model the experiments can load by name (or a family of paths): what kind it is, and how to load it.</summary>
public sealed record ModelEntry : RegistryEntry
{
    /// <summary>"text decoder", "text encoder", "image classifier", "image features", "chat model".</summary>
    public required string Kind { get; init; }
    public required TaskModality Modality { get; init; }
    public required Func<ModelRequest, Backbone> Load { get; init; }
}

/// <summary>The models of the registry (see <see cref="Registries.Models"/>).</summary>
public static class ModelEntries
{
    /// <summary>
    /// How remote chat clients are made from (provider, model, endpoint, key variable): through <see cref="RemoteChat"/> by
    /// default (the endpoint given or the provider's usual one; the key from the environment variable named). Replace it
    /// to add a provider of one's own.
    /// </summary>
    public static Func<string, string, string?, string?, IChatClient> RemoteClients { get; set; } = (provider, model, endpoint, keyVariable) =>
        RemoteChat.Create(new RemoteChatOptions
        {
            Provider = provider,
            Endpoint = endpoint ?? (provider == RemoteChat.Ollama ? "http://localhost:11434" : "https://api.openai.com/v1"),
            Model = model,
            ApiKeyVariable = keyVariable,
        });

    /// <summary>Loads a decoder (zoo, checkpoint folder or remote) as <see cref="InstructionModel"/> does, into a backbone.</summary>
    public static Backbone Decoder(ModelRequest r) =>
        new DecoderBackbone(InstructionModel.Load(r.Spec, r.Device, (provider, model) => RemoteClients(provider, model, r.Options.Endpoint, r.Options.ApiKeyVariable),
            r.Training, r.CancellationToken))
        { SharedPrefixCache = r.Options.SharedPrefixCache, BatchRows = r.Options.BatchRows, Order = VocabularyOrders.Of(r.Spec) };

    private static readonly Dictionary<string, ResNet> ResNets = new();

    private static Backbone CntkResNet18(ModelRequest r)
    {
        var onnx = ResNetLoader.FindCntkResNet18Onnx() ?? throw new FileNotFoundException(ResNetLoader.CntkResNet18MissingMessage);
        ResNet resnet;
        lock (ResNets)
        {
            // Shared across runs (read-only: frozen), so a notebook loads the 45 MB of weights once.
            if (!ResNets.TryGetValue(onnx, out resnet!)) ResNets[onnx] = resnet = ResNetLoader.LoadCntkResNet18(onnx);
        }
        return new ImageBackbone(resnet, "ResNet-18 (ImageNet, CNTK export, features)", r.Device, r.Options.ImageSize ?? 112, ownsModel: false);
    }

    private static Backbone ResNetFashion(ModelRequest r)
    {
        var (model, card) = ResNet18Fashion.Load(r.Training, r.CancellationToken);
        // Loaded once per process and shared (read-only: frozen), so the backbone does not own it.
        return new ImageBackbone(model, $"{card.Name} (ImageNet ResNet-18 features + Fashion-MNIST head, test accuracy {card.TestAccuracy:P1})", r.Device, r.Options.ImageSize, ownsModel: false);
    }

    private static Backbone FashionCnn(ModelRequest r)
    {
        var (cnn, card) = SourceClassifiers.FashionCnn(r.Training, r.CancellationToken);
        return new ImageBackbone(cnn, $"{card.Name} (Fashion-MNIST CNN, test accuracy {card.TestAccuracy:P1})", r.Device, r.Options.ImageSize, ownsModel: true);
    }

    /// <summary>minilm (shared, loaded once) or a BERT / RoBERTa checkpoint folder (loaded for the run).</summary>
    private static Backbone Encoder(ModelRequest r)
    {
        var (model, tokenizer, identity, owned) = EncoderCheckpoint.Resolve(r.Spec);
        return new EncoderBackbone(model, tokenizer, identity, r.Device, r.Options.MaxLength, owned) { Order = VocabularyOrders.Of(r.Spec) };
    }

    private static bool IsCheckpointFolder(string spec) => Directory.Exists(spec) && File.Exists(Path.Combine(spec, "config.json"));

    /// <summary>A checkpoint folder's model_type (config.json), or null.</summary>
    public static string? ModelType(string folder)
    {
        var config = Path.Combine(folder, "config.json");
        if (!File.Exists(config)) return null;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(config));
            return doc.RootElement.TryGetProperty("model_type", out var t) ? t.GetString() : null;
        }
        catch (System.Text.Json.JsonException) { return null; }
    }

    private static bool IsVisionFolder(string spec) => IsCheckpointFolder(spec) && ModelType(spec) is "vit" or "clip";

    /// <summary>A Hugging Face ViT (a classifier with its id2label, or features) or CLIP (image embeddings; its text tower is the head) folder.</summary>
    private static Backbone VisionFolder(ModelRequest r)
    {
        var name = Path.GetFileName(Path.GetFullPath(r.Spec).TrimEnd('/'));
        IImageModel model = ModelType(r.Spec) == "clip" ? ClipLoader.Load(r.Spec) : ViTLoader.LoadHuggingFace(r.Spec);
        return new ImageBackbone(model, $"{name} ({ModelType(r.Spec)}, checkpoint)", r.Device, r.Options.ImageSize, ownsModel: true);
    }

    /// <summary>A torchvision state dict: a ResNet (18 to 152) or a ViT, told apart by its tensor names.</summary>
    private static Backbone TorchvisionFile(ModelRequest r)
    {
        IImageModel model;
        string kind;
        try
        {
            model = ResNetLoader.Load(r.Spec);
            var (blocks, bottleneck, _) = ResNetLoader.Architecture(r.Spec);
            kind = $"ResNet [{string.Join(", ", blocks)}] ({(bottleneck ? "bottleneck" : "basic")})";
        }
        catch (InvalidDataException resnet)
        {
            try
            {
                model = ViTLoader.LoadTorchvision(r.Spec);
                kind = "ViT";
            }
            catch (InvalidDataException vit)
            {
                throw new InvalidDataException($"{r.Spec} is neither a torchvision ResNet ({resnet.Message}) nor a torchvision ViT ({vit.Message}).");
            }
        }
        return new ImageBackbone(model, $"torchvision {kind} from {Path.GetFileName(r.Spec)}", r.Device, r.Options.ImageSize, ownsModel: true);
    }

    private static bool IsRemote(string spec) =>
        spec.IndexOf(':') is var colon && colon > 0 && !Directory.Exists(spec) && spec[..colon].All(char.IsLetter) && colon < spec.Length - 1;

    private static bool IsTorchvisionFile(string spec) =>
        File.Exists(spec) && Path.GetExtension(spec).ToLowerInvariant() is ".safetensors" or ".pt" or ".pth" or ".bin";

    public static IReadOnlyList<ModelEntry> All { get; } =
    [
        new()
        {
            Name = LanguageZoo.RuleFamilyName, Kind = "text decoder", Modality = TaskModality.Text, Load = Decoder,
            Description = "A tiny GPT (2 layers, 64 wide, 64 positions) pretrained here on a family of lookup rules, every eighth rule held out; " +
                          "the comparison's default model (with the task held-out-rule). Trained on first use (under a minute on 2 cores), then cached.",
        },
        new()
        {
            Name = LanguageZoo.IclRulesName, Kind = "text decoder", Modality = TaskModality.Text, Load = Decoder,
            Description = "A tiny GPT trained here to infer a hidden rule from its demonstrations (task icl-rules): accuracy rises with the shots.",
        },
        new()
        {
            Name = LanguageZoo.ArithCotName, Kind = "text decoder", Modality = TaskModality.Text, Load = Decoder,
            Description = "A tiny GPT trained here to add 3-digit numbers, directly or after a scratchpad (task addition): chain-of-thought helps it.",
        },
        new()
        {
            Name = "minilm", Kind = "text encoder", Modality = TaskModality.Text, Load = Encoder,
            Description = "all-MiniLM-L6-v2, a real pretrained BERT encoder (6 layers, 384 wide), shipped with the library; its output is the mean of its last hidden states.",
        },
        new()
        {
            Name = "resnet18", Kind = "image features", Modality = TaskModality.Image, Load = CntkResNet18,
            Description = "The real ImageNet ResNet-18 (CNTK export shipped in Microsoft.ML.DnnImageFeaturizer.ResNet18), features only (512); images at 112 px unless --image-size.",
        },
        new()
        {
            Name = SourceClassifiers.FashionCnnName, Kind = "image classifier", Modality = TaskModality.Image, Load = FashionCnn,
            Description = "A small CNN trained here on Fashion-MNIST (10 clothing classes, 28 px grey): a source classifier with a real label space for label mapping.",
        },
        new()
        {
            Name = ResNet18Fashion.Name, Kind = "image classifier", Modality = TaskModality.Image, Load = ResNetFashion,
            Description = "The real ImageNet ResNet-18's frozen features with a linear head trained here on Fashion-MNIST (64 px): a source classifier " +
                          "with real classes on the real model, for label mapping. Trained on first use (about a minute), then cached.",
        },
        new()
        {
            Name = "<encoder checkpoint folder>", Kind = "text encoder", Modality = TaskModality.Text, Load = Encoder, Accepts = EncoderCheckpoint.IsEncoderFolder,
            Description = "A Hugging Face BERT or RoBERTa folder (config.json, model.safetensors, WordPiece or byte-level BPE tokenizer): features, read by a linear head.",
        },
        new()
        {
            Name = "<vision checkpoint folder>", Kind = "image classifier", Modality = TaskModality.Image, Load = VisionFolder, Accepts = IsVisionFolder,
            Description = "A Hugging Face ViT (ViTModel or ViTForImageClassification) or CLIP (CLIPModel) folder: pixels in, class logits, features or " +
                          "image embeddings out; patch tokens for VPT; CLIP's text tower as the clip-zero-shot or coop head.",
        },
        new()
        {
            Name = "<checkpoint folder>", Kind = "text decoder", Modality = TaskModality.Text, Load = Decoder, Accepts = IsCheckpointFolder,
            Description = "A Hugging Face causal LM folder (config.json, model.safetensors, tokenizer files): GPT-2, Llama, Qwen2, SmolLM.",
        },
        new()
        {
            Name = "<provider:model>", Kind = "chat model", Modality = TaskModality.Text, Load = Decoder, Accepts = IsRemote,
            Description = "A remote chat model, openai:MODEL or ollama:MODEL (with --endpoint and --api-key-env): generation only, weights not visible.",
        },
        new()
        {
            Name = "<torchvision file>", Kind = "image classifier", Modality = TaskModality.Image, Accepts = IsTorchvisionFile, Load = TorchvisionFile,
            Description = "A torchvision state dict (.safetensors, .pt, .pth): a ResNet-18/34/50/101/152 (a 1000-class fc head gets ImageNet's class names) or a ViT.",
        },
    ];
}
