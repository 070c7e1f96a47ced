using static Reprogram.Interactive.Directives.DirectiveValues;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Directives;
using Reprogram.Experiments;
using Reprogram.Instruction;
using Reprogram.Training;

namespace Reprogram.Interactive.Directives;

/// <summary>Options #!icl and #!cot share (bound as strings, parsed with our messages).</summary>
public abstract class InstructionCommand : KernelDirectiveCommand
{
    public string? Model { get; set; }
    public string? Endpoint { get; set; }
    public string? ApiKeyEnv { get; set; }
    public string? Task { get; set; }
    public string? Queries { get; set; }
    /// <summary>--test: test examples per seed (--queries is its older name).</summary>
    public string? Test { get; set; }
    public string? Pool { get; set; }
    public string? Seeds { get; set; }
    public string? Instruction { get; set; }
    public string? DemoFormat { get; set; }
    public string? Separator { get; set; }
    public string? QueryFormat { get; set; }
    public string? Strict { get; set; }
    public string? Flexible { get; set; }
    public string? MaxTokens { get; set; }
    public string? Batch { get; set; }
    public string? Device { get; set; }
    public string? Precision { get; set; }
    public string? Export { get; set; }
    public string? Name { get; set; }
    public string? Chat { get; set; }
    public bool ShowPrompt { get; set; }
    public string? TextColumn { get; set; }
    public string? LabelColumn { get; set; }
    public string? LabelWords { get; set; }

    protected T Common<T>(T d) where T : InstructionOptionsBase => d with
    {
        Model = Model ?? d.Model,
        Endpoint = Endpoint ?? d.Endpoint,
        ApiKeyVariable = ApiKeyEnv ?? d.ApiKeyVariable,
        Task = Task ?? d.Task,
        Queries = Int(OptionAliases.Merge(Test, Queries, "--test", "--queries"), Test is null ? "--queries" : "--test") ?? d.Queries,
        Pool = Int(Pool, "--pool") ?? d.Pool,
        Seeds = Seeds is null ? d.Seeds : InstructionOptionsBase.ParseSeeds(Seeds),
        Instruction = Unescape(Instruction) ?? d.Instruction,
        DemonstrationFormat = Unescape(DemoFormat) ?? d.DemonstrationFormat,
        Separator = Unescape(Separator) ?? d.Separator,
        QueryFormat = Unescape(QueryFormat) ?? d.QueryFormat,
        StrictRule = Strict ?? d.StrictRule,
        FlexibleRule = Flexible ?? d.FlexibleRule,
        MaxNewTokens = Int(MaxTokens, "--max-tokens") ?? d.MaxNewTokens,
        BatchRows = Int(Batch, "--batch") ?? d.BatchRows,
        Device = Device ?? d.Device,
        Chat = Chat?.ToLowerInvariant() ?? d.Chat,
        ShowPrompt = ShowPrompt || d.ShowPrompt,
        TextData = TextDataParameters.ToOptions(TextColumn, LabelColumn, LabelWords, d.TextData),
        Precision = Precision is null ? d.Precision : Reprogram.Runtime.PrecisionSupport.Parse(Precision),
    };

    /// <summary>Templates are written on one line in a magic command: \n and \t stand for a new line and a tab.</summary>
    internal static string? Unescape(string? text) => text?.Replace("\\n", "\n").Replace("\\t", "\t");

    /// <summary>Every option checked, the --export path included, before anything runs.</summary>
    protected abstract void Check();

    public override IEnumerable<string> GetValidationErrors(CompositeKernel kernel) => ValidationErrors(Check);

