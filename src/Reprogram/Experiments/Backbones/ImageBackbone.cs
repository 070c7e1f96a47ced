using Reprogram.Data;
using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Taxonomy;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>
/// A frozen image model (a classifier with source labels, or a features-only network): its input interface takes pixels
/// in [0, 1] at <see cref="ImageSize"/>, and its output is class logits or features [B, S]. Each task's images are
/// resized once per size a manipulation asks for (a padding prompt's inner image is smaller) and kept until the run ends.
/// </summary>
public sealed class ImageBackbone : Backbone
{
    private readonly FrozenModel<ResNetOrCnn> frozen;
    private readonly Dictionary<(ImageTaskSplit Split, int Size), Tensor> fitted = new();

    public ImageBackbone(IImageModel model, string identity, Device device, int? imageSize, bool ownsModel)
    {
        frozen = new FrozenModel<ResNetOrCnn>(new ResNetOrCnn(model), identity, device, ownsModel);
        ImageSize = imageSize ?? model.InputSize;
        if (model.OutputLabels is not null && ImageSize != model.InputSize)
        {
            throw new ArgumentException($"{identity} takes {model.InputSize} px images; an image size of {ImageSize} does not fit it.");
        }
    }

    /// <summary>The frozen model (to check, e.g., that no parameter holds a gradient).</summary>
    public FrozenModel<ResNetOrCnn> Frozen => frozen;
    public override string Identity => frozen.Identity;
    public override string Kind => frozen.Model.OutputLabels is null ? "image features" : "image classifier";
    public override TaskModality Modality => TaskModality.Image;
    public override IReadOnlyList<Location> Interfaces => [Location.Input];
    public override int OutputSize => frozen.Model.OutputSize;
    public override IReadOnlyList<string>? OutputNames => frozen.Model.OutputLabels;
    public override long ParameterCount => frozen.ParameterCount;
    public override string ChecksumBefore => frozen.ChecksumAtFreeze;
    public override string VerifyUnchanged() => frozen.VerifyUnchanged();
    public override Device Device => frozen.Device;
    /// <summary>The side of the images the frozen model sees.</summary>
    public int ImageSize { get; }
    public int Channels => frozen.Model.InputChannels;
    public override (int Channels, int Size)? ImageInput => (Channels, ImageSize);
    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { ["image size"] = $"{ImageSize} px, {Channels} channel(s)" };

    public override Tensor ModelOutputs(IManipulation? manipulation, TaskSplit split, IReadOnlyList<TaskExample> batch)
    {
        var input = manipulation switch
        {
            null => null,
            InputManipulation m => m,
            _ => throw new ArgumentException($"{manipulation.Name} does not act on an image model's pixels."),
        };
        var images = Fitted(Task(split), input?.InputSize ?? ImageSize);
        using var rows = tensor(batch.Select(e => (long)e.Row).ToArray());
        var x = images.index_select(0, rows).to(frozen.Device);
        return frozen.Model.Forward(input?.Apply(x) ?? x);
    }

    public override string PromptText(IManipulation? manipulation, TaskSplit split, TaskExample example) =>
        manipulation is null ? example.Input : $"[{manipulation.Name}] {example.Input}";

    public override void ReleaseCaches()
    {
        foreach (var t in fitted.Values) t.Dispose();
        fitted.Clear();
    }

    public override void Dispose()
    {
        ReleaseCaches();
        frozen.Dispose();
    }

    private static ImageTaskSplit Task(TaskSplit split) => split as ImageTaskSplit
        ?? throw new ArgumentException($"An image model reads images; the task {split.Name} is a {split.Modality.ToString().ToLowerInvariant()} task.");

    /// <summary>The split's images at this size and the model's channels (CPU), made once per run.</summary>
    private Tensor Fitted(ImageTaskSplit split, int size)
    {
        if (fitted.TryGetValue((split, size), out var images)) return images;
        using var fit = split.Images.Fit(size, Channels);
        return fitted[(split, size)] = fit.Images.detach().clone().DetachFromDisposeScope();
    }
}
