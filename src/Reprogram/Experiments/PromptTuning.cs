using System.Diagnostics;
using Reprogram.Alignments;
using Reprogram.Data;
using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Models.Text;
using Reprogram.Runtime;
using Reprogram.Taxonomy;
using Reprogram.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>Everything <c>#!soft-prompt</c> takes.</summary>
public sealed record PromptTuningOptions
{
    /// <summary>The session's defaults for options a cell does not give.</summary>
    public static PromptTuningOptions SessionDefaults { get; set; } = new();

    /// <summary>
    /// soft (prompt tuning, Lester et al.), prefix (prefix-tuning, Li and Liang: reparameterised, MLP 512 by default),
    /// p-tuning-v2 (Liu et al.: per-layer key/value prefixes, no reparameterisation) or vpt-deep (Jia et al.: prompts
    /// replaced at every layer); "deep" is an alias of vpt-deep.
    /// </summary>
    public string Method { get; init; } = "soft";
    /// <summary>
    /// minilm (all-MiniLM-L6-v2, a real pretrained encoder; linear head), a zoo decoder (icl-rules, arith-cot) or a
    /// Hugging Face checkpoint folder (GPT-2, Llama, Qwen2, SmolLM); decoders use a verbalizer (label words' first token).
    /// </summary>
    public string Model { get; init; } = "minilm";
    /// <summary>fortunes (Debian quote categories), sentiment (generated), or a .csv/.jsonl file with text and label columns.</summary>
    public string Task { get; init; } = "fortunes";
    public int TrainCount { get; init; } = 400;
    public int TestCount { get; init; } = 200;
    /// <summary>Number of virtual tokens (per layer for prefix and deep prompts).</summary>
    public int Tokens { get; init; } = 8;
    /// <summary>random, vocab or text (soft prompts only).</summary>
    public string Init { get; init; } = "random";
    public string? InitText { get; init; }
    /// <summary>Prefix-tuning's reparameterisation MLP hidden size; null: the paper's 512 (Li and Liang). Prefix only.</summary>
    public int? Reparameterisation { get; init; }
    public int Epochs { get; init; } = 4;
    public int BatchSize { get; init; } = 16;
    public double LearningRate { get; init; } = 0.01;
    public int MaxLength { get; init; } = 64;
    public int Seed { get; init; }
    /// <summary>Several seeds (mean and spread in the table; the first seed's prompt is shown and saved); null: <see cref="Seed"/> alone.</summary>
    public IReadOnlyList<int>? Seeds { get; init; }
    public string? Device { get; init; }
    /// <summary>Columns of a data file and the verbalizer's label words (<c>--text-column --label-column --label-words</c>).</summary>
    public TextDataOptions TextData { get; init; } = new();

    public static IReadOnlyList<string> Methods { get; } = ["soft", "prefix", "p-tuning-v2", "vpt-deep", "deep"];

    /// <summary>The method's own name: "deep" is an alias of "vpt-deep".</summary>
    public static string CanonicalMethod(string method) => method == "deep" ? "vpt-deep" : method;
    /// <summary>The registry's text models, by name.</summary>
    public static IReadOnlyList<string> Models => Registries.Models.Entries
        .Where(e => e.Modality == TaskModality.Text && e.Kind != "chat model" && !e.IsPattern).Select(e => e.Name).ToArray();
    public static IReadOnlyList<string> Inits { get; } = ["random", "vocab", "text"];

