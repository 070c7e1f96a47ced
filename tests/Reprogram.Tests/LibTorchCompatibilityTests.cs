using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Reprogram.Runtime;
using Xunit;

namespace Reprogram.Tests;

/// <summary>
/// Works on copies (in a fresh temp folder) of TorchSharp 0.107.0's real libLibTorchSharp.so from the NuGet cache and
/// of this system's real libstdc++.so.6 (Debian 12: GCC 12, versions up to GLIBCXX_3.4.30).
/// </summary>
public sealed class LibTorchCompatibilityTests : IDisposable
{
    private const string Missing = "GLIBCXX_3.4.32";
    private readonly string folder;

    public LibTorchCompatibilityTests()
    {
        folder = Path.Combine(Path.GetTempPath(), "reprogram-elf-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
    }

    public void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>The unpatched library: the cache's `.orig` backup if something already repaired the cache.</summary>
    private static string PackagedLibrary()
    {
        var path = Path.Combine(LibTorchCompatibility.PackagesFolder(), "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        var backup = path + LibTorchCompatibility.BackupSuffix;
        var source = File.Exists(backup) ? backup : path;
        Assert.True(File.Exists(source), $"TorchSharp 0.107.0 is not in the NuGet cache: {source}");
        return source;
    }

    private string CopyLibrary(string name = "libLibTorchSharp.so")
    {
        var copy = Path.Combine(folder, name);
        File.Copy(PackagedLibrary(), copy);
        return copy;
    }

    private string CopySystemLibStdCxx()
    {
        var system = LibTorchCompatibility.FindSystemLibStdCxx();
        Assert.NotNull(system);
        var copy = Path.Combine(folder, "libstdc++.so.6");
        File.Copy(system!, copy);
        return copy;
    }

    [Fact]
    public void FindSystemLibStdCxx_finds_an_existing_libstdcxx()
    {
        var path = LibTorchCompatibility.FindSystemLibStdCxx();
        Assert.NotNull(path);
        Assert.True(File.Exists(path));
        Assert.StartsWith("libstdc++.so.6", Path.GetFileName(path));
    }

    [Fact]
    public void ReadVersionDefinitions_of_the_system_libstdcxx_stop_at_3_4_30()
    {
        var defined = LibTorchCompatibility.ReadVersionDefinitions(CopySystemLibStdCxx());
        Assert.Contains("GLIBCXX_3.4.30", defined);
        Assert.Contains("CXXABI_1.3.13", defined);
        Assert.DoesNotContain(Missing, defined);
        Assert.DoesNotContain("libstdc++.so.6", defined); // the base entry is not a version
    }

    [Fact]
    public void ReadVersionNeeds_lists_the_libstdcxx_requirements()
    {
        var needs = LibTorchCompatibility.ReadVersionNeeds(CopyLibrary());
        var fromLibStdCxx = needs.Where(n => n.Library == "libstdc++.so.6").ToList();
        Assert.Equal(20, fromLibStdCxx.Count);
        Assert.Contains(new VersionNeed("libstdc++.so.6", Missing, false), needs);
        Assert.Contains(new VersionNeed("libc.so.6", "GLIBC_2.34", false), needs);
        Assert.All(needs, n => Assert.False(n.IsWeak));
    }

    [Fact]
    public void Inspect_says_the_packaged_library_needs_the_patch()
    {
        var library = CopyLibrary();
        var status = LibTorchCompatibility.Inspect(library, CopySystemLibStdCxx());
        Assert.Equal(PatchState.NeedsPatch, status.State);
        Assert.Contains(Missing, status.MissingVersions);
        Assert.Contains(Missing, status.Detail);
        Assert.Equal(library, status.Path);
    }

    [Fact]
    public void Inspect_with_the_default_system_libstdcxx_needs_the_patch()
    {
        var status = LibTorchCompatibility.Inspect(CopyLibrary());
        Assert.Equal(PatchState.NeedsPatch, status.State);
        Assert.Equal(new[] { Missing }, status.MissingVersions);
    }

    [Fact]
    public void Repair_sets_only_the_weak_flag_of_the_missing_version_and_keeps_a_backup()
    {
        var library = CopyLibrary();
        var libStdCxx = CopySystemLibStdCxx();
        var before = File.ReadAllBytes(library);

        var status = LibTorchCompatibility.Repair(library, libStdCxx);

        Assert.Equal(PatchState.Patched, status.State);
        Assert.Contains(Missing, status.MissingVersions);
        Assert.Contains(Missing, status.Detail);
        Assert.Equal(before, File.ReadAllBytes(library + ".orig"));

        var after = File.ReadAllBytes(library);
        Assert.Equal(before.Length, after.Length);
        var differing = Enumerable.Range(0, before.Length).Where(i => before[i] != after[i]).ToList();
        // One missing version, one Vernaux: only the low byte of its vna_flags changes, by exactly VER_FLG_WEAK (0x2).
        var at = Assert.Single(differing);
        Assert.Equal(before[at] | 0x2, after[at]);
        Assert.Equal(0, before[at] & 0x2);
        // Vernaux = { u32 vna_hash; u16 vna_flags; u16 vna_other; u32 vna_name; u32 vna_next }: the four bytes before
        // the flags are the ELF hash of the version name, so this is GLIBCXX_3.4.32's entry and no other.
        Assert.Equal(ElfHash(Missing), BinaryPrimitives.ReadUInt32LittleEndian(before.AsSpan(at - 4, 4)));

        var needs = LibTorchCompatibility.ReadVersionNeeds(library);
        Assert.Contains(new VersionNeed("libstdc++.so.6", Missing, true), needs);
        Assert.Single(needs, n => n.IsWeak);

        var again = LibTorchCompatibility.Inspect(library, libStdCxx);
        Assert.Equal(PatchState.Patched, again.State);
        Assert.Equal(new[] { Missing }, again.MissingVersions);
    }

    [Fact]
    public void Repair_twice_changes_nothing_the_second_time()
    {
        var library = CopyLibrary();
        var libStdCxx = CopySystemLibStdCxx();
        Assert.Equal(PatchState.Patched, LibTorchCompatibility.Repair(library, libStdCxx).State);
        var bytes = File.ReadAllBytes(library);
        var backup = File.ReadAllBytes(library + ".orig");
        // Backdate, so that any rewrite would show even on a file system with coarse timestamps.
        var stamp = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(library, stamp);
        File.SetLastWriteTimeUtc(library + ".orig", stamp);

        var second = LibTorchCompatibility.Repair(library, libStdCxx);

        Assert.Equal(PatchState.Patched, second.State);
        Assert.Equal(bytes, File.ReadAllBytes(library));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(library));
        Assert.Equal(backup, File.ReadAllBytes(library + ".orig"));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(library + ".orig"));
        Assert.Equal(3, Directory.GetFiles(folder).Length); // library, backup, libstdc++: no temp files left
    }

