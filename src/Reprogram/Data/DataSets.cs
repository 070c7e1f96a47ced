using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using static TorchSharp.torch;

namespace Reprogram.Data;

/// <summary>A data set's files are not where they were looked for; the message says how to get them.</summary>
public sealed class DataSetNotFoundException(string message, string? fileName = null) : FileNotFoundException(message, fileName);

/// <summary>
/// Loaders for image classification data sets, each returning an <see cref="ImageDataset"/> (images [N, C, H, W]
/// float32 in [0, 1], labels [N] int64, on the CPU) that the caller owns and disposes. Missing files throw
/// <see cref="DataSetNotFoundException"/> saying how to get them; corrupt files throw <see cref="InvalidDataException"/>
/// naming the file.
/// </summary>
public static class DataSets
{
    public const string FashionMnistName = "fashion-mnist";
    public const string DigitsName = "digits";

    /// <summary>The built-in data sets <see cref="Load"/> accepts besides an image folder.</summary>
    public static IReadOnlyList<string> Names { get; } = [FashionMnistName, DigitsName];

    /// <summary>Where Debian's and Ubuntu's <c>dataset-fashion-mnist</c> package puts the files.</summary>
    public const string DefaultFashionMnistFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>Where Debian's and Ubuntu's <c>python3-sklearn</c> package puts scikit-learn's 8 x 8 digits.</summary>
    public const string DefaultDigitsPath = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";

