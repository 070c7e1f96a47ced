using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Reprogram.Models.Files;
using Reprogram.Models.Vision;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>
/// torch.save files (.pt/.pth/.bin, zip + pickle) are read as data: real ones from PyTorch read bit-identically; one
/// whose pickle runs a command under PyTorch's own loader (checked by the reference script) is refused and runs
/// nothing; whole pickled models, training checkpoints, the legacy format, storages that do not fit, missing entries
/// and zip bombs are refused, each naming the file.
/// </summary>
public sealed class TorchSaveHostileTests(ITestOutputHelper output, TorchSaveHostileTests.Pickles files) : IClassFixture<TorchSaveHostileTests.Pickles>
{
    /// <summary>The files reference_pickles.py writes, once per test class.</summary>
    public sealed class Pickles : IDisposable
    {
        public string Folder { get; } = Directory.CreateTempSubdirectory("reprogram-pickles-").FullName;
        public string Marker => Path.Combine(Folder, "pwned");

        public Pickles()
        {
            PythonReference.Script("reference_pickles.py", [Folder, Marker], TimeSpan.FromMinutes(3));
        }

        public string this[string name] => Path.Combine(Folder, name);

        public void Dispose() => Directory.Delete(Folder, recursive: true);
    }

    [Fact]
    public void A_real_torch_save_state_dict_reads_bit_identically_views_and_shared_storages_included()
    {
        using var scope = NewDisposeScope();
        var read = TorchSaveFile.Read(files["state.pth"]);
        var reference = SafetensorsFile.Read(files["state.safetensors"]);
        Assert.Equal(reference.Keys.Order(), read.Keys.Order());
        foreach (var (name, expected) in reference)
        {
            Assert.Equal(expected.dtype, read[name].dtype);
            Assert.Equal(expected.shape, read[name].shape);
            Assert.True(expected.eq(read[name]).all().item<bool>(), $"{name} differs");
        }
        Assert.Equal([1L, 6L], read["fc.weight"].stride());   // the transposed view keeps its strides
        Assert.Equal([6L, 7L, 8L, 9L], read["ids.tail"].data<long>().ToArray());
    }

    [Theory]
    [InlineData("evil.pth", "system")]
    [InlineData("evil-eval.pth", "eval")]
    public void A_pickle_that_runs_a_command_under_torch_load_is_refused_and_runs_nothing(string name, string callable)
    {
        Assert.False(File.Exists(files.Marker));
        var e = Assert.Throws<InvalidDataException>(() => TorchSaveFile.Read(files[name]));
        output.WriteLine(e.Message);
        Assert.StartsWith(files[name], e.Message);
        Assert.Contains(callable, e.Message);
        Assert.Contains("nothing in it was run", e.Message);
        // Through the model registry's path (a torchvision state dict file) too.
        Assert.Throws<InvalidDataException>(() => ResNetLoader.Load(files[name]));
        Assert.False(File.Exists(files.Marker), "the hostile pickle ran its command");
    }