    [Fact]
    public void Repair_never_overwrites_an_existing_backup()
    {
        var library = CopyLibrary();
        File.WriteAllText(library + ".orig", "an older backup");
        Assert.Equal(PatchState.Patched, LibTorchCompatibility.Repair(library, CopySystemLibStdCxx()).State);
        Assert.Equal("an older backup", File.ReadAllText(library + ".orig"));
    }

    [Fact]
    public void Repair_keeps_the_file_mode()
    {
        if (OperatingSystem.IsWindows())
            return;
        var library = CopyLibrary();
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead;
        File.SetUnixFileMode(library, mode);
        Assert.Equal(PatchState.Patched, LibTorchCompatibility.Repair(library, CopySystemLibStdCxx()).State);
        Assert.Equal(mode, File.GetUnixFileMode(library));
        Assert.Equal(mode, File.GetUnixFileMode(library + ".orig"));
    }

    [Fact]
    public void Repair_through_a_symbolic_link_patches_the_target_and_keeps_the_link()
    {
        var library = CopyLibrary("real.so");
        var link = Path.Combine(folder, "libLibTorchSharp.so");
        File.CreateSymbolicLink(link, library);

        var status = LibTorchCompatibility.Repair(link, CopySystemLibStdCxx());

        Assert.Equal(PatchState.Patched, status.State);
        Assert.NotNull(new FileInfo(link).LinkTarget);
        Assert.True(File.Exists(library + ".orig"));
        Assert.Equal(PatchState.Patched, LibTorchCompatibility.Inspect(library, Path.Combine(folder, "libstdc++.so.6")).State);
    }

