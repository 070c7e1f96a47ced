using Reprogram.Models.Clip;
using Reprogram.Taxonomy;
using TorchSharp;
using static TorchSharp.torch;
using TorchSharp.Modules;

namespace Reprogram.Manipulations;

/// <summary>Where the class name goes among CoOp's context tokens (CoOp's CLASS_TOKEN_POSITION).</summary>
public enum ClassTokenPosition { End, Middle, Front }

/// <summary>CoOp's settings; the defaults are the authors' (KaiyangZhou/CoOp: N_CTX 16, CTX_INIT "", CSC False, CLASS_TOKEN_POSITION "end").</summary>
/// <param name="ContextTokens">Learned context vectors (ignored when <paramref name="ContextInit"/> is given: its token count is used).</param>
/// <param name="ContextInit">Words whose token embeddings start the context (e.g. "a photo of a"), or null for random N(0, 0.02²) vectors.</param>
/// <param name="ClassSpecific">One context per class (CSC) instead of one shared by all classes.</param>
/// <param name="Position">Where the class name goes: after the context (end), in its middle, or before it (front).</param>
public sealed record CoOpOptions(int ContextTokens = 16, string? ContextInit = null, bool ClassSpecific = false, ClassTokenPosition Position = ClassTokenPosition.End);

/// <summary>
/// CoOp, context optimisation (Zhou et al., IJCV 2022): n learned context vectors take the place of a hand-written
/// template such as "a photo of a" in CLIP's text prompts, [SOS] [V1] ... [Vn] [CLASS] . [EOS], in the text tower's
/// token-embedding space; each class prompt's feature is read at its end token, and the class features are the
/// classification head over the frozen image features (<see cref="Alignments.ClipTextHead.CoOp"/>). As the authors'
/// code (trainers/coop.py, PromptLearner): the prompt "X X ... X {class}." is tokenised and embedded once, the
/// embeddings of [SOS] (prefix) and of the class name, "." and [EOS] (suffix) are kept fixed, and the context goes
/// between them; random context is N(0, 0.02²), initialised context is the embedding of the given words. Unlike their
/// code, the context length with an initialising text is its token count (theirs is its word count; the same for "a photo of a").
/// Shapes: context [n, D] (or [classes, n, D]) -> prompts [classes, T, D], end positions [classes].
/// </summary>
public sealed class CoOpPrompt : LearnableManipulation
{
    private readonly Parameter context;           // [n, D] or [K, n, D]
    private readonly Tensor prefix, suffix;       // [K, 1, D], [K, T - 1 - n, D]: fixed token embeddings
    private readonly int[] nameLengths;

    public CoOpOptions Options { get; }
    public IReadOnlyList<string> ClassNames { get; }
    /// <summary>Where each class prompt's end token is, [K].</summary>
    public Tensor EndPositions { get; }
    public int ContextTokens => (int)context.shape[^2];

