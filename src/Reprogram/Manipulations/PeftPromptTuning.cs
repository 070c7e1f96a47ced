using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Reprogram.Experiments;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Reprogram.Manipulations;

/// <summary>
/// PEFT's prompt-tuning adapter configuration (<c>adapter_config.json</c>), field for field as PEFT writes it. The names
/// are PEFT's dataclass fields (huggingface/peft, src/peft/config.py: PeftConfigMixin task_type, peft_type, auto_mapping,
/// peft_version; PeftConfig base_model_name_or_path, revision, inference_mode; PromptLearningConfig num_virtual_tokens,
/// token_dim, num_transformer_submodules, num_attention_heads, num_layers, modules_to_save; and
/// src/peft/tuners/prompt_tuning/config.py: PromptTuningConfig prompt_tuning_init (TEXT, SAMPLE_VOCAB, RANDOM),
/// prompt_tuning_init_text, tokenizer_name_or_path, tokenizer_kwargs). PEFT writes every field (asdict), null where unset.
/// </summary>
public sealed record PeftPromptTuningConfig
{
    [JsonPropertyName("auto_mapping")] public JsonObject? AutoMapping { get; init; }
    [JsonPropertyName("base_model_name_or_path")] public string? BaseModelNameOrPath { get; init; }
    [JsonPropertyName("inference_mode")] public bool InferenceMode { get; init; } = true;
    [JsonPropertyName("modules_to_save")] public IReadOnlyList<string>? ModulesToSave { get; init; }
    [JsonPropertyName("num_attention_heads")] public int? NumAttentionHeads { get; init; }
    [JsonPropertyName("num_layers")] public int? NumLayers { get; init; }
    [JsonPropertyName("num_transformer_submodules")] public int? NumTransformerSubmodules { get; init; } = 1;
    [JsonPropertyName("num_virtual_tokens")] public int NumVirtualTokens { get; init; }
    [JsonPropertyName("peft_type")] public string PeftType { get; init; } = PeftPromptTuning.PeftType;
    [JsonPropertyName("peft_version")] public string? PeftVersion { get; init; }
    [JsonPropertyName("prompt_tuning_init")] public string PromptTuningInit { get; init; } = "RANDOM";
    [JsonPropertyName("prompt_tuning_init_text")] public string? PromptTuningInitText { get; init; }
    [JsonPropertyName("revision")] public string? Revision { get; init; }
    [JsonPropertyName("task_type")] public string? TaskType { get; init; } = PeftPromptTuning.CausalLm;
    [JsonPropertyName("token_dim")] public int TokenDim { get; init; }
    [JsonPropertyName("tokenizer_kwargs")] public JsonObject? TokenizerKwargs { get; init; }
    [JsonPropertyName("tokenizer_name_or_path")] public string? TokenizerNameOrPath { get; init; }
}

/// <summary>A PEFT prompt-tuning adapter read from its folder: its configuration, its prompt [n, D] (float32, CPU) and the weights file's metadata.</summary>
public sealed record PeftAdapter(string Folder, PeftPromptTuningConfig Config, float[] Embeddings, IReadOnlyDictionary<string, string> Metadata)
{
    public int Tokens => Config.NumVirtualTokens;
    public int Hidden => Config.TokenDim;
    /// <summary>Whether this library wrote it (its weights carry the model's checksum and the experiment).</summary>
    public bool FromReprogram => Metadata.ContainsKey(PeftPromptTuning.ReprogramFormatKey);
    /// <summary>The prompt as a tensor [n, D] on <paramref name="device"/>.</summary>
    public Tensor Prompt(Device device) => tensor(Embeddings, [Tokens, Hidden]).to(device);
}

