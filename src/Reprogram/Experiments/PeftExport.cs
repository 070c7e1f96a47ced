using System.Text;
using System.Text.Json;
using Reprogram.Alignments;
using Reprogram.Manipulations;

namespace Reprogram.Experiments;

/// <summary>The shape of the decoder a soft prompt was learned on, as PEFT's configuration names it.</summary>
public sealed record DecoderShape(int Layers, int Heads, int Hidden);

/// <summary>
/// Writes a learned soft prompt of a decoder as a PEFT prompt-tuning adapter (<see cref="PeftPromptTuning"/>), with this
/// library's metadata (the model's checksum, the experiment, the verbalizer's classes) in the weights' header, and a
/// README.md that says how to load it in Python and which prompt format and label words it was learned with.
/// </summary>
public static class PeftExport
{
    public static void Save(string folder, SoftPrompt prompt, IOutputAlignment alignment, ExperimentSpec spec, DecoderShape shape, string modelIdentity, string modelChecksum)
    {
        if (alignment is not ILabelWordAlignment)
        {
            throw new ArgumentException($"PEFT's prompt tuning for a causal LM reads answers from the model's own output; this soft prompt was learned with a {alignment.Name} " +
                                        "(an encoder's head), which PEFT's adapter has no place for. Export a soft prompt learned on a decoder (a verbalizer).");
        }
        var baseModel = Directory.Exists(spec.Model) ? Path.GetFullPath(spec.Model) : spec.Model;
        var init = PeftPromptTuning.InitName(spec.Options.Init);
        var config = new PeftPromptTuningConfig
        {
            BaseModelNameOrPath = baseModel,
            NumVirtualTokens = prompt.Tokens,
            TokenDim = (int)prompt.Vectors.shape[1],
            NumTransformerSubmodules = 1,
            NumAttentionHeads = shape.Heads,
            NumLayers = shape.Layers,
            PromptTuningInit = init,
            PromptTuningInitText = init == "TEXT" ? spec.Options.InitText : null,
            // PromptTuningConfig requires a tokenizer for TEXT (its __post_init__ refuses it otherwise): the base model's own.
            TokenizerNameOrPath = init == "TEXT" ? baseModel : null,
        };
        var metadata = new Dictionary<string, string>
        {
            ["model"] = modelIdentity,
            ["model.checksum"] = modelChecksum,
            ["manipulation"] = prompt.Name,
            ["alignment"] = alignment.Name,
            ["alignment.labels"] = JsonSerializer.Serialize(alignment.TargetLabels),
        };
        var experiment = SavedExperiment.Metadata(spec);
        foreach (var (k, v) in experiment) metadata[k] = v;
        var saved = JsonSerializer.Deserialize<SavedExperiment>(experiment[SavedExperiment.MetadataKey])!;
        PeftPromptTuning.Save(folder, prompt, config, metadata, Readme(config, saved, alignment, modelIdentity, modelChecksum));
    }

    private static string Readme(PeftPromptTuningConfig config, SavedExperiment saved, IOutputAlignment alignment, string identity, string checksum)
    {
        var template = saved.Template;
        var sb = new StringBuilder();
        sb.AppendLine("# Soft prompt (PEFT prompt-tuning adapter)").AppendLine();
        sb.AppendLine($"Learned by Reprogram.Interactive: {config.NumVirtualTokens} virtual tokens of width {config.TokenDim} (prompt tuning, Lester et al. 2021) " +
                      $"on the frozen decoder `{identity}` (parameter checksum `{checksum}`), task `{saved.Task}`, seed {saved.Seed}.").AppendLine();
        sb.AppendLine("Load it with PEFT (the soft prompt goes in front of the whole input, as it did here):").AppendLine();
        sb.AppendLine("```python");
        sb.AppendLine("from transformers import AutoModelForCausalLM");
        sb.AppendLine("from peft import PeftModel");
        sb.AppendLine($"model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained({JsonSerializer.Serialize(config.BaseModelNameOrPath)}), \"<this folder>\")");
        sb.AppendLine("```").AppendLine();
        sb.AppendLine("What PEFT's format does not hold, and the answers need:").AppendLine();
        if (template is not null)
        {
            sb.AppendLine($"- the prompt: {JsonSerializer.Serialize(template.QueryFormat)} with the text in place of `{{input}}`" +
                          (template.Instruction.Length > 0 ? $", after the instruction {JsonSerializer.Serialize(template.Instruction)}" : "") + ";");
        }
        sb.AppendLine($"- the answer: the class whose label word has the highest log-likelihood after the prompt ({alignment.Name}); " +
                      $"label words {string.Join(", ", alignment.TargetLabels.Select(l => $"`{l}`"))}" +
                      (saved.LabelWords is { } words ? $" (classes: {words})" : "") + ".");
        sb.AppendLine().AppendLine("`adapter_model.safetensors` also carries this in its metadata (key `experiment`); PEFT ignores it.");
        return sb.ToString();
    }
}
