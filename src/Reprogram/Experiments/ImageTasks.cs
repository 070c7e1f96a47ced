using Reprogram.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>
/// One seed's instance of an image task: the examples' images in one tensor (training rows first, then the test rows),
/// at the data set's own size; backbones fit them to what the model and the manipulation need. The pool is the training set.
/// </summary>
public sealed record ImageTaskSplit : TaskSplit, IDisposable
{
    public override TaskModality Modality => TaskModality.Image;
    /// <summary>Every example's image; <see cref="TaskExample.Row"/> indexes it.</summary>
    public required ImageDataset Images { get; init; }
    public void Dispose() => Images.Dispose();
}

/// <summary>
/// Image classification tasks: Fashion-MNIST (its own training and test files), the 8x8 digits and image folders (one
/// fixed stratified split, seed 0). The test part is the same for every seed and method; the seed draws the
/// class-balanced training examples.
/// </summary>
public static class ImageTasks
{
    /// <summary>The size images are kept at before a backbone fits them (a folder's images are resized once, to this).</summary>
    public const int FolderStorageSize = 128;

    public static ImageTaskSplit Load(string name, int seed, SplitSizes sizes)
    {
        sizes.Validate();
        var key = name.Trim().ToLowerInvariant();
        if (key is DataSets.FashionMnistName or "fashionmnist" or "fashion_mnist")
        {
            using var train = DataSets.FashionMnist(train: true);
            using var test = DataSets.FashionMnist(train: false);
            var trainRows = sizes.Train > 0 ? train.SubsetIndices(Math.Min(sizes.Train, train.Count), seed) : [];
            // The test part is fixed (seed 1, as the first tutorials drew it), so every seed and method meets the same images.
            var testRows = test.SubsetIndices(Math.Min(sizes.Test, test.Count), 1);
            return Build(DataSets.FashionMnistName, $"Fashion-MNIST ({DataSets.DefaultFashionMnistFolder})", train, trainRows, "train#", test, testRows, "test#", seed);
        }
        using var all = key == DataSets.DigitsName ? DataSets.Load(name, 28) : DataSets.Load(name, FolderStorageSize);
        var fraction = Math.Clamp(sizes.Test / (double)all.Count, 1.0 / all.Count, 0.5);
        var (rest, held) = all.SplitIndices(fraction, 0);
        var testPart = held.Take(sizes.Test).ToArray();
        long[] trainPart = [];
        if (sizes.Train > 0)
        {
            using var pool = all.Select(rest);
            trainPart = pool.SubsetIndices(Math.Min(sizes.Train, pool.Count), seed).Select(i => rest[i]).ToArray();
        }
        return Build(all.Name, all.Source, all, trainPart, "#", all, testPart, "#", seed);
    }

    /// <summary>
    /// A split from images of one's own [N, C, H, W] in [0, 1] and labels [N]: the first <paramref name="train"/> rows are
    /// the training examples (and the pool), the rest the test examples (none: a split only to train on). The split owns
    /// copies of the tensors.
    /// </summary>
    public static ImageTaskSplit FromTensors(string name, Tensor images, Tensor labels, IReadOnlyList<string> classes, int train, int seed = 0)
    {
        if (train < 0 || train > images.shape[0]) throw new ArgumentException($"{train} training rows of {images.shape[0]}.");
        var all = new ImageDataset(name, images, labels, classes, "tensors");   // not disposed: the tensors are the caller's
        var rows = Enumerable.Range(0, (int)images.shape[0]).Select(i => (long)i).ToArray();
        return Build(name, "tensors", all, rows[..train], "train#", all, rows[train..], "test#", seed);
    }

    private static ImageTaskSplit Build(string name, string source, ImageDataset trainSet, long[] trainRows, string trainTag,
                                        ImageDataset testSet, long[] testRows, string testTag, int seed)
    {
        var classes = testSet.ClassNames;
        using var trainPart = trainSet.Select(trainRows);
        using var testPart = testSet.Select(testRows);
        var images = new ImageDataset(name, cat([trainPart.Images, testPart.Images], 0), cat([trainPart.Labels, testPart.Labels], 0), classes, source);
        using var labels = images.Labels.cpu();
        var values = labels.data<long>().ToArray();
        var train = trainRows.Select((r, i) => new TaskExample($"image {name}/{trainTag}{r}", classes[(int)values[i]]) { Id = $"{name}/{trainTag}{r}", Row = i }).ToArray();
        var test = testRows.Select((r, i) => new TaskExample($"image {name}/{testTag}{r}", classes[(int)values[train.Length + i]]) { Id = $"{name}/{testTag}{r}", Row = train.Length + i }).ToArray();
        return new ImageTaskSplit
        {
            Name = name,
            Seed = seed,
            Description = $"{name} ({train.Length} train / {test.Length} test, {classes.Count} classes; {source})",
            Train = train,
            Pool = train,
            Queries = test,
            Labels = classes,
            Images = images,
        };
    }
}
