using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Instruction;
using Reprogram.Models.Causal;
using Reprogram.Models.Zoo;
using Reprogram.Runtime;
using static TorchSharp.torch;

namespace Reprogram.Tests;

public class PrecisionTests
{
    private static CpuFeatures Recorded(string name) => CpuFeatures.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "cpuinfo", name)));

    [Theory]
    [InlineData("zen2-epyc-kvm.txt", false)]
    [InlineData("zen3-epyc-7763.txt", false)]
    [InlineData("zen4-threadripper-pro-7965wx.txt", true)]
    [InlineData("zen5-epyc-9575f.txt", true)]
    [InlineData("intel-xeon-platinum-8457c.txt", true)]
    public void Bf16_runs_where_the_CPU_multiplies_bf16_and_is_refused_with_the_reason_elsewhere(string file, bool native)
    {
        var cpu = Recorded(file);
        Assert.Null(PrecisionSupport.Refusal(Precision.Fp32, CPU, cpu, allowEmulated: false));
        var refusal = PrecisionSupport.Refusal(Precision.Bf16, CPU, cpu, allowEmulated: false);
        Assert.Equal(native, refusal is null);
        if (!native)
        {
            Assert.Contains("neither AVX512_BF16 nor AMX", refusal);
            Assert.Contains("--precision fp32", refusal);
            Assert.Contains("REPROGRAM_BF16=allow-slow", refusal);
        }
        Assert.Null(PrecisionSupport.Refusal(Precision.Bf16, CPU, cpu, allowEmulated: true));
        Assert.Null(PrecisionSupport.Refusal(Precision.Bf16, new Device(TorchSharp.DeviceType.CUDA, 0), cpu, allowEmulated: false));
    }

    [Theory]
    [InlineData("fp32", Precision.Fp32)]
    [InlineData(" BF16 ", Precision.Bf16)]
    [InlineData("bfloat16", Precision.Bf16)]
    public void Precision_names_parse(string text, Precision expected) => Assert.Equal(expected, PrecisionSupport.Parse(text));

    [Fact]
    public void An_unknown_precision_lists_the_allowed_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => PrecisionSupport.Parse("fp16"));
        Assert.Contains("Allowed: fp32, bf16", e.Message);
    }

    [Fact]
    public void A_bf16_copy_leaves_the_source_as_it_was_and_computes_nearly_the_same_logits()
    {
        manual_seed(3);
        using var source = new TinyGpt(new GptConfig(40, 32, 2, 2, 32));
        var before = ParameterChecksum.Of(source);
        using var copy = CausalLmCopy.As(source, ScalarType.BFloat16, CPU);
        Assert.Equal(before, ParameterChecksum.Of(source));
        Assert.All(source.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.All(copy.Module.parameters(), p => { Assert.Equal(ScalarType.BFloat16, p.dtype); Assert.False(p.requires_grad); });
        using var ids = randint(40, [3, 12]);
        using var _ = no_grad();
        using var expected = source.Forward(ids);
        using var actual = copy.Forward(ids).to(ScalarType.Float32);
        // bf16 keeps 8 bits of mantissa: about 2-3 significant digits after two layers.
        var worst = (expected - actual).abs().max().item<float>();
        var scale = expected.abs().max().item<float>();
        Assert.True(worst < 0.05 * scale, $"largest difference {worst} against a scale of {scale}");
        Assert.True(worst > 0, "the copy computed in fp32");
    }

    [Fact]
    public void Bf16_in_context_learning_uses_a_checksummed_copy_and_agrees_with_fp32()
    {
        var allow = PrecisionSupport.AllowEmulated;
        try
        {
            using var model = Zoo();
            var options = new InContextOptions { Model = LanguageZoo.IclRulesName, Shots = [2, 8], Seeds = [0], Queries = 40, Pool = 8 };
            var fp32 = InContextLearning.Run(model, options);
            PrecisionSupport.AllowEmulated = false;
            if (CpuFeatures.Current is not { HasNativeBf16: true })
            {
                var e = Assert.Throws<ArgumentException>(() => InContextLearning.Run(model, options with { Precision = Precision.Bf16 }));
                Assert.Contains("--precision fp32", e.Message);
                Assert.Equal(Precision.Fp32, model.Precision);
            }
            PrecisionSupport.AllowEmulated = true;
            var bf16 = InContextLearning.Run(model, options with { Precision = Precision.Bf16 });

            // The fp32 weights were never cast: same checksum before and after, and the same as the fp32 run's.
            Assert.True(bf16.FrozenUnchanged);
            Assert.Equal(fp32.ChecksumBefore, bf16.ChecksumAfter);
            Assert.All(bf16.All, r => Assert.StartsWith("bf16 (forward passes on a bf16 copy", r.Settings["precision"]));
            Assert.All(fp32.All, r => Assert.False(r.Settings.ContainsKey("precision")));
            Assert.Equal(ScalarType.BFloat16, model.Local!.TokenEmbeddings.dtype);
            var identical = fp32.Records.Zip(bf16.Records).Count(p => p.First.Extracted == p.Second.Extracted);
            Assert.True(identical >= 0.9 * fp32.Records.Count(), $"{identical} of {fp32.Records.Count()} answers identical");

            // Back to fp32: the original weights answer again, exactly as before.
            var again = InContextLearning.Run(model, options);
            Assert.Equal(ScalarType.Float32, model.Local!.TokenEmbeddings.dtype);
            Assert.Equal(fp32.Records.Select(r => r.Extracted), again.Records.Select(r => r.Extracted));
        }
        finally
        {
            PrecisionSupport.AllowEmulated = allow;
        }
    }

    [Fact]
    public void A_write_into_the_bf16_copy_is_caught()
    {
        var allow = PrecisionSupport.AllowEmulated;
        PrecisionSupport.AllowEmulated = true;
        try
        {
            using var model = Zoo();
            model.UsePrecision(Precision.Bf16);
            using (no_grad()) model.Local!.TokenEmbeddings.add_(1);
            var e = Assert.Throws<FrozenModelChangedException>(() => model.VerifyUnchanged());
            Assert.Contains("bf16 copy", e.Message);
        }
        finally
        {
            PrecisionSupport.AllowEmulated = allow;
        }
    }

    [Fact]
    public void A_remote_model_has_no_bf16()
    {
        var tokenizer = new CharTokenizer();
        using var lm = new TinyGpt(new GptConfig(tokenizer.VocabularySize, 32, 1, 2, 16));
        using var model = InstructionModel.FromChatClient(new Instruction.Backends.LocalChatClient(lm, tokenizer.Encode, ids => tokenizer.Decode(ids), "tiny"), "chat");
        var e = Assert.Throws<ArgumentException>(() => model.UsePrecision(Precision.Bf16));
        Assert.Contains("--precision fp32", e.Message);
    }

    private static InstructionModel Zoo()
    {
        var (model, tokenizer, card) = LanguageZoo.Load(LanguageZoo.IclRulesName);
        return InstructionModel.FromLocal(model, card.Name, tokenizer.Encode, ids => tokenizer.Decode(ids), CPU);
    }
}
