using System.Text.Json;
using Reprogram.Alignments;
using Reprogram.Frozen;
using Reprogram.Manipulations;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>
/// What a prediction loads: a file saved here (<see cref="LearnedManipulationFile"/>: a manipulation, its alignment, the
/// model's checksum and the experiment) or a PEFT prompt-tuning folder (<see cref="PeftPromptTuning"/>: a soft prompt;
/// written here it also carries the checksum and the experiment, written by PEFT only the base model's name).
/// </summary>
internal sealed class LearnedSource
{
    public required string FilePath { get; init; }
    /// <summary>The experiment it came from; null for an adapter PEFT wrote.</summary>
    public SavedExperiment? Experiment { get; init; }
    /// <summary>The alignment's classes (label words for a verbalizer), in its order; empty for an adapter PEFT wrote.</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];
    public string? ModelIdentity { get; init; }
    public string? ModelChecksum { get; init; }
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    public PeftAdapter? Adapter { get; init; }

    public string Kind => Adapter is null ? "saved manipulation" : "PEFT prompt-tuning adapter";

    public static LearnedSource Open(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("--load needs a saved .safetensors file or a PEFT adapter folder.");
        if (Directory.Exists(path))
        {
            if (!PeftPromptTuning.IsAdapterFolder(path))
            {
                throw new LearnedFileException($"{Path.GetFullPath(path)} is a folder without {PeftPromptTuning.ConfigFile}: --load takes a saved .safetensors file or a PEFT prompt-tuning adapter folder.");
            }
            var adapter = PeftPromptTuning.Read(path);
            var meta = adapter.Metadata;
            return new LearnedSource
            {
                FilePath = path, Adapter = adapter, Metadata = meta,
                Experiment = adapter.FromReprogram ? SavedExperiment.From(meta, path) : null,
                Labels = adapter.FromReprogram ? LabelsOf(meta, path) : [],
                ModelIdentity = meta.GetValueOrDefault("model") ?? adapter.Config.BaseModelNameOrPath,
                ModelChecksum = meta.GetValueOrDefault("model.checksum"),
            };
        }
        var (metadata, tensors) = LearnedManipulationFile.Read(path);
        foreach (var t in tensors.Values) t.Dispose();
        return new LearnedSource
        {
            FilePath = path, Metadata = metadata, Experiment = SavedExperiment.From(metadata, path), Labels = LabelsOf(metadata, path),
            ModelIdentity = metadata.GetValueOrDefault("model"), ModelChecksum = metadata.GetValueOrDefault("model.checksum"),
        };
    }

    private static IReadOnlyList<string> LabelsOf(IReadOnlyDictionary<string, string> metadata, string path)
    {
        try
        {
            return metadata.TryGetValue("alignment.labels", out var json) ? JsonSerializer.Deserialize<string[]>(json) ?? [] : [];
        }
        catch (JsonException e)
        {
            throw new LearnedFileException($"{path} is corrupt: its alignment labels are not a list ({e.Message}).");
        }
    }

    /// <summary>
    /// Refuses a model other than the one the manipulation was learned on, naming both checksums and the file. An adapter
    /// PEFT wrote names its base model only: its layer and head counts are checked against the model instead.
    /// </summary>
    public void CheckModel(Backbone backbone)
    {
        if (ModelChecksum is { } saved)
        {
            if (saved != backbone.ChecksumBefore)
            {
                throw new LearnedFileException(
                    $"{FilePath} was learned on '{ModelIdentity}' (parameter checksum {ParameterChecksum.Short(saved)}), and the model loaded now is " +
                    $"'{backbone.Identity}' (checksum {ParameterChecksum.Short(backbone.ChecksumBefore)}): a manipulation only means something for the model it was learned on. " +
                    "Load that model (--model), or learn the manipulation again on this one.");
            }
            return;
        }
        if (Adapter is { } adapter && backbone.TokenModel is { } model)
        {
            var c = adapter.Config;
            var wrong = new List<string>();
            if (c.TokenDim != model.HiddenSize) wrong.Add($"token_dim {c.TokenDim} (the model's hidden size is {model.HiddenSize})");
            if (c.NumLayers is { } layers && layers != model.Layers) wrong.Add($"num_layers {layers} (the model has {model.Layers})");
            if (c.NumAttentionHeads is { } heads && heads != model.Heads) wrong.Add($"num_attention_heads {heads} (the model has {model.Heads})");
            if (wrong.Count > 0)
            {
                throw new LearnedFileException($"{FilePath} was made for another model ('{c.BaseModelNameOrPath}'): {string.Join(", ", wrong)}. Give its base model with --model.");
            }
        }
    }

    /// <summary>Puts what was learned into a fresh manipulation and alignment of the same kind (shapes and kinds checked).</summary>
    public void Restore(Backbone backbone, IManipulation? manipulation, IAlignment alignment)
    {
        if (Adapter is { } adapter)
        {
            if (manipulation is not SoftPrompt soft)
            {
                throw new LearnedFileException($"{FilePath} holds a soft prompt (PEFT prompt tuning), not a {manipulation?.Name ?? "run without an input manipulation"}.");
            }
            if (soft.Tokens != adapter.Tokens || soft.Vectors.shape[1] != adapter.Hidden)
            {
                throw new LearnedFileException($"{FilePath} holds a prompt of {adapter.Tokens} x {adapter.Hidden}; the soft prompt for {backbone.Identity} is {soft.Tokens} x {soft.Vectors.shape[1]}.");
            }
            using var noGrad = no_grad();
            using var values = adapter.Prompt(soft.Vectors.device);
            soft.Vectors.copy_(values);
            return;
        }
        if (manipulation is not LearnableManipulation learnable || alignment is not IOutputAlignment output)
        {
            throw new ArgumentException($"Only a learned manipulation with a label mapping, head or verbalizer can be loaded from {Path.GetFileName(FilePath)}; " +
                                        $"{manipulation?.Name ?? "no manipulation"} + {alignment.Name} has nothing to load.");
        }
        LearnedManipulationFile.Load(FilePath, learnable, output, backbone.Identity, backbone.ChecksumBefore);
        (alignment as LabelMapping)?.Restored();
    }
}