    internal static IEnumerable<KernelDirectiveParameter> CommonParameters(string defaultModel, string defaultTask, string defaultSeeds, string variable) =>
    [
        new KernelDirectiveParameter("--model", $"icl-rules or arith-cot (zoo decoders trained here), a Hugging Face checkpoint folder, or openai:MODEL / ollama:MODEL (a remote chat model; generation only). Default {defaultModel}.")
            .AddCompletions(() => Registries.Models.Entries.Where(e => e.Kind is "text decoder" or "chat model").Select(e => e.Name)),
        new KernelDirectiveParameter("--endpoint", "The remote model's endpoint, e.g. https://api.openai.com/v1 (default for openai) or http://localhost:11434 (default for ollama)."),
        new KernelDirectiveParameter("--api-key-env", "The NAME of the environment variable holding the remote model's key (default OPENAI_API_KEY for openai). The key never appears in the notebook."),
        new KernelDirectiveParameter("--task", $"icl-rules, addition (generated), sentiment (generated), fortunes (Debian quotes), or a .csv/.jsonl file with text and label columns. Default {defaultTask}.")
            .AddCompletions(() => Registries.Tasks.Entries.Where(e => e.Modality == TaskModality.Text && !e.IsPattern).Select(e => e.Name)),
        new KernelDirectiveParameter("--test", "Test examples (queries) per seed (the older name --queries still works). Default 100.") { TypeHint = "number" },
        OptionAliases.Parameter("--queries", "--test", "number"),
        new KernelDirectiveParameter("--pool", "Examples the demonstrations are chosen from. Default 32.") { TypeHint = "number" },
        new KernelDirectiveParameter("--seeds", $"Seeds: a count (3 = 0,1,2), a list (0,4,7) or a range (0-4); results are mean and spread over them. Default {defaultSeeds}."),
        new KernelDirectiveParameter("--instruction", "Text before the demonstrations (\\n for a new line)."),
        new KernelDirectiveParameter("--demo-format", "Demonstration format with {input}, {label} and {rationale}, e.g. \"Input: {input}\\nLabel: {label}\"."),
        new KernelDirectiveParameter("--separator", "Between demonstrations. Default: the task's."),
        new KernelDirectiveParameter("--query-format", "The query format with {input}, e.g. \"Input: {input}\\nLabel:\"."),
        new KernelDirectiveParameter("--strict", "The strict answer rule: a regular expression whose first group is the answer."),
        new KernelDirectiveParameter("--flexible", "The flexible answer rule (default: the last number, or the first label word in the text)."),
        new KernelDirectiveParameter("--max-tokens", "Longest generated answer in tokens. Default: the task's.") { TypeHint = "number" },
        new KernelDirectiveParameter("--batch", "Rows scored or generated together. Default 32.") { TypeHint = "number" },
        new KernelDirectiveParameter("--device", "auto, cpu, cuda or cuda:N. Default: the session's (#!device).").AddCompletions(() => ["auto", "cpu", "cuda"]),
        new KernelDirectiveParameter("--precision", "fp32 or bf16: the frozen model's forward passes (bf16 runs a bf16 copy; needs AVX512_BF16/AMX or a GPU). Default fp32.")
            .AddCompletions(() => Reprogram.Runtime.PrecisionSupport.Names),
        new KernelDirectiveParameter("--export", "Write the per-query records to a .csv file, or the whole run to a .json file."),
        new KernelDirectiveParameter("--name", $"The C# variable that holds the result. Default {variable}."),
        new KernelDirectiveParameter("--chat", "Checkpoints: prompt the model as a chat model. template (its tokenizer_config.json chat_template: ChatML, Qwen2 or Llama 3), or chatml / qwen2 / llama3. Default off (plain prompts).")
            .AddCompletions(() => PromptFormat.ChatOptions),
        new KernelDirectiveParameter("--show-prompt", "Show the exact text the model reads in each record (BOS, chat template and special tokens included).") { Flag = true },
        .. TextDataParameters.Create(),
    ];

    internal sealed class Progress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

/// <summary>The bound options of <c>#!icl</c>.</summary>
public sealed class RunInContextLearning : InstructionCommand
{
    public string? Shots { get; set; }
    public string? Selection { get; set; }
    public string? Order { get; set; }
    public string? Calibration { get; set; }
    public string? Scoring { get; set; }
    public bool NoCache { get; set; }

    public string VariableName => DirectiveValues.VariableName(Name, "icl");

