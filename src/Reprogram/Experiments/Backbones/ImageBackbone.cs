using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Taxonomy;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>
/// A frozen image model (a classifier with source labels, or a features-only network; a ViT or CLIP's image tower also
/// exposes its patch tokens): its input interface takes pixels in [0, 1] at <see cref="ImageSize"/>, its output is class
/// logits or features [B, S]. Patch-token models take prompts at their embedding and hidden interfaces too. Each task's
/// images are resized once per size a manipulation asks for (a padding prompt's inner image is smaller) and kept until
/// the run ends.
/// </summary>
public sealed class ImageBackbone : Backbone
{
    private readonly IImageModel model;
    private readonly string identity, checksum;
    private readonly Func<string> verify;
    private readonly Func<IReadOnlyList<string>> gradients;
    private readonly long parameters;
    private readonly Device device;
    private readonly IDisposable? owned;
    private readonly Dictionary<(ImageTaskSplit Split, int Size), Tensor> fitted = new();

    /// <summary>Freezes <paramref name="model"/> (eval mode, no gradients, checksum) on <paramref name="device"/>.</summary>
    public ImageBackbone(IImageModel model, string identity, Device device, int? imageSize, bool ownsModel)
        : this(new FrozenModel<ResNetOrCnn>(new ResNetOrCnn(model), identity, device, ownsModel), model, imageSize, owns: true)
    {
    }

    private ImageBackbone(FrozenModel<ResNetOrCnn> frozen, IImageModel model, int? imageSize, bool owns)
        : this(model, frozen.Identity, frozen.ChecksumAtFreeze, frozen.VerifyUnchanged, frozen.ParametersWithGradients, frozen.ParameterCount, frozen.Device,
            owns ? frozen : null, imageSize)
    {
    }

    private ImageBackbone(IImageModel model, string identity, string checksum, Func<string> verify, Func<IReadOnlyList<string>> gradients, long parameters,
        Device device, IDisposable? owned, int? imageSize)
    {
        (this.model, this.identity, this.checksum, this.verify, this.gradients, this.parameters, this.device, this.owned) =
            (model, identity, checksum, verify, gradients, parameters, device, owned);
        ImageSize = imageSize ?? model.InputSize;
        // A model without global pooling (a small CNN's dense layer, a ViT's position embeddings) takes its own size only.
        if (!model.TakesAnySize && ImageSize != model.InputSize)
        {
            throw new ArgumentException($"{identity} takes {model.InputSize} px images; an image size of {ImageSize} does not fit it.");
        }
    }

    /// <summary>An image model frozen elsewhere (the caller keeps and disposes it).</summary>
    public static ImageBackbone Over<TModel>(FrozenModel<TModel> frozen, int? imageSize = null) where TModel : nn.Module, IImageModel =>
        new(frozen.Model, frozen.Identity, frozen.ChecksumAtFreeze, frozen.VerifyUnchanged, frozen.ParametersWithGradients, frozen.ParameterCount,
            frozen.Device, null, imageSize);

    public override string Identity => identity;
    public override string Kind => model.OutputLabels is null ? "image features" : "image classifier";
    public override TaskModality Modality => TaskModality.Image;
    public override IReadOnlyList<Location> Interfaces => model is IPatchTokenModel ? [Location.Input, Location.Embedding, Location.Hidden] : [Location.Input];
    public override int OutputSize => model.OutputSize;
    public override IReadOnlyList<string>? OutputNames => model.OutputLabels;
    public override long ParameterCount => parameters;
    public override string ChecksumBefore => checksum;
    public override string VerifyUnchanged() => verify();
    /// <summary>Model parameters that require or hold a gradient (the frozen contract says none).</summary>
    public IReadOnlyList<string> ParametersWithGradients() => gradients();
    public override Device Device => device;
    /// <summary>The frozen image model (CLIP's text head and other alignments read it).</summary>
    public IImageModel Model => model;
    /// <summary>The patch-token interface of a ViT or CLIP image tower, or null.</summary>
    public IPatchTokenModel? PatchTokens => model as IPatchTokenModel;
    /// <summary>The side of the images the frozen model sees.</summary>
    public int ImageSize { get; }
    public int Channels => model.InputChannels;
    public override (int Channels, int Size)? ImageInput => (Channels, ImageSize);
    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { ["image size"] = $"{ImageSize} px, {Channels} channel(s)" };

    public override Tensor ModelOutputs(IManipulation? manipulation, TaskSplit split, IReadOnlyList<TaskExample> batch)
    {
        var size = (manipulation as InputManipulation)?.InputSize ?? ImageSize;
        var images = Fitted(Task(split), size);
        using var rows = tensor(batch.Select(e => (long)e.Row).ToArray());
        var x = images.index_select(0, rows).to(device);
        return manipulation switch
        {
            null => model.Forward(x),
            InputManipulation input => model.Forward(input.Apply(x)),
            IPatchTokenManipulation tokens when model is IPatchTokenModel patches => tokens.Forward(patches, x),
            _ => throw new ArgumentException($"{manipulation.Name} does not act on {identity}'s pixels, patch tokens or layers."),
        };
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
        owned?.Dispose();
    }

    private static ImageTaskSplit Task(TaskSplit split) => split as ImageTaskSplit
        ?? throw new ArgumentException($"An image model reads images; the task {split.Name} is a {split.Modality.ToString().ToLowerInvariant()} task.");

    /// <summary>The split's images at this size and the model's channels (CPU), made once per run.</summary>
    private Tensor Fitted(ImageTaskSplit split, int size)
    {
        if (fitted.TryGetValue((split, size), out var images)) return images;
        // Fit makes new tensors: its images are kept as they are (no second copy of the whole split).
        var fit = split.Images.Fit(size, Channels);
        fit.Labels.Dispose();
        return fitted[(split, size)] = fit.Images.DetachFromDisposeScope();
    }
}
