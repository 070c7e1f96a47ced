using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Directives;
using Reprogram.Data;
using Reprogram.Experiments;
using static Reprogram.Interactive.Directives.DirectiveValues;

namespace Reprogram.Interactive.Directives;

/// <summary>What <c>--load</c> asks for: the saved file or PEFT folder, the data (null: the saved run's test examples) and how to read it.</summary>
public sealed record LoadRequest(string Load, string? Data, PredictionOptions Options, string Variable, string? Export = null);

/// <summary>
/// <c>--load</c> on <c>#!reprogram</c> and <c>#!soft-prompt</c>: applies a saved manipulation and alignment (or a PEFT
/// prompt-tuning folder, on <c>#!soft-prompt</c>) to the saved run's own test examples, another task, an image folder or
/// a CSV/JSONL file, through <see cref="Prediction"/>. Training options do not apply and are refused by name; the file
/// fixes the model (another is refused by checksum), the manipulation, the alignment and the seed.
/// </summary>
internal static class LoadedRuns
{
    public const string DefaultVariable = "prediction";

    public static KernelDirectiveParameter Parameter(string what, string data) =>
        new("--load", $"Apply a saved {what} to new inputs instead of learning: " +
                      $"with no {data}, the saved run's own test examples (its accuracy again); or {data} another task, an image folder / a .csv or .jsonl file " +
                      "(labelled: accuracy; without labels: predictions only). The model must be the one it was learned on (checked by checksum). " +
                      $"Takes {data}, --model, --test, --device, --export and --name (default {DefaultVariable}).");

    /// <summary>
    /// The request of a <c>--load</c> cell; the options given that only mean something for learning are refused together,
    /// by name (session defaults are not consulted: the file decides).
    /// </summary>
    public static LoadRequest Request(string load, string? data, string? model, string? test, string? device, string? name, TextDataOptions? textData,
        IEnumerable<(string Option, bool Given)> learningOptions, string dataOption, string? export)
    {
        var given = learningOptions.Where(o => o.Given).Select(o => o.Option).ToArray();
        if (given.Length > 0)
        {
            throw new ArgumentException($"{string.Join(", ", given)} {(given.Length == 1 ? "does" : "do")} not apply with --load: nothing is learned, and the file fixes " +
                                        $"the manipulation, the alignment and the seed. With --load give {dataOption}, --model, --test, --device, --name, --export.");
        }
        if (string.IsNullOrWhiteSpace(load)) throw new ArgumentException("--load needs a saved .safetensors file (or a PEFT adapter folder).");
        if (!File.Exists(load) && !Directory.Exists(load)) throw new FileNotFoundException($"--load: there is no saved file or adapter folder at {Path.GetFullPath(load)}.", load);
        // A task name that is not a file or folder must be one of the registry's (the message lists them), before any model loads.
        if (data is not null && !File.Exists(data) && !Directory.Exists(data)) Registries.Tasks.Resolve(data);
        var options = new PredictionOptions { Model = model, Device = device, TestExamples = Int(test, "--test"), TextData = textData };
        if (device is not null) Runtime.DeviceSpec.Parse(device);
        return new LoadRequest(load, data, options, VariableName(name, DefaultVariable), ExportPath(export));
    }

    public static Task HandleAsync(KernelDirectiveCommand command, KernelInvocationContext context, Func<LoadRequest> parse)
    {
        LoadRequest request;
        try
        {
            request = parse();
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException)
        {
            context.Fail(command, message: e.Message);
            return Task.CompletedTask;
        }
        return RunExperimentAsync(command, context, () => request,
            (LoadRequest r, LiveProgress live, CancellationToken token) =>
                Prediction.Predict(r.Load, r.Data, r.Options, new InstructionCommand.Progress<ExperimentProgress>(live.Show), token),
            null, (_, _) => { }, "", request.Variable, Summary, request.Export, (result, path) => result.Export(path));
    }

