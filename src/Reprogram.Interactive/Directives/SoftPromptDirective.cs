using static Reprogram.Interactive.Directives.DirectiveValues;
using System.Globalization;
using Microsoft.AspNetCore.Html;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Directives;
using Microsoft.DotNet.Interactive.Formatting;
using Reprogram.Data;
using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Interactive.Formatting;
using Reprogram.Runtime;
using Reprogram.Training;

namespace Reprogram.Interactive.Directives;

/// <summary>The bound options of <c>#!soft-prompt</c>.</summary>
public sealed class RunPromptTuning : KernelDirectiveCommand
{
    public string? Method { get; set; }
    public string? Model { get; set; }
    public string? Task { get; set; }
    public string? Train { get; set; }
    public string? Test { get; set; }
    public string? Tokens { get; set; }
    public string? Init { get; set; }
    public string? InitText { get; set; }
    public string? Reparameterise { get; set; }
    public string? Epochs { get; set; }
    public string? Batch { get; set; }
    public string? Lr { get; set; }
    public string? MaxLength { get; set; }
    public string? Seed { get; set; }
    public string? Device { get; set; }
    public string? Save { get; set; }
    public string? Export { get; set; }
    public string? Name { get; set; }
    public string? TextColumn { get; set; }
    public string? LabelColumn { get; set; }
    public string? LabelWords { get; set; }
    // Consistent option names (OptionAliases): --manipulation (older --method), --seeds (older --seed); --load (LoadedRuns), --save-peft.
    public string? Manipulation { get; set; }
    public string? Seeds { get; set; }
    public string? Load { get; set; }
    public string? SavePeft { get; set; }

    public string VariableName => DirectiveValues.VariableName(Name, "promptTuning");

    public PromptTuningOptions ToOptions()
    {
        var d = PromptTuningOptions.SessionDefaults;
        var options = d with
        {
            Method = OptionAliases.Merge(Manipulation is null ? null : OptionAliases.PromptTuningMethod(Manipulation),
                Method is null ? null : OptionAliases.PromptTuningMethod(Method), "--manipulation", "--method") ?? d.Method,
            // A registry name in any case; a checkpoint folder's path as given (paths are case-sensitive).
            Model = Model is null ? d.Model : PromptTuningOptions.Models.Contains(Model.ToLowerInvariant()) ? Model.ToLowerInvariant() : Model,
            Task = Task ?? d.Task,
            TrainCount = Int(Train, "--train") ?? d.TrainCount,
            TestCount = Int(Test, "--test") ?? d.TestCount,
            Tokens = Int(Tokens, "--tokens") ?? d.Tokens,
            Init = Init?.ToLowerInvariant() ?? d.Init,
            InitText = InitText ?? d.InitText,
            Reparameterisation = Int(Reparameterise, "--reparameterise") ?? d.Reparameterisation,
            Epochs = Int(Epochs, "--epochs") ?? d.Epochs,
            BatchSize = Int(Batch, "--batch") ?? d.BatchSize,
            LearningRate = Number(Lr, "--lr") ?? d.LearningRate,
            MaxLength = Int(MaxLength, "--max-length") ?? d.MaxLength,
            Seeds = OptionAliases.Seeds(Seeds, Seed) ?? d.Seeds,
            Seed = d.Seed,
            Device = Device ?? d.Device,
            TextData = TextDataParameters.ToOptions(TextColumn, LabelColumn, LabelWords, d.TextData),
        };
        options.Validate();
        _ = VariableName;
        if (SavePeft is not null) LoadedRuns.CheckSavePeft(options, SavePeft);
        ExportPath(Export);
        SavePath(Save);
        return options;
    }

    public override IEnumerable<string> GetValidationErrors(CompositeKernel kernel) =>
        ValidationErrors(() => { if (Load is not null) this.LoadRequest(); else ToOptions(); });
}

