using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Reprogram.Models.Vision;

/// <summary>
/// The basic block: x -> conv 3x3 (stride) -> bn -> relu -> conv 3x3 -> bn, plus the shortcut (x itself, or a 1x1
/// conv + bn when the shape changes), then relu. [B, in, H, W] -> [B, out, H/stride, W/stride].
/// </summary>
internal sealed class ResNetBasicBlock : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1, conv2;
    private readonly BatchNorm2d bn1, bn2;
    private readonly Sequential? downsample;

    public ResNetBasicBlock(int inChannels, int outChannels, int stride) : base(nameof(ResNetBasicBlock))
    {
        conv1 = Conv2d(inChannels, outChannels, kernel_size: 3, stride: stride, padding: 1, bias: false);
        bn1 = BatchNorm2d(outChannels);
        conv2 = Conv2d(outChannels, outChannels, kernel_size: 3, stride: 1, padding: 1, bias: false);
        bn2 = BatchNorm2d(outChannels);
        if (stride != 1 || inChannels != outChannels)
        {
            downsample = Sequential(("0", Conv2d(inChannels, outChannels, kernel_size: 1, stride: stride, bias: false)),
                                    ("1", BatchNorm2d(outChannels)));
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = functional.relu(bn1.forward(conv1.forward(x)));                      // [B, out, H/s, W/s]
        h = bn2.forward(conv2.forward(h));                                            // [B, out, H/s, W/s]
        var shortcut = downsample is null ? x : downsample.forward(x);                // [B, out, H/s, W/s]
        return functional.relu(h + shortcut).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The bottleneck block as torchvision has it ("ResNet v1.5": the stride is on the 3x3 convolution, not the first 1x1):
/// x -> conv 1x1 (width) -> bn -> relu -> conv 3x3 (width, stride) -> bn -> relu -> conv 1x1 (4 width) -> bn, plus the
/// shortcut (x, or a strided 1x1 conv + bn when the shape changes), then relu. [B, in, H, W] -> [B, 4 width, H/s, W/s].
/// </summary>
internal sealed class ResNetBottleneckBlock : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1, conv2, conv3;
    private readonly BatchNorm2d bn1, bn2, bn3;
    private readonly Sequential? downsample;

    public ResNetBottleneckBlock(int inChannels, int width, int stride) : base(nameof(ResNetBottleneckBlock))
    {
        var outChannels = 4 * width;
        conv1 = Conv2d(inChannels, width, kernel_size: 1, bias: false);
        bn1 = BatchNorm2d(width);
        conv2 = Conv2d(width, width, kernel_size: 3, stride: stride, padding: 1, bias: false);
        bn2 = BatchNorm2d(width);
        conv3 = Conv2d(width, outChannels, kernel_size: 1, bias: false);
        bn3 = BatchNorm2d(outChannels);
        if (stride != 1 || inChannels != outChannels)
        {
            downsample = Sequential(("0", Conv2d(inChannels, outChannels, kernel_size: 1, stride: stride, bias: false)),
                                    ("1", BatchNorm2d(outChannels)));
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = functional.relu(bn1.forward(conv1.forward(x)));                      // [B, width, H, W]
        h = functional.relu(bn2.forward(conv2.forward(h)));                           // [B, width, H/s, W/s]
        h = bn3.forward(conv3.forward(h));                                            // [B, 4 width, H/s, W/s]
        var shortcut = downsample is null ? x : downsample.forward(x);                // [B, 4 width, H/s, W/s]
        return functional.relu(h + shortcut).MoveToOuterDisposeScope();
    }
}