    public static IReadOnlyList<string> FashionMnistClasses { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public static IReadOnlyList<string> DigitsClasses { get; } = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    /// <summary>The file extensions <see cref="ImageFolder"/> reads (case-insensitive); other files are ignored.</summary>
    public static IReadOnlyList<string> ImageExtensions { get; } = [".png", ".jpg", ".jpeg", ".bmp"];

    private const int IdxImagesMagic = 2051, IdxLabelsMagic = 2049;

    /// <summary>
    /// The largest image <see cref="ImageFolder"/> decodes: 64 megapixels (8192 x 8192; 192 MiB as 8-bit RGB while it
    /// is resized). Larger images are refused before decoding, from their header, naming the file: ImageSharp 2 cannot
    /// decode at a reduced size, so a 20,000 x 20,000 image would take 1.2 GB. A 48-megapixel photo still loads.
    /// </summary>
    public const long MaxImagePixels = 8192L * 8192;

    private static string FashionMnistHowToGet(string folder) =>
        $"Fashion-MNIST was not found in {folder}{(Directory.Exists(folder) ? "" : " (no such folder)")}. Install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; " +
        $"files in {DefaultFashionMnistFolder}), or download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, " +
        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from the Fashion-MNIST repository " +
        "(https://github.com/zalandoresearch/fashion-mnist, folder data/fashion) into a folder and pass that folder.";

    private static string DigitsHowToGet(string path) =>
        $"The 8 x 8 digits file was not found at {path}. Install it with `sudo apt-get install python3-sklearn` " +
        $"(Debian/Ubuntu; file {DefaultDigitsPath}), or pass the path of a digits.csv.gz " +
        "(scikit-learn's sklearn/datasets/data/digits.csv.gz: one row per image, 64 pixel values 0..16 then the label).";

    /// <summary>
    /// Fashion-MNIST (Xiao et al. 2017): 60,000 training or 10,000 test images, 1 x 28 x 28 grey, 10 clothing classes.
    /// Reads <c>train-*</c> or <c>t10k-*</c> IDX files, gzipped (<c>.gz</c>) or not, from <paramref name="folder"/>
    /// (default <see cref="DefaultFashionMnistFolder"/>).
    /// </summary>
    public static ImageDataset FashionMnist(string? folder = null, bool train = true)
    {
        folder ??= DefaultFashionMnistFolder;
        var prefix = train ? "train" : "t10k";
        var imagesPath = FindIdx(folder, $"{prefix}-images-idx3-ubyte");
        var labelsPath = FindIdx(folder, $"{prefix}-labels-idx1-ubyte");
        if (imagesPath is null || labelsPath is null)
        {
            var missing = string.Join(" and ", new[] { (imagesPath, "images"), (labelsPath, "labels") }
                .Where(p => p.Item1 is null).Select(p => $"{prefix}-{p.Item2}-idx{(p.Item2 == "images" ? 3 : 1)}-ubyte.gz"));
            throw new DataSetNotFoundException($"{FashionMnistHowToGet(folder)} (Missing: {missing}.)", Path.Combine(folder, $"{prefix}-images-idx3-ubyte.gz"));
        }

        var (imageMagic, imageDims, pixels) = ReadIdx(imagesPath);
        if (imageMagic != IdxImagesMagic || imageDims.Length != 3)
            throw new InvalidDataException($"{imagesPath} is not an IDX image file: magic number {imageMagic} with {imageDims.Length} dimensions (expected {IdxImagesMagic}, 3 dimensions).");
        var (labelMagic, labelDims, labelBytes) = ReadIdx(labelsPath);
        if (labelMagic != IdxLabelsMagic || labelDims.Length != 1)
            throw new InvalidDataException($"{labelsPath} is not an IDX label file: magic number {labelMagic} with {labelDims.Length} dimensions (expected {IdxLabelsMagic}, 1 dimension).");
        if (imageDims[0] != labelDims[0])
            throw new InvalidDataException($"{imagesPath} has {imageDims[0]} images but {labelsPath} has {labelDims[0]} labels.");
        var badLabel = Array.FindIndex(labelBytes, b => b >= FashionMnistClasses.Count);
        if (badLabel >= 0)
            throw new InvalidDataException($"{labelsPath}: label {labelBytes[badLabel]} at index {badLabel} is not a Fashion-MNIST class (0..9).");

        var images = ToImages(pixels, [imageDims[0], 1, imageDims[1], imageDims[2]], 255f);
        var labels = ToLabels(labelBytes);
        return new ImageDataset(FashionMnistName, images, labels, FashionMnistClasses, Path.GetFullPath(folder));
    }

    /// <summary>
    /// Reads an IDX file (gzipped or not: detected from the content) of unsigned bytes: returns the magic number
    /// (e.g. 2051 for images, 2049 for labels), the dimensions and the data. Throws <see cref="InvalidDataException"/>
    /// naming the file when it is not IDX, not unsigned bytes, or truncated.
    /// </summary>
    public static (int Magic, int[] Dimensions, byte[] Data) ReadIdx(string path)
    {
        if (!File.Exists(path)) throw new DataSetNotFoundException($"The IDX file {path} does not exist.", path);
        try
        {
            using var file = File.OpenRead(path);
            using var stream = IsGzip(file) ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
            Span<byte> header = stackalloc byte[4];
            if (ReadFully(stream, header) < 4)
                throw new InvalidDataException($"{path} is truncated: it ends inside the 4-byte IDX header.");
            var magic = BinaryPrimitives.ReadInt32BigEndian(header);
            if (header[0] != 0 || header[1] != 0)
                throw new InvalidDataException($"{path} is not an IDX file (magic number 0x{magic:X8}; IDX starts with two zero bytes).");
            if (header[2] != 0x08)
                throw new InvalidDataException($"{path} holds IDX type 0x{header[2]:X2}; only unsigned bytes (0x08) are supported.");
            var dims = new int[header[3]];
            if (dims.Length == 0) throw new InvalidDataException($"{path} declares 0 dimensions.");
            long length = 1;
            for (var i = 0; i < dims.Length; i++)
            {
                if (ReadFully(stream, header) < 4)
                    throw new InvalidDataException($"{path} is truncated: it ends inside the dimensions of its IDX header.");
                dims[i] = BinaryPrimitives.ReadInt32BigEndian(header);
                if (dims[i] < 0) throw new InvalidDataException($"{path} declares a negative dimension ({dims[i]}).");
                length *= dims[i];
                if (length > Array.MaxLength) throw new InvalidDataException($"{path} declares more data than fits in memory ({string.Join(" x ", dims)}).");
            }
            var data = new byte[length];
            var read = ReadFully(stream, data);
            if (read < length)
                throw new InvalidDataException($"{path} is truncated: its header declares {string.Join(" x ", dims)} = {length} bytes of data but only {read} follow.");
            return (magic, dims, data);
        }
        catch (Exception e) when (e is IOException and not FileNotFoundException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path} cannot be read: {e.Message} (is the file corrupt or truncated?)", e);
        }
        catch (InvalidDataException e) when (!e.Message.Contains(path))
        {
            // GZipStream's own errors (a damaged gzip stream) do not name the file.
            throw new InvalidDataException($"{path} is corrupt: {e.Message}", e);
        }
    }

