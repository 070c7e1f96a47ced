using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Reprogram.Runtime;

/// <summary>
/// The versions one shared library requires from another (e.g. libLibTorchSharp.so from libstdc++.so.6): one Vernaux
/// entry of the ELF <c>.gnu.version_r</c> section. <paramref name="IsWeak"/> is the VER_FLG_WEAK bit: the dynamic
/// linker does not refuse to load the library when a weak version is missing.
/// </summary>
public sealed record VersionNeed(string Library, string Version, bool IsWeak);

/// <summary>What <see cref="LibTorchCompatibility.Inspect"/> found.</summary>
public enum PatchState
{
    /// <summary>The system libstdc++ defines every version the library requires.</summary>
    NotNeeded,
    /// <summary>The library requires a (non-weak) libstdc++ version the system lacks: it will not load.</summary>
    NeedsPatch,
    /// <summary>The library requires versions the system lacks, but all of them are weak: it loads.</summary>
    Patched,
    /// <summary>Not an ELF64 little-endian x86_64/aarch64 shared library, or no libstdc++ to compare with.</summary>
    NotApplicable,
}

/// <summary>
/// The result of inspecting or repairing one native library. <paramref name="MissingVersions"/> lists every
/// libstdc++.so.6 version the library requires and the system library does not define (weak or not; for
/// <see cref="PatchState.Patched"/> they are all weak). <paramref name="Detail"/> is one human sentence.
/// </summary>
public sealed record NativeLibraryStatus(string Path, PatchState State, IReadOnlyList<string> MissingVersions, string Detail);

/// <summary>
/// Makes TorchSharp's <c>libLibTorchSharp.so</c> loadable on systems whose libstdc++ is older than the one it was
/// built against (e.g. Debian 12, GCC 12: up to GLIBCXX_3.4.30, while TorchSharp 0.107.0 requires GLIBCXX_3.4.32 for
/// one symbol it never calls). The fix marks the missing versions' Vernaux entries weak (VER_FLG_WEAK), so the dynamic
/// linker's version check no longer rejects the library. Only ELF64 little-endian (x86_64, aarch64) files are read or
/// written; anything else is reported as <see cref="PatchState.NotApplicable"/> and never touched.
/// </summary>
public static class LibTorchCompatibility
{
    /// <summary>The soname whose versions are compared.</summary>
    public const string LibStdCxxSoname = "libstdc++.so.6";

    /// <summary>TorchSharp's native library.</summary>
    public const string LibTorchSharpFileName = "libLibTorchSharp.so";

    /// <summary>Suffix of the backup <see cref="Repair"/> writes next to the library before changing it.</summary>
    public const string BackupSuffix = ".orig";

    internal const ushort VerFlagWeak = 0x2;

    /// <summary>All Verneed/Vernaux entries of an ELF64 little-endian file, in file order.</summary>
    /// <exception cref="InvalidDataException">Not an ELF64 little-endian file, or a malformed one.</exception>
    public static IReadOnlyList<VersionNeed> ReadVersionNeeds(string elfPath)
    {
        using var source = FileSource.Open(elfPath);
        return ElfFile.Read(source).ReadVernaux().Select(e => new VersionNeed(e.Library, e.Version, e.IsWeak)).ToList();
    }

    /// <summary>
    /// The version names an ELF64 shared library defines (its <c>.gnu.version_d</c> section), e.g. "GLIBCXX_3.4.30";
    /// the base entry (the library's own soname) is left out. Empty when the file defines no versions.
    /// </summary>
    /// <exception cref="InvalidDataException">Not an ELF64 little-endian file, or a malformed one.</exception>
    public static IReadOnlyList<string> ReadVersionDefinitions(string elfPath)
    {
        using var source = FileSource.Open(elfPath);
        return ElfFile.Read(source).ReadVerdefNames();
    }

    /// <summary>
    /// The libstdc++.so.6 the dynamic linker would use: the one already mapped into this process (/proc/self/maps;
    /// the .NET runtime itself links libstdc++, so this is the usual answer), else the first found in
    /// LD_LIBRARY_PATH, else the one <c>ldconfig -p</c> lists for this process's architecture, else the usual
    /// Debian/Ubuntu/Fedora paths. Null if none is found (or not on Linux).
    /// </summary>
    public static string? FindSystemLibStdCxx()
    {
        if (!OperatingSystem.IsLinux())
            return null;
        return FromProcessMaps() ?? FromLdLibraryPath() ?? FromLdconfig() ?? FromUsualPaths();
    }

