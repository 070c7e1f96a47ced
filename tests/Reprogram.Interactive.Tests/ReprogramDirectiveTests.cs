using SixLabors.ImageSharp;
using Microsoft.DotNet.Interactive.Events;

namespace Reprogram.Interactive.Tests;

public class ReprogramDirectiveTests : KernelTestBase
{
    private const string Small = "--model fashion-cnn --dataset digits --train 64 --test 40 --epochs 1 --batch 16";

    [Fact]
    public async Task Reprograms_with_live_progress_a_results_table_charts_and_a_csharp_variable()
    {
        var save = Path.Combine(Path.GetTempPath(), $"rp-{Guid.NewGuid():N}.safetensors");
        var result = await SubmitOk($"#!reprogram {Small} --alignment ilm --baseline --name run1 --save {save}");
        var html = string.Join("\n", Html(result));
        Assert.Contains("rp-results", html);
        Assert.Contains("baseline: no input manipulation", html);
        Assert.Contains("baseline: untrained prompt", html);
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Matches(html, "unchanged ✓").Count);
        Assert.Contains("Training curves", html);
        Assert.Contains("Learned prompt", html);
        Assert.Contains("Label mapping (iterative label mapping (ILM))", html);
        Assert.Contains("Statistical", html);
        // Live progress: a display that later updates were applied to.
        Assert.Contains(result.Events, e => e is DisplayedValueProduced p && p.FormattedValues.Any(v => v.Value.Contains("step ")));
        Assert.True(File.Exists(save));

        var check = await SubmitOk("run1.Main.FrozenUnchanged && run1.Baselines.Count == 2 && run1.Main.Metrics[\"test accuracy\"] >= 0");
        Assert.Equal(true, check.Events.OfType<ReturnValueProduced>().Single().Value);
    }

    [Theory]
    [InlineData("--seed zero", "'zero' is not a whole number")]
    [InlineData("--alignment softmax", "not an output alignment")]
    [InlineData("--manipulation blur", "not an input manipulation")]
    [InlineData("--lr -1", "learning rate must be a positive number")]
    [InlineData("--name 1st", "cannot be a C# variable name")]
    [InlineData("--image-size 32", "takes 28 px")]
    public async Task Bad_options_give_clear_errors_and_the_kernel_stays_usable(string option, string expected)
    {
        var message = await SubmitFails($"#!reprogram {Small} {option}");
        Assert.Contains(expected, message);
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task A_missing_data_folder_says_so()
    {
        var message = await SubmitFails($"#!reprogram --model fashion-cnn --dataset /nonexistent/folder --epochs 1");
        Assert.Contains("/nonexistent/folder", message);
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task An_image_folder_of_ones_own_is_the_task_and_is_checked()
    {
        var folder = Path.Combine(Path.GetTempPath(), "rp-image-folder-" + Guid.NewGuid().ToString("N"));
        foreach (var (label, shade) in new[] { ("dark", 30), ("light", 220) })
        {
            Directory.CreateDirectory(Path.Combine(folder, label));
            for (var i = 0; i < 6; i++)
            {
                using var image = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.L8>(12, 12, new SixLabors.ImageSharp.PixelFormats.L8((byte)(shade + 3 * i)));
                image.SaveAsPng(Path.Combine(folder, label, $"{i}.png"));
            }
        }
        var html = string.Join("\n", Html(await SubmitOk($"#!reprogram --model fashion-cnn --image-folder {folder} --train 8 --test 4 --epochs 1 --batch 4 --alignment linear --name own")));
        Assert.Contains("unchanged", html);
        var task = await SubmitOk("own.Options.Dataset");
        Assert.Equal(folder, task.Events.OfType<ReturnValueProduced>().Single().Value);

        Assert.Contains("both name the task", await SubmitFails($"#!reprogram --model fashion-cnn --image-folder {folder} --task digits --epochs 1"));
        Assert.Contains("/nonexistent/images", await SubmitFails("#!reprogram --model fashion-cnn --image-folder /nonexistent/images --epochs 1"));
        await AssertKernelStillUsable();
        Directory.Delete(folder, true);
    }

    [Fact]
    public async Task Options_can_come_from_csharp_variables()
    {
        await SubmitOk("var trainCount = 48;");
        var result = await SubmitOk($"#!reprogram --model fashion-cnn --dataset digits --train @csharp:trainCount --test 40 --epochs 1 --name fromVariables");
        var check = await SubmitOk("fromVariables.Main.Task");
        Assert.Contains("48 train", (string)check.Events.OfType<ReturnValueProduced>().Single().Value);
    }
}

public class ReprogramSessionDefaultsTests : KernelTestBase
{
    [Fact]
    public async Task Session_defaults_fill_the_options_a_cell_does_not_give()
    {
        try
        {
            await SubmitOk("ReprogramOptions.SessionDefaults = new ReprogramOptions { Model = \"fashion-cnn\", Dataset = \"digits\", TrainCount = 56, TestCount = 40, Epochs = 1 };");
            await SubmitOk("#!reprogram --alignment flm --name fromDefaults");
            var check = await SubmitOk("fromDefaults.Main.Task + \"|\" + fromDefaults.Main.Alignment");
            var text = (string)check.Events.OfType<ReturnValueProduced>().Single().Value;
            Assert.Contains("56 train", text);
            Assert.Contains("frequency label mapping", text);
        }
        finally
        {
            Reprogram.Experiments.ReprogramOptions.SessionDefaults = new();
        }
    }
}