    public void Validate()
    {
        if (!Methods.Contains(Method)) throw new ArgumentException($"'{Method}' is not a prompt-tuning method. Allowed: {string.Join(", ", Methods)}.");
        if (!Models.Contains(Model) && !File.Exists(Path.Combine(Model, "config.json")))
        {
            throw new ArgumentException($"'{Model}' is not a model for #!soft-prompt. Allowed: {string.Join(", ", Models)}, or a Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer files).");
        }
        if (!Inits.Contains(Init)) throw new ArgumentException($"'{Init}' is not an initialisation. Allowed: {string.Join(", ", Inits)}.");
        if (Init == "text" && string.IsNullOrWhiteSpace(InitText)) throw new ArgumentException("--init text needs --init-text \"some words\".");
        if (Init != "random" && Method != "soft") throw new ArgumentException($"--init {Init} applies to soft prompts only; {Method} prompts start random.");
        if (Tokens is < 1 or > 100) throw new ArgumentException($"The number of virtual tokens must be 1 to 100, not {Tokens}.");
        if (TrainCount is < 2 or > Budget.MaxExamples || TestCount is < 1 or > Budget.MaxExamples)
            throw new ArgumentException($"Train counts must be 2 to {Budget.MaxExamples:N0} and test counts 1 to {Budget.MaxExamples:N0} (got {TrainCount}, {TestCount}).");
        if (MaxLength is < 8 or > 512) throw new ArgumentException($"--max-length {MaxLength} is out of range (8 to 512).");
        if (Reparameterisation is <= 0 or > 8192) throw new ArgumentException($"The reparameterisation size must be 1 to 8,192, not {Reparameterisation}.");
        if (Reparameterisation is not null && Method != "prefix") throw new ArgumentException($"--reparameterise applies to prefix-tuning only; {Method} has none (p-tuning-v2 is the prefix learned directly).");
        Registries.Tasks.Resolve(Task, TaskModality.Text);
        TextData.Validate();
        if (TextData.LabelWords is not null && Registries.Models.Resolve(Model).Kind == "text encoder")
            throw new ArgumentException($"--label-words is a decoder's verbalizer; {Model} has a linear head, which learns the classes itself.");
        Spec().Validate();
    }

    /// <summary>The experiment these options describe: the method at the embeddings or layers, a linear head on an encoder, a verbalizer on a decoder.</summary>
    public ExperimentSpec Spec() => new()
    {
        Model = Model, Task = Task, TextData = TextData, Manipulation = Method, Seeds = Seeds ?? [Seed], Device = Device, KeepLearned = true,
        Alignment = Registries.Models.Resolve(Model).Kind == "text encoder" ? "linear" : "verbalizer",
        Budget = new Budget { TrainExamples = TrainCount, TestExamples = TestCount, Epochs = Epochs, BatchSize = BatchSize, LearningRate = LearningRate },
        Options = new MethodOptions { Tokens = Tokens, Init = Init, InitText = InitText, Reparameterisation = Reparameterisation, MaxLength = MaxLength },
    };
}

/// <summary>The nearest vocabulary tokens of one learned soft token, by cosine similarity.</summary>
public sealed record NearestTokens(int Position, IReadOnlyList<(string Token, double Cosine)> Tokens);

public sealed record PromptTuningResult
{
    public required ExperimentResult Main { get; init; }
    /// <summary>The experiment run behind the row, with every prediction.</summary>
    public ExperimentRun? Run { get; init; }
    public IReadOnlyList<NearestTokens> Nearest { get; init; } = [];
    /// <summary>Versions, git commit, machine, device and time of the run.</summary>
    public RunProvenance? Provenance => Main.Provenance;
    public required PromptTuningOptions Options { get; init; }
    internal LearnableManipulation? Prompt { get; init; }
    internal IOutputAlignment? Alignment { get; init; }

    /// <summary>The decoder's layers, heads and width (for PEFT's configuration); null for an encoder.</summary>
    internal DecoderShape? Shape { get; init; }

    /// <summary>Saves the learned prompt and its head (safetensors with coordinates, the model's checksum and the experiment).</summary>
    public void Save(string path) => LearnedManipulationFile.Save(path, Prompt!, Alignment!, Main.Model, Main.ChecksumBefore, Main.Settings,
        Run is null ? null : SavedExperiment.Metadata(Run.Spec));

