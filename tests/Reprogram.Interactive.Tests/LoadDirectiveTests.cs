using SixLabors.ImageSharp;
using Microsoft.DotNet.Interactive.Events;

namespace Reprogram.Interactive.Tests;

/// <summary>
/// --load on #!reprogram and #!soft-prompt in a real kernel: a saved run's accuracy again, new inputs with and without
/// labels, a PEFT adapter folder, and every refusal (a missing or corrupt file, another model, a training option) as
/// the cell's message with the kernel still usable.
/// </summary>
public class LoadDirectiveTests : KernelTestBase
{
    private readonly string temp = Directory.CreateTempSubdirectory("reprogram-load-").FullName;

    private const string SmallImages = "--model fashion-cnn --task digits --train 128 --test 40 --epochs 2 --batch 32 --lr 0.05 --alignment linear";
    private const string SmallTexts = "--model icl-rules --task sentiment --train 24 --test 16 --tokens 2 --epochs 1 --batch 8 --max-length 40";

    private async Task<T> Value<T>(string expression) =>
        (T)(await SubmitOk(expression)).Events.OfType<ReturnValueProduced>().Single().Value;

    [Fact]
    public async Task Reprogram_load_gives_the_saved_accuracy_again_and_predicts_an_image_folder_without_labels()
    {
        var save = Path.Combine(temp, "digits.safetensors");
        await SubmitOk($"#!reprogram {SmallImages} --save {save} --name trained");
        var result = await SubmitOk($"#!reprogram --load {save} --name again");
        var html = string.Join("\n", Html(result));
        Assert.Contains("Loaded", html);
        Assert.Contains("is the one the file was learned on ✓", html);
        Assert.Contains("unchanged ✓", html);
        Assert.True(await Value<bool>("again.Accuracy == trained.Main.Metrics[\"test accuracy\"] && again.Labelled && again.Records.Count == 40"));

        // A folder of images without class sub-folders: predictions only.
        Directory.CreateDirectory(Path.Combine(temp, "new"));
        for (var i = 0; i < 5; i++)
        {
            using var image = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.L8>(8, 8, new SixLabors.ImageSharp.PixelFormats.L8((byte)(40 * i)));
            image.SaveAsPng(Path.Combine(temp, "new", $"{i}.png"));
        }
        var export = Path.Combine(temp, "new.json");
        var folder = string.Join("\n", Html(await SubmitOk($"#!reprogram --load {save} --task {temp}/new --name newImages --export {export}")));
        Assert.Contains("No labels", folder);
        Assert.True(await Value<bool>("newImages.Accuracy == null && newImages.Records.Count == 5 && newImages.Predictions.All(p => trained.TargetLabels.Contains(p))"));
        // --export writes the predictions in the results format, which Results.Load reads back.
        Assert.True(await Value<bool>($"Reprogram.Experiments.Results.Load(@\"{export}\").Rows.Single().Records.Count == 5"));
    }

    [Fact]
    public async Task Soft_prompt_load_takes_the_saved_file_or_its_PEFT_folder_and_texts_without_labels()
    {
        var save = Path.Combine(temp, "sentiment.safetensors");
        var peft = Path.Combine(temp, "sentiment-peft");
        var trained = string.Join("\n", Html(await SubmitOk($"#!soft-prompt {SmallTexts} --save {save} --save-peft {peft} --name sp")));
        Assert.True(File.Exists(Path.Combine(peft, "adapter_config.json")));
        Assert.True(File.Exists(Path.Combine(peft, "adapter_model.safetensors")));

        await SubmitOk($"#!soft-prompt --load {save} --name fromFile");
        await SubmitOk($"#!soft-prompt --load {peft} --name fromPeft");
        Assert.True(await Value<bool>("fromFile.Accuracy == sp.Main.Metrics[\"test accuracy\"] && fromPeft.Accuracy == fromFile.Accuracy"));

        var texts = Path.Combine(temp, "texts.csv");
        File.WriteAllLines(texts, ["text", "A fine film.", "A dull film.", "\"Quoted, with a comma\""]);
        var html = string.Join("\n", Html(await SubmitOk($"#!soft-prompt --load {save} --task {texts} --name unlabelled")));
        Assert.Contains("No labels", html);
        Assert.Contains("Quoted, with a comma", html);
        Assert.True(await Value<bool>("unlabelled.Records.Count == 3 && !unlabelled.Labelled"));
    }

    [Fact]
    public async Task Refusals_name_what_is_wrong_and_the_kernel_stays_usable()
    {
        var save = Path.Combine(temp, "sentiment.safetensors");
        await SubmitOk($"#!soft-prompt {SmallTexts} --save {save} --name sp");
        var checksum = (await Value<string>("sp.Main.ChecksumBefore"))[..12];

        var missing = await SubmitFails($"#!soft-prompt --load {temp}/nothing.safetensors");
        Assert.Contains("nothing.safetensors", missing);
        await AssertKernelStillUsable();

        var other = await SubmitFails($"#!soft-prompt --load {save} --model arith-cot");
        Assert.Contains(checksum, other);
        Assert.Contains("sentiment.safetensors", other);
        Assert.Contains("arith-cot", other);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(other, "checksum [0-9a-f]{12}").Count);
        await AssertKernelStillUsable();

        var training = await SubmitFails($"#!soft-prompt --load {save} --epochs 3 --seed 2");
        Assert.Contains("--epochs, --seed do not apply with --load", training);
        await AssertKernelStillUsable();

        var corrupt = Path.Combine(temp, "corrupt.safetensors");
        var bytes = File.ReadAllBytes(save);
        bytes[^2] ^= 0x20;
        File.WriteAllBytes(corrupt, bytes);
        Assert.Contains("corrupt", await SubmitFails($"#!soft-prompt --load {corrupt}"));
        await AssertKernelStillUsable();

        Assert.Contains("--save-peft needs a decoder", await SubmitFails($"#!soft-prompt --task sentiment --save-peft {temp}/p"));
        Assert.Contains("does not apply with --load", await SubmitFails($"#!reprogram --load {save} --recipe ilm-vp"));
        await AssertKernelStillUsable();
    }
}
