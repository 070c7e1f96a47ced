using Microsoft.DotNet.Interactive.Events;

namespace Reprogram.Interactive.Tests;

/// <summary>
/// --export on #!reprogram and #!soft-prompt, and exports loaded back with Results.Load in a cell: the same rows, one
/// table side by side (escaped), the charts, and a DataFrame.
/// </summary>
public class ResultsDirectiveTests : KernelTestBase, IDisposable
{
    private const string SmallImage = "--model fashion-cnn --dataset digits --train 48 --test 24 --epochs 1 --batch 16";
    private const string SmallText = "--task sentiment --train 24 --test 12 --tokens 2 --epochs 1 --batch 8 --max-length 24";

    private readonly string folder = Directory.CreateTempSubdirectory("rp-results-cells-").FullName;

    void IDisposable.Dispose() => Directory.Delete(folder, true);

    private string PathOf(string name) => Path.Combine(folder, name);

    private async Task<object?> Value(string code) => (await SubmitOk(code)).Events.OfType<ReturnValueProduced>().Single().Value;

    [Fact]
    public async Task Reprogram_and_soft_prompt_export_and_load_back_side_by_side()
    {
        var image = PathOf("image.json");
        var text = PathOf("text.json");
        var imageCell = await SubmitOk($"#!reprogram {SmallImage} --alignment ilm --baseline --export {image} --name rp");
        Assert.Contains(imageCell.Events.OfType<DisplayEvent>(), e => e.FormattedValues.Any(v => v.Value.Contains($"Exported the results to {image}")));
        await SubmitOk($"#!soft-prompt {SmallText} --export {text} --name sp");
        await SubmitOk($"#!reprogram {SmallImage} --alignment ilm --export {PathOf("image.csv")}");
        Assert.Equal(1 + 1, File.ReadAllLines(PathOf("image.csv")).Length);               // one row per result: the run (no baselines asked)

        // Export, load: the same table (every column but the source), the same records, and provenance kept.
        string Table(string set) => $"new ResultSet({set}.Rows.Select(r => r with {{ Source = null }}).ToArray()).ToCsv()";
        Assert.Equal(true, await Value($"{Table($"Results.Load(@\"{image}\")")} == {Table("rp.ToResultSet()")}"));
        Assert.Equal(true, await Value($"{Table($"Results.Load(@\"{text}\")")} == {Table("sp.ToResultSet()")}"));
        Assert.Equal(true, await Value($"Results.Load(@\"{image}\").Records.SequenceEqual(rp.Runs.SelectMany(r => r.Records))"));
        Assert.Equal(true, await Value($"Results.Load(@\"{text}\")[0].Provenance == sp.Main.Provenance && sp.Main.Provenance!.LibTorchVersion != null"));

        // Both files in one table, with the accuracy chart; and as a DataFrame.
        var shown = await SubmitOk($"var loaded = Results.Load(@\"{image}\", @\"{text}\");\nloaded");
        var html = string.Join("\n", Html(shown));
        Assert.Contains("<b>4 results</b> from image.json, text.json", html);
        Assert.Contains("baseline: untrained prompt", html);
        Assert.Contains("soft prompt", html);
        Assert.Contains("rp-v-embedding", html);                                          // coordinates as badges
        Assert.Contains("Test accuracy of 4 results", html);                              // the chart
        Assert.Contains("unchanged ✓", html);
        Assert.Equal(4L, await Value("loaded.ToDataFrame().Rows.Count"));
        Assert.Equal("fashion-cnn", await Value("(string)loaded.ToDataFrame().Columns[\"model\"][0] is var m && m.StartsWith(\"fashion-cnn\") ? \"fashion-cnn\" : m"));
    }

    [Fact]
    public async Task A_loaded_set_escapes_every_text_it_shows()
    {
        await SubmitOk($"#!reprogram {SmallImage} --manipulation none --alignment ilm --export {PathOf("plain.json")}");
        var json = File.ReadAllText(PathOf("plain.json"));
        var hostile = json.Replace("\"name\": \"no input manipulation", "\"name\": \"<script>alert(1)</script> & no input manipulation");
        Assert.NotEqual(json, hostile);
        File.WriteAllText(PathOf("hostile <b>.json"), hostile);
        var html = string.Join("\n", Html(await SubmitOk($"Results.Load(@\"{PathOf("hostile <b>.json")}\")")));
        Assert.DoesNotContain("<script>alert(1)", html);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; no input manipulation", html);
        Assert.DoesNotContain("hostile <b>", html);
        // The chart draws names as Plotly text (a subset of HTML): the file name must reach it as entities, not as \u003cb>.
        Assert.DoesNotContain("hostile \\u003cb>", html);
        Assert.DoesNotContain("\\u003cscript>alert(1)", html);
        Assert.Contains("hostile &lt;b&gt;.json", html);
    }

    [Theory]
    [InlineData("#!reprogram --export out.txt", "give a file name ending in .csv")]
    [InlineData("#!soft-prompt --export results.safetensors", "give a file name ending in .csv")]
    public async Task A_bad_export_name_is_refused_before_anything_runs(string cell, string expected)
    {
        var message = await SubmitFails(cell);
        Assert.Contains(expected, message);
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task Loading_a_file_that_is_not_an_export_says_what_it_is()
    {
        File.WriteAllText(PathOf("table.csv"), "name\nx\n");
        var message = await SubmitFails($"Results.Load(@\"{PathOf("table.csv")}\")");
        Assert.Contains("is a CSV table", message);
        await AssertKernelStillUsable();
    }
}