    [Theory]
    [InlineData("model.pth", "a pickled torch.nn.modules.linear.Linear object")]
    [InlineData("checkpoint.pth", "save its 'state_dict' alone")]
    [InlineData("legacy.pth", "legacy torch.save format")]
    public void What_is_not_a_state_dict_is_refused_by_name(string name, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => ResNetLoader.ReadStateDict(files[name]));
        output.WriteLine(e.Message);
        Assert.Contains(files[name], e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Storages_that_do_not_fit_missing_entries_and_zip_bombs_are_refused()
    {
        var folder = Directory.CreateTempSubdirectory("reprogram-zips-").FullName;
        try
        {
            string Write(string name, byte[] zip)
            {
                var path = Path.Combine(folder, name);
                File.WriteAllBytes(path, zip);
                return path;
            }
            void Refused(string path, string expected)
            {
                var e = Assert.Throws<InvalidDataException>(() => TorchSaveFile.Read(path));
                output.WriteLine(e.Message);
                Assert.StartsWith(path, e.Message);
                Assert.Contains(expected, e.Message);
            }

            // The control: a well-formed hand-made file reads.
            var good = Write("good.pth", Zip(StateDictPickle(numel: 4, offset: 0, size: 4), new byte[16]));
            Assert.Equal([4L], TorchSaveFile.Read(good)["w"].shape);

            Refused(Write("past.pth", Zip(StateDictPickle(numel: 4, offset: 2, size: 4), new byte[16])), "reaches past its storage '0' of 4 elements");
            Refused(Write("short.pth", Zip(StateDictPickle(numel: 4, offset: 0, size: 4), new byte[12])), "holds 12 bytes, its pickle says 4 FloatStorage elements (16 bytes)");
            Refused(Write("nostorage.pth", Zip(StateDictPickle(numel: 4, offset: 0, size: 4), data: null)), "which the zip does not hold");
            Refused(Write("nopickle.pth", ZipOf(("archive/data/0", new byte[16]))), "has no data.pkl");
            Refused(Write("top-level-call.pth", Zip(OsSystemPickle("touch " + Path.Combine(folder, "pwned")), null)), "os.system");
            Assert.False(File.Exists(Path.Combine(folder, "pwned")));
            Refused(Write("truncated.pth", Zip(StateDictPickle(numel: 4, offset: 0, size: 4), new byte[16])[..60]), "not a readable zip");

            // 2 GiB declared by the zip's directory, 1 MiB of zeros actually compressed: refused before anything is allocated.
            const long declared = 1L << 31;
            var bomb = Zip(StateDictPickle(numel: (int)(declared / 4), offset: 0, size: (int)(declared / 4)), new byte[1 << 20]);
            PatchUncompressedSize(bomb, "archive/data/0", (uint)declared);
            Refused(Write("bomb.pth", bomb), "expands far beyond its size");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // ---- hand-made torch.save files --------------------------------------------------------------------------------

    private static byte[] Zip(byte[] pickle, byte[]? data) =>
        data is null ? ZipOf(("archive/data.pkl", pickle)) : ZipOf(("archive/data.pkl", pickle), ("archive/data/0", data));

    private static byte[] ZipOf(params (string Name, byte[] Bytes)[] entries)
    {
        using var memory = new MemoryStream();
        using (var archive = new ZipArchive(memory, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, bytes) in entries)
            {
                using var stream = archive.CreateEntry(name, CompressionLevel.Optimal).Open();
                stream.Write(bytes);
            }
        }
        return memory.ToArray();
    }

    /// <summary>Sets an entry's uncompressed size in its local header and the central directory (a zip that lies).</summary>
    private static void PatchUncompressedSize(byte[] zip, string entry, uint size)
    {
        var name = Encoding.ASCII.GetBytes(entry);
        for (var i = 0; i + 46 < zip.Length; i++)
        {
            if (zip[i] == 0x50 && zip[i + 1] == 0x4B && zip[i + 2] == 0x03 && zip[i + 3] == 0x04 && zip.AsSpan(i + 30, name.Length).SequenceEqual(name))
                BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(i + 22), size);
            if (zip[i] == 0x50 && zip[i + 1] == 0x4B && zip[i + 2] == 0x01 && zip[i + 3] == 0x02 && zip.AsSpan(i + 46, name.Length).SequenceEqual(name))
                BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(i + 24), size);
        }
    }

    private static void Unicode(List<byte> p, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        p.Add((byte)'X');
        p.AddRange(BitConverter.GetBytes(bytes.Length));
        p.AddRange(bytes);
    }

    private static void Int(List<byte> p, int value)
    {
        p.Add((byte)'J');
        p.AddRange(BitConverter.GetBytes(value));
    }

    private static void Global(List<byte> p, string module, string name) => p.AddRange(Encoding.ASCII.GetBytes($"c{module}\n{name}\n"));

    /// <summary>{"w": torch._utils._rebuild_tensor_v2(storage(FloatStorage, "0", numel), offset, (size,), (1,), False, OrderedDict())}, protocol 2.</summary>
    private static byte[] StateDictPickle(int numel, int offset, int size)
    {
        var p = new List<byte> { 0x80, 2, (byte)'}' };
        Unicode(p, "w");
        Global(p, "torch._utils", "_rebuild_tensor_v2");
        p.Add((byte)'(');
        p.Add((byte)'(');
        Unicode(p, "storage");
        Global(p, "torch", "FloatStorage");
        Unicode(p, "0");
        Unicode(p, "cpu");
        Int(p, numel);
        p.Add((byte)'t');
        p.Add((byte)'Q');          // BINPERSID
        Int(p, offset);
        Int(p, size);
        p.Add(0x85);               // TUPLE1
        Int(p, 1);
        p.Add(0x85);
        p.Add(0x89);               // NEWFALSE
        Global(p, "collections", "OrderedDict");
        p.Add((byte)')');
        p.Add((byte)'R');
        p.Add((byte)'t');
        p.Add((byte)'R');
        p.Add((byte)'s');          // SETITEM
        p.Add((byte)'.');
        return p.ToArray();
    }

    /// <summary>os.system(command) as the whole pickle: what PyTorch's loader would run.</summary>
    private static byte[] OsSystemPickle(string command)
    {
        var p = new List<byte> { 0x80, 2 };
        Global(p, "os", "system");
        Unicode(p, command);
        p.Add(0x85);
        p.Add((byte)'R');
        p.Add((byte)'.');
        return p.ToArray();
    }
}
