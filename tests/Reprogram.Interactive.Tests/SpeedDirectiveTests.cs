using Reprogram.Runtime;

namespace Reprogram.Interactive.Tests;

/// <summary>What issue 13 added to the cells: MKL's code path in #!device, --precision for #!icl and #!cot.</summary>
public class SpeedDirectiveTests : KernelTestBase
{
    [Fact]
    public async Task Device_shows_the_CPU_and_whether_MKLs_fast_path_on_AMD_is_in_effect()
    {
        var html = Html(await SubmitOk("#!device")).Single(h => h.Contains("rp-device"));
        Assert.Contains("CPU features", html);
        Assert.Contains("MKL on AMD", html);
        Assert.Contains("mkl_serv_intel_cpu_true resolves to", html);
        Assert.Contains("MKL's branch: ", html);
        var status = MklOnAmd.Status();
        Assert.Contains(status.InEffect ? "<b>in effect: " : "not in effect", html);
        Assert.Contains("REPROGRAM_MKL_AMD=off", html);
    }

    private const string SmallIcl = "--model icl-rules --shots 2 --seeds 1 --queries 20 --pool 8";

    [Theory]
    [InlineData("#!icl --precision fp16", "'fp16' is not a precision. Allowed: fp32, bf16")]
    [InlineData("#!cot --precision half", "'half' is not a precision. Allowed: fp32, bf16")]
    public async Task An_unknown_precision_is_refused_with_the_allowed_names(string code, string expected)
    {
        Assert.Contains(expected, await SubmitFails(code));
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task Bf16_says_why_it_cannot_run_on_a_CPU_without_native_bf16_or_runs_and_says_so_in_the_table()
    {
        var allow = PrecisionSupport.AllowEmulated;
        PrecisionSupport.AllowEmulated = false;
        try
        {
            if (CpuFeatures.Current is not { HasNativeBf16: true })
            {
                var message = await SubmitFails($"#!icl {SmallIcl} --precision bf16");
                Assert.Contains("neither AVX512_BF16 nor AMX", message);
                Assert.Contains("--precision fp32", message);
                await AssertKernelStillUsable();
                PrecisionSupport.AllowEmulated = true;
            }
            var html = string.Join("\n", Html(await SubmitOk($"#!icl {SmallIcl} --precision bf16 --name bf16Run")));
            Assert.Contains("In-context learning", html);
            var result = await SubmitOk("bf16Run.All[0].Settings[\"precision\"]");
            var value = result.Events.OfType<Microsoft.DotNet.Interactive.Events.ReturnValueProduced>().Single().Value as string;
            Assert.StartsWith("bf16 (forward passes on a bf16 copy", value);
        }
        finally
        {
            PrecisionSupport.AllowEmulated = allow;
        }
    }
}
