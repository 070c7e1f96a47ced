using static TorchSharp.torch;

namespace Reprogram.Models.Vision;

/// <summary>
/// A model's own pixel normalisation, (x - mean) / std per channel, for pixels in [0, 1]. The constants are not
/// buffers (the state dict stays the checkpoint's own, and TorchSharp 0.107's Module.to() skips non-persistent
/// buffers): they are copied to the images' device and dtype on first use and cached.
/// </summary>
internal sealed class ImageNormalization : IDisposable
{
    private readonly Tensor mean, std;            // [1, C, 1, 1], CPU float32
    private (Tensor Mean, Tensor Std)? onDevice;

    public IReadOnlyList<float> Mean { get; }
    public IReadOnlyList<float> Std { get; }

    public ImageNormalization(IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        if (mean.Count != std.Count || mean.Count == 0) throw new ArgumentException($"{mean.Count} means and {std.Count} standard deviations: one of each per channel.");
        if (std.Any(s => !(s > 0))) throw new ArgumentException($"Standard deviations must be positive, not [{string.Join(", ", std)}].");
        (Mean, Std) = (mean.ToArray(), std.ToArray());
        this.mean = tensor(mean.ToArray()).reshape(1, mean.Count, 1, 1).DetachFromDisposeScope();
        this.std = tensor(std.ToArray()).reshape(1, std.Count, 1, 1).DetachFromDisposeScope();
    }

    /// <summary>ImageNet's mean and std (torchvision's models).</summary>
    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f], ImageNetStd = [0.229f, 0.224f, 0.225f];
    /// <summary>OpenAI CLIP's mean and std.</summary>
    public static readonly float[] ClipMean = [0.48145466f, 0.4578275f, 0.40821073f], ClipStd = [0.26862954f, 0.26130258f, 0.27577711f];
    /// <summary>Hugging Face ViTImageProcessor's default ("IMAGENET_STANDARD"): 0.5 and 0.5.</summary>
    public static readonly float[] HalfMean = [0.5f, 0.5f, 0.5f], HalfStd = [0.5f, 0.5f, 0.5f];

    /// <summary>[B, C, H, W] -> [B, C, H, W].</summary>
    public Tensor Apply(Tensor images)
    {
        if (onDevice is not { } c || c.Mean.device_type != images.device_type || c.Mean.device_index != images.device_index || c.Mean.dtype != images.dtype)
        {
            if (onDevice is { } old && !ReferenceEquals(old.Mean, mean)) { old.Mean.Dispose(); old.Std.Dispose(); }
            c = mean.device_type == images.device_type && mean.dtype == images.dtype
                ? (mean, std)
                : (mean.to(images.dtype, images.device).DetachFromDisposeScope(), std.to(images.dtype, images.device).DetachFromDisposeScope());
            onDevice = c;
        }
        return (images - c.Mean) / c.Std;
    }

    public void Dispose()
    {
        if (onDevice is { } c && !ReferenceEquals(c.Mean, mean)) { c.Mean.Dispose(); c.Std.Dispose(); }
        mean.Dispose();
        std.Dispose();
    }
}
