using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Models.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Alignments;

/// <summary>
/// CLIP's text embeddings of class prompts as the classification head over its image embeddings:
/// scores [B, K] = exp(logit_scale) · norm(image [B, E]) · norm(class text features [K, E])ᵀ.
/// <list type="bullet">
/// <item><see cref="ZeroShot"/>: fixed prompts ("a photo of a {label}."), computed once; a rule-based alignment (the
/// class names decide the mapping, nothing is estimated or learned). With several templates a class's feature is the
/// renormalised mean of its prompts' unit features (CLIP's prompt ensembling).</item>
/// <item><see cref="CoOp"/> and <see cref="WithTextPrompts"/>: the prompts carry learned parts in the text tower
/// (CoOp's context, soft prompts, deep prompts, prefixes), so the features are recomputed at every step with gradients
/// reaching only those parts; the catalog gives CoOp a linear alignment (a head made of class-name text features),
/// which is the coordinate this head then declares.</item>
/// </list>
/// The text tower is the frozen model's and is not a child of this module; the learned parts are.
/// </summary>
public sealed class ClipTextHead : nn.Module<Tensor, Tensor>, IOutputAlignment
{
    private readonly ClipTextTower text;
    private readonly double scale;                // exp(logit_scale), a frozen value
    private readonly int templates;
    private readonly Tensor? fixedFeatures;       // [K, E] unit rows, when nothing is learned
    private readonly Tensor? ids, ends;           // [templates · K, T], [templates · K]: the prompts, for soft / hidden prompts
    private readonly CoOpPrompt? coop;
    private readonly SoftPrompt? soft;
    private readonly IHiddenManipulation? hidden;

    public IReadOnlyList<string> TargetLabels { get; }
    public IReadOnlyList<string> Templates { get; }
    public string Name { get; }
    public Taxonomy.OutputAlignment Kind => fixedFeatures is null ? Taxonomy.OutputAlignment.Linear : Taxonomy.OutputAlignment.RuleBased;
    public long TrainableParameters => parameters().Where(p => p.requires_grad).Sum(p => p.numel());
    /// <summary>CoOp's prompt learner, when this is a CoOp head.</summary>
    public CoOpPrompt? Prompt => coop;

