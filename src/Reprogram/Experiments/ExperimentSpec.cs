using Reprogram.Runtime;
using Reprogram.Training;

namespace Reprogram.Experiments;

/// <summary>
/// What an experiment may spend: labelled examples (to train on, and the pool demonstrations come from), test examples,
/// and the optimisation of whatever is learned. The same budget is given to every method of a comparison.
/// </summary>
public sealed record Budget
{
    /// <summary>Labelled examples a learned manipulation, head or label mapping is fitted on.</summary>
    public int TrainExamples { get; init; } = 32;
    /// <summary>Labelled examples demonstrations are chosen from (null: as many as <see cref="TrainExamples"/>, at least the shots).</summary>
    public int? PoolExamples { get; init; }
    /// <summary>Test examples (the same for every method of a seed).</summary>
    public int TestExamples { get; init; } = 100;
    public int Epochs { get; init; } = 20;
    public int BatchSize { get; init; } = 16;
    public double LearningRate { get; init; } = 0.01;
    /// <summary>constant, multistep (x0.1 at 50% and 72% of the epochs, as ILM-VP) or cosine.</summary>
    public string Schedule { get; init; } = "constant";
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;
    public double WeightDecay { get; init; }
    public double? ClipGradientNorm { get; init; }
    /// <summary>Score the test examples after every epoch too, to report the best epoch's accuracy beside the final one (as ILM-VP's and BLM's scripts report the best).</summary>
    public bool EvaluateEachEpoch { get; init; }

    /// <summary>The most examples a budget may name (as --queries and --pool of prompt instruction): beyond it, a typo.</summary>
    public const int MaxExamples = 100_000;

    public void Validate()
    {
        if (TrainExamples is < 0 or > MaxExamples) throw new ArgumentException($"The number of training examples must be 0 to {MaxExamples:N0}, not {TrainExamples}.");
        if (PoolExamples is < 0 or > MaxExamples) throw new ArgumentException($"The demonstration pool must be 0 to {MaxExamples:N0} examples, not {PoolExamples}.");
        if (TestExamples is < 1 or > MaxExamples) throw new ArgumentException($"The number of test examples must be 1 to {MaxExamples:N0}, not {TestExamples}.");
        LearningRateSchedule.Parse(Schedule);
        Training(0).Validate();
    }

    /// <summary>The trainer's options for one seed.</summary>
    public TrainingOptions Training(int seed) => new()
    {
        Epochs = Epochs, BatchSize = BatchSize, LearningRate = LearningRate, Schedule = LearningRateSchedule.Parse(Schedule),
        Optimizer = Optimizer, WeightDecay = WeightDecay, ClipGradientNorm = ClipGradientNorm, Seed = seed,
    };
}

/// <summary>
/// The settings manipulations and alignments read (each registry entry reads the ones it needs and says which in its
/// help). Defaults are the papers' or the tutorials' settings.
/// </summary>
public sealed record MethodOptions
{
    /// <summary>Virtual tokens: soft-prompt length, prefix length per layer, deep prompts per layer, discrete tokens.</summary>
    public int Tokens { get; init; } = 8;
    /// <summary>Demonstrations for in-context learning and few-shot chain-of-thought.</summary>
    public int Shots { get; init; } = 4;
    /// <summary>random, balanced or similar (KATE).</summary>
    public string Selection { get; init; } = "random";
    /// <summary>as-selected, shuffled or reversed; null: reversed for similar, as selected otherwise.</summary>
    public string? Order { get; init; }
    /// <summary>Soft prompts: random, vocab or text.</summary>
    public string Init { get; init; } = "random";
    public string? InitText { get; init; }
    /// <summary>Prefix-tuning's reparameterisation MLP size (null: the method's default).</summary>
    public int? Reparameterisation { get; init; }
    /// <summary>Embedding perturbation: positions covered (null: the model's context).</summary>
    public int? Positions { get; init; }
    /// <summary>Images: frame width of the padding prompt (null: an eighth of the image), patch size, the size the model sees.</summary>
    public int? PadWidth { get; init; }
    public int PatchSize { get; init; } = 16;
    public int? ImageSize { get; init; }
    /// <summary>Allow label mapping over a features-only model's channels (they are not classes; results say so).</summary>
    public bool FeatureChannelsAsLabels { get; init; }
    /// <summary>Template parts that replace the task's own (null: the task's).</summary>
    public string? Instruction { get; init; }
    public string? DemonstrationFormat { get; init; }
    public string? Separator { get; init; }
    public string? QueryFormat { get; init; }
    /// <summary>Zero-shot chain-of-thought's trigger phrase (null: the task's).</summary>
    public string? Trigger { get; init; }
    /// <summary>Generation: answer rules, length, samples for self-consistency, temperature, top-k.</summary>
    public string? StrictRule { get; init; }
    public string? FlexibleRule { get; init; }
    public int? MaxNewTokens { get; init; }
    public int Samples { get; init; } = 5;
    public double Temperature { get; init; } = 0.7;
    public int? TopK { get; init; }
    /// <summary>Learn the manipulation (false: it keeps its initial values, the untrained baseline; the alignment still learns).</summary>
    public bool TrainManipulation { get; init; } = true;
    /// <summary>Reuse a shared prompt prefix's keys and values (fixed prompts).</summary>
    public bool SharedPrefixCache { get; init; } = true;
    /// <summary>Rows scored together.</summary>
    public int BatchRows { get; init; } = 32;
    /// <summary>Longest text in tokens for encoders.</summary>
    public int MaxLength { get; init; } = 64;
    /// <summary>The sentence embedder KATE ranks demonstrations with (null: all-MiniLM-L6-v2).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Instruction.ISentenceEmbedder? Embedder { get; init; }
    /// <summary>Remote chat models: the endpoint and the NAME of the variable holding the key.</summary>
    public string? Endpoint { get; init; }
    public string? ApiKeyVariable { get; init; }

