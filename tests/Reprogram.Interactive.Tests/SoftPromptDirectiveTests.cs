using Microsoft.DotNet.Interactive.Events;

namespace Reprogram.Interactive.Tests;

public class SoftPromptDirectiveTests : KernelTestBase
{
    private const string Small = "--task sentiment --train 32 --test 16 --tokens 3 --epochs 1 --batch 8 --max-length 24";

    [Fact]
    public async Task Tunes_a_soft_prompt_shows_results_nearest_tokens_and_keeps_the_result()
    {
        var result = await SubmitOk($"#!soft-prompt {Small} --init vocab --name sp");
        var html = string.Join("\n", Html(result));
        Assert.Contains("soft prompt (3 tokens) + linear head", html);
        Assert.Contains("Prompt tuning", html);
        Assert.Contains("Embedding", html);
        Assert.Contains("unchanged ✓", html);
        Assert.Contains("Nearest vocabulary tokens", html);
        var check = await SubmitOk("sp.Main.FrozenUnchanged && sp.Nearest.Count == 3");
        Assert.Equal(true, check.Events.OfType<ReturnValueProduced>().Single().Value);
    }

    [Fact]
    public async Task Prefix_and_deep_prompts_run_at_the_hidden_location()
    {
        var html = string.Join("\n", Html(await SubmitOk($"#!soft-prompt {Small} --method prefix --reparameterise 16")));
        Assert.Contains("prefix-tuning", html);
        Assert.Contains("Hidden", html);
        Assert.DoesNotContain("Nearest vocabulary tokens", html);
    }

    [Fact]
    public async Task Tunes_a_zoo_decoder_with_a_verbalizer()
    {
        var html = string.Join("\n", Html(await SubmitOk($"#!soft-prompt --model icl-rules {Small}")));
        Assert.Contains("+ verbalizer", html);
        Assert.Contains("Rule-based", html);
        Assert.Contains("unchanged ✓", html);
    }

    [Theory]
    [InlineData("--model gpt-5", "not a model for #!soft-prompt")]
    [InlineData("--method lora", "not a prompt-tuning method")]
    [InlineData("--method prefix --init vocab", "applies to soft prompts only")]
    [InlineData("--init text", "needs --init-text")]
    [InlineData("--tokens 0", "must be 1 to 100")]
    [InlineData("--task /no/such.csv", "No data file")]
    public async Task Bad_options_give_clear_errors_and_the_kernel_stays_usable(string option, string expected)
    {
        var message = await SubmitFails($"#!soft-prompt --task sentiment --train 32 --test 16 --epochs 1 {option}".Replace("--task sentiment --train 32 --test 16 --epochs 1 --task", "--train 32 --test 16 --epochs 1 --task"));
        Assert.Contains(expected, message);
        await AssertKernelStillUsable();
    }
}
