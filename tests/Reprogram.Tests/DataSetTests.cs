using System.Buffers.Binary;
using System.IO.Compression;
using Reprogram.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Reprogram.Tests;

public sealed class DataSetTests : IDisposable
{
    private readonly string temp = Directory.CreateTempSubdirectory("reprogram-data-tests-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    // ---- helpers -------------------------------------------------------------------------------------------------

    private static byte[] Idx(int magic, int[] dims, byte[] data)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        for (var i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    private static void WriteGz(string path, byte[] content)
    {
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.Fastest);
        gz.Write(content);
    }

    private static byte[] ReadGz(string path)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gz.CopyTo(memory);
        return memory.ToArray();
    }

    /// <summary>A tiny Fashion-MNIST-format folder: 3 images of 2 x 3 pixels, labels 9, 0, 4.</summary>
    private string TinyIdxFolder(string prefix = "train")
    {
        var folder = Directory.CreateDirectory(Path.Combine(temp, "idx")).FullName;
        var pixels = Enumerable.Range(0, 3 * 2 * 3).Select(i => (byte)(i * 15)).ToArray(); // 0, 15, ..., 255
        WriteGz(Path.Combine(folder, $"{prefix}-images-idx3-ubyte.gz"), Idx(2051, [3, 2, 3], pixels));
        WriteGz(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte.gz"), Idx(2049, [3], [9, 0, 4]));
        return folder;
    }

    /// <summary>A digits-format CSV gz: <paramref name="rows"/> rows, row r has label r % 10 and pixel i = (r + i) % 17.</summary>
    private string TinyDigits(int rows)
    {
        var path = Path.Combine(temp, "digits.csv.gz");
        var lines = Enumerable.Range(0, rows).Select(r => string.Join(",", Enumerable.Range(0, 64).Select(i => (r + i) % 17).Append(r % 10)));
        WriteGz(path, System.Text.Encoding.ASCII.GetBytes(string.Join("\n", lines) + "\n"));
        return path;
    }

    /// <summary>A data set whose image i is filled with i / N (so a selection can be traced back), with the given class sizes.</summary>
    private static ImageDataset Synthetic(int[] classSizes, int channels = 1, int size = 4)
    {
        var labels = classSizes.SelectMany((n, c) => Enumerable.Repeat((long)c, n)).ToArray();
        var n = labels.Length;
        var images = arange(n, dtype: ScalarType.Float32).div(n).view(n, 1, 1, 1).expand(n, channels, size, size).contiguous();
        return new ImageDataset("synthetic", images, tensor(labels), classSizes.Select((_, c) => $"class {c}").ToArray(), "memory");
    }

    private static long[] LabelCounts(ImageDataset data) =>
        Enumerable.Range(0, data.ClassNames.Count).Select(c => data.Labels.eq(c).sum().item<long>()).ToArray();

    /// <summary>The original index of each example of a subset of <see cref="Synthetic"/> with <paramref name="n"/> examples.</summary>
    private static long[] Origins(ImageDataset data, int n) =>
        data.Images[.., 0, 0, 0].mul(n).round().to_type(ScalarType.Int64).data<long>().ToArray();

    // ---- Fashion-MNIST -------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(true, 60000)]
    [InlineData(false, 10000)]
    public void FashionMnist_loads_the_installed_files_or_says_how_to_install_them(bool train, int expected)
    {
        var folder = DataSets.DefaultFashionMnistFolder;
        var prefix = train ? "train" : "t10k";
        var labelsFile = Path.Combine(folder, $"{prefix}-labels-idx1-ubyte.gz");
        var imagesFile = Path.Combine(folder, $"{prefix}-images-idx3-ubyte.gz");
        if (!File.Exists(labelsFile) || !File.Exists(imagesFile))
        {
            // Not installed on this machine: the error must say how to get it.
            var missing = Assert.Throws<DataSetNotFoundException>(() => DataSets.FashionMnist(train: train));
            Assert.Contains("apt-get install dataset-fashion-mnist", missing.Message);
            return;
        }

        using var data = DataSets.FashionMnist(train: train);
        Assert.Equal([expected, 1, 28, 28], data.Images.shape);
        Assert.Equal([expected], data.Labels.shape);
        Assert.Equal(ScalarType.Float32, data.Images.dtype);
        Assert.Equal(ScalarType.Int64, data.Labels.dtype);
        Assert.Equal((expected, 1, 28), (data.Count, data.Channels, data.Size));
        Assert.Equal(DataSets.FashionMnistClasses, data.ClassNames);
        Assert.Equal("Ankle boot", data.ClassNames[9]);
        Assert.Equal(0, data.Labels.min().item<long>());
        Assert.Equal(9, data.Labels.max().item<long>());
        Assert.All(LabelCounts(data), count => Assert.Equal(expected / 10, count)); // Fashion-MNIST is exactly balanced
        Assert.Equal(0f, data.Images.min().item<float>());
        Assert.Equal(1f, data.Images.max().item<float>());

        // The first label and image against the raw file bytes (IDX: 8-byte label header, 16-byte image header).
        var labelBytes = ReadGz(labelsFile);
        Assert.Equal(labelBytes[8], data.Labels[0].item<long>());
        if (train) Assert.Equal(9, data.Labels[0].item<long>()); // the first training image is an ankle boot
        var imageBytes = ReadGz(imagesFile);
        var firstImage = data.Images[0].flatten().data<float>().ToArray();
        Assert.Equal(imageBytes.Skip(16).Take(784).Select(b => b / 255f), firstImage);
        var last = expected - 1;
        Assert.Equal(labelBytes[8 + last], data.Labels[last].item<long>());
    }

    [Fact]
    public void Tiny_idx_files_are_parsed_big_endian_and_scaled_to_0_1()
    {
        var folder = TinyIdxFolder();
        var (magic, dims, bytes) = DataSets.ReadIdx(Path.Combine(folder, "train-images-idx3-ubyte.gz"));
        Assert.Equal(2051, magic);
        Assert.Equal([3, 2, 3], dims);
        Assert.Equal(18, bytes.Length);

        using var data = DataSets.FashionMnist(folder, train: true);
        Assert.Equal([3, 1, 2, 3], data.Images.shape);
        Assert.Equal([9L, 0L, 4L], data.Labels.data<long>().ToArray());
        var expected = Enumerable.Range(0, 18).Select(i => i * 15 / 255f).ToArray();
        Assert.Equal(expected, data.Images.flatten().data<float>().ToArray());
        Assert.Equal(1f, data.Images[2, 0, 1, 2].item<float>()); // the last byte, 255, is pixel (row 1, column 2) of image 2
        Assert.Throws<InvalidOperationException>(() => data.Size); // 2 x 3 is not square

        // The test files of the same folder are missing.
        var missing = Assert.Throws<DataSetNotFoundException>(() => DataSets.FashionMnist(folder, train: false));
        Assert.Contains("t10k-images-idx3-ubyte.gz", missing.Message);
    }

    [Fact]
    public void Uncompressed_idx_files_are_read_too()
    {
        var folder = Directory.CreateDirectory(Path.Combine(temp, "raw")).FullName;
        File.WriteAllBytes(Path.Combine(folder, "t10k-images-idx3-ubyte"), Idx(2051, [2, 1, 1], [0, 51]));
        File.WriteAllBytes(Path.Combine(folder, "t10k-labels-idx1-ubyte"), Idx(2049, [2], [3, 7]));
        using var data = DataSets.FashionMnist(folder, train: false);
        Assert.Equal([0f, 0.2f], data.Images.flatten().data<float>().ToArray());
        Assert.Equal([3L, 7L], data.Labels.data<long>().ToArray());
    }

    [Fact]
    public void A_truncated_idx_file_is_reported_by_name()
    {
        var folder = TinyIdxFolder();
        var images = Path.Combine(folder, "train-images-idx3-ubyte.gz");
        var full = ReadGz(images);
        WriteGz(images, full[..^5]); // a valid gzip stream whose IDX data is 5 bytes short
        var e = Assert.Throws<InvalidDataException>(() => DataSets.FashionMnist(folder));
        Assert.Contains(images, e.Message);
        Assert.Contains("truncated", e.Message);

        // A gzip file cut in the middle (as an interrupted download leaves it).
        var labels = Path.Combine(folder, "train-labels-idx1-ubyte.gz");
        WriteGz(images, full);
        var compressed = File.ReadAllBytes(labels);
        File.WriteAllBytes(labels, compressed[..12]);
        var cut = Assert.Throws<InvalidDataException>(() => DataSets.FashionMnist(folder));
        Assert.Contains(labels, cut.Message);
    }

    [Fact]
    public void Swapped_or_foreign_idx_files_are_reported_by_name()
    {
        var folder = TinyIdxFolder();
        var images = Path.Combine(folder, "train-images-idx3-ubyte.gz");
        var labels = Path.Combine(folder, "train-labels-idx1-ubyte.gz");
        File.Copy(labels, images, overwrite: true); // a label file where the images should be
        var swapped = Assert.Throws<InvalidDataException>(() => DataSets.FashionMnist(folder));
        Assert.Contains(images, swapped.Message);
        Assert.Contains("2049", swapped.Message);

        File.WriteAllText(images, "<html>404 Not Found</html>"); // what a failed download often leaves
        var html = Assert.Throws<InvalidDataException>(() => DataSets.FashionMnist(folder));
        Assert.Contains(images, html.Message);
        Assert.Contains("not an IDX file", html.Message);

        WriteGz(images, Idx(2051, [2, 1, 1], [0, 1])); // 2 images but 3 labels
        var mismatch = Assert.Throws<InvalidDataException>(() => DataSets.FashionMnist(folder));
        Assert.Contains("2 images", mismatch.Message);
        Assert.Contains("3 labels", mismatch.Message);
    }

    [Fact]
    public void A_missing_fashion_mnist_folder_says_how_to_get_the_files()
    {
        var folder = Path.Combine(temp, "no-such-folder");
        var e = Assert.Throws<DataSetNotFoundException>(() => DataSets.FashionMnist(folder));
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains(folder, e.Message);
        Assert.Contains("train-labels-idx1-ubyte.gz", e.Message);
        Assert.Contains("github.com/zalandoresearch/fashion-mnist", e.Message);
        Assert.IsAssignableFrom<FileNotFoundException>(e);
    }

    // ---- digits --------------------------------------------------------------------------------------------------

    [Fact]
    public void Digits_are_read_from_a_csv_gz_and_scaled_by_16()
    {
        using var data = DataSets.Digits(TinyDigits(23));
        Assert.Equal([23, 1, 8, 8], data.Images.shape);
        Assert.Equal(DataSets.DigitsClasses, data.ClassNames);
        Assert.Equal(Enumerable.Range(0, 23).Select(r => (long)(r % 10)), data.Labels.data<long>().ToArray());
        // Row 5, pixel 20 (row 2, column 4 of the 8 x 8 image) is (5 + 20) % 17 = 8 -> 0.5.
        Assert.Equal(0.5f, data.Images[5, 0, 2, 4].item<float>());
        Assert.Equal(1f, data.Images[1, 0, 1, 7].item<float>()); // (1 + 15) % 17 = 16
        Assert.Equal(0f, data.Images.min().item<float>());
        Assert.Equal("digits", data.Name);
    }

    [Fact]
    public void Digits_load_the_installed_scikit_learn_file_or_say_how_to_install_it()
    {
        var located = DataSets.LocateDigits();
        if (located is null)
        {
            Assert.False(File.Exists(DataSets.DefaultDigitsPath));
            var e = Assert.Throws<DataSetNotFoundException>(() => DataSets.Digits());
            Assert.Contains("apt-get install python3-sklearn", e.Message);
            Assert.Contains("digits.csv.gz", e.Message);
            return;
        }
        using var data = DataSets.Digits();
        Assert.Equal([1797, 1, 8, 8], data.Images.shape);
        Assert.Equal(0, data.Labels.min().item<long>());
        Assert.Equal(9, data.Labels.max().item<long>());
        Assert.Equal(0L, data.Labels[0].item<long>()); // scikit-learn's first digit is a 0
        Assert.Equal(0f, data.Images.min().item<float>());
        Assert.Equal(1f, data.Images.max().item<float>());
        Assert.Equal(5 / 16f, data.Images[0, 0, 0, 2].item<float>()); // first row: 0,0,5,13,...
        Assert.All(LabelCounts(data), count => Assert.InRange(count, 170, 190));
    }

    [Fact]
    public void A_missing_or_malformed_digits_file_is_reported()
    {
        var missing = Path.Combine(temp, "nowhere", "digits.csv.gz");
        var e = Assert.Throws<DataSetNotFoundException>(() => DataSets.Digits(missing));
        Assert.Contains("apt-get install python3-sklearn", e.Message);
        Assert.Contains(missing, e.Message);

        var path = Path.Combine(temp, "bad.csv");
        File.WriteAllText(path, string.Join(",", Enumerable.Repeat("0", 65)) + "\n" + string.Join(",", Enumerable.Repeat("0", 64).Append("12")) + "\n");
        var label = Assert.Throws<InvalidDataException>(() => DataSets.Digits(path));
        Assert.Contains(path, label.Message);
        Assert.Contains("line 2", label.Message);

        File.WriteAllText(path, "1,2,3\n");
        var shortRow = Assert.Throws<InvalidDataException>(() => DataSets.Digits(path));
        Assert.Contains("line 1", shortRow.Message);
        Assert.Contains("65", shortRow.Message);
    }

    // ---- image folders -------------------------------------------------------------------------------------------

    /// <summary>"zebra" (created first, 3 red PNGs of 10 x 6) and "apple" (2 blue JPEGs of 20 x 20), plus a stray text file.</summary>
    private string TwoClassFolder()
    {
        var root = Path.Combine(temp, "folder");
        var zebra = Directory.CreateDirectory(Path.Combine(root, "zebra")).FullName;
        var apple = Directory.CreateDirectory(Path.Combine(root, "apple")).FullName;
        for (var i = 0; i < 3; i++)
        {
            using var red = new Image<Rgb24>(10, 6, new Rgb24(255, 0, 0));
            red.SaveAsPng(Path.Combine(zebra, $"z{i}.png"));
        }
        for (var i = 0; i < 2; i++)
        {
            using var blue = new Image<Rgb24>(20, 20, new Rgb24(0, 0, 255));
            blue.SaveAsJpeg(Path.Combine(apple, $"a{i}.JPG"), new JpegEncoder { Quality = 95 });
        }
        File.WriteAllText(Path.Combine(apple, "notes.txt"), "not an image");
        return root;
    }

    [Fact]
    public void An_image_folder_gives_labels_in_sorted_folder_order_at_the_requested_size()
    {
        var root = TwoClassFolder();
        using var data = DataSets.ImageFolder(root, 8);
        Assert.Equal(["apple", "zebra"], data.ClassNames);
        Assert.Equal([5, 3, 8, 8], data.Images.shape);
        Assert.Equal([0L, 0L, 1L, 1L, 1L], data.Labels.data<long>().ToArray());
        Assert.Equal("folder", data.Name);
        // apple = blue JPEGs (lossy: close), zebra = red PNGs (exact up to resampling).
        var mean = data.Images.mean([2, 3]); // [N, 3]
        for (var n = 0; n < 2; n++)
        {
            Assert.InRange(mean[n, 0].item<float>(), 0f, 0.05f);
            Assert.InRange(mean[n, 2].item<float>(), 0.95f, 1f);
        }
        for (var n = 2; n < 5; n++)
        {
            Assert.InRange(mean[n, 0].item<float>(), 0.99f, 1f);
            Assert.InRange(mean[n, 2].item<float>(), 0f, 0.01f);
        }
        Assert.InRange(data.Images.min().item<float>(), 0f, 1f);
        Assert.InRange(data.Images.max().item<float>(), 0f, 1f);

        using var grey = DataSets.ImageFolder(root, 5, channels: 1);
        Assert.Equal([5, 1, 5, 5], grey.Images.shape);
        Assert.InRange(grey.Images[4].mean().item<float>(), 0.29f, 0.31f); // red -> 0.299
        Assert.InRange(grey.Images[0].mean().item<float>(), 0.09f, 0.14f); // blue -> 0.114
    }

    [Fact]
    public void Image_folder_problems_name_the_folder_or_file()
    {
        var root = TwoClassFolder();
        var empty = Directory.CreateDirectory(Path.Combine(root, "middle")).FullName;
        File.WriteAllText(Path.Combine(empty, "readme.md"), "no images here");
        var e = Assert.Throws<InvalidDataException>(() => DataSets.ImageFolder(root, 8));
        Assert.Contains(empty, e.Message);
        Directory.Delete(empty, recursive: true);

        var broken = Path.Combine(root, "zebra", "z9.png");
        File.WriteAllText(broken, "this is not a PNG");
        var unreadable = Assert.Throws<InvalidDataException>(() => DataSets.ImageFolder(root, 8));
        Assert.Contains(broken, unreadable.Message);

        var flat = Directory.CreateDirectory(Path.Combine(temp, "flat")).FullName;
        using (var image = new Image<Rgb24>(4, 4)) image.SaveAsPng(Path.Combine(flat, "loose.png"));
        var noClasses = Assert.Throws<InvalidDataException>(() => DataSets.ImageFolder(flat, 8));
        Assert.Contains("no sub-folders", noClasses.Message);

        Assert.Throws<DataSetNotFoundException>(() => DataSets.ImageFolder(Path.Combine(temp, "absent"), 8));
    }

    // ---- Load ----------------------------------------------------------------------------------------------------

    [Fact]
    public void Load_dispatches_by_name_or_folder_and_lists_the_allowed_names()
    {
        Assert.Equal(["fashion-mnist", "digits"], DataSets.Names);
        using (var digits = DataSets.Load("digits", 16, location: TinyDigits(12)))
        {
            Assert.Equal([12, 1, 16, 16], digits.Images.shape);
            Assert.Equal("digits", digits.Name);
        }
        using (var fashion = DataSets.Load("Fashion_MNIST", channels: 3, location: TinyIdxFolder()))
        {
            Assert.Equal([3, 3, 2, 3], fashion.Images.shape);
        }
        using (var folder = DataSets.Load(TwoClassFolder(), 6, channels: 1))
        {
            Assert.Equal([5, 1, 6, 6], folder.Images.shape);
        }
        var unknown = Assert.Throws<ArgumentException>(() => DataSets.Load("cifar-10"));
        Assert.Contains("fashion-mnist", unknown.Message);
        Assert.Contains("digits", unknown.Message);
        Assert.Contains("folder", unknown.Message);
        Assert.Throws<ArgumentException>(() => DataSets.Load("digits", train: false, location: TinyDigits(3)));
        Assert.Throws<ArgumentException>(() => DataSets.Load(temp)); // a folder without a size
    }

    // ---- ImageDataset --------------------------------------------------------------------------------------------

    [Fact]
    public void Subset_is_class_balanced_and_deterministic()
    {
        using var data = Synthetic([50, 30, 5]);
        using var balanced = data.Subset(12, seed: 1);
        Assert.Equal([4L, 4L, 4L], LabelCounts(balanced));

        using var uneven = data.Subset(13, seed: 1);
        Assert.Equal(13, LabelCounts(uneven).Sum());
        Assert.InRange(LabelCounts(uneven).Max() - LabelCounts(uneven).Min(), 0, 1);

        using var scarce = data.Subset(30, seed: 1); // class 2 has only 5: the others share its remainder
        var counts = LabelCounts(scarce);
        Assert.Equal(5, counts[2]);
        Assert.InRange(counts[0], 12, 13);
        Assert.InRange(counts[1], 12, 13);

        using var again = data.Subset(30, seed: 1);
        using var other = data.Subset(30, seed: 2);
        var origins = Origins(scarce, 85);
        Assert.Equal(origins, Origins(again, 85));
        Assert.NotEqual(origins, Origins(other, 85));
        Assert.Equal(origins.Length, origins.Distinct().Count()); // without replacement
        // Labels still belong to their images.
        var labels = scarce.Labels.data<long>().ToArray();
        Assert.All(origins.Zip(labels), p => Assert.Equal(p.First < 50 ? 0 : p.First < 80 ? 1 : 2, p.Second));

        using var all = data.Subset(85, seed: 3);
        Assert.Equal(Enumerable.Range(0, 85).Select(i => (long)i), Origins(all, 85).Order());
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Subset(86, seed: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Subset(0, seed: 0));
    }

    [Fact]
    public void Split_is_stratified_disjoint_and_deterministic()
    {
        using var data = Synthetic([40, 20, 10]);
        var (train, test) = data.Split(0.2, seed: 7);
        using (train)
        using (test)
        {
            Assert.Equal((56, 14), (train.Count, test.Count));
            Assert.Equal([8L, 4L, 2L], LabelCounts(test));
            var trainOrigins = Origins(train, 70);
            var testOrigins = Origins(test, 70);
            Assert.Empty(trainOrigins.Intersect(testOrigins));
            Assert.Equal(70, trainOrigins.Union(testOrigins).Count());
            var (train2, test2) = data.Split(0.2, seed: 7);
            using (train2)
            using (test2)
            {
                Assert.Equal(testOrigins, Origins(test2, 70));
            }
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Split(1.0, seed: 0));
    }

    [Fact]
    public void Resize_changes_the_size_and_keeps_the_range_and_labels()
    {
        using var data = Synthetic([3, 2], channels: 1, size: 28);
        using var big = data.Resize(56);
        Assert.Equal([5, 1, 56, 56], big.Images.shape);
        Assert.Equal(data.Labels.data<long>().ToArray(), big.Labels.data<long>().ToArray());
        // Uniform images stay uniform, at the same value.
        Assert.True(big.Images.amax([1, 2, 3]).sub(data.Images.amax([1, 2, 3])).abs().max().item<float>() < 1e-6f);

        // Shrinking averages (antialiasing): a single bright pixel in a corner still shows after 28 -> 7.
        var dotImages = zeros(1, 1, 28, 28);
        dotImages[0, 0, 0, 0] = tensor(1f);
        using var dot = new ImageDataset("dot", dotImages, tensor(new long[] { 0 }), ["only"], "memory");
        using var small = dot.Resize(7);
        Assert.Equal([1, 1, 7, 7], small.Images.shape);
        Assert.True(small.Images[0, 0, 0, 0].item<float>() > 0.01f, "the corner pixel vanished: no antialiasing");
        Assert.InRange(small.Images.min().item<float>(), 0f, 1f);
        Assert.InRange(small.Images.max().item<float>(), 0f, 1f);

        // Independent tensors: disposing the copy leaves the original usable.
        using (var same = data.Resize(28)) Assert.Equal([5, 1, 28, 28], same.Images.shape);
        Assert.Equal(5, data.Images.shape[0]);
        Assert.Equal(0.2f, data.Images[1, 0, 3, 3].item<float>(), 1e-6f);
    }

    [Fact]
    public void ToChannels_repeats_grey_and_takes_the_luminance_of_rgb()
    {
        using var grey = Synthetic([2, 2], channels: 1, size: 3);
        using var rgb = grey.ToChannels(3);
        Assert.Equal([4, 3, 3, 3], rgb.Images.shape);
        Assert.True(rgb.Images[.., 0].equal(grey.Images[.., 0]).all().item<bool>());
        Assert.True(rgb.Images[.., 2].equal(grey.Images[.., 0]).all().item<bool>());

        var pixels = zeros(1, 3, 2, 2);
        pixels[0, 0] = tensor(1f); // pure red
        pixels[0, 1, 1, 1] = tensor(1f); // one yellow pixel
        using var colour = new ImageDataset("colour", pixels, tensor(new long[] { 0 }), ["only"], "memory");
        using var luminance = colour.ToChannels(1);
        Assert.Equal([1, 1, 2, 2], luminance.Images.shape);
        Assert.Equal(0.299f, luminance.Images[0, 0, 0, 0].item<float>(), 1e-6f);
        Assert.Equal(0.886f, luminance.Images[0, 0, 1, 1].item<float>(), 1e-6f);
        using var back = luminance.ToChannels(3);
        Assert.Equal([1, 3, 2, 2], back.Images.shape);
        Assert.Throws<ArgumentOutOfRangeException>(() => colour.ToChannels(2));
    }

    [Fact]
    public void The_constructor_checks_shapes_types_and_label_range_and_Dispose_frees_the_tensors()
    {
        Assert.Throws<ArgumentException>(() => new ImageDataset("x", zeros(2, 1, 4, 4), zeros(3, dtype: ScalarType.Int64), ["a"], "m"));
        Assert.Throws<ArgumentException>(() => new ImageDataset("x", zeros(2, 4, 4), zeros(2, dtype: ScalarType.Int64), ["a"], "m"));
        Assert.Throws<ArgumentException>(() => new ImageDataset("x", zeros(2, 1, 4, 4, dtype: ScalarType.Float64), zeros(2, dtype: ScalarType.Int64), ["a"], "m"));
        Assert.Throws<ArgumentException>(() => new ImageDataset("x", zeros(2, 1, 4, 4), zeros(2, dtype: ScalarType.Int32), ["a"], "m"));
        Assert.Throws<ArgumentException>(() => new ImageDataset("x", zeros(2, 1, 4, 4), tensor(new long[] { 0, 2 }), ["a", "b"], "m"));

        var data = Synthetic([1, 1]);
        var images = data.Images;
        data.Dispose();
        Assert.True(images.IsInvalid);
        data.Dispose(); // twice is harmless
    }
}
