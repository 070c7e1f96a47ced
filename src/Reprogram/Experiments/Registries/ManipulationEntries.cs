using Reprogram.Frozen;
using Reprogram.Instruction;
using Reprogram.Manipulations;
using Reprogram.Taxonomy;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>What creating a manipulation is given: the frozen model, this seed's task split, the settings and the seed.</summary>
public sealed record ManipulationRequest(Backbone Backbone, TaskSplit Split, MethodOptions Options, int Seed)
{
    /// <summary>The model's token interface, or a refusal naming what the manipulation needs.</summary>
    public ITokenModel TokenModel(string what) => Backbone.TokenModel
        ?? throw new ArgumentException($"{what} acts on a token model's embeddings or layers; {Backbone.Identity} is a {Backbone.Kind}.");

    /// <summary>The model's image input (channels, side), or a refusal naming what the manipulation needs.</summary>
    public (int Channels, int Size) Image(string what) => Backbone.ImageInput
        ?? throw new ArgumentException($"{what} acts on image pixels; {Backbone.Identity} is a {Backbone.Kind}.");

    /// <summary>This seed's text task, or a refusal naming what the manipulation needs.</summary>
    public InstructionTask TextTask(string what) => Split as InstructionTask
        ?? throw new ArgumentException($"{what} writes a text prompt; the task {Split.Name} is an {Split.Modality.ToString().ToLowerInvariant()} task.");
}

/// <summary>
/// An input manipulation by name: its coordinates (format, location, operator; null for "none"), the modality it applies
/// to, the published methods it follows, what it reads from the settings, where it deviates from the paper, and a factory.
/// </summary>
public sealed record ManipulationEntry : RegistryEntry
{
    public Format? Format { get; init; }
    public Location? Location { get; init; }
    public Operator? Operator { get; init; }
    /// <summary>Text or image; null: any.</summary>
    public TaskModality? Modality { get; init; }
    /// <summary>Names of the catalog's published methods this follows (see <see cref="Catalog"/>).</summary>
    public IReadOnlyList<string> PublishedMethods { get; init; } = [];
    /// <summary>The settings it reads (option names), for help.</summary>
    public IReadOnlyList<string> Reads { get; init; } = [];
    /// <summary>Where it departs from the published method, stated in every result.</summary>
    public string? Deviation { get; init; }
    /// <summary>Whether it uses the task's chain-of-thought formats (generation with rationales).</summary>
    public bool ChainOfThought { get; init; }
    /// <summary>Creates the manipulation for one seed (null for "none").</summary>
    public required Func<ManipulationRequest, IManipulation?> Create { get; init; }

    public Paradigm? Paradigm => Format is { } f ? new Coordinates(f, Location!.Value, Operator!.Value, OutputAlignment.Identity).TypicalParadigm : null;
    public Coordinates? CoordinatesWith(OutputAlignment alignment) => Format is { } f ? new Coordinates(f, Location!.Value, Operator!.Value, alignment) : null;
}

/// <summary>The manipulations of the registry (see <see cref="Registries.Manipulations"/>).</summary>
public static class ManipulationEntries
{
    /// <summary>The task's template with the settings' overrides.</summary>
    public static PromptTemplate TemplateOf(PromptTemplate task, MethodOptions o) => new(
        o.Instruction ?? task.Instruction, o.DemonstrationFormat ?? task.DemonstrationFormat, o.Separator ?? task.Separator, o.QueryFormat ?? task.QueryFormat);

    private static DemonstrationOrder OrderOf(MethodOptions o, IDemonstrationSelection selection) =>
        o.Order is { } order ? Demonstrations.Order(order) : selection is SimilarDemonstrations ? DemonstrationOrder.Reversed : DemonstrationOrder.AsSelected;

    private static string Describe(DemonstrationOrder order) => order switch
    {
        DemonstrationOrder.Shuffled => "shuffled",
        DemonstrationOrder.Reversed => "reversed",
        _ => "as selected",
    };

