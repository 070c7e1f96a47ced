using Reprogram.Interactive.Formatting;
using Reprogram.Runtime;

namespace Reprogram.Interactive.Tests;

public class DeviceDirectiveTests : KernelTestBase
{
    [Fact]
    public async Task Shows_libtorch_threads_devices_and_the_device_experiments_will_use()
    {
        var html = Html(await SubmitOk("#!device")).Single(h => h.Contains("rp-device"));
        Assert.Contains("experiments will use", html);
        Assert.Contains("<b>cpu</b> (--device auto)", html);
        Assert.Contains(TorchSharp.torch.__version__, html);
        Assert.Contains("TorchSharp-cuda-linux", html); // why CUDA is not available here
        Assert.Contains("libLibTorchSharp.so", html);
        Assert.Equal("auto", ExperimentDefaults.Device.Text);
    }

    [Fact]
    public async Task Sets_the_session_device_and_threads()
    {
        var threads = TorchSharp.torch.get_num_threads();
        try
        {
            var html = Html(await SubmitOk("#!device --device cpu --threads 1")).Single(h => h.Contains("rp-device"));
            Assert.Contains("<b>cpu</b> (--device cpu)", html);
            Assert.Contains("<td>1 (inter-op", html);
            Assert.Equal("cpu", ExperimentDefaults.Device.Text);
        }
        finally
        {
            TorchSharp.torch.set_num_threads(threads);
            ExperimentDefaults.Device = DeviceSpec.Auto;
        }
    }

    [Fact]
    public async Task Cuda_that_is_not_there_is_a_clear_error()
    {
        var message = await SubmitFails("#!device --device cuda:1");
        Assert.Contains("CUDA is not available", message);
        Assert.Equal("auto", ExperimentDefaults.Device.Text);
        await AssertKernelStillUsable();
    }

    [Theory]
    [InlineData("#!device --device gpu", "auto, cpu, cuda or cuda:N")]
    [InlineData("#!device --threads 0", "positive whole number")]
    [InlineData("#!device --threads many", "positive whole number")]
    // Found by the fuzz harness: a million libtorch threads never returned (the kernel had to be restarted).
    [InlineData("#!device --threads 1000000", "logical processors: give 1 to")]
    [InlineData("#!device --threads 2147483647", "logical processors: give 1 to")]
    public async Task Bad_values_are_refused(string code, string expected)
    {
        Assert.Contains(expected, await SubmitFails(code));
        await AssertKernelStillUsable();
    }

    [Fact]
    public void A_library_that_will_not_load_gives_the_doctor_command_not_a_stack_trace()
    {
        var broken = new NativeLibraryStatus("/x/libLibTorchSharp.so", PatchState.NeedsPatch, ["GLIBCXX_3.4.32"], "it requires GLIBCXX_3.4.32");
        var notice = RuntimeHtml.LibTorchNotice([broken]);
        Assert.NotNull(notice);
        Assert.Contains("reprogram doctor --fix", notice);
        Assert.Contains("RepairPackageCache()", notice);
        Assert.Null(RuntimeHtml.LibTorchNotice([broken with { State = PatchState.Patched }]));
    }

    [Fact]
    public async Task The_extension_shows_no_notice_where_libtorch_loads()
    {
        // This test process loads the build output's copy, which the build step repaired.
        Assert.DoesNotContain(TorchRuntime.NativeLibraryStates(), s => s.State == PatchState.NeedsPatch);
        await Task.CompletedTask;
    }
}
