using Microsoft.DotNet.Interactive.Events;
using Reprogram.Runtime;

namespace Reprogram.Interactive.Tests;

/// <summary>
/// The allocator tuning where notebook work really runs: a cell of a real CompositeKernel, whose thread is not the
/// process's main thread. The measure is the page faults of re-allocating a freed 100 MiB block (25,600 pages):
/// kept memory faults almost never, memory returned to the system faults on every page.
/// </summary>
public class AllocatorTests(Xunit.Abstractions.ITestOutputHelper output) : KernelTestBase
{
    private const string Measure =
        "var cellThread = Environment.CurrentManagedThreadId;\n" +
        "var (thread, onCompute, faults) = ComputeThread.Run(() => (Environment.CurrentManagedThreadId, ComputeThread.IsCurrent, NativeAllocator.FaultsOfReallocation(100L << 20)));\n" +
        "$\"{cellThread} {thread} {onCompute} {faults}\"";

    [Fact]
    public async Task Work_from_a_cell_keeps_freed_memory_and_switching_off_brings_the_page_faults_back()
    {
        if (NativeAllocator.Mode is AllocatorMode.Unsupported or AllocatorMode.Jemalloc) return; // nothing of ours to prove there
        Assert.True(NativeAllocator.Enabled, "The tuning is on by default (REPROGRAM_ALLOCATOR is not set in tests).");
        try
        {
            var on = (await Value(Measure)).Split(' ');
            Assert.NotEqual(on[0], on[1]); // the work left the cell's thread...
            Assert.Equal("True", on[2]);   // ...for the compute thread
            var faultsOn = long.Parse(on[3]);
            Assert.True(faultsOn < 2_000, $"With the tuning on, re-allocating 100 MiB page-faulted {faultsOn} times (expected almost none).");

            await SubmitOk("NativeAllocator.Enabled = false;");
            var off = (await Value(Measure)).Split(' ');
            Assert.Equal(off[0], off[1]); // switched off, work stays on the cell's thread
            Assert.Equal("False", off[2]);
            var faultsOff = long.Parse(off[3]);
            Assert.True(faultsOff > 20_000, $"With the tuning off, re-allocating 100 MiB page-faulted only {faultsOff} times (glibc's default maps it anew: 25,600).");

            await SubmitOk("NativeAllocator.Enabled = true;");
            var again = long.Parse((await Value(Measure)).Split(' ')[3]);
            output.WriteLine($"page faults re-allocating 100 MiB from a cell: on {faultsOn}, off {faultsOff}, on again {again}");
            Assert.True(again < 2_000, $"Switched back on, re-allocating 100 MiB page-faulted {again} times.");
        }
        finally
        {
            NativeAllocator.Enabled = true;
        }
    }

    [Fact]
    public async Task Device_shows_the_allocator_and_how_to_switch_it_off()
    {
        var html = Html(await SubmitOk("#!device")).Single(h => h.Contains("rp-device"));
        Assert.Contains("allocator", html);
        Assert.Contains("OpenMP wait policy", html);
        if (NativeAllocator.Mode == AllocatorMode.GlibcTuned)
        {
            Assert.Contains("in effect for experiments", html);
            Assert.Contains("REPROGRAM_ALLOCATOR=off", html);
            Assert.Contains("libjemalloc", html); // what to do for every thread
        }
    }

    private async Task<string> Value(string code)
    {
        var result = await SubmitOk(code);
        return result.Events.OfType<ReturnValueProduced>().Single().Value?.ToString() ?? "";
    }
}