    [Fact]
    public void Inspect_against_a_libstdcxx_that_defines_everything_is_not_needed()
    {
        var library = CopyLibrary();
        var needed = LibTorchCompatibility.ReadVersionNeeds(library)
            .Where(n => n.Library == "libstdc++.so.6").Select(n => n.Version).ToList();
        var newer = Path.Combine(folder, "libstdc++.so.6.0.33");
        File.WriteAllBytes(newer, CraftSharedLibrary("libstdc++.so.6", needed, machine: 62));
        Assert.Equal(needed.OrderBy(v => v), LibTorchCompatibility.ReadVersionDefinitions(newer).OrderBy(v => v));

        var status = LibTorchCompatibility.Inspect(library, newer);
        Assert.Equal(PatchState.NotNeeded, status.State);
        Assert.Empty(status.MissingVersions);

        var before = File.ReadAllBytes(library);
        Assert.Equal(PatchState.NotNeeded, LibTorchCompatibility.Repair(library, newer).State);
        Assert.Equal(before, File.ReadAllBytes(library));
        Assert.False(File.Exists(library + ".orig"));
    }

    [Fact]
    public void Inspect_against_a_libstdcxx_lacking_several_versions_names_them_all()
    {
        var library = CopyLibrary();
        var older = Path.Combine(folder, "libstdc++.so.6.0.28");
        var gcc10 = LibTorchCompatibility.ReadVersionNeeds(library)
            .Where(n => n.Library == "libstdc++.so.6" && n.Version is not ("GLIBCXX_3.4.29" or "GLIBCXX_3.4.30" or Missing or "CXXABI_1.3.13"))
            .Select(n => n.Version);
        File.WriteAllBytes(older, CraftSharedLibrary("libstdc++.so.6", gcc10, machine: 62));

        var status = LibTorchCompatibility.Repair(library, older);

        Assert.Equal(PatchState.Patched, status.State);
        Assert.Equal(new[] { "CXXABI_1.3.13", "GLIBCXX_3.4.29", "GLIBCXX_3.4.30", Missing }, status.MissingVersions.Order());
        var weak = LibTorchCompatibility.ReadVersionNeeds(library).Where(n => n.IsWeak).Select(n => n.Version).Order();
        Assert.Equal(new[] { "CXXABI_1.3.13", "GLIBCXX_3.4.29", "GLIBCXX_3.4.30", Missing }, weak);
        // Against the real (GCC 12) libstdc++ only 3.4.32 is missing, and it is weak now.
        Assert.Equal(PatchState.Patched, LibTorchCompatibility.Inspect(library, CopySystemLibStdCxx()).State);
    }

    [Fact]
    public void A_non_elf_file_is_not_applicable_and_never_touched()
    {
        var path = Path.Combine(folder, "libLibTorchSharp.so");
        File.WriteAllText(path, "this is not an ELF file, just some text that is long enough to hold a header.........");
        var bytes = File.ReadAllBytes(path);
        var libStdCxx = CopySystemLibStdCxx();

        Assert.Equal(PatchState.NotApplicable, LibTorchCompatibility.Inspect(path, libStdCxx).State);
        var status = LibTorchCompatibility.Repair(path, libStdCxx);

        Assert.Equal(PatchState.NotApplicable, status.State);
        Assert.Empty(status.MissingVersions);
        Assert.Equal(bytes, File.ReadAllBytes(path));
        Assert.False(File.Exists(path + ".orig"));
        Assert.Throws<InvalidDataException>(() => LibTorchCompatibility.ReadVersionNeeds(path));
    }

    [Theory]
    [InlineData(4, 1)] // EI_CLASS = ELFCLASS32
    [InlineData(5, 2)] // EI_DATA = big-endian
    [InlineData(18, 40)] // e_machine = ARM (32-bit)
    public void Other_elf_flavours_are_not_applicable_and_never_touched(int offset, byte value)
    {
        var library = CopyLibrary();
        var bytes = File.ReadAllBytes(library);
        bytes[offset] = value;
        File.WriteAllBytes(library, bytes);

        var status = LibTorchCompatibility.Repair(library, CopySystemLibStdCxx());

        Assert.Equal(PatchState.NotApplicable, status.State);
        Assert.Equal(bytes, File.ReadAllBytes(library));
        Assert.False(File.Exists(library + ".orig"));
    }

