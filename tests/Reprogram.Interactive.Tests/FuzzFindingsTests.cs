using Reprogram.Interactive.Charts;
using Reprogram.Interactive.Directives;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Reprogram.Interactive.Tests;

/// <summary>
/// What the Jupyter-protocol fuzz harness (tests/fuzz/jupyter_fuzz.py) found, each kept fixed here in the in-process
/// kernel: markup from data drawn by charts, files checked only after a run, typos that start runs that never end,
/// and an unexpected error shown as a stack trace. (Bare @: ValueSourceTests; --threads: DeviceDirectiveTests.)
/// </summary>
public class FuzzFindingsTests : KernelTestBase
{
    private const string Script = "</script><script>fzq1()</script>";
    private const string Img = "<img src=x onerror=fzq2()>";

    [Theory]
    // The export used to run after the experiment, outside the directive's error handling: a raw ArgumentException trace.
    [InlineData("#!icl --model icl-rules --queries 2 --pool 4 --shots 0 --export \"\"", "--export '': give a file name ending in .csv")]
    [InlineData("#!cot --queries 2 --mode direct --export out.txt", "--export 'out.txt': give a file name ending in .csv")]
    [InlineData("#!soft-prompt --task sentiment --train 4 --test 2 --epochs 1 --save \" \"", "--save ' ': give a file name ending in .safetensors")]
    [InlineData("#!reprogram --model fashion-cnn --task digits --train 4 --test 4 --epochs 1 --save /tmp", "--save '/tmp': give a file name ending in .safetensors")]
    // Typos that started runs that would never end or fill the memory.
    [InlineData("#!reprogram --model fashion-cnn --task digits --epochs 1000000", "Epochs must be 1 to 10,000")]
    [InlineData("#!reprogram --model fashion-cnn --task digits --batch 1000000", "The batch size must be 1 to 4,096")]
    [InlineData("#!reprogram --model fashion-cnn --task digits --train 2147483647", "Train and test counts must be 1 to 100,000")]
    [InlineData("#!reprogram --model fashion-cnn --task digits --manipulation pad --pad-width 1000000", "The frame width must be 1 to 1024 pixels")]
    [InlineData("#!reprogram --model fashion-cnn --task digits --manipulation patch --patch-size 1000000", "The patch size must be 1 to 1024 pixels")]
    [InlineData("#!soft-prompt --task sentiment --method prefix --reparameterise 1000000", "The reparameterisation size must be 1 to 8,192")]
    [InlineData("#!compare --test 1000000", "test examples must be 1 to 100,000")]
    public async Task Bad_paths_and_sizes_are_refused_before_anything_runs(string cell, string expected)
    {
        var message = await SubmitFails(cell);
        Assert.Contains(expected, message);
        Assert.DoesNotContain("   at ", message);
        Assert.DoesNotContain("Exception", message);
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task Markup_in_a_trigger_and_an_instruction_reaches_the_charts_as_text()
    {
        var result = await SubmitOk($"#!cot --queries 2 --seeds 1 --mode direct,zero-shot --trigger \"{Script.Replace("\"", "\\\"")}\" --instruction \"{Img}\" --name fz");
        var html = string.Join("\n", Html(result));
        Assert.Contains("fzq1", html);   // the trigger is shown (a setting's name), as text
        AssertNoMarkupFromInput(html);
    }

    [Fact]
    public async Task Class_names_with_markup_from_an_image_folder_reach_tables_and_charts_as_text()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"reprogram-fuzz-images-{Guid.NewGuid():N}");
        foreach (var (label, shade) in new[] { (Img, 40), (Script.Replace("/", ""), 200) })
        {
            var classFolder = Directory.CreateDirectory(Path.Combine(folder, label)).FullName;
            for (var i = 0; i < 6; i++)
            {
                using var image = new Image<Rgb24>(12, 12, new Rgb24((byte)(shade + 5 * i), 100, (byte)(250 - shade)));
                image.SaveAsPng(Path.Combine(classFolder, $"{i}.png"));
            }
        }
        try
        {
            var result = await SubmitOk($"#!reprogram --model fashion-cnn --task \"{folder}\" --train 8 --test 4 --epochs 1 --batch 4 --alignment ilm --name fzr");
            var html = string.Join("\n", Html(result));
            Assert.Contains("fzq2", html);   // the class names are shown, as text
            AssertNoMarkupFromInput(html);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Chart_text_and_figure_json_cannot_end_their_script_or_become_markup()
    {
        Assert.Equal("&lt;img src=x onerror=fzq2()&gt; &amp;amp;", ChartText.E(Img + " &amp;"));
        var json = ChartText.ScriptSafeJson("{\"title\":\"" + Script + "\"}");
        Assert.DoesNotContain("<", json);
        Assert.Contains("\\u003c/script>", json);
        var js = ChartText.ScriptSafeJs("var t = \"" + Script + "<!-- x\";");
        Assert.DoesNotContain("</", js);
        Assert.DoesNotContain("<!--", js);
    }

    [Fact]
    public void An_unexpected_error_is_one_line_naming_the_command_without_a_stack_trace()
    {
        Exception error;
        try
        {
            throw new InvalidOperationException("Sequence contains no elements\n   at Somewhere.Deep()");
        }
        catch (InvalidOperationException e)
        {
            error = e;
        }
        var message = DirectiveErrors.Message("#!icl", new AggregateException(error));
        Assert.StartsWith("#!icl " + DirectiveErrors.Marker + " (InvalidOperationException: Sequence contains no elements)", message);
        Assert.DoesNotContain("\n", message);
        Assert.DoesNotContain("   at ", message);
    }

    /// <summary>No tag, event handler or script URL from the injected strings: they appear escaped, as entities or \u003c.</summary>
    private static void AssertNoMarkupFromInput(string html)
    {
        Assert.DoesNotContain(Img, html);
        Assert.DoesNotContain("<script>fzq1()", html);
        Assert.DoesNotContain("</script><script>fzq", html);
        Assert.DoesNotContain("<img src=x", html);
    }
}
