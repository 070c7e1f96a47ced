using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Data;

/// <summary>
/// A labelled image classification data set held in memory on the CPU: <see cref="Images"/> [N, C, H, W] float32 in
/// [0, 1] and <see cref="Labels"/> [N] int64 in [0, <see cref="ClassNames"/>.Count), the shapes
/// the engine's image tasks consume (<c>ImageTaskSplit</c>).
/// </summary>
/// <remarks>
/// Ownership: a data set owns its two tensors and <see cref="Dispose"/> frees them. Every method that returns a data
/// set (<see cref="Subset"/>, <see cref="Resize"/>, <see cref="ToChannels"/>, <see cref="Split"/>) returns new tensors
/// that share no storage with this one, so the result and the original are disposed independently; the caller owns the
/// result. A <c>with</c> expression copies the tensor references, not the tensors: dispose only one of the two.
/// Tensors are created like any TorchSharp tensor: inside a caller's <c>NewDisposeScope()</c> they also belong to that
/// scope (and are freed when it ends).
/// </remarks>
/// <param name="Name">The data set's name, e.g. "fashion-mnist"; kept by subsets, splits and conversions.</param>
/// <param name="Images">[N, C, H, W] float32 in [0, 1], on the CPU.</param>
/// <param name="Labels">[N] int64 class indices into <paramref name="ClassNames"/>.</param>
/// <param name="ClassNames">The class names, in label order.</param>
/// <param name="Source">Where the data came from (a file or folder), for reports.</param>
public sealed record ImageDataset(string Name, Tensor Images, Tensor Labels, IReadOnlyList<string> ClassNames, string Source) : IDisposable
{
    /// <summary>ITU-R BT.601 luma weights (as PIL's <c>convert("L")</c> and torchvision's <c>rgb_to_grayscale</c>).</summary>
    private static readonly float[] Luma = [0.299f, 0.587f, 0.114f];

    public Tensor Images { get; init; } = CheckImages(Images);
    public Tensor Labels { get; init; } = CheckLabels(Labels, Images, ClassNames);

    /// <summary>The number of examples N.</summary>
    public int Count => (int)Images.shape[0];

    /// <summary>The number of channels C: 1 (grey) or 3 (RGB).</summary>
    public int Channels => (int)Images.shape[1];

    /// <summary>The side of the (square) images in pixels.</summary>
    public int Size => Images.shape[2] == Images.shape[3]
        ? (int)Images.shape[2]
        : throw new InvalidOperationException($"The images of {Name} are {Images.shape[2]} x {Images.shape[3]}, not square; use Resize first.");

    /// <summary>
    /// <paramref name="count"/> examples drawn without replacement, deterministically from <paramref name="seed"/>, and
    /// class-balanced when possible: the classes are taken in turn (in an order drawn from the seed), so class counts
    /// differ by at most one unless a class runs out, whose share then goes to the others. The result is shuffled.
    /// </summary>
    public ImageDataset Subset(int count, int seed) => Select(SubsetIndices(count, seed));

