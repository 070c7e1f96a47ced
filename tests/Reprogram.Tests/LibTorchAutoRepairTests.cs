using Reprogram.Runtime;
using Xunit;

namespace Reprogram.Tests;

/// <summary>The repair the extension runs before libtorch loads, on a private packages folder holding an unrepaired copy.</summary>
public sealed class LibTorchAutoRepairTests : IDisposable
{
    private readonly string packages = Directory.CreateTempSubdirectory("reprogram-autorepair-").FullName;
    private readonly string library;

    public LibTorchAutoRepairTests()
    {
        var cached = Path.Combine(LibTorchCompatibility.PackagesFolder(), "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", LibTorchCompatibility.LibTorchSharpFileName);
        var original = File.Exists(cached + LibTorchCompatibility.BackupSuffix) ? cached + LibTorchCompatibility.BackupSuffix : cached;
        var native = Directory.CreateDirectory(Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native")).FullName;
        library = Path.Combine(native, LibTorchCompatibility.LibTorchSharpFileName);
        File.Copy(original, library);
        Assert.Equal(PatchState.NeedsPatch, LibTorchCompatibility.Inspect(library).State); // this system lacks GLIBCXX_3.4.32
    }

    public void Dispose() => Directory.Delete(packages, recursive: true);

    private IReadOnlyList<NativeLibraryStatus> States() =>
        LibTorchCompatibility.FindInPackageCache(packages).Select(p => LibTorchCompatibility.Inspect(p)).ToArray();

    [Fact]
    public void Repairs_once_says_so_in_one_line_and_keeps_a_backup()
    {
        var original = File.ReadAllBytes(library);
        var outcome = LibTorchAutoRepair.BeforeLoad(States, libTorchLoaded: false, enabled: true);

        Assert.Equal(library, Assert.Single(outcome.Repaired).Path);
        Assert.Empty(outcome.StillBroken);
        Assert.Null(outcome.Skipped);
        Assert.Equal(PatchState.Patched, LibTorchCompatibility.Inspect(library).State);
        Assert.Equal(original, File.ReadAllBytes(library + LibTorchCompatibility.BackupSuffix));
        var line = outcome.Summary!;
        Assert.DoesNotContain('\n', line);
        Assert.Contains("GLIBCXX_3.4.32", line);
        Assert.Contains(library, line);
        Assert.Contains("REPROGRAM_REPAIR=off", line);

        // Idempotent: a second load finds nothing to do and writes nothing.
        var written = File.GetLastWriteTimeUtc(library);
        var again = LibTorchAutoRepair.BeforeLoad(States, libTorchLoaded: false, enabled: true);
        Assert.Empty(again.Repaired);
        Assert.Null(again.Summary);
        Assert.Equal(written, File.GetLastWriteTimeUtc(library));
    }

    [Fact]
    public void Switched_off_or_after_libtorch_loaded_it_changes_nothing_and_says_why()
    {
        var bytes = File.ReadAllBytes(library);
        var off = LibTorchAutoRepair.BeforeLoad(States, libTorchLoaded: false, enabled: false);
        Assert.Equal("REPROGRAM_REPAIR=off", off.Skipped);
        var loaded = LibTorchAutoRepair.BeforeLoad(States, libTorchLoaded: true, enabled: true);
        Assert.Contains("already loaded", loaded.Skipped);
        foreach (var outcome in new[] { off, loaded })
        {
            Assert.Empty(outcome.Repaired);
            Assert.Null(outcome.Summary);
            Assert.Equal(library, Assert.Single(outcome.StillBroken).Path);
        }
        Assert.Equal(bytes, File.ReadAllBytes(library));
        Assert.False(File.Exists(library + LibTorchCompatibility.BackupSuffix));
    }

    [Fact]
    public void A_copy_it_cannot_write_stays_broken_with_the_reason()
    {
        // The backup's name is taken by a folder, so the write fails the way a read-only cache does (root ignores modes).
        Directory.CreateDirectory(library + LibTorchCompatibility.BackupSuffix);
        var bytes = File.ReadAllBytes(library);
        var outcome = LibTorchAutoRepair.BeforeLoad(States, libTorchLoaded: false, enabled: true);
        Assert.Empty(outcome.Repaired);
        Assert.Null(outcome.Summary);
        Assert.Contains("the repair failed and left the file unchanged", Assert.Single(outcome.StillBroken).Detail);
        Assert.Equal(bytes, File.ReadAllBytes(library));
    }
}
