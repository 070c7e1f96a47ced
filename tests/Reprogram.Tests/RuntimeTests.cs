using Reprogram.Manipulations;
using Reprogram.Runtime;

namespace Reprogram.Tests;

public class RuntimeTests
{
    [Fact]
    public void Libtorch_loads_in_the_test_run_from_the_repaired_build_output()
    {
        var info = TorchRuntime.Info();
        Assert.StartsWith("2.", info.LibTorchVersion);
        Assert.True(info.Threads >= 1);
        Assert.Equal("cpu", info.AutoDevice);
        Assert.False(info.CudaAvailable);
        Assert.Contains("TorchSharp-cuda-linux", info.CudaStatus);
        // The library this process mapped is the build output's copy, and the build step left it loadable.
        Assert.StartsWith(AppContext.BaseDirectory, info.NativeLibrary);
        Assert.NotEqual(PatchState.NeedsPatch, LibTorchCompatibility.Inspect(info.NativeLibrary).State);
    }

    [Theory]
    [InlineData("auto", "cpu")]
    [InlineData("CPU", "cpu")]
    [InlineData(" ", "cpu")]
    public void Device_specs_resolve(string text, string expected)
    {
        Assert.Equal(expected, DeviceSpec.Parse(text).Resolve().type.ToString().ToLowerInvariant());
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:x")]
    [InlineData("cuda:-1")]
    public void Bad_device_specs_name_the_allowed_ones(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => DeviceSpec.Parse(text));
        Assert.Contains("auto, cpu, cuda or cuda:N", e.Message);
    }

    [Fact]
    public void Cuda_without_a_cuda_libtorch_is_a_clear_error()
    {
        var e = Assert.Throws<InvalidOperationException>(() => DeviceSpec.Parse("cuda:0").Resolve());
        Assert.Contains("CUDA is not available", e.Message);
        Assert.Contains("TorchSharp-cuda-linux", e.Message);
    }

    [Fact]
    public void Prompt_templates_render_exact_text()
    {
        var template = new PromptTemplate("Classify the sentiment.", "Review: {input}\nSentiment: {label}", "\n\n", "Review: {input}\nSentiment:");
        Demonstration[] demos = [new("great film", "positive"), new("dull", "negative")];
        Assert.Equal("Classify the sentiment.\n\nReview: great film\nSentiment: positive\n\nReview: dull\nSentiment: negative\n\nReview: fine\nSentiment:",
                     template.Render(demos, "fine"));
        Assert.Equal("Classify the sentiment.\n\nReview: great film\nSentiment: positive\n\nReview: dull\nSentiment: negative\n\n",
                     template.SharedPrefix(demos));
        Assert.Equal("Input: q\nOutput:", new PromptTemplate().Render([], "q"));
    }
}