    public void Validate()
    {
        if (Tokens is < 1 or > 512) throw new ArgumentException($"--tokens must be 1 to 512, not {Tokens}.");
        if (Shots is < 0 or > 256) throw new ArgumentException($"--shots must be 0 to 256, not {Shots}.");
        if (Positions is < 1) throw new ArgumentException($"--positions must be at least 1, not {Positions}.");
        if (PadWidth is <= 0 or > 1024) throw new ArgumentException($"The frame width must be 1 to 1024 pixels, not {PadWidth}.");
        if (PatchSize is < 1 or > 1024) throw new ArgumentException($"The patch size must be 1 to 1024 pixels, not {PatchSize}.");
        if (ImageSize is < 8 or > 1024) throw new ArgumentException($"An image size of {ImageSize} px is out of range (8 to 1024).");
        if (Reparameterisation is <= 0 or > 8192) throw new ArgumentException($"The reparameterisation size must be 1 to 8,192, not {Reparameterisation}.");
        if (Samples is < 1 or > 64) throw new ArgumentException($"--samples must be 1 to 64, not {Samples}.");
        if (!(Temperature >= 0 && Temperature <= 5)) throw new ArgumentException($"--temperature must be 0 to 5, not {Temperature}.");
        if (TopK is < 1) throw new ArgumentException($"--top-k must be at least 1, not {TopK}.");
        if (MaxNewTokens is < 1 or > 4096) throw new ArgumentException($"--max-tokens must be 1 to 4096, not {MaxNewTokens}.");
        if (BatchRows is < 1 or > 4096) throw new ArgumentException($"--batch-rows must be 1 to 4096, not {BatchRows}.");
        if (MaxLength is < 8 or > 512) throw new ArgumentException($"--max-length {MaxLength} is out of range (8 to 512).");
        if (StrictRule is not null || FlexibleRule is not null) new Alignments.AnswerExtraction(StrictRule ?? ".*", FlexibleRule).Validate();
        // Checked here, before any run: "similar" is KATE, whose embedder is only built when a run needs it.
        if (Selection.Trim().ToLowerInvariant() is not ("similar" or "kate")) _ = Reprogram.Instruction.Demonstrations.Selection(Selection);
    }
}

/// <summary>
/// One experiment: a frozen model, a task (with one fixed split per seed), an input manipulation and an output alignment,
/// a budget and seeds. Every paradigm is an experiment; <see cref="Experiment.Run(ExperimentSpec, IProgress{ExperimentProgress}?, CancellationToken)"/>
/// runs it into one result shape. Names are registry names (see <see cref="Registries"/>) or, for models and tasks, paths.
/// </summary>
public sealed record ExperimentSpec
{
    public string Model { get; init; } = Models.Zoo.LanguageZoo.RuleFamilyName;
    public string Task { get; init; } = Instruction.InstructionTasks.HeldOutRule;
    /// <summary>A text task's columns and label words (<c>--text-column --label-column --label-words</c>); null: the defaults.</summary>
    public Data.TextDataOptions? TextData { get; init; }
    public string Manipulation { get; init; } = "soft-prompt";
    public string Alignment { get; init; } = "verbalizer";
    public Budget Budget { get; init; } = new();
    public IReadOnlyList<int> Seeds { get; init; } = [0, 1, 2];
    public MethodOptions Options { get; init; } = new();
    /// <summary>The row's label (null: made from the manipulation and alignment).</summary>
    public string? Name { get; init; }
    /// <summary>auto, cpu, cuda, cuda:N; null uses the session's (<see cref="ExperimentDefaults.Device"/>).</summary>
    public string? Device { get; init; }
    /// <summary>Keep the first seed's learned manipulation and alignment in the result (to chart or save them).</summary>
    public bool KeepLearned { get; init; }
    /// <summary>
    /// A saved manipulation and alignment (<see cref="LearnedManipulationFile"/>) to evaluate instead of learning them: the
    /// file must have been made with this model (its checksum is checked).
    /// </summary>
    public string? Load { get; init; }
    /// <summary>Settings to state in the result beyond the spec's own (a recipe's sources and deviations).</summary>
    public IReadOnlyDictionary<string, string> Notes { get; init; } = new Dictionary<string, string>();

    /// <summary>Checks every value and every name against the registries; the message lists the allowed names.</summary>
    public void Validate(bool model = true)
    {
        if (Seeds.Count == 0) throw new ArgumentException("An experiment needs at least one seed.");
        if (Seeds.Distinct().Count() != Seeds.Count) throw new ArgumentException($"The seeds repeat one: {string.Join(",", Seeds)}.");
        Budget.Validate();
        Options.Validate();
        DeviceSpec.Parse(Device ?? "auto");
        if (model) Registries.Models.Resolve(Model);
        var task = Registries.Tasks.Resolve(Task);
        if (TextData is not null)
        {
            TextData.Validate();
            if (!task.TextData.HasFlag(TextDataUse.Columns)) TextData.RequireFileFor(Task);
            if (TextData.LabelWords is not null && !task.TextData.HasFlag(TextDataUse.LabelWords))
                throw new ArgumentException($"--label-words applies to text tasks with class names (sentiment, fortunes or a file), not to the task {Task}.");
        }
        if (Load is not null && !File.Exists(Load)) throw new FileNotFoundException($"There is no saved manipulation at {Path.GetFullPath(Load)}.", Load);
        Registries.Manipulations.Find(Manipulation);
        Registries.Alignments.Find(Alignment);
    }
}
