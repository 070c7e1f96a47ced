using Microsoft.DotNet.Interactive.Formatting;
using Microsoft.DotNet.Interactive.Events;

namespace Reprogram.Interactive.Tests;

/// <summary>#!compare in a real CompositeKernel: the table, the charts, the export, the C# variable, bad options.</summary>
public class CompareDirectiveTests : KernelTestBase
{
    /// <summary>The product's default model and task, at tiny settings.</summary>
    private const string Small = "--examples 2,4 --seeds 2 --test 12 --epochs 3";

    [Fact]
    public async Task Compare_shows_one_table_the_data_efficiency_and_dimension_charts_exports_and_shares_the_result()
    {
        var folder = Path.Combine(Path.GetTempPath(), "rp-compare-cell-" + Guid.NewGuid().ToString("N"));
        var export = Path.Combine(folder, "comparison.csv");
        var result = await SubmitOk($"#!compare {Small} --methods icl+verbalizer,soft-prompt+verbalizer,embedding-perturbation+linear,none+ilm --export {export} --name cmp");
        var html = string.Join("\n", Html(result));
        Assert.Contains("Comparison</b> on rule-family", html);
        Assert.Contains("icl + verbalizer", html);                         // a row per method and budget
        Assert.Contains("soft-prompt + verbalizer", html);
        Assert.Contains("rp-v-fixed", html);                               // coordinates as badges: prompt instruction ...
        Assert.Contains("rp-v-embedding", html);                           // ... prompt tuning ...
        Assert.Contains("rp-v-additive", html);                            // ... and model reprogramming
        Assert.Contains("Test accuracy (mean", html);
        Assert.Contains("Labelled examples", html);
        Assert.Contains("Tokens per query", html);
        Assert.Contains("Data efficiency", html);                          // accuracy against labelled examples
        Assert.Contains("Test accuracy by location", html);                // a chart per dimension that differs
        Assert.Contains("unchanged ✓", html);
        Assert.Equal(1 + 4 * 2, File.ReadAllLines(export).Length);
        // 8 rows x 2 seeds of loading, training and evaluating: one live display, updated in place.
        static bool IsProgress(IEnumerable<FormattedValue> values) => values.Any(v => v.Value.Contains(", seed "));
        Assert.Single(result.Events.OfType<DisplayedValueProduced>(), e => IsProgress(e.FormattedValues));
        Assert.True(result.Events.OfType<DisplayedValueUpdated>().Count(e => IsProgress(e.FormattedValues)) > 16);
        var check = await SubmitOk("cmp.Rows.Count == 8 && cmp.SameTestExamples && cmp.FrozenUnchanged");
        Assert.Equal(true, check.Events.OfType<ReturnValueProduced>().Single().Value);
        var json = Path.Combine(folder, "comparison.json");
        await SubmitOk($"cmp.Export(@\"{json}\");");
        Assert.Contains("\"records\"", File.ReadAllText(json));
        Directory.Delete(folder, true);
    }

    [Fact]
    public async Task Vary_holds_three_coordinates_and_charts_the_fourth()
    {
        var result = await SubmitOk("#!compare --examples 4 --seeds 2 --test 12 --epochs 3 --vary operator --name varied");
        var html = string.Join("\n", Html(result));
        Assert.Contains("varying <b>operator</b>", html);
        Assert.Contains("embedding-perturbation + verbalizer", html);
        Assert.Contains("Test accuracy by operator", html);
        var methods = await SubmitOk("string.Join(\";\", varied.Rows.Select(r => r.Method.Name))");
        Assert.Equal("soft-prompt + verbalizer;embedding-perturbation + verbalizer", methods.Events.OfType<ReturnValueProduced>().Single().Value);
    }

    [Theory]
    [InlineData("#!compare --manipulations soft-prompt,lora", "'lora' is not an input manipulation. Allowed: none, icl")]
    [InlineData("#!compare --alignments softmax", "'softmax' is not an output alignment. Allowed: verbalizer")]
    [InlineData("#!compare --model gpt-17", "'gpt-17' is not a model. Allowed: rule-family")]
    [InlineData("#!compare --task imdb", "'imdb' is not a task. Allowed: held-out-rule")]
    [InlineData("#!compare --vary sideways", "'sideways' is not a dimension to vary. Allowed: format, location, operator, alignment")]
    [InlineData("#!compare --vary format", "in format alone")]
    [InlineData("#!compare --methods soft-prompt", "is not a method: write manipulation+alignment")]
    [InlineData("#!compare --examples 2,x", "--examples: 'x' is not a whole number")]
    [InlineData("#!compare --seeds 1,1", "repeats a seed")]
    [InlineData("#!compare --export out.txt", "give a file name ending in .csv")]
    [InlineData("#!compare --export ''", "give a file name ending in .csv")]
    [InlineData("#!compare --name 3x", "cannot be a C# variable name")]
    [InlineData("#!compare --vary location --methods icl+verbalizer", "--vary takes its methods from --base")]
    [InlineData("#!compare --methods icl+verbalizer --alignments ilm", "give one or the other")]
    [InlineData("#!compare --base soft-prompt+verbalizer", "--base is where --vary starts")]
    [InlineData("#!compare --selection nearest", "'nearest' is not a demonstration selection. Allowed: random, balanced, similar")]
    public async Task Bad_options_are_refused_with_the_allowed_values_and_the_kernel_stays_usable(string cell, string expected)
    {
        var message = await SubmitFails(cell);
        Assert.Contains(expected, message);
        Assert.DoesNotContain("   at ", message);                         // a message, not a stack trace
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task A_method_that_cannot_run_here_is_listed_with_the_reason()
    {
        // 30 demonstrations of 3 characters do not fit the model's 64 positions: the other methods still run.
        var result = await SubmitOk("#!compare --methods icl+verbalizer,none+linear --examples 30 --seeds 1 --test 6 --epochs 1 --name partial");
        var html = string.Join("\n", Html(result));
        Assert.Contains("Not run here", html);
        Assert.Contains("64 positions", html);
        var rows = await SubmitOk("partial.Rows.Count == 1 && partial.Skipped.Count == 1");
        Assert.Equal(true, rows.Events.OfType<ReturnValueProduced>().Single().Value);
    }
}
