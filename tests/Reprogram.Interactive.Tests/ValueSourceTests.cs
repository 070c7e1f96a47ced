using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Events;
using Reprogram.Interactive.Directives;

namespace Reprogram.Interactive.Tests;

/// <summary>
/// The bare-@ hang. In the dotnet-interactive tool, a magic command with more than one @ value source sends
/// RequestInputs (even when none is an input), and the tool answers with an HTML form and waits until the form's script
/// sends the values; a front end without that script never answers. These tests give the kernel a stand-in that waits
/// the same way, and check that this extension's commands never reach it and are refused with a message instead.
/// </summary>
public class ValueSourceTests : KernelTestBase
{
    private int formsShown;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        // What the tool's UseFormsForMultipleInputs does, minus the HTML: wait for an answer that never comes.
        Kernel.RegisterCommandHandler<RequestInputs>(async (_, context) =>
        {
            Interlocked.Increment(ref formsShown);
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
        });
    }

    [Theory]
    [InlineData("#!icl --calibration @ --demo-format @", "--calibration @: a bare @ is not a value")]
    [InlineData("#!icl --queries @ --name @", "--queries @: a bare @ is not a value")]
    [InlineData("#!cot --trigger @ --mode @", "--trigger @: a bare @ is not a value")]
    [InlineData("#!reprogram --model @ --dataset @", "--model @: a bare @ is not a value")]
    [InlineData("#!taxonomy --search @ --location @", "--search @: a bare @ is not a value")]
    [InlineData("#!manipulation x --format @ --location @ --operator additive --alignment linear", "A value for format")]   // a required option bound to nothing: .NET Interactive says so first
    public async Task Two_bare_ats_are_refused_with_a_message_instead_of_a_form_that_never_returns(string cell, string expected)
    {
        var submit = Submit(cell);
        var finished = await Task.WhenAny(submit, Task.Delay(TimeSpan.FromSeconds(60)));
        Assert.True(finished == submit, $"'{cell}' did not finish in 60 s");
        var failure = (await submit).Events.OfType<CommandFailed>().FirstOrDefault();
        Assert.NotNull(failure);
        Assert.Contains(expected, failure!.Message);
        Assert.Equal(0, formsShown);
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task A_single_bare_at_gets_the_same_message_not_a_lookup_of_a_variable_named_nothing()
    {
        var message = await SubmitFails("#!icl --instruction @");
        Assert.Contains("--instruction @: a bare @ is not a value", message);
        Assert.DoesNotContain("DNI202", message);
    }

    [Fact]
    public async Task A_variable_and_another_source_are_refused_because_the_form_would_bind_the_variable_to_nothing()
    {
        await SubmitOk("var task = \"sentiment\"; var model = \"icl-rules\";");
        var submit = Submit("#!icl --task @csharp:task --model @model");
        Assert.True(await Task.WhenAny(submit, Task.Delay(TimeSpan.FromSeconds(60))) == submit);
        var failure = (await submit).Events.OfType<CommandFailed>().FirstOrDefault();
        Assert.NotNull(failure);
        Assert.Contains("has 2 value sources (--task @csharp:task, --model @model)", failure!.Message);
        Assert.Equal(0, formsShown);
    }

    [Fact]
    public async Task One_variable_as_a_value_source_still_works()
    {
        await SubmitOk("var where = \"hidden\";");
        var result = await SubmitOk("#!taxonomy --location @csharp:where --no-chart");
        Assert.Contains("Prefix-tuning", string.Join("\n", Html(result)));
    }

    [Fact]
    public async Task A_quoted_at_is_a_value()
    {
        var message = await SubmitFails("#!icl --selection \"@\"");
        Assert.Contains("'@' is not a demonstration selection", message);
    }

    [Theory]
    [InlineData("#!icl --calibration @ --demo-format @", "--calibration", "@")]
    [InlineData("#!icl --instruction \"a @ b\" --query-format {\"x\": \"@ y\"}", null, null)]
    [InlineData("#!icl --model @input:model --task @password:task", null, null)]
    [InlineData("#!icl --model @: --task x", "--model", "@:")]
    public void Tokens_follow_the_parser(string line, string? option, string? token)
    {
        var problem = ValueSourceGuard.Problem(line, "#!icl");
        if (option is null) Assert.Null(problem);
        else Assert.StartsWith($"#!icl {option} {token}: a bare @", problem);
    }
}
