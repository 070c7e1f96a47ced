using Reprogram.Alignments;
using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>
/// Visual prompt tuning of a frozen patch-token model (a ViT, or CLIP through its image tower): images [N, C, S, S] in
/// [0, 1] are embedded by the frozen model, VPT's tokens go in after the class token (and, for VPT-deep, at every
/// layer), the model reads its output at the class token, and the output alignment (VPT's own is a new linear head;
/// CLIP's text head or a label mapping also fit) gives the target scores; the loss is cross-entropy on the labels [N].
/// The counterpart of <see cref="ImageReprogrammingTask{TModel}"/> for the embedding and hidden interfaces.
/// </summary>
public sealed class VisualPromptTuningTask<TModel> : ITrainingTask where TModel : nn.Module, IPatchTokenModel
{
    private readonly FrozenModel<TModel> frozen;
    private readonly VisualPromptTuning prompts;
    private readonly IOutputAlignment alignment;
    private readonly Tensor images, labels;

    public VisualPromptTuningTask(FrozenModel<TModel> frozen, VisualPromptTuning prompts, IOutputAlignment alignment, Tensor images, Tensor labels)
    {
        if (images.shape[0] != labels.shape[0]) throw new ArgumentException($"{images.shape[0]} images but {labels.shape[0]} labels.");
        if (prompts.Width != frozen.Model.HiddenSize)
            throw new ArgumentException($"The prompts are {prompts.Width} wide, the model's tokens {frozen.Model.HiddenSize}: they were made for another model.");
        this.frozen = frozen;
        this.prompts = prompts;
        this.alignment = alignment;
        this.images = images;
        this.labels = labels;
        prompts.to(frozen.Device);
        (alignment as nn.Module)?.to(frozen.Device);
        TrainableParameters = prompts.parameters()
            .Concat((alignment as nn.Module)?.parameters() ?? [])
            .Where(p => p.requires_grad).ToArray();
    }

    public IReadOnlyList<Parameter> TrainableParameters { get; }
    public int ExampleCount => (int)images.shape[0];

    public void BeforeEpoch(int epoch)
    {
        if (alignment is LabelMapping mapping && mapping.EstimatesBeforeEpoch(epoch))
        {
            using var scope = NewDisposeScope();
            mapping.Estimate(SourceOutputs(images), labels);
        }
    }

    public BatchOutput Step(long[] indices)
    {
        using var index = tensor(indices);
        var x = images.index_select(0, index).to(frozen.Device);
        var y = labels.index_select(0, index).to(frozen.Device);
        var scores = alignment.Map(prompts.Forward(frozen.Model, x));
        var loss = nn.functional.cross_entropy(scores, y);
        var correct = scores.argmax(-1).eq(y).sum().item<long>();
        return new BatchOutput(loss, correct, indices.Length, 0);
    }

    /// <summary>The frozen model's outputs [N, S] with the current prompts, without gradients.</summary>
    public Tensor SourceOutputs(Tensor batchOfImages, int batchSize = 256)
    {
        using var _ = no_grad();
        var parts = new List<Tensor>();
        for (long i = 0; i < batchOfImages.shape[0]; i += batchSize)
        {
            var x = batchOfImages.narrow(0, i, Math.Min(batchSize, batchOfImages.shape[0] - i)).to(frozen.Device);
            parts.Add(prompts.Forward(frozen.Model, x));
        }
        return cat(parts, 0);
    }

    /// <summary>Accuracy on a data set, with the prompts and alignment as they are now.</summary>
    public double Accuracy(Tensor testImages, Tensor testLabels)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var predictions = alignment.Map(SourceOutputs(testImages)).argmax(-1).cpu();
        return predictions.eq(testLabels.cpu()).to(ScalarType.Float32).mean().item<float>();
    }
}