/// <summary>
/// <c>#!soft-prompt</c>: prompt tuning of a frozen pretrained encoder (all-MiniLM-L6-v2) for text classification:
/// soft tokens (Lester et al.), prefix-tuning (Li and Liang), P-tuning v2 (Liu et al.) or VPT-deep prompts (Jia et al.), with a linear head.
/// </summary>
internal static class SoftPromptDirective
{
    public static KernelActionDirective Create() => new KernelActionDirective("#!soft-prompt")
    {
        Description = "Prompt tuning of a frozen language model (all-MiniLM-L6-v2 with a linear head, or a decoder with a verbalizer): learned soft tokens " +
                      "at the embeddings, prefixes of keys and values (prefix-tuning, P-tuning v2), or VPT-deep prompts at every layer; the model's weights never change. " +
                      "Example: #!soft-prompt --manipulation soft --task fortunes --tokens 8; #!soft-prompt --load saved.safetensors applies a saved one to new texts.",
        Parameters =
        {
            new KernelDirectiveParameter("--manipulation", "soft (prompt tuning, Lester et al., embedding location), prefix (prefix-tuning, Li and Liang: key/value prefixes through an MLP, hidden), p-tuning-v2 (Liu et al.: per-layer key/value prefixes learned directly, hidden), vpt-deep (Jia et al.: prompts replaced at every layer, hidden; \"deep\" is an alias); the registry's names (soft-prompt, prefix-tuning, ...) work too; the older name --method still works. Default soft.")
                .AddCompletions(() => PromptTuningOptions.Methods),
            OptionAliases.Parameter("--method", "--manipulation").AddCompletions(() => PromptTuningOptions.Methods),
            new KernelDirectiveParameter("--model", "minilm (all-MiniLM-L6-v2, a real pretrained BERT encoder, linear head), a zoo decoder (icl-rules, arith-cot), or a Hugging Face checkpoint folder (GPT-2, Llama, Qwen2, SmolLM); decoders use a verbalizer. Default minilm.")
                .AddCompletions(() => PromptTuningOptions.Models),
            new KernelDirectiveParameter("--task", "fortunes (Debian quote categories: computers, food, love, science), sentiment (generated), or a .csv/.jsonl file with text and label columns. Default fortunes.")
                .AddCompletions(() => Registries.Tasks.Entries.Where(e => e.Modality == TaskModality.Text && !e.IsPattern).Select(e => e.Name)),
            new KernelDirectiveParameter("--train", "Training examples (class-balanced, from the seed). Default 400.") { TypeHint = "number" },
            new KernelDirectiveParameter("--test", "Test examples. Default 200.") { TypeHint = "number" },
            new KernelDirectiveParameter("--tokens", "Virtual tokens (per layer for prefix, p-tuning-v2 and vpt-deep). Default 8.") { TypeHint = "number" },
            new KernelDirectiveParameter("--init", "How soft tokens start: random, vocab (embeddings sampled from the 5,000 most frequent tokens where the tokenizer orders its ids by frequency, as Lester et al.; from the whole vocabulary otherwise) or text (--init-text). Default random.")
                .AddCompletions(() => PromptTuningOptions.Inits),
            new KernelDirectiveParameter("--init-text", "The text whose token embeddings start the soft tokens, with --init text."),
            new KernelDirectiveParameter("--reparameterise", "Prefix-tuning's reparameterisation MLP hidden size; default 512, as Li and Liang (--method p-tuning-v2 for prefixes without it).") { TypeHint = "number" },
            new KernelDirectiveParameter("--epochs", "Epochs. Default 4.") { TypeHint = "number" },
            new KernelDirectiveParameter("--batch", "Batch size. Default 16.") { TypeHint = "number" },
            new KernelDirectiveParameter("--lr", "Learning rate (Adam). Default 0.01.") { TypeHint = "number" },
            new KernelDirectiveParameter("--max-length", "Longest text in tokens. Default 64.") { TypeHint = "number" },
            new KernelDirectiveParameter("--seeds", "Seeds: a count (3 = 0,1,2), a list (0,4,7) or a range (0-4); each draws its subset, order and initialisation, and the table shows the mean and spread (the older name --seed still works: --seed N is the one seed N). Default 0."),
            OptionAliases.Parameter("--seed", "--seeds (--seed N is the one seed N)", "number"),
            new KernelDirectiveParameter("--device", "auto, cpu, cuda or cuda:N. Default: the session's (#!device).").AddCompletions(() => ["auto", "cpu", "cuda"]),
            new KernelDirectiveParameter("--save", "Save the learned prompt and head (the first seed's) to this .safetensors file, to apply later with --load."),
            new KernelDirectiveParameter("--save-peft", "Also write the learned soft prompt of a decoder as a Hugging Face PEFT prompt-tuning adapter in this folder " +
                                                        "(adapter_config.json, adapter_model.safetensors, README.md): PeftModel.from_pretrained loads it in Python, --load here."),
            LoadedRuns.Parameter("prompt and head (a .safetensors file from --save) or a PEFT prompt-tuning adapter folder", "--task"),
            new KernelDirectiveParameter("--export", "Write the results table to a .csv file, or everything (options, spec, label words, test ids, every prediction, provenance) to a .json file that Results.Load reads back."),
            new KernelDirectiveParameter("--name", "The C# variable that holds the result. Default promptTuning."),
        },
    }.WithParameters(TextDataParameters.Create());

    public static Task Handle(RunPromptTuning command, KernelInvocationContext context) => command.Load is not null
        ? LoadedRuns.HandleAsync(command, context, command.LoadRequest)
        : RunExperimentAsync(command, context, command.ToOptions,
            (PromptTuningOptions options, LiveProgress live, CancellationToken token) =>
                PromptTuning.Run(options, new Progress(p => live.Report($"{options.Method} prompt, {options.Tokens} tokens", p)), token),
            command.Save ?? command.SavePeft, (result, path) => LoadedRuns.Save(result, command.Save, command.SavePeft), LoadedRuns.Saved(command.Save, command.SavePeft),
            command.VariableName, result => result.Main.Name,
            command.Export?.Trim(), (result, path) => result.Export(path));

    private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
