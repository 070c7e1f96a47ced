using System.Globalization;
using Reprogram.Instruction;
using Reprogram.Runtime;

namespace Reprogram.Experiments;

/// <summary>What <c>#!icl</c> and <c>#!cot</c> share: the model, the task, the seeds and the answer rules.</summary>
public abstract record InstructionOptionsBase
{
    /// <summary>icl-rules or arith-cot (zoo), a Hugging Face checkpoint folder, or openai:MODEL / ollama:MODEL.</summary>
    public string Model { get; init; } = Models.Zoo.LanguageZoo.IclRulesName;
    /// <summary>The endpoint of a remote chat model (e.g. https://api.openai.com/v1, http://localhost:11434).</summary>
    public string? Endpoint { get; init; }
    /// <summary>The NAME of the environment variable that holds the remote model's key (never the key itself).</summary>
    public string? ApiKeyVariable { get; init; }
    /// <summary>icl-rules, addition, sentiment, fortunes, or a .csv/.jsonl file with text and label columns.</summary>
    public string Task { get; init; } = InstructionTasks.Rules;
    public int Queries { get; init; } = 100;
    public int Pool { get; init; } = 32;
    /// <summary>Seeds: each draws its demonstrations (and, for generated tasks, its task instance); results are mean and spread.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0, 1, 2];
    /// <summary>Template parts that replace the task's own (null: the task's).</summary>
    public string? Instruction { get; init; }
    public string? DemonstrationFormat { get; init; }
    public string? Separator { get; init; }
    public string? QueryFormat { get; init; }
    /// <summary>Answer rules (regular expressions, first group = the answer) that replace the task's own.</summary>
    public string? StrictRule { get; init; }
    public string? FlexibleRule { get; init; }
    public int? MaxNewTokens { get; init; }
    public string? Device { get; init; }
    /// <summary>Rows scored or generated together.</summary>
    public int BatchRows { get; init; } = 32;
    /// <summary>--chat (checkpoints): off (plain prompts), template (the checkpoint's chat_template), or chatml / qwen2 / llama3.</summary>
    public string Chat { get; init; } = "off";
    /// <summary>--show-prompt: the records show the exact text the model read (BOS, chat template and special tokens included).</summary>
    public bool ShowPrompt { get; init; }
    /// <summary>Columns of a data file and the label words (<c>--text-column --label-column --label-words</c>).</summary>
    public Data.TextDataOptions TextData { get; init; } = new();
    /// <summary>The frozen model's forward passes: fp32, or bf16 on a bf16 copy (needs AVX512_BF16/AMX or a GPU; see PrecisionSupport).</summary>
    public Precision Precision { get; init; } = Precision.Fp32;

    protected void ValidateCommon()
    {
        if (string.IsNullOrWhiteSpace(Model)) throw new ArgumentException("--model is empty.");
        if (Queries is < 1 or > 100_000) throw new ArgumentException($"--test (queries) must be 1 to 100000, not {Queries}.");
        if (Pool is < 1 or > 100_000) throw new ArgumentException($"--pool must be 1 to 100000, not {Pool}.");
        if (Seeds.Count == 0) throw new ArgumentException("--seeds needs at least one seed.");
        if (Seeds.Distinct().Count() != Seeds.Count) throw new ArgumentException($"--seeds repeats a seed: {string.Join(",", Seeds)}.");
        if (MaxNewTokens is < 1 or > 4096) throw new ArgumentException($"--max-tokens must be 1 to 4096, not {MaxNewTokens}.");
        if (BatchRows is < 1 or > 4096) throw new ArgumentException($"--batch must be 1 to 4096, not {BatchRows}.");
        if (StrictRule is not null || FlexibleRule is not null) new Alignments.AnswerExtraction(StrictRule ?? ".*", FlexibleRule).Validate();
        if (Endpoint is not null && !Uri.TryCreate(Endpoint, UriKind.Absolute, out _)) throw new ArgumentException($"--endpoint '{Endpoint}' is not an absolute URL.");
        if (!PromptFormat.ChatOptions.Contains(Chat)) throw new ArgumentException($"'{Chat}' is not a --chat value. Allowed: {string.Join(", ", PromptFormat.ChatOptions)}.");
        DeviceSpec.Parse(Device ?? "auto");
        TextData.Validate();
    }

    /// <summary>"0,1,2" or "0-4" or "3" (a count: seeds 0..2).</summary>
    public static IReadOnlyList<int> ParseSeeds(string text, string option = "--seeds")
    {
        text = text.Trim();
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var count) && !text.Contains(','))
        {
            if (count is < 1 or > 100) throw new ArgumentException($"{option} {count}: give 1 to 100 seeds, or a list such as 0,1,2.");
            return Enumerable.Range(0, count).ToArray();
        }
        if (text.Split('-') is [var a, var b] && int.TryParse(a, out var from) && int.TryParse(b, out var to) && to >= from && to - from < 100)
        {
            return Enumerable.Range(from, to - from + 1).ToArray();
        }
        return ParseInts(text, option);
    }

    /// <summary>A comma list of whole numbers.</summary>
    public static IReadOnlyList<int> ParseInts(string text, string option) =>
        text.Split([',', ' ', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
                : throw new ArgumentException($"{option}: '{t}' is not a whole number (give a list such as 0,1,2,4,8).")).ToArray();
}

/// <summary>Everything <c>#!icl</c> takes.</summary>
public sealed record InContextOptions : InstructionOptionsBase
{
    public static InContextOptions SessionDefaults { get; set; } = new();