    [Fact]
    public void Missing_files_are_not_applicable()
    {
        var libStdCxx = CopySystemLibStdCxx();
        Assert.Equal(PatchState.NotApplicable, LibTorchCompatibility.Inspect(Path.Combine(folder, "absent.so"), libStdCxx).State);
        Assert.Equal(PatchState.NotApplicable, LibTorchCompatibility.Repair(Path.Combine(folder, "absent.so"), libStdCxx).State);
        Assert.Equal(PatchState.NotApplicable, LibTorchCompatibility.Inspect(CopyLibrary(), Path.Combine(folder, "absent.so")).State);
    }

    [Fact]
    public void FindInPackageCache_finds_the_runtime_asset_and_the_consolidated_copies()
    {
        var root = Path.Combine(folder, "packages");
        string[] expected =
        [
            Path.Combine(root, "torchsharp", "0.107.0", "lib", "net8.0", "cpu", "libLibTorchSharp.so"),
            Path.Combine(root, "torchsharp", "0.107.0", "lib", "net8.0", "cuda-12.8", "libLibTorchSharp.so"),
            Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
            Path.Combine(root, "torchsharp", "0.106.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
        ];
        string[] ignored =
        [
            Path.Combine(root, "torchsharp", "0.107.0", "lib", "net8.0", "elsewhere", "libLibTorchSharp.so"),
            Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "win-x64", "native", "libLibTorchSharp.so"),
            Path.Combine(root, "libtorch-cpu-linux-x64", "2.10.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
        ];
        foreach (var path in expected.Concat(ignored))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, "x");
        }
        Directory.CreateDirectory(Path.Combine(root, "torchsharp", "0.105.0", "lib", "net8.0", "cpu")); // no file

        var found = LibTorchCompatibility.FindInPackageCache(root);