    /// <summary>
    /// scikit-learn's 8 x 8 handwritten digits (from UCI optdigits): 1,797 images, 1 x 8 x 8 grey (values 0..16 scaled
    /// to [0, 1]), classes "0".."9". There is no separate test set: use <see cref="ImageDataset.Split"/>.
    /// Reads a <c>digits.csv.gz</c> (or an uncompressed .csv): per row 64 pixel values then the label.
    /// </summary>
    public static ImageDataset Digits(string? path = null)
    {
        path ??= LocateDigits() ?? DefaultDigitsPath;
        if (!File.Exists(path)) throw new DataSetNotFoundException(DigitsHowToGet(path), path);
        var pixels = new List<byte>(1797 * 64);
        var labels = new List<byte>(1797);
        try
        {
            using var file = File.OpenRead(path);
            using var stream = IsGzip(file) ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
            using var reader = new StreamReader(stream);
            var lineNumber = 0;
            while (reader.ReadLine() is { } line)
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                var fields = line.Split(',');
                if (fields.Length != 65)
                    throw new InvalidDataException($"{path}, line {lineNumber}: {fields.Length} values; a digits row has 65 (64 pixels, then the label).");
                for (var i = 0; i < 65; i++)
                {
                    if (!double.TryParse(fields[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value != Math.Floor(value)
                        || value < 0 || value > (i < 64 ? 16 : 9))
                        throw new InvalidDataException($"{path}, line {lineNumber}, value {i + 1}: '{fields[i].Trim()}' is not " +
                                                       (i < 64 ? "a pixel value (an integer 0..16)." : "a digit label (an integer 0..9)."));
                    if (i < 64) pixels.Add((byte)value);
                    else labels.Add((byte)value);
                }
            }
        }
        catch (Exception e) when (e is IOException and not FileNotFoundException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path} cannot be read: {e.Message} (is the file corrupt or truncated?)", e);
        }
        catch (InvalidDataException e) when (!e.Message.Contains(path))
        {
            throw new InvalidDataException($"{path} is corrupt: {e.Message}", e);
        }
        if (labels.Count == 0) throw new InvalidDataException($"{path} holds no digits rows.");

        var images = ToImages(pixels.ToArray(), [labels.Count, 1, 8, 8], 16f);
        return new ImageDataset(DigitsName, images, ToLabels(labels.ToArray()), DigitsClasses, Path.GetFullPath(path));
    }

    /// <summary>
    /// The digits file: <see cref="DefaultDigitsPath"/> if present, else a pip-installed scikit-learn's copy, else null.
    /// </summary>
    public static string? LocateDigits()
    {
        if (File.Exists(DefaultDigitsPath)) return DefaultDigitsPath;
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        foreach (var root in new[] { "/usr/local/lib", "/usr/lib", Path.Combine(home, ".local/lib") })
        {
            if (!Directory.Exists(root)) continue;
            foreach (var python in Directory.EnumerateDirectories(root, "python3*").Order(StringComparer.Ordinal))
            foreach (var packages in new[] { "dist-packages", "site-packages" })
            {
                var candidate = Path.Combine(python, packages, "sklearn/datasets/data/digits.csv.gz");
                if (File.Exists(candidate)) return candidate;
            }
        }
        return null;
    }