    private static string Summary(PredictionResult r) =>
        $"{r.Result.Name}: {r.Records.Count} predictions on {r.Inputs}" + (r.Accuracy is { } a ? $", accuracy {a * 100:0.0}%" : ", no labels");

    /// <summary>The --load request of a #!reprogram cell (the data: --task or its older name --dataset).</summary>
    public static LoadRequest LoadRequest(this RunReprogramming c) => Request(c.Load!, c.TaskOrFolder(),
        c.Model, c.Test, c.Device, c.Name, null,
        [
            ("--train", c.Train is not null), ("--manipulation", c.Manipulation is not null), ("--pad-width", c.PadWidth is not null),
            ("--patch-size", c.PatchSize is not null), ("--alignment", c.Alignment is not null), ("--image-size", c.ImageSize is not null),
            ("--epochs", c.Epochs is not null), ("--batch", c.Batch is not null), ("--lr", c.Lr is not null), ("--schedule", c.Schedule is not null),
            ("--seeds", c.Seeds is not null), ("--seed", c.Seed is not null), ("--baseline", c.Baseline),
            ("--feature-channels-as-labels", c.FeatureChannelsAsLabels), ("--recipe", c.Recipe is not null), ("--save", c.Save is not null),
        ], "--task", c.Export);

    /// <summary>The --load request of a #!soft-prompt cell (a .safetensors file or a PEFT adapter folder).</summary>
    public static LoadRequest LoadRequest(this RunPromptTuning c) => Request(c.Load!, c.Task, c.Model, c.Test, c.Device, c.Name,
        c.TextColumn is null && c.LabelColumn is null && c.LabelWords is null ? null : TextDataOptions.From(c.TextColumn, c.LabelColumn, c.LabelWords),
        [
            ("--manipulation", c.Manipulation is not null), ("--method", c.Method is not null), ("--train", c.Train is not null), ("--tokens", c.Tokens is not null),
            ("--init", c.Init is not null), ("--init-text", c.InitText is not null), ("--reparameterise", c.Reparameterise is not null),
            ("--epochs", c.Epochs is not null), ("--batch", c.Batch is not null), ("--lr", c.Lr is not null), ("--max-length", c.MaxLength is not null),
            ("--seeds", c.Seeds is not null), ("--seed", c.Seed is not null), ("--save", c.Save is not null), ("--save-peft", c.SavePeft is not null),
        ], "--task", c.Export);

    /// <summary>--save-peft is checked before anything is learned: a soft prompt, on a decoder, into a folder.</summary>
    public static void CheckSavePeft(PromptTuningOptions options, string folder)
    {
        if (string.IsNullOrWhiteSpace(folder)) throw new ArgumentException("--save-peft needs a folder to write the adapter into.");
        if (File.Exists(folder)) throw new ArgumentException($"--save-peft {folder}: that is a file; PEFT's adapter is a folder (adapter_config.json, adapter_model.safetensors).");
        if (PromptTuningOptions.CanonicalMethod(options.Method) != "soft")
        {
            throw new ArgumentException($"--save-peft writes PEFT's prompt-tuning layout, which holds a soft prompt (--manipulation soft), not {options.Method}.");
        }
        if (Registries.Models.Resolve(options.Model).Kind != "text decoder")
        {
            throw new ArgumentException($"--save-peft needs a decoder (PEFT's prompt tuning for a causal LM, read by a verbalizer); {options.Model} is a " +
                                        $"{Registries.Models.Resolve(options.Model).Kind} with a linear head, which PEFT's adapter has no place for.");
        }
    }

    public static void Save(PromptTuningResult result, string? save, string? savePeft)
    {
        if (save is not null) result.Save(save);
        if (savePeft is not null) result.SavePeft(savePeft);
    }

    public static string Saved(string? save, string? savePeft) => (save, savePeft) switch
    {
        (not null, not null) => $"the learned prompt and head (and the soft prompt as a PEFT prompt-tuning adapter in {Path.GetFullPath(savePeft)})",
        (null, not null) => "the soft prompt as a PEFT prompt-tuning adapter",
        _ => "the learned prompt and head",
    };
}