        Assert.Equal(expected.Order(StringComparer.Ordinal), found);
        Assert.Empty(LibTorchCompatibility.FindInPackageCache(Path.Combine(folder, "nowhere")));
    }

    [Fact]
    public void FindInPackageCache_by_default_finds_the_real_package()
    {
        var found = LibTorchCompatibility.FindInPackageCache();
        Assert.Contains(found, p => p.EndsWith(Path.Combine("torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so"), StringComparison.Ordinal));
    }

    [Fact]
    public void RepairPackageCache_repairs_every_copy()
    {
        var root = Path.Combine(folder, "packages");
        var native = Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native");
        var cpu = Path.Combine(root, "torchsharp", "0.107.0", "lib", "net8.0", "cpu");
        Directory.CreateDirectory(native);
        Directory.CreateDirectory(cpu);
        File.Copy(PackagedLibrary(), Path.Combine(native, "libLibTorchSharp.so"));
        File.Copy(PackagedLibrary(), Path.Combine(cpu, "libLibTorchSharp.so"));

        var statuses = LibTorchCompatibility.RepairPackageCache(root, CopySystemLibStdCxx());

        Assert.Equal(2, statuses.Count);
        Assert.All(statuses, s => Assert.Equal(PatchState.Patched, s.State));
        Assert.True(File.Exists(Path.Combine(cpu, "libLibTorchSharp.so.orig")));
        Assert.Equal(2, LibTorchCompatibility.FindInPackageCache(root).Count); // backups are not listed
    }

    private static uint ElfHash(string name)
    {
        uint h = 0;
        foreach (var c in Encoding.ASCII.GetBytes(name))
        {
            h = (h << 4) + c;
            var g = h & 0xf0000000;
            if (g != 0)
                h ^= g >> 24;
            h &= ~g;
        }
        return h;
    }

    /// <summary>
    /// A minimal ELF64 little-endian shared library: a header, .dynstr, .gnu.version_d (a base entry for the soname and
    /// one entry per version) and .shstrtab, with their section headers.
    /// </summary>
    private static byte[] CraftSharedLibrary(string soname, IEnumerable<string> versions, ushort machine)
    {
        var names = new[] { soname }.Concat(versions.Distinct()).ToList();
        var dynstr = new MemoryStream();
        dynstr.WriteByte(0);
        var nameOffsets = new List<uint>();
        foreach (var name in names)
        {
            nameOffsets.Add((uint)dynstr.Length);
            dynstr.Write(Encoding.ASCII.GetBytes(name));
            dynstr.WriteByte(0);
        }

        var verdef = new byte[names.Count * 28];
        for (var i = 0; i < names.Count; i++)
        {
            var at = verdef.AsSpan(i * 28);
            BinaryPrimitives.WriteUInt16LittleEndian(at, 1); // vd_version
            BinaryPrimitives.WriteUInt16LittleEndian(at[2..], (ushort)(i == 0 ? 1 : 0)); // vd_flags: VER_FLG_BASE
            BinaryPrimitives.WriteUInt16LittleEndian(at[4..], (ushort)(i + 1)); // vd_ndx
            BinaryPrimitives.WriteUInt16LittleEndian(at[6..], 1); // vd_cnt
            BinaryPrimitives.WriteUInt32LittleEndian(at[8..], ElfHash(names[i])); // vd_hash
            BinaryPrimitives.WriteUInt32LittleEndian(at[12..], 20); // vd_aux
            BinaryPrimitives.WriteUInt32LittleEndian(at[16..], (uint)(i == names.Count - 1 ? 0 : 28)); // vd_next
            BinaryPrimitives.WriteUInt32LittleEndian(at[20..], nameOffsets[i]); // vda_name
            BinaryPrimitives.WriteUInt32LittleEndian(at[24..], 0); // vda_next
        }

        var shstrtab = Encoding.ASCII.GetBytes("\0.dynstr\0.gnu.version_d\0.shstrtab\0");
        var file = new MemoryStream();
        file.Write(new byte[64]);
        var dynstrOffset = file.Length;
        file.Write(dynstr.ToArray());
        while (file.Length % 8 != 0) file.WriteByte(0);
        var verdefOffset = file.Length;
        file.Write(verdef);
        var shstrtabOffset = file.Length;
        file.Write(shstrtab);
        while (file.Length % 8 != 0) file.WriteByte(0);
        var shoff = file.Length;

        void Section(uint name, uint type, long offset, long size, uint link, uint info)
        {
            var header = new byte[64];
            BinaryPrimitives.WriteUInt32LittleEndian(header, name);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), type);
            BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(24), (ulong)offset);
            BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(32), (ulong)size);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(40), link);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(44), info);
            file.Write(header);
        }
        Section(0, 0, 0, 0, 0, 0);
        Section(1, 3, dynstrOffset, dynstr.Length, 0, 0); // .dynstr, SHT_STRTAB
        Section(9, 0x6ffffffd, verdefOffset, verdef.Length, 1, (uint)names.Count); // .gnu.version_d
        Section(24, 3, shstrtabOffset, shstrtab.Length, 0, 0); // .shstrtab

        var bytes = file.ToArray();
        var elf = bytes.AsSpan();
        elf[0] = 0x7f; elf[1] = (byte)'E'; elf[2] = (byte)'L'; elf[3] = (byte)'F';
        elf[4] = 2; elf[5] = 1; elf[6] = 1; // ELFCLASS64, ELFDATA2LSB, EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(elf[16..], 3); // e_type = ET_DYN
        BinaryPrimitives.WriteUInt16LittleEndian(elf[18..], machine);
        BinaryPrimitives.WriteUInt32LittleEndian(elf[20..], 1); // e_version
        BinaryPrimitives.WriteUInt64LittleEndian(elf[40..], (ulong)shoff);
        BinaryPrimitives.WriteUInt16LittleEndian(elf[52..], 64); // e_ehsize
        BinaryPrimitives.WriteUInt16LittleEndian(elf[58..], 64); // e_shentsize
        BinaryPrimitives.WriteUInt16LittleEndian(elf[60..], 4); // e_shnum
        BinaryPrimitives.WriteUInt16LittleEndian(elf[62..], 3); // e_shstrndx
        return bytes;
    }
}
