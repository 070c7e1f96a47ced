using Reprogram.Taxonomy;
using TorchSharp;
using static TorchSharp.torch;
using TorchSharp.Modules;

namespace Reprogram.Manipulations;

/// <summary>
/// Padding (frame) prompt in the ILM-VP form (Chen et al., CVPR 2023): the target image, at a small size, is placed in
/// the centre of a zero canvas of the model's input size, and a learned frame sigmoid(theta) * mask is added, mask = 1
/// on the frame and 0 over the image. theta starts at 0, so the untrained frame is 0.5 everywhere on it.
/// Shapes: [B, C, inner, inner] -> [B, C, size, size].
/// </summary>
public sealed class PaddingPrompt : InputManipulation
{
    private readonly Parameter theta;
    private readonly Tensor mask;
    private readonly int channels, size, inner, before, after;

    public PaddingPrompt(int channels, int size, int inner) : base("padding prompt (ILM-VP)")
    {
        if (inner <= 0 || inner >= size) throw new ArgumentException($"The image ({inner} px) must be smaller than the model input ({size} px) to leave a frame.");
        (this.channels, this.size, this.inner) = (channels, size, inner);
        before = (size - inner) / 2;
        after = size - inner - before;
        theta = new Parameter(zeros(channels, size, size));
        var m = ones(1, size, size);
        m[.., before..(before + inner), before..(before + inner)] = 0f;
        mask = m;
        register_parameter("theta", theta);
        register_buffer("mask", mask);
    }

    public override Operator Operator => Operator.Additive;
    public override int InputSize => inner;
    public override int OutputSize => size;
    /// <summary>The frame width in pixels (left/top side).</summary>
    public int Width => before;
    public Tensor Theta => theta;
    public Tensor Mask => mask;

    public override Tensor Apply(Tensor images)
    {
        CheckInput(images, channels);
        var canvas = nn.functional.pad(images, [before, after, before, after]);
        return canvas + sigmoid(theta) * mask;
    }

    /// <summary>The prompt as an image [C, size, size] (what is added to every input).</summary>
    public Tensor Prompt() => (sigmoid(theta) * mask).detach();

    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["channels"] = channels.ToString(), ["size"] = size.ToString(), ["inner"] = inner.ToString(), ["width"] = before.ToString(),
    };
}

/// <summary>
/// Full-image watermark prompt (the additive visual prompt of Elsayed et al. and Bahng et al.): a learned delta over the
/// whole image, x + delta, delta starting at 0. Shapes: [B, C, S, S] -> [B, C, S, S].
/// </summary>
public sealed class WatermarkPrompt : InputManipulation
{
    private readonly Parameter delta;
    private readonly int channels, size;

    public WatermarkPrompt(int channels, int size) : base("watermark prompt")
    {
        (this.channels, this.size) = (channels, size);
        delta = new Parameter(zeros(channels, size, size));
        register_parameter("delta", delta);
    }

    public override Operator Operator => Operator.Additive;
    public override int InputSize => size;
    public override int OutputSize => size;

    public override Tensor Apply(Tensor images)
    {
        CheckInput(images, channels);
        return images + delta;
    }

    public Tensor Prompt() => delta.detach();

    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["channels"] = channels.ToString(), ["size"] = size.ToString(),
    };
}

/// <summary>
/// Patch prompt: a learned square delta added in the top-left corner only; the rest of the image is untouched.
/// Shapes: [B, C, S, S] -> [B, C, S, S].
/// </summary>
public sealed class PatchPrompt : InputManipulation
{
    private readonly Parameter delta;
    private readonly int channels, size, patch;

    public PatchPrompt(int channels, int size, int patch) : base("patch prompt")
    {
        if (patch <= 0 || patch > size) throw new ArgumentException($"A patch of {patch} px does not fit an image of {size} px.");
        (this.channels, this.size, this.patch) = (channels, size, patch);
        delta = new Parameter(zeros(channels, patch, patch));
        register_parameter("delta", delta);
    }

    public override Operator Operator => Operator.Additive;
    public override int InputSize => size;
    public override int OutputSize => size;

    public override Tensor Apply(Tensor images)
    {
        CheckInput(images, channels);
        return images + nn.functional.pad(delta, [0, size - patch, 0, size - patch]);
    }

    public Tensor Prompt() => nn.functional.pad(delta, [0, size - patch, 0, size - patch]).detach();

    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["channels"] = channels.ToString(), ["size"] = size.ToString(), ["patch"] = patch.ToString(),
    };
}

/// <summary>
/// A learned transform g(x) of the input: a 1x1 convolution over colour channels, initialised to the identity, so the
/// untrained manipulation changes nothing. Shapes: [B, C, S, S] -> [B, C, S, S].
/// </summary>
public sealed class ChannelTransform : InputManipulation
{
    private readonly TorchSharp.Modules.Conv2d mix;
    private readonly int channels, size;

    public ChannelTransform(int channels, int size) : base("channel transform (1x1 conv)")
    {
        (this.channels, this.size) = (channels, size);
        mix = nn.Conv2d(channels, channels, 1);
        using (no_grad())
        {
            mix.weight!.copy_(eye(channels).view(channels, channels, 1, 1));
            mix.bias!.zero_();
        }
        register_module("mix", mix);
    }

    public override Operator Operator => Operator.Parametric;
    public override int InputSize => size;
    public override int OutputSize => size;

    public override Tensor Apply(Tensor images)
    {
        CheckInput(images, channels);
        return mix.forward(images);
    }

    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["channels"] = channels.ToString(), ["size"] = size.ToString(),
    };
}
