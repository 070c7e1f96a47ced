using Reprogram.Frozen;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using TorchSharp.Modules;

namespace Reprogram.Models.Vision;

/// <summary>What a <see cref="ResNet"/> does to pixels in [0, 1] before its first convolution.</summary>
public enum ResNetPreprocessing
{
    /// <summary>torchvision: RGB in [0, 1], (x - mean) / std with ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).</summary>
    ImageNetRgb,
    /// <summary>
    /// CNTK / ML.NET DnnImageFeaturizer: x * 255, RGB to BGR, minus a mean in BGR order on the 0..255 scale. The mean
    /// is the per-channel constants B 103.06, G 115.90, R 123.15 unless a mean image is given (ResNetPreprocess.onnx
    /// subtracts a 224 x 224 mean image whose channel averages are those constants).
    /// </summary>
    CntkBgr,
}

/// <summary>
/// A torchvision-style ResNet (He et al. 2016) with basic blocks (resnet18 [2, 2, 2, 2], resnet34 [3, 4, 6, 3]; the CNTK
/// ResNet-18 exported with ML.NET's DnnImageFeaturizer is [2, 2, 2, 3]) or bottleneck blocks (resnet50 [3, 4, 6, 3],
/// resnet101 [3, 4, 23, 3], resnet152 [3, 8, 36, 3]; 2048 features). Parameter and buffer names are torchvision's
/// (conv1.weight, bn1.running_mean, layer2.0.downsample.0.weight, ..., fc.weight), so a torchvision state dict loads
/// with no renaming. The model applies its own preprocessing: <see cref="Forward"/> takes RGB pixels in [0, 1].
/// Shapes, for a 224 x 224 input:
///   [B, 3, 224, 224] -> preprocess -> conv1 7x7/2 -> bn1 -> relu -> [B, 64, 112, 112] -> maxpool 3x3/2 -> [B, 64, 56, 56]
///   -> layer1 [B, 64, 56, 56] -> layer2 [B, 128, 28, 28] -> layer3 [B, 256, 14, 14] -> layer4 [B, 512, 7, 7]
///   -> global average pool [B, 512] -> fc [B, classes] (no fc when classes is null: the output is the 512 features).
/// Bottleneck stages are 4 times as wide at their outputs: layer1 [B, 256, 56, 56] ... layer4 [B, 2048, 7, 7] -> [B, 2048].
/// Any input size works (the pooling is adaptive); the models were trained at 224. Padding is torchvision's (k/2 on
/// every side); CNTK's export pads stride-2 windows one less at the end (conv1 [3, 3, 2, 2]), which gives the same
/// output whenever height and width are multiples of 32, 224 included, so one architecture serves both.
/// </summary>
public sealed class ResNet : Module<Tensor, Tensor>, IImageModel
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Sequential layer1, layer2, layer3, layer4;
    private readonly Linear? fc;
    // Preprocessing constants, CPU float32: mean [1, 3, 1, 1] or a mean image [1, 3, h, w], and std [1, 3, 1, 1].
    // Deliberately not buffers: the state dict stays exactly torchvision's, and TorchSharp 0.107's Module.to() skips
    // non-persistent buffers; Preprocess copies them to the images' device and dtype instead (cached).
    private readonly PreprocessingConstants constants;
    private PreprocessingConstants? constantsOnDevice;

    private sealed class PreprocessingConstants(Tensor mean, Tensor std) : IDisposable
    {
        public readonly Tensor Mean = mean, Std = std;
        public bool Fits(Tensor x) => Mean.device_type == x.device_type && Mean.device_index == x.device_index && Mean.dtype == x.dtype;
        public PreprocessingConstants To(Tensor x) =>
            new(Mean.to(x.dtype, x.device).DetachFromDisposeScope(), Std.to(x.dtype, x.device).DetachFromDisposeScope());
        public void Dispose() { Mean.Dispose(); Std.Dispose(); }
    }

    public IReadOnlyList<int> Blocks { get; }
    /// <summary>Bottleneck blocks (1x1, 3x3, 1x1; resnet50 and deeper) rather than basic blocks (3x3, 3x3).</summary>
    public bool Bottleneck { get; }
    public ResNetPreprocessing Preprocessing { get; }
    /// <summary>Number of classes of the fc head; null for a features-only model.</summary>
    public int? Classes { get; }
    public int InputChannels => 3;
    /// <summary>The size the weights were trained at; other sizes are accepted.</summary>
    public int InputSize => 224;
    public int OutputSize => Classes ?? FeatureSize;
    public IReadOnlyList<string>? OutputLabels { get; }
    /// <summary>Global average pooling: any image size works.</summary>
    public bool TakesAnySize => true;
    /// <summary>Width of the pooled features: 512 with basic blocks, 2048 with bottleneck blocks.</summary>
    public int FeatureSize => Bottleneck ? 2048 : 512;

    /// <param name="blocks">Blocks per stage, four stages: [2, 2, 2, 2] is resnet18, [3, 4, 6, 3] resnet34 (or resnet50 with bottleneck blocks).</param>
    /// <param name="classes">Classes of the fc head, or null for features only (no fc).</param>
    /// <param name="preprocessing">What the model does to pixels in [0, 1] before conv1.</param>
    /// <param name="labels">Class names (as many as <paramref name="classes"/>), or null.</param>
    /// <param name="meanImage">
    /// For <see cref="ResNetPreprocessing.CntkBgr"/> only: the mean to subtract, BGR on the 0..255 scale, [3, h, w] or
    /// [1, 3, h, w]; resized bilinearly when the input has another size. Null: the three channel constants.
    /// </param>
    /// <param name="bottleneck">Bottleneck blocks (resnet50, resnet101, resnet152) instead of basic blocks.</param>
    public ResNet(IReadOnlyList<int> blocks, int? classes, ResNetPreprocessing preprocessing = ResNetPreprocessing.ImageNetRgb,
                  IReadOnlyList<string>? labels = null, Tensor? meanImage = null, bool bottleneck = false) : base(nameof(ResNet))
    {
        if (blocks.Count != 4 || blocks.Any(b => b < 1))
            throw new ArgumentException($"A ResNet has four stages of at least one block each, not [{string.Join(", ", blocks)}].", nameof(blocks));
        if (classes is < 1) throw new ArgumentException($"A ResNet classifier needs at least one class, not {classes}.", nameof(classes));
        if (labels is not null && labels.Count != classes)
            throw new ArgumentException($"{labels.Count} labels for {(classes is null ? "a features-only model" : $"{classes} classes")}.", nameof(labels));
        if (meanImage is not null && preprocessing != ResNetPreprocessing.CntkBgr)
            throw new ArgumentException("A mean image belongs to the CNTK preprocessing.", nameof(meanImage));
        Blocks = blocks.ToArray();
        Bottleneck = bottleneck;
        Classes = classes;
        OutputLabels = labels;
        Preprocessing = preprocessing;

        conv1 = Conv2d(3, 64, kernel_size: 7, stride: 2, padding: 3, bias: false);
        bn1 = BatchNorm2d(64);
        var expansion = bottleneck ? 4 : 1;
        layer1 = Stage(64, 64, blocks[0], stride: 1, bottleneck);
        layer2 = Stage(64 * expansion, 128, blocks[1], stride: 2, bottleneck);
        layer3 = Stage(128 * expansion, 256, blocks[2], stride: 2, bottleneck);
        layer4 = Stage(256 * expansion, 512, blocks[3], stride: 2, bottleneck);
        if (classes is int n) fc = Linear(FeatureSize, n);

        var (mean, std) = preprocessing switch
        {
            ResNetPreprocessing.ImageNetRgb => (tensor(new[] { 0.485f, 0.456f, 0.406f }).reshape(1, 3, 1, 1),
                                                tensor(new[] { 0.229f, 0.224f, 0.225f }).reshape(1, 3, 1, 1)),
            ResNetPreprocessing.CntkBgr => (MeanImageBuffer(meanImage), ones(1, 3, 1, 1)),
            _ => throw new ArgumentOutOfRangeException(nameof(preprocessing)),
        };
        constants = new PreprocessingConstants(mean.DetachFromDisposeScope(), std.DetachFromDisposeScope());
        RegisterComponents();

        // torchvision's initialisation, so that a model trained here from scratch starts like torchvision's.
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            if (module is not Conv2d conv) continue;
            Runtime.Cancellation.ThrowIfRequested();   // a ResNet-152's initialisation takes seconds: a cancelled load stops here too
            init.kaiming_normal_(conv.weight, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
        }
    }

    /// <summary>
    /// A stage's blocks in order, as a <c>Sequential</c> runs them, with a cancellation check before each: a batch
    /// through a deep ResNet takes seconds on a CPU, and a cancelled cell should not wait for it.
    /// </summary>
    private static Tensor RunBlocks(Sequential stage, Tensor x)
    {
        foreach (var block in stage.children())
        {
            Runtime.Cancellation.ThrowIfRequested();
            x = ((Module<Tensor, Tensor>)block).forward(x);
        }
        return x;
    }

    /// <summary>A stage of blocks; <paramref name="width"/> is the 3x3 width (a bottleneck's output is 4 times it).</summary>
    private static Sequential Stage(int inChannels, int width, int count, int stride, bool bottleneck) =>
        Sequential(Runtime.Cancellation.Build(count, i => bottleneck
                ? (Module<Tensor, Tensor>)new ResNetBottleneckBlock(i == 0 ? inChannels : 4 * width, width, i == 0 ? stride : 1)
                : new ResNetBasicBlock(i == 0 ? inChannels : width, width, i == 0 ? stride : 1))
            .Select((block, i) => (i.ToString(), block)).ToArray());

    private static Tensor MeanImageBuffer(Tensor? meanImage)
    {
        if (meanImage is null) return tensor(CntkChannelMeansBgr).reshape(1, 3, 1, 1);
        var m = meanImage.dim() == 3 ? meanImage.unsqueeze(0) : meanImage;
        if (m.dim() != 4 || m.shape[0] != 1 || m.shape[1] != 3)
            throw new ArgumentException($"A mean image is [3, h, w] or [1, 3, h, w], not [{string.Join(", ", meanImage.shape)}].", nameof(meanImage));
        return m.detach().to(float32).clone();
    }

    /// <summary>The CNTK ResNet's channel means, BGR on the 0..255 scale (the channel averages of ResNetPreprocess.onnx's mean image).</summary>
    public static readonly float[] CntkChannelMeansBgr = [103.0626f, 115.9029f, 123.1516f];

    /// <summary>The model's own preprocessing: RGB pixels in [0, 1], [B, 3, H, W] -> what conv1 sees, [B, 3, H, W].</summary>
    public Tensor Preprocess(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"A ResNet takes RGB images [batch, 3, height, width], not [{string.Join(", ", images.shape)}].", nameof(images));
        using var scope = NewDisposeScope();
        var c = ConstantsFor(images);
        Tensor x;
        if (Preprocessing == ResNetPreprocessing.ImageNetRgb)
        {
            x = (images - c.Mean) / c.Std;
        }
        else
        {
            var mean = c.Mean;
            if (mean.shape[2] > 1 && (mean.shape[2] != images.shape[2] || mean.shape[3] != images.shape[3]))
            {
                mean = functional.interpolate(mean, size: [images.shape[2], images.shape[3]], mode: InterpolationMode.Bilinear, align_corners: false);
            }
            x = (images * 255).flip(1) - mean; // RGB -> BGR, then minus the BGR mean
        }
        return x.MoveToOuterDisposeScope();
    }

    private PreprocessingConstants ConstantsFor(Tensor images)
    {
        if (constantsOnDevice is { } cached && cached.Fits(images)) return cached;
        if (constantsOnDevice is not null && !ReferenceEquals(constantsOnDevice, constants)) constantsOnDevice.Dispose();
        return constantsOnDevice = constants.Fits(images) ? constants : constants.To(images);
    }

    /// <summary>The pooled features, [B, 3, H, W] -> [B, FeatureSize] (512, or 2048 with bottlenecks), whether or not the model has an fc head.</summary>
    public Tensor Features(Tensor images)
    {
        using var scope = NewDisposeScope();
        var x = Preprocess(images);                                                   // [B, 3, H, W]
        x = functional.relu(bn1.forward(conv1.forward(x)));                           // [B, 64, H/2, W/2]
        x = functional.max_pool2d(x, kernel_size: 3, stride: 2, padding: 1);          // [B, 64, H/4, W/4]
        x = RunBlocks(layer1, x);                                                        // [B, 64 e, H/4, W/4] (e = 4 with bottlenecks)
        x = RunBlocks(layer2, x);                                                        // [B, 128 e, H/8, W/8]
        x = RunBlocks(layer3, x);                                                        // [B, 256 e, H/16, W/16]
        x = RunBlocks(layer4, x);                                                        // [B, 512 e, H/32, W/32]
        x = functional.adaptive_avg_pool2d(x, 1).flatten(1);                          // [B, FeatureSize]
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>[B, 3, H, W] pixels in [0, 1] -> [B, classes] logits, or [B, 512] features without an fc head.</summary>
    public override Tensor forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        var features = Features(images);                                              // [B, FeatureSize]
        var output = fc is null ? features : fc.forward(features);                    // [B, classes]
        return output.MoveToOuterDisposeScope();
    }

    public Tensor Forward(Tensor images) => forward(images);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (constantsOnDevice is not null && !ReferenceEquals(constantsOnDevice, constants)) constantsOnDevice.Dispose();
            constants.Dispose();
        }
        base.Dispose(disposing);
    }
}
