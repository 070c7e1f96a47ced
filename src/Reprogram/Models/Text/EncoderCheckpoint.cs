using System.Text.Json;
using Reprogram.Models.Causal;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Models.Text;

/// <summary>A loaded encoder checkpoint: the frozen <see cref="BertEncoder"/>, its tokenizer, and what was read.</summary>
public sealed record EncoderCheckpointModel(BertEncoder Model, EncoderTokenizer Tokenizer, string Identity, string Family, IReadOnlyList<string> SkippedHeads);

/// <summary>
/// Loads a Hugging Face BERT or RoBERTa folder (config.json, model.safetensors or a sharded index, and the tokenizer
/// files) into a frozen <see cref="BertEncoder"/>: <c>EncoderCheckpoint.Load(folder)</c>.
/// <para>
/// Tensor names are Hugging Face's BertModel / RobertaModel names, with or without the <c>bert.</c> / <c>roberta.</c>
/// prefix of the task models. The pretraining heads a task model carries (pooler.*, BERT's cls.* masked-LM and
/// next-sentence heads, RoBERTa's lm_head.*) are not part of the encoder: they are skipped and listed in
/// <see cref="EncoderCheckpointModel.SkippedHeads"/>; so are the position_ids / token_type_ids buffers of older files.
/// Anything else is strict: a missing tensor, an unexpected one or a wrong shape is named, with the file, in one
/// <see cref="InvalidDataException"/>. RoBERTa differs from BERT in its positions (they start at pad_token_id + 1) and its
/// byte-level BPE tokenizer with &lt;s&gt; &lt;/s&gt;; the network is the same.
/// </para>
/// </summary>
public static class EncoderCheckpoint
{
    public static IReadOnlyList<string> Families { get; } = ["bert", "roberta"];

    /// <summary>Whether the folder's config.json names a BERT or RoBERTa encoder.</summary>
    public static bool IsEncoderFolder(string folder)
    {
        var path = Path.Combine(folder, "config.json");
        if (!File.Exists(path)) return false;
        try
        {
            using var doc = Files.CheckpointFolder.ReadJson(path);
            return Family(doc.RootElement) is not null;
        }
        catch (InvalidDataException) { return false; }
    }