    /// <summary>
    /// Writes the learned soft prompt of a decoder as a PEFT prompt-tuning adapter folder (adapter_config.json,
    /// adapter_model.safetensors, README.md; see <see cref="PeftPromptTuning"/>), loadable with PEFT in Python and with --load here.
    /// </summary>
    public void SavePeft(string folder)
    {
        if (Prompt is not SoftPrompt soft)
        {
            throw new InvalidOperationException($"PEFT's prompt-tuning layout holds a soft prompt (--method soft); this run learned {Prompt?.Name ?? "nothing"}.");
        }
        if (Shape is null || Run is null) throw new InvalidOperationException($"{Main.Model} is not a decoder: PEFT's prompt tuning for a causal LM needs one (a verbalizer reads its answers).");
        PeftExport.Save(folder, soft, Alignment!, Run.Spec, Shape, Main.Model, Main.ChecksumBefore);
    }

    /// <summary>The table (one row per result) as CSV.</summary>
    public string ToCsv() => Results.Of(this).ToCsv();
    /// <summary>Everything as JSON: options, spec, provenance, seeds with test ids, every prediction (<see cref="Results.Load(string[])"/> reads it back).</summary>
    public string ToJson() => ResultExport.Json(this);
    /// <summary>Writes the table as .csv or everything as .json, by the file's extension.</summary>
    public void Export(string path) => ResultFiles.Write(path, ToCsv, ToJson);
}

/// <summary>
/// Prompt tuning of a frozen language model (<c>#!soft-prompt</c>), a front-end of <see cref="Experiment"/>: soft tokens at
/// the embeddings, deep prompts at every layer, or prefixes of keys and values; an encoder is read by a linear head on its
/// mean-pooled output, a decoder by a verbalizer (the label words' log-likelihood, the way in-context learning reads it).
/// </summary>
public static class PromptTuning
{
    /// <summary>Runs on <see cref="ComputeThread"/>, where freed tensor memory stays mapped between steps.</summary>
    public static PromptTuningResult Run(PromptTuningOptions options, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ComputeThread.Run(() =>
        {
            options.Validate();
            using var session = new ExperimentSession();
            var spec = options.Spec();
            var sink = progress is null ? null : new Progress(progress);
            var run = session.Run(spec, sink, cancellationToken);
            var backbone = session.Backbone(spec);
            var seed = run.Seeds[0];
            Func<long, string> tokenText = backbone switch
            {
                EncoderBackbone e => id => e.Tokenizer.TokenText(id),
                DecoderBackbone d when d.Model.Decoder is { } decode => id => decode([id]),
                _ => id => id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            return new PromptTuningResult
            {
                Main = run.Result,
                Run = run,
                Nearest = seed.Learned is SoftPrompt soft ? NearestTokensOf(soft.Vectors, backbone.TokenModel!.TokenEmbeddings, tokenText) : [],
                Options = options,
                Prompt = seed.Learned as LearnableManipulation,
                Shape = backbone is DecoderBackbone && backbone.TokenModel is { } t ? new DecoderShape(t.Layers, t.Heads, t.HiddenSize) : null,
                Alignment = seed.LearnedAlignment as IOutputAlignment,
            };
        });

    /// <summary>For each soft token, the <paramref name="k"/> vocabulary tokens whose embeddings are closest by cosine.</summary>
    public static IReadOnlyList<NearestTokens> NearestTokensOf(Tensor vectors, Tensor embeddings, Func<long, string> tokenText, int k = 3)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var v = nn.functional.normalize(vectors.detach().cpu(), dim: 1);
        var e = nn.functional.normalize(embeddings.detach().cpu(), dim: 1);
        var (values, indices) = v.matmul(e.T).topk(k, dim: 1);
        var result = new List<NearestTokens>();
        for (var i = 0; i < (int)v.shape[0]; i++)
        {
            result.Add(new NearestTokens(i, Enumerable.Range(0, k)
                .Select(j => (tokenText(indices[i, j].item<long>()), (double)values[i, j].item<float>())).ToArray()));
        }
        return result;
    }

    private sealed class Progress(IProgress<TrainingProgress> inner) : IProgress<ExperimentProgress>
    {
        public void Report(ExperimentProgress value)
        {
            if (value.Training is { } training) inner.Report(training);
        }
    }
}
