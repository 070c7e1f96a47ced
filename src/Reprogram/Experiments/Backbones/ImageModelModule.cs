using Reprogram.Frozen;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>Lets one frozen-model wrapper hold either kind of image model.</summary>
public sealed class ResNetOrCnn : nn.Module<Tensor, Tensor>, IImageModel
{
    private readonly nn.Module<Tensor, Tensor> inner;
    private readonly IImageModel image;

    public ResNetOrCnn(IImageModel model) : base(model.GetType().Name)
    {
        image = model;
        inner = (nn.Module<Tensor, Tensor>)model;
        register_module("model", inner);
    }

    public int InputChannels => image.InputChannels;
    public int InputSize => image.InputSize;
    public int OutputSize => image.OutputSize;
    public IReadOnlyList<string>? OutputLabels => image.OutputLabels;
    public bool TakesAnySize => image.TakesAnySize;
    public override Tensor forward(Tensor x) => image.Forward(x);
    public Tensor Forward(Tensor images) => image.Forward(images);
}