    private static string? Family(JsonElement root)
    {
        var type = root.TryGetProperty("model_type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        var arch = root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0 && a[0].ValueKind == JsonValueKind.String ? a[0].GetString() ?? "" : "";
        if (type == "bert" || type is null && arch.StartsWith("Bert", StringComparison.Ordinal)) return "bert";
        if (type == "roberta" || type is null && arch.StartsWith("Roberta", StringComparison.Ordinal)) return "roberta";
        return null;
    }

    /// <summary>The encoder's shape from its config.json; other activations or position kinds are refused by name.</summary>
    public static (BertConfig Config, string Family) ReadConfig(string folder)
    {
        var path = Path.GetFullPath(Path.Combine(folder, "config.json"));
        using var doc = Files.CheckpointFolder.ReadConfig(folder);
        var root = doc.RootElement;
        var family = Family(root) ?? throw new NotSupportedException(
            $"{path}: model_type '{CheckpointLoader.String(root, "model_type", path)}' is not an encoder this library loads; supported: {string.Join(", ", Families)}.");
        var act = CheckpointLoader.String(root, "hidden_act", path) ?? "gelu";
        if (act != "gelu") throw new NotSupportedException($"{path}: hidden_act '{act}' is not supported (only gelu, the erf form BERT and RoBERTa use).");
        var positions = CheckpointLoader.String(root, "position_embedding_type", path) ?? "absolute";
        if (positions != "absolute") throw new NotSupportedException($"{path}: position_embedding_type '{positions}' is not supported (only absolute).");
        if (CheckpointLoader.Bool(root, "is_decoder", false) || CheckpointLoader.Bool(root, "add_cross_attention", false))
            throw new NotSupportedException($"{path}: a BERT used as a decoder (is_decoder / add_cross_attention) is not supported; load it as an encoder.");
        var pad = CheckpointLoader.Int(root, "pad_token_id", family == "roberta" ? 1 : 0);
        var heads = CheckpointLoader.Positive(root, "num_attention_heads", path: path);
        var hidden = CheckpointLoader.Positive(root, "hidden_size", path: path);
        if (hidden % heads != 0) throw new InvalidDataException($"{path}: hidden_size {hidden} is not a multiple of num_attention_heads {heads}.");
        var config = new BertConfig(
            CheckpointLoader.Positive(root, "vocab_size", path: path),
            hidden,
            CheckpointLoader.Positive(root, "num_hidden_layers", path: path),
            heads,
            CheckpointLoader.Positive(root, "intermediate_size", path: path),
            CheckpointLoader.Positive(root, "max_position_embeddings", 512, path),
            CheckpointLoader.Positive(root, "type_vocab_size", 2, path),
            CheckpointLoader.Double(root, "layer_norm_eps", 1e-12),
            // RoBERTa numbers positions from padding_idx + 1 (Hugging Face's create_position_ids_from_input_ids).
            family == "roberta" ? pad + 1 : 0);
        return (config, family);
    }

    /// <summary>The encoder of a folder, frozen (eval mode, no gradients), with its tokenizer.</summary>
    public static EncoderCheckpointModel Load(string folder)
    {
        var (config, family) = ReadConfig(folder);
        var tokenizer = family == "roberta" ? EncoderTokenizer.ForRoberta(folder) : EncoderTokenizer.ForBert(folder);
        if (tokenizer.VocabularySize > config.VocabularySize)
        {
            throw new InvalidDataException($"{folder}: the tokenizer has {tokenizer.VocabularySize} tokens, the model's embedding table {config.VocabularySize}.");
        }
        var model = new BertEncoder(config, tokenizer);
        try
        {
            var skipped = CopyWeights(model, folder, family);
            model.eval();
            foreach (var parameter in model.parameters()) parameter.requires_grad = false;
            var name = Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/'));
            return new EncoderCheckpointModel(model, tokenizer, $"{name} ({family}, {config.Layers} layers, hidden {config.HiddenSize})", family, skipped);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The encoder <c>#!soft-prompt</c> names: "minilm" (the shared all-MiniLM-L6-v2, not owned) or a BERT / RoBERTa
    /// checkpoint folder (loaded here, owned by the caller).
    /// </summary>
    public static (BertEncoder Model, IEncoderTokenizer Tokenizer, string Identity, bool Owned) Resolve(string model)
    {
        if (model == "minilm")
        {
            var (shared, tokenizer) = MiniLmLoader.Shared();
            return (shared, tokenizer, MiniLmLoader.Identity, false);
        }
        var loaded = Load(model);
        return (loaded.Model, loaded.Tokenizer, loaded.Identity, true);
    }

    private static bool IsHead(string name, string family) =>
        name.StartsWith("pooler.", StringComparison.Ordinal) ||
        family == "bert" && name.StartsWith("cls.", StringComparison.Ordinal) ||
        family == "roberta" && name.StartsWith("lm_head.", StringComparison.Ordinal);

    private static bool IsBuffer(string name) =>
        name is "embeddings.position_ids" or "embeddings.token_type_ids";

    private static List<string> CopyWeights(BertEncoder model, string folder, string family)
    {
        var (tensors, files) = ReadTensors(folder);
        try
        {
            // Task models prefix the encoder ("bert.embeddings..."); the bare model does not.
            var prefix = family + ".";
            var named = new Dictionary<string, string>(StringComparer.Ordinal);   // encoder name -> name in the file
            var skipped = new List<string>();
            var problems = new List<string>();
            foreach (var name in tensors.Keys.OrderBy(k => k, StringComparer.Ordinal))
            {
                var inner = name.StartsWith(prefix, StringComparison.Ordinal) ? name[prefix.Length..] : name;
                if (IsHead(inner, family) || IsHead(name, family)) { skipped.Add(name); continue; }
                if (IsBuffer(inner)) continue;
                if (!named.TryAdd(inner, name)) problems.Add($"'{name}' and '{named[inner]}' are the same tensor under two names");
            }
            var target = model.state_dict();
            using (no_grad())
            {
                foreach (var (name, parameter) in target)
                {
                    if (!named.TryGetValue(name, out var source))
                    {
                        problems.Add($"missing tensor '{name}' (expected shape {Shape(parameter.shape)})");
                        continue;
                    }
                    var t = tensors[source];
                    if (!t.shape.SequenceEqual(parameter.shape))
                    {
                        problems.Add($"tensor '{source}' in {files[source]}: expected shape {Shape(parameter.shape)}, found {Shape(t.shape)}");
                        continue;
                    }
                    if (Files.CheckpointFolder.NotAWeight(source, t, parameter) is { } notAWeight)
                    {
                        problems.Add($"tensor {notAWeight} in {files[source]}");
                        continue;
                    }
                    parameter.copy_(t);  // copy_ converts the dtype in place: no converted copy to leak
                }
            }
            foreach (var (inner, source) in named)
            {
                if (!target.ContainsKey(inner)) problems.Add($"unexpected tensor '{source}' (shape {Shape(tensors[source].shape)}) in {files[source]}");
            }
            if (problems.Count > 0)
            {
                throw new InvalidDataException($"The checkpoint in {folder} does not fit the {family} encoder built from its config.json: " +
                                               string.Join("; ", problems.Take(12)) + (problems.Count > 12 ? $"; and {problems.Count - 12} more" : "") + ".");
            }
            return skipped;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>The folder's weights (model.safetensors or its shards), every file checked (<see cref="Files.CheckpointFolder"/>).</summary>
    private static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Files) ReadTensors(string folder) =>
        Files.CheckpointFolder.ReadTensors(folder);

    private static string Shape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