    private static IManipulation InContext(ManipulationRequest r)
    {
        var task = r.TextTask("In-context learning");
        var selection = Demonstrations.Selection(r.Options.Selection, r.Options.Embedder);
        var order = OrderOf(r.Options, selection);
        return new DemonstrationPrompt(TemplateOf(task.Template, r.Options), selection, order, r.Options.Shots, r.Seed,
            $"{r.Options.Shots}-shot demonstrations ({selection.Name}, {Describe(order)})");
    }

    private static ChainOfThoughtFormats Formats(ManipulationRequest r, string what)
    {
        var task = r.TextTask(what);
        return task.ChainOfThought ?? throw new ArgumentException($"The task {task.Name} has no chain-of-thought format; try addition or a text task.");
    }

    /// <summary>Demonstrations for direct or chain-of-thought answers: random or balanced (KATE is for in-context learning).</summary>
    private static IDemonstrationSelection ChainOfThoughtSelection(string selection) =>
        selection.Trim().ToLowerInvariant() is "similar" or "kate"
            ? throw new ArgumentException("Direct and chain-of-thought demonstrations are chosen random or balanced; similar (KATE) is for in-context learning. Allowed: random, balanced.")
            : Demonstrations.Selection(selection);

    private static IManipulation Direct(ManipulationRequest r)
    {
        var formats = Formats(r, "Direct answering");
        var selection = ChainOfThoughtSelection(r.Options.Selection);
        var shots = r.Options.Shots;
        return new DemonstrationPrompt(TemplateOf(formats.Direct, r.Options), selection, DemonstrationOrder.AsSelected, shots, r.Seed,
            shots > 0 ? $"{shots} direct demonstrations" : "the bare question") { Answers = formats };
    }

    private static IManipulation FewShotChainOfThought(ManipulationRequest r)
    {
        var formats = Formats(r, "Few-shot chain-of-thought");
        var task = r.TextTask("Few-shot chain-of-thought");
        if (r.Options.Shots < 1) throw new ArgumentException("Few-shot chain-of-thought needs --shots 1 or more (demonstrations with rationales).");
        if (task.Pool.Any(p => string.IsNullOrEmpty(p.Rationale)))
        {
            throw new ArgumentException($"Few-shot chain-of-thought needs demonstrations with rationales, and the task {task.Name} has none (its pool has no rationale).");
        }
        var selection = ChainOfThoughtSelection(r.Options.Selection);
        return new DemonstrationPrompt(TemplateOf(formats.WithRationales, r.Options), selection, DemonstrationOrder.AsSelected, r.Options.Shots, r.Seed,
            $"{r.Options.Shots} demonstrations with rationales (chain-of-thought)") { Answers = formats };
    }

    private static IManipulation ZeroShotChainOfThought(ManipulationRequest r)
    {
        var formats = Formats(r, "Zero-shot chain-of-thought");
        var trigger = r.Options.Trigger ?? formats.Trigger;
        return new DemonstrationPrompt(new PromptTemplate(r.Options.Instruction ?? "", "", "", formats.ZeroShotQueryFormat + trigger),
            new RandomDemonstrations(), DemonstrationOrder.AsSelected, 0, r.Seed, $"zero-shot chain-of-thought trigger \"{trigger}\"") { Answers = formats };
    }

    private static IPatchTokenModel PatchTokens(ManipulationRequest r, string what) => (r.Backbone as ImageBackbone)?.PatchTokens
        ?? throw new ArgumentException($"{what} puts tokens among a ViT's patch tokens; {r.Backbone.Identity} is a {r.Backbone.Kind} without them.");

