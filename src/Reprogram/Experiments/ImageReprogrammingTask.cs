using Reprogram.Alignments;
using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>
/// Model reprogramming of a frozen image model: target images [N, C, h, w] in [0, 1] go through the input manipulation,
/// the frozen model and the output alignment; the loss is cross-entropy on the target labels [N].
/// </summary>
public sealed class ImageReprogrammingTask<TModel> : ITrainingTask where TModel : nn.Module, IImageModel
{
    private readonly FrozenModel<TModel> frozen;
    private readonly InputManipulation? manipulation;
    private readonly IOutputAlignment alignment;
    private readonly Tensor images, labels;

    public ImageReprogrammingTask(FrozenModel<TModel> frozen, InputManipulation? manipulation, IOutputAlignment alignment, Tensor images, Tensor labels)
    {
        if (images.shape[0] != labels.shape[0]) throw new ArgumentException($"{images.shape[0]} images but {labels.shape[0]} labels.");
        this.frozen = frozen;
        this.manipulation = manipulation;
        this.alignment = alignment;
        this.images = images;
        this.labels = labels;
        manipulation?.to(frozen.Device);
        (alignment as nn.Module)?.to(frozen.Device);
        TrainableParameters = (manipulation?.parameters() ?? [])
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
        var scores = alignment.Map(frozen.Model.Forward(manipulation?.Apply(x) ?? x));
        var loss = nn.functional.cross_entropy(scores, y);
        var correct = scores.argmax(-1).eq(y).sum().item<long>();
        return new BatchOutput(loss, correct, indices.Length, 0);
    }

    /// <summary>The frozen model's outputs [N, S] for images through the current manipulation, without gradients.</summary>
    public Tensor SourceOutputs(Tensor batchOfImages, int batchSize = 256)
    {
        using var _ = no_grad();
        var parts = new List<Tensor>();
        for (long i = 0; i < batchOfImages.shape[0]; i += batchSize)
        {
            var x = batchOfImages.narrow(0, i, Math.Min(batchSize, batchOfImages.shape[0] - i)).to(frozen.Device);
            parts.Add(frozen.Model.Forward(manipulation?.Apply(x) ?? x));
        }
        return cat(parts, 0);
    }

    /// <summary>Accuracy on a data set, with the manipulation and alignment as they are now.</summary>
    public double Accuracy(Tensor testImages, Tensor testLabels)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var predictions = alignment.Map(SourceOutputs(testImages)).argmax(-1).cpu();
        return predictions.eq(testLabels.cpu()).to(ScalarType.Float32).mean().item<float>();
    }
}
