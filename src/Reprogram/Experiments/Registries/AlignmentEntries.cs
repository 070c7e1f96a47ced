using Reprogram.Alignments;
using Reprogram.Instruction;
using Reprogram.Manipulations;
using Reprogram.Taxonomy;

namespace Reprogram.Experiments;

/// <summary>What an alignment reads from the frozen model.</summary>
public enum AlignmentReads
{
    /// <summary>The model's output [B, S]: class logits, features, or next-token log-probabilities at the answer position.</summary>
    ModelOutputs,
    /// <summary>Each class's label-word log-likelihood after the prompt [B, C].</summary>
    LabelWords,
    /// <summary>Generated text, read by rules.</summary>
    GeneratedText,
}

/// <summary>What creating an alignment is given: the frozen model, this seed's split, the manipulation it follows, the settings and the seed.</summary>
public sealed record AlignmentRequest(Backbone Backbone, TaskSplit Split, IManipulation? Manipulation, MethodOptions Options, int Seed)
{
    /// <summary>The answer rules for generated text: the chain-of-thought formats' when the manipulation uses them, else the task's; the settings' override.</summary>
    public AnswerExtraction Rules()
    {
        var task = Split as InstructionTask ?? throw new ArgumentException($"Answer extraction reads generated text; the task {Split.Name} is an {Split.Modality.ToString().ToLowerInvariant()} task.");
        var rules = (Manipulation as DemonstrationPrompt)?.Answers?.Extraction ?? task.Extraction;
        return new AnswerExtraction(Options.StrictRule ?? rules.Strict, Options.FlexibleRule ?? rules.Flexible);
    }

    /// <summary>Classification needs classes: open-answer tasks are refused with the way to read them.</summary>
    public IReadOnlyList<string> Classes(string what) => Split.Labels.Count > 0
        ? Split.Labels
        : throw new ArgumentException($"{what} chooses among classes, and the task {Split.Name} has open answers: use answer-extraction or self-consistency.");
}

/// <summary>An output alignment by name: its coordinate, what it reads, the published methods it follows, and a factory.</summary>
public sealed record AlignmentEntry : RegistryEntry
{
    public required OutputAlignment Kind { get; init; }
    public required AlignmentReads Reads { get; init; }
    public IReadOnlyList<string> PublishedMethods { get; init; } = [];
    public string? Deviation { get; init; }
    public required Func<AlignmentRequest, IAlignment> Create { get; init; }
}

/// <summary>The alignments of the registry (see <see cref="Registries.Alignments"/>).</summary>
public static class AlignmentEntries
{
    private static IAlignment Mapping(AlignmentRequest r, LabelMappingMethod method)
    {
        var classes = r.Classes("A label mapping");
        var sources = r.Backbone.OutputNames;
        if (sources is null && r.Backbone.Modality == TaskModality.Image && !r.Options.FeatureChannelsAsLabels)
        {
            throw new ArgumentException($"{r.Backbone.Identity} outputs {r.Backbone.OutputSize} features, not classes, so there are no source labels to map. " +
                                        "Use the linear alignment, a source classifier, or --feature-channels-as-labels to treat each feature channel as a source label.");
        }
        if (r.Backbone.Kind == "text encoder") throw new ArgumentException($"{r.Backbone.Identity} outputs features, not tokens or classes: use the linear alignment.");
        return new LabelMapping(method, r.Backbone.OutputSize, classes, r.Seed, sources);
    }

    private static object ClipOf(AlignmentRequest r, string what) => (r.Backbone as ImageBackbone)?.Model is Models.Clip.ClipModel clip ? clip
        : throw new ArgumentException($"{what} reads CLIP's text tower; {r.Backbone.Identity} is a {r.Backbone.Kind}, not a CLIP model.");

    /// <summary>Kojima et al.'s two stages for the task (the zoo adder's own cues), with the settings' trigger and length.</summary>
    private static ZeroShotChainOfThought Stages(AlignmentRequest r)
    {
        var task = r.Split as InstructionTask ?? throw new ArgumentException($"Two-stage answer extraction reads generated text; the task {r.Split.Name} is an image task.");
        if (r.Manipulation is DemonstrationPrompt { Shots: > 0 })
        {
            throw new ArgumentException("Two-stage answer extraction follows zero-shot chain-of-thought's trigger prompt (zero-shot-cot), not demonstrations.");
        }
        var stages = ZeroShotChainOfThought.For(task, r.Options.Trigger);
        return r.Options.MaxNewTokens is { } tokens ? stages with { ReasoningTokens = tokens } : stages;
    }