    private ClipTextHead(ClipModel clip, IReadOnlyList<string> labels, IReadOnlyList<string> templates, string name,
                         CoOpPrompt? coop, SoftPrompt? soft, IHiddenManipulation? hidden) : base(nameof(ClipTextHead))
    {
        if (labels.Count == 0) throw new ArgumentException("A CLIP text head needs at least one class name.");
        if (templates.Count == 0 || templates.Any(t => !t.Contains("{}", StringComparison.Ordinal)))
            throw new ArgumentException($"Every template needs a {{}} where the class name goes: [{string.Join(", ", templates.Select(t => $"\"{t}\""))}].");
        var tokenizer = clip.Tokenizer ?? throw new ArgumentException("A CLIP text head tokenises class prompts and needs the model's tokenizer (ClipLoader.Load gives it one).");
        text = clip.Text;
        scale = clip.LogitScale.detach().exp().item<float>();
        TargetLabels = labels.ToArray();
        Templates = coop is null ? templates.ToArray() : ["(learned context) {}."];
        this.templates = Templates.Count;
        Name = name;
        (this.coop, this.soft, this.hidden) = (coop, soft, hidden);
        if (coop is not null) register_module("coop", coop);
        if (soft is not null) register_module("soft", soft);
        if (hidden is nn.Module module) register_module("hidden", module);
        if (coop is null)
        {
            var prompts = templates.SelectMany(t => labels.Select(l => t.Replace("{}", l, StringComparison.Ordinal))).ToArray();
            var (i, e) = tokenizer.EncodeBatch(prompts);
            (ids, ends) = (i.DetachFromDisposeScope(), e.DetachFromDisposeScope());
            if (soft is null && hidden is null)
            {
                using var noGrad = no_grad();
                fixedFeatures = ClassFeatures().detach().DetachFromDisposeScope();
                register_buffer("class_features", fixedFeatures);
            }
        }
    }

    /// <summary>Zero-shot CLIP: the class names in fixed prompts (default "a photo of a {}.").</summary>
    public static ClipTextHead ZeroShot(object model, IReadOnlyList<string> labels, IReadOnlyList<string>? templates = null) =>
        new(ModelRequirements.VisionLanguage(model, "A CLIP text head"), labels, templates ?? ClipZeroShotClassifier.DefaultTemplates,
            "zero-shot CLIP text head", null, null, null);

    /// <summary>CoOp: learned context vectors in place of the template; the head's parameters are the context.</summary>
    public static ClipTextHead CoOp(object model, IReadOnlyList<string> labels, CoOpOptions? options = null, int seed = 0)
    {
        var clip = ModelRequirements.VisionLanguage(model, "CoOp");
        return new ClipTextHead(clip, labels, ["{}"], "CoOp (learned context) text head", CoOpPrompt.Create(clip, labels, options, seed), null, null);
    }

    /// <summary>
    /// Fixed prompts with learned parts in the text tower: soft tokens in front of every prompt (prompt tuning) and/or a
    /// hidden manipulation (deep prompts, prefix-tuning) at every layer. Both are created on <c>clip.Text</c>.
    /// </summary>
    public static ClipTextHead WithTextPrompts(object model, IReadOnlyList<string> labels, SoftPrompt? soft, IHiddenManipulation? hidden,
                                               IReadOnlyList<string>? templates = null)
    {
        var clip = ModelRequirements.VisionLanguage(model, "A CLIP text head");
        if (soft is null && hidden is null) throw new ArgumentException("Nothing learned: use ClipTextHead.ZeroShot for fixed prompts.");
        var parts = string.Join(" + ", new[] { soft?.Name, (hidden as IManipulation)?.Name ?? hidden?.GetType().Name }.Where(p => p is not null));
        return new ClipTextHead(clip, labels, templates ?? ClipZeroShotClassifier.DefaultTemplates, $"CLIP text head with {parts}", null, soft, hidden);
    }

    /// <summary>The class features [K, E], unit rows: fixed, or computed now through the text tower with the learned parts.</summary>
    public Tensor ClassFeatures()
    {
        if (fixedFeatures is not null) return fixedFeatures;
        using var scope = NewDisposeScope();
        var device = text.TokenEmbeddings.device;
        Tensor embeddings, positions;
        if (coop is not null)
        {
            embeddings = coop.Prompts();                                                   // [K, T, D]
            positions = coop.EndPositions;
        }
        else
        {
            embeddings = text.Embed(ids!.to(device));                                      // [templates · K, T, D]
            positions = ends!;
            if (soft is not null)
            {
                embeddings = soft.Prepend(embeddings);                                     // [templates · K, n + T, D]
                positions = positions + soft.Tokens;
            }
        }
        var states = text.ForwardEmbeddings(embeddings, hidden);                           // [rows, T', D]
        var features = nn.functional.normalize(text.Pool(states, positions.to(device), embeddings.shape[1]), p: 2, dim: -1);
        if (templates > 1)
        {
            var k = TargetLabels.Count;
            features = nn.functional.normalize(features.view(templates, k, -1).mean([0]), p: 2, dim: -1);   // CLIP's prompt ensembling
        }
        return features.MoveToOuterDisposeScope();                                         // [K, E]
    }

    /// <summary>Image embeddings [B, E] (a CLIP model's output) to class scores [B, K].</summary>
    public Tensor Map(Tensor sourceOutput)
    {
        using var scope = NewDisposeScope();
        var image = nn.functional.normalize(sourceOutput, p: 2, dim: -1);
        var classes = ClassFeatures().to(sourceOutput.device);
        return (scale * image.matmul(classes.t())).MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor x) => Map(x);
}
