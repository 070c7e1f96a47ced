using Microsoft.DotNet.Interactive.Events;
using Reprogram.Taxonomy;

namespace Reprogram.Interactive.Tests;

public class ManipulationDirectiveTests : KernelTestBase
{
    [Fact]
    public async Task Renders_a_taxonomy_row_with_neighbours_and_becomes_a_csharp_variable()
    {
        var result = await SubmitOk("#!manipulation my_frame --format learnable --location input --operator additive --alignment statistical --description \"a frame prompt\"");
        var html = Html(result).Single(h => h.Contains("rp-manipulation"));
        Assert.Contains("my_frame", html);
        Assert.Contains("a frame prompt", html);
        Assert.Contains("Model reprogramming", html);
        Assert.Contains("Published methods at the same coordinates", html);
        Assert.Contains("ILM-VP", html);
        Assert.Contains("One dimension away", html);
        Assert.Contains("BlackVIP", html); // differs only in alignment (rule-based)

        var value = await SubmitOk("my_frame.Coordinates.Location.ToString() + \"/\" + my_frame.Paradigm");
        Assert.Equal("Input/ModelReprogramming", value.Events.OfType<ReturnValueProduced>().Single().Value);
    }

    [Fact]
    public async Task Coordinates_with_no_published_method_say_so()
    {
        var result = await SubmitOk("#!manipulation odd --format learnable --location hidden --operator additive --alignment statistical");
        var html = Html(result).Single(h => h.Contains("rp-manipulation"));
        Assert.Contains("none: these coordinates are not covered", html);
    }

    [Fact]
    public async Task Fixed_parametric_is_a_contradiction()
    {
        var message = await SubmitFails("#!manipulation bad --format fixed --location input --operator parametric --alignment identity");
        Assert.Contains("contradicts the taxonomy", message);
        Assert.Contains("Learnable", message);
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task A_paradigm_that_disagrees_with_the_format_is_refused()
    {
        var message = await SubmitFails("#!manipulation icl --format learnable --location input --operator concatenative --alignment identity --paradigm prompt-instruction");
        Assert.Contains("Prompt instruction manipulations have a Fixed format", message);
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task Every_bad_value_is_named_with_its_allowed_values()
    {
        var message = await SubmitFails("#!manipulation x --format soft-ish --location input --operator multiply --alignment linear");
        Assert.Contains("'soft-ish' is not a format value", message);
        Assert.Contains("Allowed: Fixed, Learnable", message);
        Assert.Contains("'multiply' is not a operator value", message.Replace("an operator", "a operator"));
        Assert.Contains("Additive, Concatenative, Parametric", message);
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task A_name_that_cannot_be_a_variable_is_refused()
    {
        var message = await SubmitFails("#!manipulation 9lives --format fixed --location input --operator concatenative --alignment identity");
        Assert.Contains("C# variable", message);
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task A_missing_coordinate_is_a_directive_error()
    {
        var message = await SubmitFails("#!manipulation half --format fixed --location input");
        Assert.Contains("--operator", message);
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task The_csharp_api_declares_the_same_manipulation()
    {
        var result = await SubmitOk("""
            var m = new Manipulation("soft", Format.Learnable, Location.Embedding, Operator.Concatenative, OutputAlignment.Identity);
            m
            """);
        var html = result.Events.OfType<ReturnValueProduced>().Single().FormattedValues.Single(v => v.MimeType == "text/html").Value;
        Assert.Contains("Prompt tuning", html);
        Assert.Contains("SPoT", html);
    }
}
