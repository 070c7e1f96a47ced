using Reprogram.Runtime;

namespace Reprogram.Cli.Tests;

public class DoctorTests
{
    [Fact]
    public void Reports_the_package_cache_state_truthfully()
    {
        var output = new StringWriter();
        var exit = Doctor.Run(fix: false, packagesFolder: null, output);
        var text = output.ToString();
        var copies = LibTorchCompatibility.FindInPackageCache();
        Assert.NotEmpty(copies); // the test build restored TorchSharp into the cache
        foreach (var path in copies)
        {
            var state = LibTorchCompatibility.Inspect(path).State;
            var label = state switch { PatchState.NotNeeded => "ok", PatchState.Patched => "repaired", PatchState.NeedsPatch => "NEEDS FIX", _ => "not ELF/x64" };
            Assert.Contains($"{label,-12} {path}", text);
        }
        Assert.Equal(copies.Any(p => LibTorchCompatibility.Inspect(p).State == PatchState.NeedsPatch) ? 1 : 0, exit);
        Assert.Contains("system libstdc++:", text);
        Assert.Contains("allocator: ", text); // and what to do where the tuning cannot apply
        if (NativeAllocator.Mode == AllocatorMode.GlibcTuned) Assert.Contains("REPROGRAM_ALLOCATOR=off", text);
    }

    [Fact]
    public void Fix_repairs_a_cache_once_and_keeps_a_backup()
    {
        // A private packages folder holding an unrepaired copy, so the real cache is not what this test changes.
        var real = LibTorchCompatibility.FindInPackageCache().First(p => p.Contains("runtimes"));
        var original = File.Exists(real + ".orig") ? real + ".orig" : real;
        var folder = Repo.NewTempFolder("reprogram-cache");
        var native = Path.Combine(folder, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native");
        Directory.CreateDirectory(native);
        var copy = Path.Combine(native, "libLibTorchSharp.so");
        File.Copy(original, copy);
        Assert.Equal(PatchState.NeedsPatch, LibTorchCompatibility.Inspect(copy).State);

        Assert.Equal(1, Doctor.Run(fix: false, folder, new StringWriter()));
        var fixedOutput = new StringWriter();
        Assert.Equal(0, Doctor.Run(fix: true, folder, fixedOutput));
        Assert.Contains("repaired", fixedOutput.ToString());
        Assert.Equal(PatchState.Patched, LibTorchCompatibility.Inspect(copy).State);
        Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(copy + ".orig"));

        var written = File.GetLastWriteTimeUtc(copy);
        Assert.Equal(0, Doctor.Run(fix: true, folder, new StringWriter()));
        Assert.Equal(written, File.GetLastWriteTimeUtc(copy)); // idempotent: nothing rewritten
    }

    [Fact]
    public async Task The_command_exits_non_zero_while_a_copy_needs_the_fix()
    {
        var folder = Repo.NewTempFolder("reprogram-empty-cache");
        Assert.Equal(0, await Program.Main(["doctor", "--packages", folder]));
    }
}