    private static IManipulation Soft(ManipulationRequest r)
    {
        var model = r.TokenModel("A soft prompt");
        var init = r.Options.Init.Trim().ToLowerInvariant() switch
        {
            "random" => SoftPromptInit.Random,
            "vocab" or "vocabulary" => SoftPromptInit.Vocabulary,
            "text" => SoftPromptInit.Text,
            var other => throw new ArgumentException($"'{other}' is not a soft-prompt initialisation. Allowed: random, vocab, text."),
        };
        IReadOnlyList<long>? textIds = null;
        if (init == SoftPromptInit.Text)
        {
            if (string.IsNullOrWhiteSpace(r.Options.InitText)) throw new ArgumentException("--init text needs --init-text \"some words\".");
            textIds = r.Backbone switch
            {
                DecoderBackbone d => d.Model.Encode(r.Options.InitText, "the initialisation text"),
                EncoderBackbone e => e.Tokenizer.EncodeOne(r.Options.InitText, r.Options.MaxLength)[1..^1].Select(i => (long)i).ToArray(),
                _ => throw new ArgumentException($"{r.Backbone.Identity} has no tokenizer to read --init-text with."),
            };
        }
        return SoftPrompt.Create(model, r.Options.Tokens, init, r.Seed, textIds, r.Backbone.VocabularyOrder);
    }