    public CoOpPrompt(ClipModel clip, IReadOnlyList<string> classNames, CoOpOptions options, int seed) : base("CoOp context")
    {
        var tokenizer = clip.Tokenizer ?? throw new ArgumentException("CoOp tokenises its class prompts and needs the CLIP model's tokenizer (ClipLoader.Load gives it one).");
        if (classNames.Count == 0) throw new ArgumentException("CoOp needs at least one class name.");
        if (options.ContextInit is null && options.ContextTokens < 1) throw new ArgumentException($"CoOp needs at least one context token, not {options.ContextTokens}.");
        Options = options;
        ClassNames = classNames.Select(n => n.Replace('_', ' ')).ToArray();
        var table = clip.Text.TokenEmbeddings;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor initial;
        string placeholder;
        if (options.ContextInit is { } words)
        {
            var ids = tokenizer.EncodeWithoutSpecials(words.Replace('_', ' '));
            if (ids.Count == 0) throw new ArgumentException($"The context \"{words}\" tokenises to nothing.");
            initial = table.index_select(0, tensor(ids.Select(i => (long)i).ToArray(), device: table.device)).cpu();
            if (options.ClassSpecific) initial = initial.unsqueeze(0).repeat(ClassNames.Count, 1, 1);
            placeholder = words.Replace('_', ' ');
        }
        else
        {
            var generator = new Generator((ulong)seed, device: CPU);
            long[] shape = options.ClassSpecific ? [ClassNames.Count, options.ContextTokens, table.shape[1]] : [options.ContextTokens, table.shape[1]];
            initial = normal(0, 0.02, shape, generator: generator);
            placeholder = string.Join(" ", Enumerable.Repeat("X", options.ContextTokens));
        }
        var n = (int)initial.shape[^2];
        nameLengths = ClassNames.Select(c => tokenizer.EncodeWithoutSpecials(c).Count).ToArray();
        var (promptIds, ends) = tokenizer.EncodeBatch(ClassNames.Select(c => $"{placeholder} {c}.").ToArray());
        // The placeholder must tokenise to exactly the context's n tokens, so the fixed parts sit where CoOp puts them.
        var placeholderTokens = tokenizer.EncodeWithoutSpecials(placeholder).Count;
        if (placeholderTokens != n) throw new InvalidOperationException($"The context placeholder \"{placeholder}\" is {placeholderTokens} tokens, not {n}.");
        var embedded = clip.Text.Embed(promptIds.to(table.device)).cpu();                   // [K, T, D]
        prefix = embedded[.., ..1].clone().DetachFromDisposeScope();                           // [SOS]
        suffix = embedded[.., (1 + n)..].clone().DetachFromDisposeScope();                     // class name, ".", [EOS], padding
        EndPositions = ends.DetachFromDisposeScope();
        context = new Parameter(initial.to(table.device).DetachFromDisposeScope());
        register_parameter("context", context);
        register_buffer("token_prefix", prefix);
        register_buffer("token_suffix", suffix);
    }

    /// <summary>CoOp's prompt learner for a model, or an <see cref="ArgumentException"/> naming why the model cannot take it.</summary>
    public static CoOpPrompt Create(object model, IReadOnlyList<string> classNames, CoOpOptions? options = null, int seed = 0) =>
        new(ModelRequirements.VisionLanguage(model, "CoOp"), classNames, options ?? new CoOpOptions(), seed);

    public override Location Location => Location.Embedding;
    public override Operator Operator => Operator.Concatenative;
    public Tensor Context => context;

    /// <summary>The class prompts' token embeddings [K, T, D] with the current context in place.</summary>
    public Tensor Prompts()
    {
        var k = ClassNames.Count;
        var ctx = context.dim() == 2 ? context.unsqueeze(0).expand(k, -1, -1) : context;     // [K, n, D]
        var pre = prefix.to(context.device);
        var post = suffix.to(context.device);
        if (Options.Position == ClassTokenPosition.End) return cat([pre, ctx, post], 1);
        var half = ContextTokens / 2;
        var rows = new List<Tensor>();
        for (var i = 0; i < k; i++)
        {
            var name = post[i..(i + 1), ..nameLengths[i]];
            var rest = post[i..(i + 1), nameLengths[i]..];
            var c = ctx[i..(i + 1)];
            rows.Add(Options.Position == ClassTokenPosition.Front
                ? cat([pre[i..(i + 1)], name, c, rest], 1)
                : cat([pre[i..(i + 1)], c[.., ..half], name, c[.., half..], rest], 1));
        }
        return cat(rows, 0);
    }

    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["context tokens"] = ContextTokens.ToString(), ["init"] = Options.ContextInit ?? "random N(0, 0.02²)",
        ["class-specific"] = Options.ClassSpecific && Options.ContextInit is not null
            ? "True (each class's context starts from the init words; deviation: the authors' code ignores class-specific contexts when an init is given)"
            : Options.ClassSpecific.ToString(), ["class position"] = Options.Position.ToString().ToLowerInvariant(),
        ["classes"] = ClassNames.Count.ToString(),
    };
}