    public InContextOptions ToOptions()
    {
        var d = InContextOptions.SessionDefaults;
        var options = Common(d) with
        {
            Shots = Shots is null ? d.Shots : InstructionOptionsBase.ParseInts(Shots, "--shots"),
            Selections = Selection is null ? d.Selections : List(Selection).Select(s => s.ToLowerInvariant()).ToArray(),
            Order = Order?.ToLowerInvariant() ?? d.Order,
            Calibration = Calibration?.ToLowerInvariant() ?? d.Calibration,
            Scoring = Scoring?.ToLowerInvariant() ?? (Model is { } m && m.Contains(':') && !Directory.Exists(m) ? "generation" : d.Scoring),
            SharedPrefixCache = !NoCache && d.SharedPrefixCache,
        };
        options.Validate();
        _ = VariableName;
        return options;
    }

    protected override void Check()
    {
        ToOptions();
        ExportPath(Export);
    }
}

/// <summary>The bound options of <c>#!cot</c>.</summary>
public sealed class RunChainOfThought : InstructionCommand
{
    public string? Mode { get; set; }
    public string? Shots { get; set; }
    public string? Selection { get; set; }
    public string? Trigger { get; set; }
    public string? Samples { get; set; }
    public string? Temperature { get; set; }
    public string? TopK { get; set; }

    public string VariableName => DirectiveValues.VariableName(Name, "cot");

    public ChainOfThoughtOptions ToOptions()
    {
        var d = ChainOfThoughtOptions.SessionDefaults;
        var options = Common(d) with
        {
            Modes = Mode is null ? d.Modes : List(Mode).Select(s => s.ToLowerInvariant()).ToArray(),
            Shots = Int(Shots, "--shots") ?? d.Shots,
            Selection = Selection?.ToLowerInvariant() ?? d.Selection,
            Trigger = Unescape(Trigger) ?? d.Trigger,
            Samples = Int(Samples, "--samples") ?? d.Samples,
            Temperature = Number(Temperature, "--temperature") ?? d.Temperature,
            TopK = Int(TopK, "--top-k") ?? d.TopK,
        };
        options.Validate();
        _ = VariableName;
        return options;
    }

    protected override void Check()
    {
        ToOptions();
        ExportPath(Export);
    }
}

/// <summary>
/// <c>#!icl</c> and <c>#!cot</c>: prompt instruction on a frozen language model, with live progress, then the results
/// table (one row per setting, with its coordinates), the accuracy chart with the spread over seeds, and the paged
/// per-query records; the result becomes a C# variable and can be exported.
/// </summary>
internal static class InstructionDirectives
{
    public static KernelActionDirective CreateIcl()
    {
        var directive = new KernelActionDirective("#!icl")
        {
            Description = "In-context learning on a frozen language model: k-shot prompts from a template, demonstrations chosen at random, " +
                          "class-balanced or by similarity (KATE), over several seeds; answers by label-word likelihood (optionally calibrated) " +
                          "or by generation with answer extraction. Example: #!icl --model icl-rules --shots 0,1,2,4,8 --selection random,similar",
        };
        foreach (var p in InstructionCommand.CommonParameters("icl-rules", "icl-rules", "0,1,2", "icl")) directive.Parameters.Add(p);
        directive.Parameters.Add(new KernelDirectiveParameter("--shots", "Demonstration counts to compare, e.g. 0,1,2,4,8. Default 0,1,2,4,8."));
        directive.Parameters.Add(new KernelDirectiveParameter("--selection", "random, balanced, similar (KATE, MiniLM embeddings); a list compares them. Default random.")
            .AddCompletions(() => Demonstrations.Selections));
        directive.Parameters.Add(new KernelDirectiveParameter("--order", "as-selected, shuffled or reversed. Default: reversed for similar (nearest next to the query), as selected otherwise.")
            .AddCompletions(() => Demonstrations.Orders));
        directive.Parameters.Add(new KernelDirectiveParameter("--calibration", "none, contextual (Zhao et al. 2021) or both. Default none.")
            .AddCompletions(() => InContextOptions.Calibrations));
        directive.Parameters.Add(new KernelDirectiveParameter("--scoring", "likelihood (label words' log-likelihood) or generation (generate, then extract). Default likelihood; generation for remote models.")
            .AddCompletions(() => InContextOptions.Scorings));
        directive.Parameters.Add(new KernelDirectiveParameter("--no-cache", "Recompute the demonstrations for every query instead of reusing their keys and values.") { Flag = true });
        return directive;
    }