    public static IReadOnlyList<ManipulationEntry> All { get; } =
    [
        new()
        {
            Name = "none", Aliases = ["zero-shot"], Create = _ => null,
            Description = "No input manipulation: the task's prompt (text) or the image as it is, so only the output alignment adapts the model (the baseline).",
        },
        // Prompt instruction: fixed text at the input.
        new()
        {
            Name = "icl", Aliases = ["in-context", "in-context-learning", "demonstrations"], Modality = TaskModality.Text,
            Format = Taxonomy.Format.Fixed, Location = Taxonomy.Location.Input, Operator = Taxonomy.Operator.Concatenative,
            PublishedMethods = ["In-context learning", "KATE (retrieved demonstrations)", "Calibrate before use"], Reads = ["shots", "selection", "order", "template"],
            Description = "In-context learning: k labelled demonstrations from the pool, in the task's template, before the query (Brown et al. 2020); " +
                          "--selection random, balanced or similar (KATE, Liu et al. 2022).",
            Create = InContext,
        },
        new()
        {
            Name = "direct", Aliases = ["direct-answer"], Modality = TaskModality.Text, ChainOfThought = true,
            Format = Taxonomy.Format.Fixed, Location = Taxonomy.Location.Input, Operator = Taxonomy.Operator.Concatenative,
            PublishedMethods = ["Chain-of-thought"], Reads = ["shots"],
            Description = "The question answered directly (with --shots demonstrations without rationales): chain-of-thought's baseline.",
            Create = Direct,
        },
        new()
        {
            Name = "zero-shot-cot", Modality = TaskModality.Text, ChainOfThought = true,
            Format = Taxonomy.Format.Fixed, Location = Taxonomy.Location.Input, Operator = Taxonomy.Operator.Concatenative,
            PublishedMethods = ["Zero-shot CoT"], Reads = ["trigger"],
            Description = "Zero-shot chain-of-thought: the question and a trigger phrase (\"Let's think step by step.\"; \":\" for the zoo adder), Kojima et al. 2022.",
            Create = ZeroShotChainOfThought,
        },
        new()
        {
            Name = "few-shot-cot", Aliases = ["cot"], Modality = TaskModality.Text, ChainOfThought = true,
            Format = Taxonomy.Format.Fixed, Location = Taxonomy.Location.Input, Operator = Taxonomy.Operator.Concatenative,
            PublishedMethods = ["Chain-of-thought"], Reads = ["shots"],
            Description = "Few-shot chain-of-thought: demonstrations with worked rationales before the question (Wei et al. 2022).",
            Create = FewShotChainOfThought,
        },
        // Prompt tuning: learned vectors in embedding or hidden space.
        new()
        {
            Name = "soft-prompt", Aliases = ["soft", "prompt-tuning"], Modality = TaskModality.Text,
            Format = Taxonomy.Format.Learnable, Location = Taxonomy.Location.Embedding, Operator = Taxonomy.Operator.Concatenative,
            PublishedMethods = ["Prompt tuning"], Reads = ["tokens", "init", "init-text"],
            Description = "Prompt tuning (Lester et al. 2021): n learned vectors concatenated before the input embeddings.",
            Create = Soft,
        },
        new()
        {
            Name = "prefix", Aliases = ["prefix-tuning"], Modality = TaskModality.Text,
            Format = Taxonomy.Format.Learnable, Location = Taxonomy.Location.Hidden, Operator = Taxonomy.Operator.Concatenative,
            PublishedMethods = ["Prefix-tuning"], Reads = ["tokens", "reparameterisation"],
            Description = "Prefix-tuning (Li and Liang 2021): learned keys and values in front of every layer's own, through the paper's reparameterisation MLP (512 wide unless --reparameterise).",
            Create = r => new PrefixTuning(r.TokenModel("Prefix-tuning"), r.Options.Tokens, r.Seed, r.Options.Reparameterisation ?? PrefixTuning.PaperReparameterisation),
        },
        new()
        {
            Name = "p-tuning-v2", Aliases = ["ptuning-v2"], Modality = TaskModality.Text,
            Format = Taxonomy.Format.Learnable, Location = Taxonomy.Location.Hidden, Operator = Taxonomy.Operator.Concatenative,
            PublishedMethods = ["P-tuning v2"], Reads = ["tokens"],
            Description = "P-tuning v2 (Liu et al. 2022): per-layer key/value prefixes learned directly (no reparameterisation).",
            Deviation = "No dropout on the prefixes (P-tuning v2's code applies the model's hidden dropout, 0.1, to them).",
            Create = r => PrefixTuning.PTuningV2(r.TokenModel("P-tuning v2"), r.Options.Tokens, r.Seed),
        },
        new()
        {
            Name = "vpt-deep", Aliases = ["deep", "deep-prompts"],
            Format = Taxonomy.Format.Learnable, Location = Taxonomy.Location.Hidden, Operator = Taxonomy.Operator.Concatenative,
            PublishedMethods = ["VPT-shallow / VPT-deep"], Reads = ["tokens"],
            Description = "VPT-deep (Jia et al. 2022): n learned vectors per layer, replacing the previous layer's at their positions; among a ViT's patch " +
                          "tokens (after the class token), or in front of a language model's sequence.",
            Deviation = "On a language model the prompts go in front of the whole sequence (VPT puts them after [CLS]) and start from normal(0, 0.02).",
            Create = r => r.Backbone.TokenModel is { } tokens ? new DeepPrompt(tokens, r.Options.Tokens, r.Seed)
                : VisualPromptTuning.Create(PatchTokens(r, "VPT-deep"), new VptOptions(r.Options.Tokens, Deep: true), r.Seed),
        },
        // Model reprogramming of a language model: learned manipulations of what the model reads.
        new()
        {
            Name = "embedding-perturbation", Aliases = ["embedding-additive"], Modality = TaskModality.Text,
            Format = Taxonomy.Format.Learnable, Location = Taxonomy.Location.Embedding, Operator = Taxonomy.Operator.Additive,
            PublishedMethods = [], Reads = ["positions"],
            Description = "A learned perturbation added to the input token embeddings at every prompt position (model reprogramming in embedding space; " +
                          "the text analogue of an image watermark prompt). Adds no position.",
            Create = r =>
            {
                var model = r.TokenModel("An embedding perturbation");
                return new EmbeddingPerturbation(model, r.Options.Positions ?? Math.Min(model.MaxPositions, r.Options.MaxLength));
            },
        },
        new()
        {
            Name = "discrete-prompt", Aliases = ["discrete-tokens"], Modality = TaskModality.Text,
            Format = Taxonomy.Format.Learnable, Location = Taxonomy.Location.Input, Operator = Taxonomy.Operator.Concatenative,
            PublishedMethods = ["AR of text classifiers"], Reads = ["tokens"],
            Description = "k discrete vocabulary tokens learned with the straight-through Gumbel-softmax and put before the input; evaluated as real tokens.",
            Deviation = "Neekhara et al. (2019) remap the input's own tokens with a learned context-based vocabulary mapping (a parametric operator); " +
                        "this prompt learns tokens added in front of the input, trained the way they train their discrete program (Gumbel-softmax).",
            Create = r => new DiscretePrompt(r.TokenModel("A discrete prompt"), r.Options.Tokens, r.Seed),
        },
        // Model reprogramming of an image model: learned manipulations of the pixels.
        new()
        {
            Name = "pad", Aliases = ["padding", "padding-prompt"], Modality = TaskModality.Image,
            Format = Taxonomy.Format.Learnable, Location = Taxonomy.Location.Input, Operator = Taxonomy.Operator.Additive,
            PublishedMethods = ["ILM-VP", "Visual prompting (padding)"], Reads = ["pad-width"],
            Description = "A padding prompt (ILM-VP): the image shrunk into the centre and a learned frame around it, sigmoid(theta) on the frame.",
            Create = r =>
            {
                var (channels, size) = r.Image("A padding prompt");
                var width = r.Options.PadWidth ?? Math.Max(1, size / 8);
                if (size - 2 * width < 4) throw new ArgumentException($"A frame of {width} px leaves no room for the image in {size} px.");
                return new PaddingPrompt(channels, size, size - 2 * width);
            },
        },
        new()
        {
            Name = "watermark", Aliases = ["full"], Modality = TaskModality.Image,
            Format = Taxonomy.Format.Learnable, Location = Taxonomy.Location.Input, Operator = Taxonomy.Operator.Additive,
            PublishedMethods = ["Adversarial reprogramming"], Reads = [],
            Description = "A watermark prompt: a learned perturbation added to the whole image (Elsayed et al. 2019, without the mask).",
            Create = r => { var (c, s) = r.Image("A watermark prompt"); return new WatermarkPrompt(c, s); },
        },
        new()
        {
            Name = "patch", Modality = TaskModality.Image,
            Format = Taxonomy.Format.Learnable, Location = Taxonomy.Location.Input, Operator = Taxonomy.Operator.Additive,
            PublishedMethods = ["Visual prompting (padding)"], Reads = ["patch-size"],
            Description = "A learned square patch added in the image's top-left corner (Bahng et al. 2022's patch prompt).",
            Create = r =>
            {
                var (c, s) = r.Image("A patch prompt");
                if (r.Options.PatchSize > s) throw new ArgumentException($"A {r.Options.PatchSize} px patch does not fit a {s} px image.");
                return new PatchPrompt(c, s, r.Options.PatchSize);
            },
        },
        // Prompt tuning of an image model: learned tokens among its patch tokens.
        new()
        {
            Name = "vpt-shallow", Modality = TaskModality.Image,
            Format = Taxonomy.Format.Learnable, Location = Taxonomy.Location.Embedding, Operator = Taxonomy.Operator.Concatenative,
            PublishedMethods = ["VPT-shallow / VPT-deep"], Reads = ["tokens"],
            Description = "VPT-shallow (Jia et al. 2022): n learned tokens after the class token of a ViT or CLIP image tower, at the embedding interface.",
            Create = r => VisualPromptTuning.Create(PatchTokens(r, "VPT-shallow"), new VptOptions(r.Options.Tokens, Deep: false), r.Seed),
        },
        new()
        {
            Name = "parametric", Aliases = ["transform"], Modality = TaskModality.Image,
            Format = Taxonomy.Format.Learnable, Location = Taxonomy.Location.Input, Operator = Taxonomy.Operator.Parametric,
            PublishedMethods = [], Reads = [],
            Description = "A learned transform of the pixels (a 1x1 convolution over channels plus a bias): a parametric input manipulation.",
            Create = r => { var (c, s) = r.Image("A learned transform"); return new ChannelTransform(c, s); },
        },
    ];
}