    /// <summary>The rows <see cref="Subset"/> takes, in its order (the same draw: a smaller count is not a prefix of a larger one).</summary>
    public long[] SubsetIndices(int count, int seed)
    {
        if (count < 1 || count > Count)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"{Name} has {Count} examples; a subset needs between 1 and {Count}.");
        var random = new Random(seed);
        var byClass = ShuffledIndicesByClass(random);
        var order = Enumerable.Range(0, byClass.Length).ToArray();
        random.Shuffle(order);
        var taken = new int[byClass.Length];
        var chosen = new List<long>(count);
        while (chosen.Count < count)
        {
            foreach (var c in order)
            {
                if (chosen.Count == count) break;
                if (taken[c] < byClass[c].Count) chosen.Add(byClass[c][taken[c]++]);
            }
        }
        var result = chosen.ToArray();
        random.Shuffle(result);
        return result;
    }

    /// <summary>
    /// A stratified split: each class gives about <paramref name="testFraction"/> of its examples to the test part
    /// (largest remainders, so the test part has round(N * fraction) examples, at least 1, and the train part at least
    /// 1). Deterministic from <paramref name="seed"/>; both parts are shuffled and disjoint.
    /// </summary>
    public (ImageDataset Train, ImageDataset Test) Split(double testFraction, int seed)
    {
        var (trainIndices, testIndices) = SplitIndices(testFraction, seed);
        var trainPart = Select(trainIndices);
        try
        {
            return (trainPart, Select(testIndices));
        }
        catch
        {
            trainPart.Dispose();
            throw;
        }
    }

    /// <summary>The rows of the two parts <see cref="Split"/> makes, in its order.</summary>
    public (long[] Train, long[] Test) SplitIndices(double testFraction, int seed)
    {
        if (!(testFraction > 0 && testFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "The test fraction must be between 0 and 1 (exclusive).");
        if (Count < 2) throw new InvalidOperationException($"{Name} has {Count} example(s); a split needs at least 2.");
        var random = new Random(seed);
        var byClass = ShuffledIndicesByClass(random);
        var testTotal = Math.Clamp((int)Math.Round(Count * testFraction), 1, Count - 1);
        // Largest-remainder apportionment of the test examples to the classes.
        var exact = byClass.Select(g => g.Count * (double)testTotal / Count).ToArray();
        var quota = exact.Select(e => (int)Math.Floor(e)).ToArray();
        foreach (var c in Enumerable.Range(0, byClass.Length).OrderByDescending(c => exact[c] - quota[c]).ThenBy(c => c).Take(testTotal - quota.Sum()))
            quota[c]++;
        var test = new List<long>(testTotal);
        var train = new List<long>(Count - testTotal);
        for (var c = 0; c < byClass.Length; c++)
        {
            test.AddRange(byClass[c].Take(quota[c]));
            train.AddRange(byClass[c].Skip(quota[c]));
        }
        var trainIndices = train.ToArray();
        var testIndices = test.ToArray();
        random.Shuffle(trainIndices);
        random.Shuffle(testIndices);
        return (trainIndices, testIndices);
    }

    /// <summary>
    /// The images resized to <paramref name="size"/> x <paramref name="size"/> with bilinear interpolation (antialiased,
    /// so that shrinking averages instead of skipping pixels), clamped to [0, 1]. Non-square images are stretched.
    /// </summary>
    public ImageDataset Resize(int size)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "The image size must be at least 1 pixel.");
        Tensor images;
        if (Images.shape[2] == size && Images.shape[3] == size)
        {
            images = Images.clone();
        }
        else
        {
            images = empty([Count, Channels, size, size], ScalarType.Float32);
            const int chunk = 512; // bounds the interpolation's temporary memory for large sets
            for (long i = 0; i < Count; i += chunk)
            {
                if (Runtime.Cancellation.Current.IsCancellationRequested)
                {
                    images.Dispose();
                    Runtime.Cancellation.ThrowIfRequested();
                }
                using var scope = NewDisposeScope();
                var n = Math.Min(chunk, Count - i);
                var resized = nn.functional.interpolate(Images.narrow(0, i, n), [size, size], mode: InterpolationMode.Bilinear,
                    align_corners: false, antialias: true);
                images.narrow(0, i, n).copy_(resized.clamp_(0, 1));
            }
        }
        return new ImageDataset(Name, images, Labels.clone(), ClassNames, Source);
    }

    /// <summary>Resized and converted to what a model takes, in one step (the intermediate copy is freed).</summary>
    public ImageDataset Fit(int size, int channels)
    {
        using var resized = Resize(size);
        return resized.ToChannels(channels);
    }

    /// <summary>
    /// The images with <paramref name="channels"/> channels: grey to RGB repeats the grey channel, RGB to grey takes the
    /// luminance 0.299 R + 0.587 G + 0.114 B. The same number of channels gives a copy.
    /// </summary>
    public ImageDataset ToChannels(int channels)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "Images have 1 (grey) or 3 (RGB) channels.");
        Tensor images;
        if (channels == Channels) images = Images.clone();
        else if (channels == 3 && Channels == 1) images = Images.repeat(1, 3, 1, 1);
        else if (channels == 1 && Channels == 3)
        {
            using var scope = NewDisposeScope();
            var weights = tensor(Luma).view(1, 3, 1, 1);
            images = Images.mul(weights).sum(1, keepdim: true).clamp_(0, 1).MoveToOuterDisposeScope();
        }
        else throw new InvalidOperationException($"Cannot convert {Channels}-channel images to {channels} channels.");
        return new ImageDataset(Name, images, Labels.clone(), ClassNames, Source);
    }

    /// <summary>Frees the two tensors. Safe to call more than once.</summary>
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }

    public override string ToString() =>
        $"{Name}: {Count} images {Channels} x {Images.shape[2]} x {Images.shape[3]}, {ClassNames.Count} classes ({Source})";

    private List<long>[] ShuffledIndicesByClass(Random random)
    {
        using var contiguousLabels = Labels.contiguous();
        var labels = contiguousLabels.data<long>().ToArray();
        var byClass = Enumerable.Range(0, ClassNames.Count).Select(_ => new List<long>()).ToArray();
        for (var i = 0; i < labels.Length; i++) byClass[labels[i]].Add(i);
        foreach (var group in byClass)
        {
            var array = group.ToArray();
            random.Shuffle(array);
            group.Clear();
            group.AddRange(array);
        }
        return byClass;
    }

    /// <summary>The rows at these indices, in this order (new tensors).</summary>
    public ImageDataset Select(long[] indices)
    {
        using var index = tensor(indices, ScalarType.Int64);
        var images = Images.index_select(0, index);
        var labels = Labels.index_select(0, index);
        return new ImageDataset(Name, images, labels, ClassNames, Source);
    }

    private static Tensor CheckImages(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4) throw new ArgumentException($"Images must be [N, C, H, W], not [{string.Join(", ", images.shape)}].", nameof(Images));
        if (images.dtype != ScalarType.Float32) throw new ArgumentException($"Images must be float32, not {images.dtype}.", nameof(Images));
        if (images.shape[1] is not (1 or 3)) throw new ArgumentException($"Images must have 1 or 3 channels, not {images.shape[1]}.", nameof(Images));
        if (images.device_type != DeviceType.CPU) throw new ArgumentException($"Images must be on the CPU, not {images.device}.", nameof(Images));
        return images;
    }

    private static Tensor CheckLabels(Tensor labels, Tensor images, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        if (classNames.Count < 1) throw new ArgumentException("A data set needs at least one class name.", nameof(ClassNames));
        if (labels.dim() != 1 || labels.shape[0] != images.shape[0])
            throw new ArgumentException($"Labels must be [{images.shape[0]}] (one per image), not [{string.Join(", ", labels.shape)}].", nameof(Labels));
        if (labels.dtype != ScalarType.Int64) throw new ArgumentException($"Labels must be int64, not {labels.dtype}.", nameof(Labels));
        if (labels.device_type != DeviceType.CPU) throw new ArgumentException($"Labels must be on the CPU, not {labels.device}.", nameof(Labels));
        if (labels.shape[0] > 0)
        {
            using var minimum = labels.min();
            using var maximum = labels.max();
            var (min, max) = (minimum.item<long>(), maximum.item<long>());
            if (min < 0 || max >= classNames.Count)
                throw new ArgumentException($"Labels must be in [0, {classNames.Count - 1}] for {classNames.Count} classes; found {min}..{max}.", nameof(Labels));
        }
        return labels;
    }
}