    public static KernelActionDirective CreateCot()
    {
        var directive = new KernelActionDirective("#!cot")
        {
            Description = "Chain-of-thought on a frozen language model: direct answers (the baseline), zero-shot chain-of-thought (Kojima et al.: a trigger phrase, then an answer-extraction prompt), " +
                          "demonstrations with rationales (Wei et al.), and self-consistency (a majority vote over sampled rationales), with strict " +
                          "and flexible answer rules. Example: #!cot --model arith-cot --task addition --mode direct,zero-shot --samples 5",
        };
        foreach (var p in InstructionCommand.CommonParameters("arith-cot", "addition", "0", "cot")) directive.Parameters.Add(p);
        directive.Parameters.Add(new KernelDirectiveParameter("--mode", "direct, zero-shot (two stages: reasoning after the trigger, then \"Therefore, the answer ... is\", or the zoo adder's own answer cue \";\"), zero-shot-one-stage (the trigger only), few-shot; a list compares them. Default direct,zero-shot.")
            .AddCompletions(() => ChainOfThoughtOptions.ModeNames));
        directive.Parameters.Add(new KernelDirectiveParameter("--shots", "Demonstrations (with rationales for few-shot). Default 0.") { TypeHint = "number" });
        directive.Parameters.Add(new KernelDirectiveParameter("--selection", "How demonstrations are chosen: random or balanced. Default random.").AddCompletions(() => ["random", "balanced"]));
        directive.Parameters.Add(new KernelDirectiveParameter("--trigger", "The zero-shot trigger phrase. Default: the task's (\":\" for the zoo adder, \" Let's think step by step.\" for text)."));
        directive.Parameters.Add(new KernelDirectiveParameter("--samples", "Sampled rationales per query for self-consistency; 1 = greedy only. Default 1.") { TypeHint = "number" });
        directive.Parameters.Add(new KernelDirectiveParameter("--temperature", "Sampling temperature for self-consistency. Default 0.7.") { TypeHint = "number" });
        directive.Parameters.Add(new KernelDirectiveParameter("--top-k", "Sample only from the k likeliest tokens.") { TypeHint = "number" });
        return directive;
    }

    public static Task HandleIcl(RunInContextLearning command, KernelInvocationContext context) =>
        RunExperimentAsync(command, context, command.ToOptions,
            (InContextOptions options, LiveProgress live, CancellationToken token) =>
                InContextLearning.Run(options, new InstructionCommand.Progress<InstructionProgress>(p => live.Show("in-context learning", p)), token,
                    new InstructionCommand.Progress<TrainingProgress>(p => live.Report($"training the zoo model {options.Model} (first use only)", p))),
            command.Export?.Trim(), (result, path) => result.Export(path), "the run", command.VariableName, Summary);

    public static Task HandleCot(RunChainOfThought command, KernelInvocationContext context) =>
        RunExperimentAsync(command, context, command.ToOptions,
            (ChainOfThoughtOptions options, LiveProgress live, CancellationToken token) =>
                ChainOfThought.Run(options, new InstructionCommand.Progress<InstructionProgress>(p => live.Show("chain-of-thought", p)), token,
                    new InstructionCommand.Progress<TrainingProgress>(p => live.Report($"training the zoo model {options.Model} (first use only)", p))),
            command.Export?.Trim(), (result, path) => result.Export(path), "the run", command.VariableName, Summary);

    private static string Summary(InstructionResult r) =>
        $"{r.Kind}: {r.Settings.Count} settings on {r.Model}, {r.Task}";
}
