using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Reprogram.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>
/// Image folders with bad or unusual files: a non-image with an image extension is refused by name; a 20,000 x 20,000
/// image is refused from its header before it is decoded (decided: refuse above 64 megapixels; ImageSharp 2 cannot
/// decode at a reduced size); a 1 x 1 image, grey and 16-bit images and a CMYK JPEG load as RGB; a folder with one
/// class, or an empty class folder, is refused.
/// </summary>
public sealed class ImageFolderHostileTests(ITestOutputHelper output) : IDisposable
{
    private readonly string temp = Directory.CreateTempSubdirectory("reprogram-hostile-img-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    /// <summary>An 8 x 8 CMYK JPEG (Adobe APP14, C=0 M=255 Y=255 K=0: red), as Pillow 9.4 writes it.</summary>
    private const string CmykJpegBase64 =
        "/9j/7gAOQWRvYmUAZAAAAAAA/9sAQwACAQEBAQECAQEBAgICAgIEAwICAgIFBAQDBAYFBgYGBQYGBgcJCAYHCQcGBggLCAkKCgoKCgYICwwLCgwJCgoK/8AAFAgACAAIBEMRAE0RAFkRAEsRAP/EAB8AAAEFAQEBAQEBAAAAAAAAAAABAgMEBQYHCAkKC//EALUQAAIBAwMCBAMFBQQEAAABfQECAwAEEQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+v/aAA4EQwBNAFkASwAAPwD9/K/n/r+f+v38r//Z";

    private string Root(params string[] classes)
    {
        var root = Path.Combine(temp, Guid.NewGuid().ToString("N")[..8]);
        foreach (var c in classes)
        {
            Directory.CreateDirectory(Path.Combine(root, c));
            using var image = new Image<Rgb24>(4, 4, new Rgb24(10, 200, 30));
            image.SaveAsPng(Path.Combine(root, c, "ok.png"));
        }
        return root;
    }

    private InvalidDataException Refused(string root, params string[] expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => DataSets.ImageFolder(root, 8));
        output.WriteLine(e.Message);
        foreach (var phrase in expected) Assert.Contains(phrase, e.Message);
        return e;
    }

    [Theory]
    [InlineData("notes.png", "plain text")]
    [InlineData("random.jpg", "random")]
    [InlineData("empty.bmp", "")]
    [InlineData("truncated.png", "truncated")]
    public void A_file_that_is_not_an_image_but_has_an_image_extension_is_refused_by_name(string name, string content)
    {
        var root = Root("a", "b");
        var path = Path.Combine(root, "b", name);
        if (content == "random") File.WriteAllBytes(path, Enumerable.Range(0, 3000).Select(i => (byte)(i * 131 + 17)).ToArray());
        else if (content == "truncated")
        {
            using var image = new Image<Rgb24>(64, 64, new Rgb24(1, 2, 3));
            using var memory = new MemoryStream();
            image.SaveAsPng(memory);
            File.WriteAllBytes(path, memory.ToArray()[..40]);
        }
        else File.WriteAllText(path, content);
        Refused(root, $"The image {path} cannot be read");
    }

    [Fact]
    public void A_20000_by_20000_image_is_refused_from_its_header_without_allocating_gigabytes()
    {
        var root = Root("a", "b");
        var path = Path.Combine(root, "b", "huge.png");
        WriteBlankPng(path, 20_000, 20_000);
        output.WriteLine($"{new FileInfo(path).Length:N0} bytes on disk for 20,000 x 20,000 pixels (1.2 GB as 8-bit RGB)");
        var before = GC.GetTotalAllocatedBytes(precise: true);
        Refused(root, path, "20000 x 20000 pixels", "downscale it first");
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.True(allocated < 64_000_000, $"refusing it allocated {allocated:N0} managed bytes");
    }

    [Fact]
    public void Tiny_grey_16_bit_and_cmyk_images_load_as_rgb()
    {
        var root = Root("a", "b");
        using (var one = new Image<Rgb24>(1, 1, new Rgb24(255, 0, 0))) one.SaveAsPng(Path.Combine(root, "a", "one.png"));
        using (var grey = new Image<L8>(5, 3, new L8(128))) grey.SaveAsPng(Path.Combine(root, "a", "grey.png"));
        using (var deep = new Image<L16>(4, 4, new L16(65535))) deep.SaveAsPng(Path.Combine(root, "a", "deep.png"));
        File.WriteAllBytes(Path.Combine(root, "b", "cmyk.jpg"), Convert.FromBase64String(CmykJpegBase64));

        using var data = DataSets.ImageFolder(root, 8);
        // Sorted by name: a/deep, a/grey, a/ok, a/one, b/cmyk, b/ok.
        Assert.Equal([6L, 3L, 8L, 8L], data.Images.shape);
        float Mean(int n, int c) => data.Images[n, c].mean().item<float>();
        Assert.All(new[] { 0, 1, 2 }, c => Assert.InRange(Mean(0, c), 0.999f, 1f));                 // 16-bit white
        Assert.All(new[] { 0, 1, 2 }, c => Assert.InRange(Mean(1, c), 0.49f, 0.51f));                // grey 128 on every channel
        Assert.InRange(data.Images[3, 0].min().item<float>(), 0.999f, 1f);                            // the 1 x 1 red pixel, everywhere
        Assert.InRange(data.Images[3, 1].max().item<float>(), 0f, 0.001f);
        Assert.InRange(Mean(4, 0), 0.9f, 1f);                                                        // CMYK red
        Assert.InRange(Mean(4, 1), 0f, 0.1f);
        Assert.InRange(Mean(4, 2), 0f, 0.1f);
    }

    [Fact]
    public void A_folder_with_one_class_or_an_empty_class_folder_is_refused()
    {
        var one = Root("only");
        Refused(one, Path.GetFullPath(one), "one class (only)", "at least two");

        var empty = Root("a", "b");
        var hollow = Directory.CreateDirectory(Path.Combine(empty, "c")).FullName;
        Refused(empty, hollow, "has no images");

        // Through the loader a notebook uses.
        var e = Assert.Throws<InvalidDataException>(() => DataSets.Load(one, size: 8));
        Assert.Contains("one class", e.Message);
    }

    /// <summary>A valid 1-bit grey PNG of zeros: 20,000 x 20,000 pixels compress to about 50 KB.</summary>
    internal static void WriteBlankPng(string path, int width, int height)
    {
        using var file = File.Create(path);
        file.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 1;   // bit depth 1
        header[9] = 0;   // grey
        Chunk(file, "IHDR", header);
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            var row = new byte[1 + (width + 7) / 8];   // filter type 0, then the bits
            for (var y = 0; y < height; y++) zlib.Write(row);
        }
        Chunk(file, "IDAT", compressed.ToArray());
        Chunk(file, "IEND", []);
    }

    private static void Chunk(Stream stream, string type, byte[] data)
    {
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        stream.Write(length);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        stream.Write(typed);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        stream.Write(crc);
    }

    private static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }
}