    /// <summary>
    /// Whether <paramref name="libraryPath"/> needs the fix against a libstdc++ (default: <see cref="FindSystemLibStdCxx"/>):
    /// which libstdc++.so.6 versions it requires that the system library does not define, and whether they are weak.
    /// Never throws for unreadable or foreign files: those are <see cref="PatchState.NotApplicable"/>.
    /// </summary>
    public static NativeLibraryStatus Inspect(string libraryPath, string? libStdCxxPath = null)
    {
        var system = LoadSystemDefinitions(libStdCxxPath, out var failure);
        if (system is null)
            return NotApplicable(libraryPath, failure!);
        try
        {
            using var source = FileSource.Open(libraryPath);
            return Evaluate(libraryPath, source, system).Status;
        }
        catch (Exception e) when (IsReadFailure(e))
        {
            return NotApplicable(libraryPath, $"{libraryPath} cannot be inspected: {e.Message}");
        }
    }

    /// <summary>
    /// Applies the fix in place when (and only when) <see cref="Inspect"/> says <see cref="PatchState.NeedsPatch"/>:
    /// first writes a backup next to the library (<c>&lt;name&gt;.orig</c>, never overwritten if it already exists),
    /// then sets VER_FLG_WEAK on exactly the missing versions' Vernaux entries, writing atomically (a temporary file in
    /// the same folder, then a rename) and keeping the file mode. A symbolic link is followed and its target repaired.
    /// Idempotent: when there is nothing to do nothing is written. I/O failures (e.g. a read-only package cache) do not
    /// throw: the status stays <see cref="PatchState.NeedsPatch"/> and <see cref="NativeLibraryStatus.Detail"/> says why.
    /// </summary>
    public static NativeLibraryStatus Repair(string libraryPath, string? libStdCxxPath = null)
    {
        var system = LoadSystemDefinitions(libStdCxxPath, out var failure);
        if (system is null)
            return NotApplicable(libraryPath, failure!);

        string target;
        byte[] original;
        Evaluation evaluation;
        try
        {
            target = ResolveFinalPath(libraryPath);
            // Decide from the very bytes that will be patched, so nothing can change between the check and the write.
            original = File.ReadAllBytes(target);
            evaluation = Evaluate(libraryPath, new ArraySource(original), system);
        }
        catch (Exception e) when (IsReadFailure(e))
        {
            return NotApplicable(libraryPath, $"{libraryPath} cannot be inspected: {e.Message}");
        }
        if (evaluation.Status.State != PatchState.NeedsPatch)
            return evaluation.Status with { Detail = evaluation.Status.Detail.TrimEnd('.') + "; nothing to do." };

        var patched = (byte[])original.Clone();
        var changed = new List<string>();
        foreach (var entry in evaluation.ToWeaken)
        {
            var flags = BinaryPrimitives.ReadUInt16LittleEndian(patched.AsSpan(checked((int)entry.FlagsOffset), 2));
            if (flags != entry.Flags)
                return evaluation.Status with { Detail = $"{libraryPath} changed while it was being read; nothing was written." };
            BinaryPrimitives.WriteUInt16LittleEndian(patched.AsSpan((int)entry.FlagsOffset, 2), (ushort)(flags | VerFlagWeak));
            changed.Add(entry.Version);
        }

        var backup = target + BackupSuffix;
        try
        {
            var backupNote = File.Exists(backup) ? $"kept the existing backup {backup}" : $"backed it up to {backup}";
            if (!File.Exists(backup))
                WriteNew(backup, original, target, replace: false);
            WriteNew(target, patched, target, replace: true);

            var after = Evaluate(libraryPath, new ArraySource(patched), system).Status;
            var marked = string.Join(", ", changed.Distinct());
            return after with
            {
                Detail = $"{libraryPath} required {marked} from {LibStdCxxSoname}, which {system.Description} does not " +
                         $"define; marked {(changed.Count == 1 ? "it" : "them")} weak so the library loads, and {backupNote}.",
            };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return evaluation.Status with
            {
                Detail = evaluation.Status.Detail.TrimEnd('.') + $"; the repair failed and left the file unchanged: {e.Message}",
            };
        }
    }

