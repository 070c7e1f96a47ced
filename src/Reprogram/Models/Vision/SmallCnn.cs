using Reprogram.Frozen;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Reprogram.Models.Vision;

/// <summary>
/// A small convolutional classifier: two conv-relu-pool stages and a linear head. Used as a source classifier with a
/// real label space (trained on one data set, frozen, then reprogrammed to another) and in tests.
/// Shapes: [B, C, S, S] -> conv 3x3 (16) -> pool -> [B, 16, S/2, S/2] -> conv 3x3 (32) -> pool -> [B, 32, S/4, S/4] -> linear -> [B, classes].
/// </summary>
public sealed class SmallCnn : Module<Tensor, Tensor>, IImageModel
{
    private readonly Conv2d conv1, conv2;
    private readonly Linear head;

    public int InputChannels { get; }
    public int InputSize { get; }
    public int OutputSize { get; }
    public IReadOnlyList<string>? OutputLabels { get; }

    public SmallCnn(int inputChannels, int inputSize, IReadOnlyList<string> classes, int width = 16) : base(nameof(SmallCnn))
    {
        if (inputSize % 4 != 0) throw new ArgumentException($"SmallCnn needs an input size divisible by 4, not {inputSize}.");
        InputChannels = inputChannels;
        InputSize = inputSize;
        OutputSize = classes.Count;
        OutputLabels = classes;
        conv1 = Conv2d(inputChannels, width, 3, padding: 1);
        conv2 = Conv2d(width, 2 * width, 3, padding: 1);
        head = Linear(2 * width * (inputSize / 4) * (inputSize / 4), classes.Count);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = functional.max_pool2d(functional.relu(conv1.forward(x)), 2);
        h = functional.max_pool2d(functional.relu(conv2.forward(h)), 2);
        return head.forward(h.flatten(1)).MoveToOuterDisposeScope();
    }

    public Tensor Forward(Tensor images) => forward(images);
}