    /// <summary>
    /// Images in a folder with one sub-folder per class (like torchvision's ImageFolder): the class names are the
    /// sub-folders' names sorted ordinally, which is the label order. PNG, JPEG and BMP files are decoded with
    /// ImageSharp and resized (stretched, bicubic) to <paramref name="size"/> x <paramref name="size"/>; other files and
    /// hidden entries are ignored. <paramref name="channels"/>: 3 (RGB) or 1 (luminance 0.299 R + 0.587 G + 0.114 B).
    /// Grey, palette, 16-bit and CMYK/YCCK JPEG images are converted to RGB by ImageSharp. Refused with
    /// <see cref="InvalidDataException"/> naming the file or folder: a file that is not an image (whatever its extension),
    /// an image over <see cref="MaxImagePixels"/> (checked from its header, before decoding), an empty class folder, and
    /// a folder with one class only (nothing to classify).
    /// </summary>
    /// <param name="folder">The folder with one sub-folder per class.</param>
    /// <param name="size">The side every image is resized to, in pixels.</param>
    /// <param name="channels">1 (grey) or 3 (RGB).</param>
    /// <param name="minClasses">2 for a task to learn; 1 where a saved model is evaluated on images of some of its classes.</param>
    public static ImageDataset ImageFolder(string folder, int size, int channels = 3, int minClasses = 2)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "The image size must be at least 1 pixel.");
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "Images have 1 (grey) or 3 (RGB) channels.");
        if (!Directory.Exists(folder))
            throw new DataSetNotFoundException($"The image folder {folder} does not exist. An image folder holds one sub-folder per class, each with PNG, JPEG or BMP files.", folder);
        var classFolders = Directory.EnumerateDirectories(folder)
            .Where(d => !Path.GetFileName(d).StartsWith('.'))
            .Order(StringComparer.Ordinal).ToArray();
        if (classFolders.Length == 0)
            throw new InvalidDataException($"The image folder {Path.GetFullPath(folder)} has no sub-folders. It needs one sub-folder per class (the folder's name is the class name), each with PNG, JPEG or BMP files.");

        var files = new List<(string Path, int Label)>();
        for (var label = 0; label < classFolders.Length; label++)
        {
            var images = Directory.EnumerateFiles(classFolders[label])
                .Where(f => !Path.GetFileName(f).StartsWith('.') && ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal).ToArray();
            if (images.Length == 0)
                throw new InvalidDataException($"The class folder {Path.GetFullPath(classFolders[label])} has no images ({string.Join(", ", ImageExtensions)}); remove it or add images.");
            files.AddRange(images.Select(f => (f, label)));
        }
        if (classFolders.Length < minClasses)
        {
            throw new InvalidDataException($"The image folder {Path.GetFullPath(folder)} has one class ({Path.GetFileName(classFolders[0])}); " +
                                           "a classification task needs at least two class sub-folders.");
        }

        var pixels = DecodeImages(files.Select(f => f.Path).ToArray(), size, channels, $"The image folder {Path.GetFullPath(folder)}");

        var classes = classFolders.Select(Path.GetFileName).ToArray();
        var imagesTensor = tensor(pixels, [files.Count, channels, size, size]);
        var labels = tensor(files.Select(f => (long)f.Label).ToArray(), ScalarType.Int64);
        return new ImageDataset(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))), imagesTensor, labels,
            classes!, Path.GetFullPath(folder));
    }

    /// <summary>
    /// Image files decoded with ImageSharp, stretched to size x size, as [files, channels, size, size] pixels in [0, 1]
    /// (grey from RGB with the ITU-R 601 weights). Each file's header is read first: a file that is not an image, or one
    /// over <see cref="MaxImagePixels"/>, is refused by name before any pixel memory is taken. <paramref name="what"/>
    /// names the files for the message when they do not fit in one tensor.
    /// </summary>
    internal static float[] DecodeImages(IReadOnlyList<string> files, int size, int channels, string what)
    {
        var plane = size * size;
        var total = (long)files.Count * channels * plane;
        if (total > Array.MaxLength)
            throw new InvalidDataException($"{what} has {files.Count} images; at {size} x {size} px they do not fit in one tensor: use a smaller size or fewer images.");
        var pixels = new float[total];
        var rgb = new Rgb24[plane];
        for (var n = 0; n < files.Count; n++)
        {
            Runtime.Cancellation.ThrowIfRequested();
            var path = Path.GetFullPath(files[n]);
            try
            {
                // The header first: an image too large to decode is refused before any pixel memory is taken.
                var info = Image.Identify(path)
                           ?? throw new InvalidDataException($"The image {path} cannot be read: it is not a PNG, JPEG or BMP file (its extension says it is).");
                if ((long)info.Width * info.Height > MaxImagePixels || info.Width < 1 || info.Height < 1)
                {
                    throw new InvalidDataException($"The image {path} is {info.Width} x {info.Height} pixels, over the {MaxImagePixels / 1_000_000} megapixels " +
                                                   $"(8192 x 8192) this library decodes; downscale it first (it is resized to {size} x {size} anyway).");
                }
                using var image = Image.Load<Rgb24>(path);
                if (image.Width != size || image.Height != size) image.Mutate(x => x.Resize(size, size));
                image.CopyPixelDataTo(rgb);
            }
            catch (Exception e) when (e is ImageFormatException or NotSupportedException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new InvalidDataException($"The image {path} cannot be read: {e.Message}", e);
            }
            var offset = (long)n * channels * plane;
            for (var p = 0; p < plane; p++)
            {
                var (r, g, b) = (rgb[p].R / 255f, rgb[p].G / 255f, rgb[p].B / 255f);
                if (channels == 3)
                {
                    pixels[offset + p] = r;
                    pixels[offset + plane + p] = g;
                    pixels[offset + 2 * plane + p] = b;
                }
                else pixels[offset + p] = Math.Clamp(0.299f * r + 0.587f * g + 0.114f * b, 0f, 1f);
            }
        }
        return pixels;
    }

    /// <summary>
    /// Loads a data set by name: "fashion-mnist", "digits" (see <see cref="Names"/>), or the path of an image folder
    /// (see <see cref="ImageFolder"/>). <paramref name="size"/> resizes the images (required for a folder; default: the
    /// set's own size); <paramref name="channels"/> converts them (default: the set's own, 3 for a folder).
    /// <paramref name="train"/> picks Fashion-MNIST's training or test set; the other sets have one part only (use
    /// <see cref="ImageDataset.Split"/>). <paramref name="location"/> overrides where a built-in set's files are
    /// (Fashion-MNIST: a folder; digits: a file).
    /// </summary>
    public static ImageDataset Load(string name, int? size = null, int? channels = null, bool train = true, string? location = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (size is < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "The image size must be at least 1 pixel.");
        if (channels is not (null or 1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "Images have 1 (grey) or 3 (RGB) channels.");
        ImageDataset loaded;
        switch (name.Trim().ToLowerInvariant().Replace('_', '-'))
        {
            case FashionMnistName or "fashionmnist":
                loaded = FashionMnist(location, train);
                break;
            case DigitsName:
                if (!train)
                    throw new ArgumentException("The digits set has no separate test set: load it with train: true and use Split(testFraction, seed).", nameof(train));
                loaded = Digits(location);
                break;
            default:
                if (!Directory.Exists(name))
                    throw new ArgumentException($"'{name}' is neither a data set nor an existing folder. Allowed: {string.Join(", ", Names)}, " +
                                                "or the path of an image folder (one sub-folder per class, with PNG, JPEG or BMP files).", nameof(name));
                if (size is null) throw new ArgumentException($"Loading the image folder {name} needs a size (the images are resized to size x size).", nameof(size));
                if (!train) throw new ArgumentException("An image folder has no separate test set: load it with train: true and use Split(testFraction, seed).", nameof(train));
                return ImageFolder(name, size.Value, channels ?? 3);
        }
        return Convert(loaded, size, channels);
    }

    private static ImageDataset Convert(ImageDataset data, int? size, int? channels)
    {
        var result = data;
        try
        {
            if (size is { } s && (data.Images.shape[2] != s || data.Images.shape[3] != s))
            {
                var resized = result.Resize(s);
                result.Dispose();
                result = resized;
            }
            if (channels is { } c && c != result.Channels)
            {
                var converted = result.ToChannels(c);
                result.Dispose();
                result = converted;
            }
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    private static string? FindIdx(string folder, string name)
    {
        foreach (var candidate in new[] { name + ".gz", name })
        {
            var path = Path.Combine(folder, candidate);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    private static bool IsGzip(FileStream file)
    {
        Span<byte> magic = stackalloc byte[2];
        var read = ReadFully(file, magic);
        file.Position = 0;
        return read == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    }

    private static int ReadFully(Stream stream, Span<byte> buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = stream.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    /// <summary>Bytes [N * C * H * W] to a float32 tensor with the given shape, divided by <paramref name="scale"/>.</summary>
    private static Tensor ToImages(byte[] data, long[] shape, float scale)
    {
        using var bytes = tensor(data, shape, ScalarType.Byte);
        using var floats = bytes.to_type(ScalarType.Float32);
        return floats.div(scale);
    }

    private static Tensor ToLabels(byte[] data)
    {
        using var bytes = tensor(data, ScalarType.Byte);
        return bytes.to_type(ScalarType.Int64);
    }
}