    public IReadOnlyList<int> Shots { get; init; } = [0, 1, 2, 4, 8];
    /// <summary>random, balanced, similar (KATE); several compare them.</summary>
    public IReadOnlyList<string> Selections { get; init; } = ["random"];
    /// <summary>as-selected, shuffled or reversed; null: reversed for similar (most similar next to the query), as selected otherwise.</summary>
    public string? Order { get; init; }
    /// <summary>none, contextual, or both (each setting with and without calibration).</summary>
    public string Calibration { get; init; } = "none";
    /// <summary>likelihood (score the label words) or generation (write an answer, then extract it).</summary>
    public string Scoring { get; init; } = "likelihood";
    /// <summary>Reuse the demonstrations' keys and values for every query that shares them.</summary>
    public bool SharedPrefixCache { get; init; } = true;

    public static IReadOnlyList<string> Calibrations { get; } = ["none", "contextual", "both"];
    public static IReadOnlyList<string> Scorings { get; } = ["likelihood", "generation"];

    public void Validate()
    {
        ValidateCommon();
        if (Shots.Count == 0) throw new ArgumentException("--shots needs at least one shot count, e.g. 0,1,2,4,8.");
        if (Shots.Any(s => s is < 0 or > 256)) throw new ArgumentException($"--shots must be 0 to 256 each: {string.Join(",", Shots)}.");
        if (Selections.Count == 0) throw new ArgumentException("--selection needs a strategy.");
        foreach (var s in Selections) _ = Demonstrations.Selection(s, NoEmbedder.Instance);
        if (Order is not null) Demonstrations.Order(Order);
        if (!Calibrations.Contains(Calibration)) throw new ArgumentException($"'{Calibration}' is not a calibration. Allowed: {string.Join(", ", Calibrations)}.");
        if (!Scorings.Contains(Scoring)) throw new ArgumentException($"'{Scoring}' is not a scoring. Allowed: likelihood (label-word log-likelihood), generation (generate, then extract).");
        if (Calibration != "none" && Scoring != "likelihood") throw new ArgumentException("Contextual calibration re-weights label-word probabilities: use it with --scoring likelihood.");
        if (Shots.Max() > Pool) throw new ArgumentException($"{Shots.Max()} shots need a pool of at least {Shots.Max()} examples (--pool {Pool}).");
    }

    /// <summary>Validation only parses the selection names; no model is loaded for that.</summary>
    private sealed class NoEmbedder : ISentenceEmbedder
    {
        public static readonly NoEmbedder Instance = new();
        public string Name => "none";
        public float[][] Embed(IReadOnlyList<string> texts) => throw new InvalidOperationException("Not for embedding.");
    }
}

/// <summary>Everything <c>#!cot</c> takes.</summary>
public sealed record ChainOfThoughtOptions : InstructionOptionsBase
{
    public static ChainOfThoughtOptions SessionDefaults { get; set; } = new();

    /// <summary>Chain-of-thought defaults to the zoo's adder on 3-digit additions, greedy, one seed.</summary>
    public ChainOfThoughtOptions()
    {
        Model = Models.Zoo.LanguageZoo.ArithCotName;
        Task = InstructionTasks.Addition;
        Seeds = [0];
    }

    /// <summary>
    /// direct (the baseline), zero-shot (Kojima et al.'s two stages: a trigger phrase, then an answer-extraction prompt),
    /// zero-shot-one-stage (the trigger only; answers read from the reasoning), few-shot (demonstrations with rationales, Wei et al.).
    /// </summary>
    public IReadOnlyList<string> Modes { get; init; } = ["direct", "zero-shot"];
    /// <summary>Demonstrations for few-shot and direct modes.</summary>
    public int Shots { get; init; }
    public string Selection { get; init; } = "random";
    /// <summary>The trigger phrase after the zero-shot query (null: the task's; "Let's think step by step." for text tasks).</summary>
    public string? Trigger { get; init; }
    /// <summary>Sampled rationales per query for self-consistency (1: greedy only).</summary>
    public int Samples { get; init; } = 1;
    public double Temperature { get; init; } = 0.7;
    public int? TopK { get; init; }

    public static IReadOnlyList<string> ModeNames { get; } = ["direct", "zero-shot", "zero-shot-one-stage", "few-shot"];

    public void Validate()
    {
        ValidateCommon();
        if (Modes.Count == 0) throw new ArgumentException($"--mode needs at least one of {string.Join(", ", ModeNames)}.");
        foreach (var m in Modes)
        {
            if (!ModeNames.Contains(m)) throw new ArgumentException($"'{m}' is not a chain-of-thought mode. Allowed: {string.Join(", ", ModeNames)}.");
        }
        if (Modes.Contains("few-shot") && Shots < 1) throw new ArgumentException("--mode few-shot needs --shots 1 or more (demonstrations with rationales).");
        if (Shots is < 0 or > 64) throw new ArgumentException($"--shots must be 0 to 64, not {Shots}.");
        if (Shots > Pool) throw new ArgumentException($"{Shots} shots need a pool of at least {Shots} examples (--pool {Pool}).");
        if (Samples is < 1 or > 64) throw new ArgumentException($"--samples must be 1 to 64, not {Samples}.");
        if (Samples > 1 && Temperature <= 0) throw new ArgumentException("Self-consistency samples rationales: --temperature must be above 0.");
        if (Temperature is < 0 or > 5) throw new ArgumentException($"--temperature must be 0 to 5, not {Temperature}.");
        if (TopK is < 1) throw new ArgumentException($"--top-k must be at least 1, not {TopK}.");
        if (Selection.Trim().ToLowerInvariant() is "similar" or "kate")
            throw new ArgumentException("--selection similar (KATE) is for #!icl; #!cot chooses its demonstrations random or balanced.");
        _ = Demonstrations.Selection(Selection);
    }
}
