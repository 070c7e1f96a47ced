using Reprogram.Frozen;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Reprogram.Models.Clip;

/// <summary>
/// CLIP as a frozen classifier over text prompts: each template filled with each class name is one output, scored as
/// exp(logit_scale) · norm(image embedding) · norm(prompt embedding)ᵀ; the prompts are the output labels. This is how
/// the BLM paper's CLIP rows (Cai et al., NeurIPS 2024; tmlr-group/BayesianLM, train_vlm.py) give CLIP a "pretrained
/// label space" for a label mapping to act on: one output per (template, class) pair, templates kept separate, and a
/// statistical mapping (ILM, BLM, BLM+) from them to the target classes. With one template and the target's own
/// class names, the identity alignment is plain zero-shot classification.
/// Shapes: [B, 3, S, S] -> CLIP image embeddings [B, E] -> [B, templates · classes] (template-major order).
/// It shares the CLIP model it is made from (disposing it leaves that model alone).
/// </summary>
public sealed class ClipZeroShotClassifier : Module<Tensor, Tensor>, IImageModel
{
    /// <summary>CLIP's and CoOp's plain prompt.</summary>
    public static readonly IReadOnlyList<string> DefaultTemplates = ["a photo of a {}."];

    private readonly ClipModel clip;
    private readonly Tensor prompts;   // [templates · classes, E], unit rows, a buffer: the frozen checksum covers it

    public IReadOnlyList<string> ClassNames { get; }
    public IReadOnlyList<string> Templates { get; }
    public int InputChannels => clip.InputChannels;
    public int InputSize => clip.InputSize;
    public int OutputSize => OutputLabels.Count;
    /// <summary>The filled prompts, template-major: templates[0] with every class, then templates[1], ...</summary>
    public IReadOnlyList<string> OutputLabels { get; }
    IReadOnlyList<string>? IImageModel.OutputLabels => OutputLabels;

    public ClipZeroShotClassifier(ClipModel clip, IReadOnlyList<string> classNames, IReadOnlyList<string> templates) : base(nameof(ClipZeroShotClassifier))
    {
        if (classNames.Count == 0) throw new ArgumentException("A zero-shot classifier needs at least one class name.");
        if (templates.Count == 0 || templates.Any(t => !t.Contains("{}", StringComparison.Ordinal)))
            throw new ArgumentException($"Every template needs a {{}} where the class name goes: [{string.Join(", ", templates.Select(t => $"\"{t}\""))}].");
        this.clip = clip;
        ClassNames = classNames.ToArray();
        Templates = templates.ToArray();
        OutputLabels = templates.SelectMany(t => classNames.Select(c => t.Replace("{}", c, StringComparison.Ordinal))).ToArray();
        using (no_grad())
        {
            prompts = functional.normalize(clip.TextEmbeddings(OutputLabels), p: 2, dim: -1).detach();
        }
        register_module("clip", clip);
        register_buffer("prompts", prompts);
    }

    public override Tensor forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        var image = functional.normalize(clip.ImageEmbeddings(images), p: 2, dim: -1);          // [B, E]
        return (clip.LogitScale.exp() * image.matmul(prompts.t())).MoveToOuterDisposeScope();   // [B, prompts]
    }

    public Tensor Forward(Tensor images) => forward(images);

    /// <summary>
    /// A view on a shared CLIP model: disposing it releases its own prompt features only, never the CLIP model it reads
    /// (a registered child, so that checksums, device moves and eval mode cover it, which TorchSharp would dispose too).
    /// </summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing) prompts.Dispose();
    }
}