    /// <summary>
    /// Every libLibTorchSharp.so that TorchSharp may load from a NuGet packages folder (default: $NUGET_PACKAGES or
    /// ~/.nuget/packages): <c>torchsharp/&lt;version&gt;/runtimes/linux-*/native/libLibTorchSharp.so</c>, and the
    /// consolidated copies TorchSharp makes next to its managed dll after a failed load:
    /// <c>torchsharp/&lt;version&gt;/lib/*/cpu/</c> and <c>lib/*/cuda-*/</c>. Sorted; empty if there are none.
    /// </summary>
    public static IReadOnlyList<string> FindInPackageCache(string? packagesFolder = null)
    {
        packagesFolder ??= PackagesFolder();
        var found = new SortedSet<string>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(packagesFolder))
            return found.ToList();
        var torchSharp = Path.Combine(packagesFolder, "torchsharp");
        if (!Directory.Exists(torchSharp))
            return found.ToList();

        foreach (var version in SafeDirectories(torchSharp, "*"))
        {
            foreach (var rid in SafeDirectories(Path.Combine(version, "runtimes"), "linux-*"))
                AddIfFile(found, Path.Combine(rid, "native", LibTorchSharpFileName));
            foreach (var framework in SafeDirectories(Path.Combine(version, "lib"), "*"))
            {
                AddIfFile(found, Path.Combine(framework, "cpu", LibTorchSharpFileName));
                foreach (var cuda in SafeDirectories(framework, "cuda-*"))
                    AddIfFile(found, Path.Combine(cuda, LibTorchSharpFileName));
            }
        }
        return found.ToList();
    }

    /// <summary>The NuGet global packages folder: $NUGET_PACKAGES if set, else ~/.nuget/packages (which may not exist).</summary>
    public static string PackagesFolder() => NuGetCache.PackagesFolder();

    /// <summary>Inspects every library <see cref="FindInPackageCache"/> finds and repairs those that need it.</summary>
    public static IReadOnlyList<NativeLibraryStatus> RepairPackageCache(string? packagesFolder = null, string? libStdCxxPath = null) =>
        FindInPackageCache(packagesFolder).Select(p => Repair(p, libStdCxxPath)).ToList();

    // ------------------------------------------------------------------------------------------------------------
    // Comparison

    private sealed record SystemLibrary(string Description, ushort Machine, HashSet<string> Defined);

    private sealed record Evaluation(NativeLibraryStatus Status, IReadOnlyList<Vernaux> ToWeaken);

    private static SystemLibrary? LoadSystemDefinitions(string? libStdCxxPath, out string? failure)
    {
        failure = null;
        var path = libStdCxxPath ?? FindSystemLibStdCxx();
        if (path is null)
        {
            failure = $"No {LibStdCxxSoname} was found on this system to compare with.";
            return null;
        }
        try
        {
            using var source = FileSource.Open(path);
            var elf = ElfFile.Read(source);
            var defined = elf.ReadVerdefNames();
            if (defined.Count == 0)
            {
                failure = $"{path} defines no symbol versions, so it cannot be compared with.";
                return null;
            }
            return new SystemLibrary(path, elf.Machine, new HashSet<string>(defined, StringComparer.Ordinal));
        }
        catch (Exception e) when (IsReadFailure(e))
        {
            failure = $"The system {LibStdCxxSoname} ({path}) cannot be read: {e.Message}";
            return null;
        }
    }

    private static Evaluation Evaluate(string displayPath, IByteSource source, SystemLibrary system)
    {
        ElfFile elf;
        try
        {
            elf = ElfFile.Read(source);
        }
        catch (InvalidDataException e)
        {
            return new Evaluation(NotApplicable(displayPath, $"{displayPath} is not applicable: {e.Message}"), []);
        }
        if (elf.Machine is not (ElfFile.MachineX86_64 or ElfFile.MachineAArch64))
            return new Evaluation(NotApplicable(displayPath, $"{displayPath} is an ELF file for machine {elf.Machine}, not x86_64 or aarch64."), []);
        if (elf.Type != ElfFile.TypeDyn)
            return new Evaluation(NotApplicable(displayPath, $"{displayPath} is not a shared library (ELF type {elf.Type})."), []);
        if (elf.Machine != system.Machine)
            return new Evaluation(NotApplicable(displayPath,
                $"{displayPath} (machine {elf.Machine}) and {system.Description} (machine {system.Machine}) are for different architectures."), []);

        IReadOnlyList<Vernaux> needs;
        try
        {
            needs = elf.ReadVernaux();
        }
        catch (InvalidDataException e)
        {
            return new Evaluation(NotApplicable(displayPath, $"{displayPath} has unreadable version requirements: {e.Message}"), []);
        }

        var fromLibStdCxx = needs.Where(n => n.Library == LibStdCxxSoname).ToList();
        if (fromLibStdCxx.Count == 0)
            return new Evaluation(new NativeLibraryStatus(displayPath, PatchState.NotNeeded, [],
                $"{displayPath} requires no versions from {LibStdCxxSoname}."), []);

        var missing = fromLibStdCxx.Where(n => !system.Defined.Contains(n.Version)).ToList();
        var missingNames = missing.Select(n => n.Version).Distinct().ToList();
        if (missing.Count == 0)
            return new Evaluation(new NativeLibraryStatus(displayPath, PatchState.NotNeeded, [],
                $"{system.Description} defines all {fromLibStdCxx.Count} {LibStdCxxSoname} versions {displayPath} requires."), []);

        var strong = missing.Where(n => !n.IsWeak).ToList();
        if (strong.Count == 0)
            return new Evaluation(new NativeLibraryStatus(displayPath, PatchState.Patched, missingNames,
                $"{displayPath} requires {string.Join(", ", missingNames)} from {LibStdCxxSoname}, which {system.Description} " +
                "does not define, but only weakly, so it loads."), []);

        var strongNames = strong.Select(n => n.Version).Distinct().ToList();
        return new Evaluation(new NativeLibraryStatus(displayPath, PatchState.NeedsPatch, missingNames,
            $"{displayPath} requires {string.Join(", ", strongNames)} from {LibStdCxxSoname}, which {system.Description} " +
            "does not define, so the dynamic linker refuses to load it."), strong);
    }

    private static NativeLibraryStatus NotApplicable(string path, string detail) =>
        new(path, PatchState.NotApplicable, [], detail);

    private static bool IsReadFailure(Exception e) =>
        e is IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException or NotSupportedException;

    // ------------------------------------------------------------------------------------------------------------
    // Files

    private static string ResolveFinalPath(string path)
    {
        var full = Path.GetFullPath(path);
        var target = new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true);
        return target?.FullName ?? full;
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="destination"/> through a temporary file in its folder.</summary>
    private static void WriteNew(string destination, byte[] bytes, string modeFrom, bool replace)
    {
        var folder = Path.GetDirectoryName(destination)!;
        var temp = Path.Combine(folder, $".{Path.GetFileName(destination)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(temp, File.GetUnixFileMode(modeFrom));
            if (replace)
                File.Move(temp, destination, overwrite: true); // rename(2): atomic within one folder
            else
            {
                try
                {
                    File.Move(temp, destination, overwrite: false);
                }
                catch (IOException) when (File.Exists(destination))
                {
                    // Another process wrote the backup first; it holds the same original bytes.
                }
            }
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
    }


    private static string[] SafeDirectories(string folder, string pattern)
    {
        try
        {
            return Directory.Exists(folder) ? Directory.GetDirectories(folder, pattern).Order(StringComparer.Ordinal).ToArray() : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static void AddIfFile(SortedSet<string> found, string path)
    {
        if (File.Exists(path))
            found.Add(path);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Finding libstdc++

    private static string? FromProcessMaps()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                // address perms offset dev inode [pathname]; the pathname may contain spaces.
                var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length < 6)
                    continue;
                var path = parts[5].Trim();
                if (path.EndsWith(" (deleted)", StringComparison.Ordinal) || !path.StartsWith('/'))
                    continue;
                if (Path.GetFileName(path).StartsWith(LibStdCxxSoname, StringComparison.Ordinal) && File.Exists(path))
                    return path;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

    private static string? FromLdLibraryPath()
    {
        var value = Environment.GetEnvironmentVariable("LD_LIBRARY_PATH");
        if (string.IsNullOrEmpty(value))
            return null;
        foreach (var folder in value.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, LibStdCxxSoname);
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    private static string? FromLdconfig()
    {
        var tag = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "x86-64",
            Architecture.Arm64 => "AArch64",
            _ => null,
        };
        if (tag is null)
            return null;
        foreach (var ldconfig in new[] { "/sbin/ldconfig", "/usr/sbin/ldconfig", "/usr/bin/ldconfig" })
        {
            if (!File.Exists(ldconfig))
                continue;
            var output = RunForOutput(ldconfig, "-p");
            if (output is null)
                continue;
            foreach (var raw in output.Split('\n'))
            {
                // "\tlibstdc++.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libstdc++.so.6"
                var line = raw.Trim();
                if (!line.StartsWith(LibStdCxxSoname + " (", StringComparison.Ordinal))
                    continue;
                var open = line.IndexOf('(');
                var close = line.IndexOf(')', open + 1);
                var arrow = line.IndexOf("=>", StringComparison.Ordinal);
                if (close < 0 || arrow < 0)
                    continue;
                var flags = line[(open + 1)..close].Split(',');
                var path = line[(arrow + 2)..].Trim();
                if (flags.Contains(tag) && File.Exists(path))
                    return path;
            }
        }
        return null;
    }

    private static string? RunForOutput(string fileName, string arguments)
    {
        try
        {
            var info = new ProcessStartInfo(fileName, arguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var process = Process.Start(info);
            if (process is null)
                return null;
            process.ErrorDataReceived += (_, _) => { };
            process.BeginErrorReadLine();
            var read = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(5000))
            {
                try { process.Kill(); } catch (InvalidOperationException) { }
                return null;
            }
            return process.ExitCode == 0 && read.Wait(1000) ? read.Result : null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return null;
        }
    }

    private static string? FromUsualPaths()
    {
        string[] folders = RuntimeInformation.ProcessArchitecture == Architecture.Arm64
            ? ["/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib"]
            : ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib"];
        return folders.Select(f => Path.Combine(f, LibStdCxxSoname)).FirstOrDefault(File.Exists);
    }

    // ------------------------------------------------------------------------------------------------------------
    // ELF reading (ELF64 little-endian only)

    /// <summary>One Vernaux entry, with the file offset of its vna_flags field.</summary>
    internal sealed record Vernaux(string Library, string Version, ushort Flags, long FlagsOffset)
    {
        public bool IsWeak => (Flags & VerFlagWeak) != 0;
    }

    private interface IByteSource : IDisposable
    {
        long Length { get; }
        void ReadExactly(long offset, Span<byte> destination);
    }

    private sealed class FileSource : IByteSource
    {
        private readonly SafeFileHandle handle;

        private FileSource(SafeFileHandle handle, long length)
        {
            this.handle = handle;
            Length = length;
        }

        public static FileSource Open(string path)
        {
            var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            try
            {
                return new FileSource(handle, RandomAccess.GetLength(handle));
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }

        public long Length { get; }

        public void ReadExactly(long offset, Span<byte> destination)
        {
            while (destination.Length > 0)
            {
                var read = RandomAccess.Read(handle, destination, offset);
                if (read <= 0)
                    throw new InvalidDataException("unexpected end of file");
                destination = destination[read..];
                offset += read;
            }
        }

        public void Dispose() => handle.Dispose();
    }

    private sealed class ArraySource(byte[] bytes) : IByteSource
    {
        public long Length => bytes.Length;

        public void ReadExactly(long offset, Span<byte> destination) => bytes.AsSpan(checked((int)offset), destination.Length).CopyTo(destination);

        public void Dispose()
        {
        }
    }

    private sealed class ElfFile
    {
        public const ushort TypeDyn = 3;
        public const ushort MachineX86_64 = 62;
        public const ushort MachineAArch64 = 183;
        private const uint ShtGnuVerdef = 0x6ffffffd;
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const ushort VerFlagBase = 0x1;
        private const int MaxSectionBytes = 64 << 20;
        private const int MaxEntries = 1 << 16;

        private readonly IByteSource source;
        private readonly Section[] sections;

        private readonly record struct Section(uint Type, long Offset, long Size, uint Link, uint Info);

        private ElfFile(IByteSource source, ushort type, ushort machine, Section[] sections)
        {
            this.source = source;
            Type = type;
            Machine = machine;
            this.sections = sections;
        }

        public ushort Type { get; }
        public ushort Machine { get; }

        public static ElfFile Read(IByteSource source)
        {
            if (source.Length < 64)
                throw new InvalidDataException("too short to be an ELF file");
            Span<byte> header = stackalloc byte[64];
            source.ReadExactly(0, header);
            if (header[0] != 0x7f || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F')
                throw new InvalidDataException("not an ELF file");
            if (header[4] != 2)
                throw new InvalidDataException("not a 64-bit ELF file");
            if (header[5] != 1)
                throw new InvalidDataException("not a little-endian ELF file");
            if (header[6] != 1)
                throw new InvalidDataException("unknown ELF version");

            var type = U16(header, 16);
            var machine = U16(header, 18);
            var shoff = U64(header, 40);
            var shentsize = U16(header, 58);
            long shnum = U16(header, 60);
            if (shoff == 0)
                return new ElfFile(source, type, machine, []);
            if (shentsize < 64)
                throw new InvalidDataException("bad section header size");
            if (shoff > (ulong)source.Length)
                throw new InvalidDataException("section headers lie outside the file");

            Span<byte> entry = stackalloc byte[64];
            if (shnum == 0)
            {
                // More than 0xff00 sections: the real count is in section 0's sh_size.
                source.ReadExactly((long)shoff, entry);
                shnum = checked((long)U64(entry, 32));
            }
            if (shnum > MaxEntries || (long)shoff + shnum * shentsize > source.Length)
                throw new InvalidDataException("section headers lie outside the file");

            var sections = new Section[shnum];
            for (var i = 0; i < shnum; i++)
            {
                source.ReadExactly((long)shoff + i * (long)shentsize, entry);
                var offset = U64(entry, 24);
                var size = U64(entry, 32);
                sections[i] = new Section(U32(entry, 4), offset > long.MaxValue ? -1 : (long)offset,
                    size > long.MaxValue ? -1 : (long)size, U32(entry, 40), U32(entry, 44));
            }
            return new ElfFile(source, type, machine, sections);
        }

        public List<Vernaux> ReadVernaux()
        {
            var result = new List<Vernaux>();
            foreach (var section in sections.Where(s => s.Type == ShtGnuVerneed))
            {
                var data = Contents(section);
                var strings = Contents(LinkedStrings(section));
                long offset = 0;
                for (var i = 0; i < Math.Min(section.Info == 0 ? MaxEntries : section.Info, MaxEntries); i++)
                {
                    Require(data, offset, 16);
                    var count = U16(data, (int)offset + 2);
                    var file = Str(strings, U32(data, (int)offset + 4));
                    var aux = offset + U32(data, (int)offset + 8);
                    var next = U32(data, (int)offset + 12);
                    for (var j = 0; j < count; j++)
                    {
                        Require(data, aux, 16);
                        var flags = U16(data, (int)aux + 4);
                        var name = Str(strings, U32(data, (int)aux + 8));
                        result.Add(new Vernaux(file, name, flags, section.Offset + aux + 4));
                        var auxNext = U32(data, (int)aux + 12);
                        if (auxNext == 0)
                            break;
                        aux += auxNext;
                    }
                    if (next == 0)
                        break;
                    offset += next;
                }
            }
            return result;
        }

        public List<string> ReadVerdefNames()
        {
            var result = new List<string>();
            foreach (var section in sections.Where(s => s.Type == ShtGnuVerdef))
            {
                var data = Contents(section);
                var strings = Contents(LinkedStrings(section));
                long offset = 0;
                for (var i = 0; i < Math.Min(section.Info == 0 ? MaxEntries : section.Info, MaxEntries); i++)
                {
                    Require(data, offset, 20);
                    var flags = U16(data, (int)offset + 2);
                    var count = U16(data, (int)offset + 6);
                    var aux = offset + U32(data, (int)offset + 12);
                    var next = U32(data, (int)offset + 16);
                    if (count > 0 && (flags & VerFlagBase) == 0)
                    {
                        // The first Verdaux names the version itself; any further ones name its parents.
                        Require(data, aux, 8);
                        result.Add(Str(strings, U32(data, (int)aux)));
                    }
                    if (next == 0)
                        break;
                    offset += next;
                }
            }
            return result.Distinct().ToList();
        }

        private Section LinkedStrings(Section section)
        {
            if (section.Link == 0 || section.Link >= sections.Length)
                throw new InvalidDataException("version section without a string table");
            return sections[section.Link];
        }

        private byte[] Contents(Section section)
        {
            if (section.Offset < 0 || section.Size < 0 || section.Size > MaxSectionBytes || section.Offset + section.Size > source.Length)
                throw new InvalidDataException("section lies outside the file");
            var bytes = new byte[section.Size];
            source.ReadExactly(section.Offset, bytes);
            return bytes;
        }

        private static void Require(byte[] data, long offset, int length)
        {
            if (offset < 0 || offset + length > data.Length)
                throw new InvalidDataException("version entry lies outside its section");
        }

        private static string Str(byte[] table, uint offset)
        {
            if (offset >= table.Length)
                throw new InvalidDataException("string offset lies outside the string table");
            var span = table.AsSpan((int)offset);
            var end = span.IndexOf((byte)0);
            if (end < 0)
                throw new InvalidDataException("unterminated string");
            return Encoding.UTF8.GetString(span[..end]);
        }

        private static ushort U16(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt16LittleEndian(b[at..]);
        private static uint U32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b[at..]);
        private static ulong U64(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt64LittleEndian(b[at..]);
    }
}