/// <summary>
/// A soft prompt (prompt tuning, Lester et al. 2021) in the layout of Hugging Face PEFT's prompt-tuning adapters, so a
/// Python user can load it with <c>PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), folder)</c>, and
/// such an adapter made in Python can be evaluated here. The layout, as PEFT writes it (huggingface/peft):
/// <list type="bullet">
/// <item><c>adapter_config.json</c> (utils/constants.py CONFIG_NAME): the config's fields as JSON, sorted keys, indent 2
/// (config.py PeftConfigMixin.save_pretrained), with <c>inference_mode</c> true (peft_model.py PeftModel.save_pretrained
/// sets it before writing); see <see cref="PeftPromptTuningConfig"/>.</item>
/// <item><c>adapter_model.safetensors</c> (SAFETENSORS_WEIGHTS_NAME) with metadata {"format": "pt"} and one tensor,
/// <c>prompt_embeddings</c> [num_virtual_tokens * num_transformer_submodules, token_dim]: the prompt encoder's embedding
/// weight (tuners/tuners_utils.py BasePromptEncoder._get_adapter_state_dict; loaded back by _load_adapter_state_dict into
/// PromptEmbedding.embedding).</item>
/// </list>
/// For a causal LM, PEFT puts the prompt in front of the input embeddings of the whole sequence (PeftModelForCausalLM:
/// cat(prompts, inputs_embeds)), where <see cref="SoftPrompt"/> puts it here. Only a decoder's soft prompt is exported:
/// PEFT's prompt tuning has no place for this library's other manipulations or for a linear head on an encoder's mean-pooled
/// output (its SEQ_CLS models read their own classifier). The verbalizer's template and label words have no field in
/// PEFT's format: they go into the weights' metadata (PEFT ignores it) and the folder's README.md.
/// </summary>
public static class PeftPromptTuning
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    public const string TensorName = "prompt_embeddings";
    public const string PeftType = "PROMPT_TUNING";
    public const string CausalLm = "CAUSAL_LM";
    /// <summary>The weights' metadata key saying this library wrote the adapter (with the model's checksum).</summary>
    public const string ReprogramFormatKey = "reprogram.format";
    public const string ReprogramFormat = "reprogram.peft-prompt-tuning/1";

    /// <summary>PEFT's names for the three initialisations, by this library's (<c>--init</c>).</summary>
    public static string InitName(string init) => init.Trim().ToLowerInvariant() switch
    {
        "vocab" or "vocabulary" => "SAMPLE_VOCAB",
        "text" => "TEXT",
        "random" => "RANDOM",
        _ => throw new ArgumentException($"'{init}' is not an --init value. Allowed: random, vocab, text."),
    };

    /// <summary>Whether a path is a folder with a PEFT adapter configuration.</summary>
    public static bool IsAdapterFolder(string? path) => !string.IsNullOrWhiteSpace(path) && Directory.Exists(path) && File.Exists(Path.Combine(path, ConfigFile));

    /// <summary>
    /// Writes a soft prompt as a PEFT prompt-tuning adapter into <paramref name="folder"/> (created if needed; the two files
    /// and README.md are replaced). <paramref name="metadata"/> goes into the weights' safetensors metadata beside PEFT's
    /// {"format": "pt"}.
    /// </summary>
    public static void Save(string folder, SoftPrompt prompt, PeftPromptTuningConfig config, IReadOnlyDictionary<string, string>? metadata = null, string? readme = null)
    {
        if (File.Exists(folder)) throw new ArgumentException($"{folder} is a file; a PEFT adapter is a folder (adapter_config.json and adapter_model.safetensors).");
        if (config.NumVirtualTokens != prompt.Tokens || config.TokenDim != prompt.Vectors.shape[1])
        {
            throw new ArgumentException($"The configuration says {config.NumVirtualTokens} x {config.TokenDim}; the soft prompt is {prompt.Tokens} x {prompt.Vectors.shape[1]}.");
        }
        Directory.CreateDirectory(folder);
        using var values = prompt.Vectors.detach().to(ScalarType.Float32).cpu().contiguous();
        using var buffer = new MemoryStream();
        Safetensors.SaveStateDict(buffer, new Dictionary<string, Tensor> { [TensorName] = values }, leaveOpen: true);
        var (header, data) = LearnedManipulationFile.Split(buffer.ToArray(), "(in memory)");
        var meta = new JsonObject { ["format"] = "pt" };
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) meta[k] = v;
        meta[ReprogramFormatKey] = ReprogramFormat;
        meta["data.sha256"] = Convert.ToHexStringLower(SHA256.HashData(data));
        header["__metadata__"] = meta;
        File.WriteAllBytes(Path.Combine(folder, WeightsFile), LearnedManipulationFile.Join(header, data));
        File.WriteAllText(Path.Combine(folder, ConfigFile), ConfigJson(config));
        if (readme is not null) File.WriteAllText(Path.Combine(folder, "README.md"), readme);
    }

    /// <summary>The configuration as PEFT writes it: every field, keys sorted, indent 2.</summary>
    public static string ConfigJson(PeftPromptTuningConfig config)
    {
        var node = JsonSerializer.SerializeToNode(config, new JsonSerializerOptions { DefaultIgnoreCondition = JsonIgnoreCondition.Never })!.AsObject();
        var sorted = new JsonObject();
        foreach (var (key, value) in node.OrderBy(p => p.Key, StringComparer.Ordinal)) sorted[key] = value?.DeepClone();
        return sorted.ToJsonString(new JsonSerializerOptions { WriteIndented = true, IndentSize = 2 });
    }

    /// <summary>
    /// Reads a PEFT prompt-tuning adapter folder. Refused with the reason: a missing or unreadable file, another PEFT
    /// method (LoRA, prefix tuning, ...), a tensor missing or of the wrong shape, or (for adapters written here) tensor
    /// data that does not match its checksum.
    /// </summary>
    public static PeftAdapter Read(string folder)
    {
        if (!Directory.Exists(folder)) throw new FileNotFoundException($"No PEFT adapter folder at {Path.GetFullPath(folder)}.", folder);
        var configPath = Path.Combine(folder, ConfigFile);
        var weightsPath = Path.Combine(folder, WeightsFile);
        if (!File.Exists(configPath)) throw new LearnedFileException($"{folder} has no {ConfigFile}: it is not a PEFT adapter folder.");
        PeftPromptTuningConfig config;
        try
        {
            config = JsonSerializer.Deserialize<PeftPromptTuningConfig>(File.ReadAllText(configPath)) ?? throw new JsonException("the file holds null");
        }
        catch (JsonException e)
        {
            throw new LearnedFileException($"{configPath} is not a PEFT adapter configuration: {e.Message}");
        }
        if (config.PeftType != PeftType)
        {
            throw new LearnedFileException($"{folder} is a PEFT {config.PeftType} adapter; only prompt tuning ({PeftType}) is a soft prompt this library can load.");
        }
        if (config.TaskType is not (null or CausalLm))
        {
            throw new LearnedFileException($"{folder} is a PEFT prompt-tuning adapter for {config.TaskType}; a soft prompt is loaded here for a causal LM ({CausalLm}), " +
                                           "whose answers are read from the frozen model's own output (a SEQ_CLS adapter needs the classifier head it was trained with).");
        }
        if (config.NumVirtualTokens < 1 || config.TokenDim < 1)
        {
            throw new LearnedFileException($"{configPath}: num_virtual_tokens ({config.NumVirtualTokens}) and token_dim ({config.TokenDim}) must be positive.");
        }
        if (config.NumTransformerSubmodules is > 1)
        {
            throw new LearnedFileException($"{folder} has {config.NumTransformerSubmodules} transformer submodules (an encoder-decoder's prompts); a decoder takes one.");
        }
        if (!File.Exists(weightsPath))
        {
            throw new LearnedFileException(File.Exists(Path.Combine(folder, "adapter_model.bin"))
                ? $"{folder} holds adapter_model.bin (a pickle); save the adapter with safe_serialization=True (PEFT's default) to get {WeightsFile}."
                : $"{folder} has no {WeightsFile}.");
        }
        var bytes = File.ReadAllBytes(weightsPath);
        // The one checked safetensors reader (offsets, tiling, dtypes, sizes) before any tensor is built.
        Models.Files.SafetensorsHeader header;
        try { header = Models.Files.SafetensorsFile.ParseHeader(bytes, weightsPath); }
        catch (InvalidDataException e) { throw new LearnedFileException(e.Message); }
        var metadata = header.Metadata;
        if (metadata.TryGetValue("data.sha256", out var sha) && sha != Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan((int)header.DataStart))))
        {
            throw new LearnedFileException($"{weightsPath} is corrupt: its tensor data does not match the checksum written when it was saved.");
        }
        Dictionary<string, Tensor> tensors;
        try { tensors = Models.Files.SafetensorsFile.Read(bytes, weightsPath); }
        catch (InvalidDataException e) { throw new LearnedFileException(e.Message); }
        try
        {
            if (!tensors.TryGetValue(TensorName, out var prompt))
            {
                throw new LearnedFileException($"{weightsPath} has no '{TensorName}' (it holds: {string.Join(", ", tensors.Keys)}).");
            }
            var rows = (long)config.NumVirtualTokens * (config.NumTransformerSubmodules ?? 1);
            if (prompt.dim() != 2 || prompt.shape[0] != rows || prompt.shape[1] != config.TokenDim)
            {
                throw new LearnedFileException($"'{TensorName}' in {weightsPath} is [{string.Join(", ", prompt.shape)}]; {ConfigFile} says [{rows}, {config.TokenDim}].");
            }
            using var values = prompt.to(ScalarType.Float32).contiguous();
            var embeddings = values.data<float>().ToArray();
            if (embeddings.Any(v => !float.IsFinite(v))) throw new LearnedFileException($"'{TensorName}' in {weightsPath} holds NaN or infinite values.");
            return new PeftAdapter(folder, config, embeddings, metadata);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