    public static IReadOnlyList<AlignmentEntry> All { get; } =
    [
        new()
        {
            Name = "verbalizer", Aliases = ["label-words", "likelihood"], Kind = OutputAlignment.RuleBased, Reads = AlignmentReads.LabelWords,
            PublishedMethods = ["Role of demonstrations", "PTR", "PPT"],
            Description = "Each class is a label word; its score is the whole word's log-likelihood after the prompt (a language model's own vocabulary as the head).",
            Create = r => new Verbalizer(r.Classes("A verbalizer")),
        },
        new()
        {
            Name = "calibration", Aliases = ["contextual-calibration", "calibrated"], Kind = OutputAlignment.Statistical, Reads = AlignmentReads.LabelWords,
            PublishedMethods = ["Calibrate before use"],
            Description = "The verbalizer's probabilities divided by those of content-free inputs in the same prompt, renormalised (Zhao et al. 2021).",
            Create = r => new CalibratedVerbalizer(r.Classes("Contextual calibration")),
        },
        new()
        {
            Name = "rlm", Kind = OutputAlignment.Statistical, Reads = AlignmentReads.ModelOutputs, PublishedMethods = ["Adversarial reprogramming"],
            Description = "Random label mapping: a random one-to-one map from target classes to the model's outputs, fixed at the start.",
            Create = r => Mapping(r, LabelMappingMethod.Random),
        },
        new()
        {
            Name = "flm", Kind = OutputAlignment.Statistical, Reads = AlignmentReads.ModelOutputs, PublishedMethods = ["ILM-VP"],
            Description = "Frequency label mapping: one-to-one, greedy on how often each output is the model's prediction for each class, computed once before training.",
            Create = r => Mapping(r, LabelMappingMethod.Frequency),
        },
        new()
        {
            Name = "ilm", Kind = OutputAlignment.Statistical, Reads = AlignmentReads.ModelOutputs, PublishedMethods = ["ILM-VP"],
            Description = "Iterative label mapping (Chen et al. 2023): the frequency mapping recomputed at every epoch with the current prompt.",
            Create = r => Mapping(r, LabelMappingMethod.Iterative),
        },
        new()
        {
            Name = "blm", Kind = OutputAlignment.Statistical, Reads = AlignmentReads.ModelOutputs, PublishedMethods = ["BLM / BLM+ (Bayesian label mapping)"],
            Description = "Bayesian label mapping (Cai et al. 2024): a probabilistic many-to-many matrix from the joint distribution of predictions and classes, every epoch.",
            Create = r => Mapping(r, LabelMappingMethod.Bayesian),
        },
        new()
        {
            Name = "blm+", Aliases = ["blmplus"], Kind = OutputAlignment.Statistical, Reads = AlignmentReads.ModelOutputs, PublishedMethods = ["BLM / BLM+ (Bayesian label mapping)"],
            Description = "BLM+: Bayesian label mapping counting the top-k output probabilities instead of the argmax.",
            Create = r => Mapping(r, LabelMappingMethod.BayesianTopK),
        },
        new()
        {
            Name = "linear", Aliases = ["linear-head", "head"], Kind = OutputAlignment.Linear, Reads = AlignmentReads.ModelOutputs,
            PublishedMethods = ["WARP", "P-tuning v2", "VPT-shallow / VPT-deep"],
            Description = "A learned linear head over the model's output (features, class logits, or next-token log-probabilities).",
            Create = r => new LinearHead(r.Backbone.OutputSize, r.Classes("A linear head"), r.Seed),
        },
        new()
        {
            Name = "clip-zero-shot", Aliases = ["zero-shot-head", "clip"], Kind = OutputAlignment.RuleBased, Reads = AlignmentReads.ModelOutputs,
            PublishedMethods = ["BLM / BLM+ (Bayesian label mapping)"],
            Description = "CLIP's text tower as the head: each class's \"a photo of a {class}.\" embedded once, logits = scaled cosine with the image embedding (a rule).",
            Create = r => ClipTextHead.ZeroShot(ClipOf(r, "The CLIP zero-shot head"), r.Classes("The CLIP zero-shot head")),
        },
        new()
        {
            Name = "coop", Kind = OutputAlignment.Linear, Reads = AlignmentReads.ModelOutputs, PublishedMethods = ["CoOp"],
            Description = "CoOp (Zhou et al. 2022): 16 learned context vectors in CLIP's text tower in place of \"a photo of a\"; the class features they give are the head.",
            Deviation = "CoOp's learned context sits in CLIP's text tower, which here forms the output head, so the row's input-manipulation coordinates are " +
                        "those of the image side; the catalog places CoOp itself at Learnable · Embedding · Concatenative · Linear.",
            Create = r => ClipTextHead.CoOp(ClipOf(r, "CoOp"), r.Classes("CoOp"), seed: r.Seed),
        },
        new()
        {
            Name = "answer-extraction", Aliases = ["extraction", "generation"], Kind = OutputAlignment.RuleBased, Reads = AlignmentReads.GeneratedText,
            PublishedMethods = ["Zero-shot CoT"],
            Description = "Greedy generation, the answer read by the task's strict and flexible rules (regular expressions).",
            Create = r => new ExtractedAnswer(r.Rules()),
        },
        new()
        {
            Name = "two-stage", Aliases = ["kojima", "answer-extraction-prompt"], Kind = OutputAlignment.RuleBased, Reads = AlignmentReads.GeneratedText,
            PublishedMethods = ["Zero-shot CoT"],
            Description = "Zero-shot chain-of-thought's two stages (Kojima et al. 2022): the reasoning, then an answer-extraction prompt " +
                          "(\"Therefore, the answer (arabic numerals) is\"; the model's own answer cue for the zoo adder), the answer cleaned as the paper does.",
            Create = r => new TwoStageAnswer(Stages(r), r.Rules()),
        },
        new()
        {
            Name = "two-stage-self-consistency", Kind = OutputAlignment.Statistical, Reads = AlignmentReads.GeneratedText,
            PublishedMethods = ["Zero-shot CoT", "Self-consistency"],
            Description = "The two stages on several sampled reasonings (--samples, --temperature), and a majority vote over the cleaned answers.",
            Create = r => new TwoStageAnswer(Stages(r), r.Rules(), r.Options.Samples, r.Options.Temperature, r.Options.TopK),
        },
        new()
        {
            Name = "self-consistency", Aliases = ["majority-vote"], Kind = OutputAlignment.Statistical, Reads = AlignmentReads.GeneratedText,
            PublishedMethods = ["Self-consistency"],
            Description = "Several sampled generations (--samples, --temperature), each read by the rules, and a majority vote (Wang et al. 2023).",
            Create = r => new SelfConsistency(r.Rules(), r.Options.Samples, r.Options.Temperature, r.Options.TopK),
        },
    ];
}
