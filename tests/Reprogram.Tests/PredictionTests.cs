using System.Globalization;
using System.Text;
using Reprogram.Data;
using Reprogram.Experiments;
using Reprogram.Manipulations;
using Reprogram.Models.Zoo;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>
/// A saved manipulation and alignment applied to new inputs (<see cref="Prediction"/>, the C# side of --load): the saved
/// run's accuracy again, exactly, from the file alone; new images and texts, with and without labels; a model other than
/// the one it was learned on refused by checksum; missing and corrupt files refused by name.
/// </summary>
[Collection("zoo")]
public sealed class PredictionTests : IDisposable
{
    private readonly string temp = Directory.CreateTempSubdirectory("reprogram-prediction-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    private static readonly ReprogramOptions TinyImages = new()
    {
        Model = SourceClassifiers.FashionCnnName, Dataset = "digits", Alignment = "linear", TrainCount = 200, TestCount = 60, Epochs = 3, BatchSize = 32, Seed = 1, LearningRate = 0.05,
    };

    private static readonly PromptTuningOptions TinyTexts = new()
    {
        Model = "icl-rules", Task = "sentiment", TrainCount = 24, TestCount = 20, Tokens = 2, Epochs = 1, BatchSize = 8, MaxLength = 40,
        TextData = TextDataOptions.From(null, null, "negative=bad,positive=good"),
    };

    [Fact]
    public void A_saved_image_prompt_gives_its_run_accuracy_again_from_the_file_alone_and_on_the_same_images_as_tensors()
    {
        var run = VisualReprogramming.Run(TinyImages);
        var path = Path.Combine(temp, "digits.safetensors");
        run.Save(path);
        var saved = run.Runs[0].Seeds[0].Records;

        // The saved run's own test examples: the file says which model, task, split and seed.
        var again = Prediction.Evaluate(path);
        Assert.True(again.Labelled);
        Assert.Equal(run.Main.Metric(MetricNames.TestAccuracy)!.Value, again.Accuracy!.Value);   // exactly
        Assert.Equal(saved.Select(r => r.Predicted), again.Predictions);
        Assert.True(again.Predictions.Distinct().Count() >= 3, "a prompt that answers one class for everything would make this comparison weak");
        Assert.Equal(saved.Select(r => r.Output), again.Records.Select(r => r.Output));
        Assert.True(again.Result.FrozenUnchanged);
        Assert.Equal(run.Main.ChecksumBefore, again.Result.ChecksumBefore);
        Assert.True(again.ChecksumChecked);
        Assert.Contains("learned before, not trained now", again.Result.Settings["loaded from"]);

        // The same test images given as a tensor, with their labels.
        using var split = ImageTasks.Load("digits", 1, new SplitSizes(200, 200, 60));
        using var rows = tensor(split.Queries.Select(q => (long)q.Row).ToArray());
        using var images = split.Images.Images.index_select(0, rows);
        var fromTensors = Prediction.Evaluate(path, images, split.Queries.Select(q => q.Answer).ToArray());
        Assert.Equal(again.Accuracy, fromTensors.Accuracy);
        Assert.Equal(again.Predictions, fromTensors.Predictions);

        // Without labels: predictions only, the same ones.
        var unlabelled = Prediction.Predict(path, images);
        Assert.False(unlabelled.Labelled);
        Assert.Null(unlabelled.Accuracy);
        Assert.Empty(unlabelled.Result.Metrics);
        Assert.Equal(again.Predictions, unlabelled.Predictions);

        // Exported in the results format: Results.Load reads the row and every prediction back.
        var json = Path.Combine(temp, "predictions.json");
        again.Export(json);
        var row = Results.Load(json).Rows.Single();
        Assert.Equal(again.Accuracy, row.Metrics[MetricNames.TestAccuracy]);
        Assert.Equal(again.Predictions, row.Records.Select(r => r.Predicted));
        Assert.Equal("prediction", row.Kind);
    }

    [Fact]
    public void Image_folders_with_class_sub_folders_give_accuracy_and_without_them_predictions_only()
    {
        var run = VisualReprogramming.Run(TinyImages);
        var path = Path.Combine(temp, "digits.safetensors");
        run.Save(path);
        using var split = ImageTasks.Load("digits", 1, new SplitSizes(0, 0, 12));
        var labelled = Path.Combine(temp, "labelled");
        var flat = Path.Combine(temp, "flat");
        Directory.CreateDirectory(flat);
        for (var i = 0; i < split.Queries.Count; i++)
        {
            var q = split.Queries[i];
            var folder = Directory.CreateDirectory(Path.Combine(labelled, q.Answer)).FullName;
            // Ordinal file order within a class is the order the folder reader takes; the flat folder keeps the same order per class.
            WritePng(split.Images.Images[q.Row], Path.Combine(folder, $"{i:D3}.png"));
            WritePng(split.Images.Images[q.Row], Path.Combine(flat, $"{q.Answer}-{i:D3}.png"));
        }

        var evaluated = Prediction.Evaluate(path, labelled);
        Assert.True(evaluated.Labelled);
        Assert.Equal(12, evaluated.Records.Count);
        Assert.InRange(evaluated.Accuracy!.Value, 0, 1);
        Assert.Equal(evaluated.Records.Count(r => r.Correct) / 12.0, evaluated.Accuracy!.Value);
        Assert.All(evaluated.Records, r => Assert.Contains(r.Answer, run.TargetLabels));

        var predicted = Prediction.Predict(path, flat);
        Assert.False(predicted.Labelled);
        Assert.Null(predicted.Accuracy);
        Assert.Equal(12, predicted.Records.Count);
        Assert.All(predicted.Predictions, p => Assert.Contains(p, run.TargetLabels));
        // Both folders hold the same files, decoded the same way: the same prediction for each image.
        var byFile = predicted.Records.ToDictionary(r => r.Id, r => r.Predicted);
        var expected = evaluated.Records.Select(r => r.Predicted).ToArray();
        var flatInClassOrder = Directory.GetFiles(flat).Select(Path.GetFileName).Order(StringComparer.Ordinal).Select(f => byFile[f!]).ToArray();
        Assert.Equal(expected, flatInClassOrder);

        Assert.Contains("no labels", Assert.Throws<ArgumentException>(() => Prediction.Evaluate(path, flat)).Message);

        var unknown = Path.Combine(temp, "unknown-class");
        Directory.CreateDirectory(Path.Combine(unknown, "cat"));
        File.Copy(Directory.GetFiles(flat)[0], Path.Combine(unknown, "cat", "a.png"));
        Assert.Contains("'cat' is not one", Assert.Throws<ArgumentException>(() => Prediction.Evaluate(path, unknown)).Message);

        // An unlabelled folder is decoded with the same checks as a task's: a 20,000 x 20,000 image is refused from its header.
        var huge = Path.Combine(temp, "huge");
        Directory.CreateDirectory(huge);
        ImageFolderHostileTests.WriteBlankPng(Path.Combine(huge, "big.png"), 20_000, 20_000);
        Assert.Contains("20000 x 20000 pixels", Assert.Throws<InvalidDataException>(() => Prediction.Predict(path, huge)).Message);
    }

    [Fact]
    public void A_saved_soft_prompt_with_label_words_gives_its_run_accuracy_again_on_a_csv_of_its_test_texts_and_predicts_unlabelled_texts()
    {
        var run = PromptTuning.Run(TinyTexts);
        var path = Path.Combine(temp, "sentiment.safetensors");
        run.Save(path);
        var records = run.Run!.Seeds[0].Records;

        var again = Prediction.Evaluate(path);
        Assert.Equal(run.Main.Metric(MetricNames.TestAccuracy)!.Value, again.Accuracy!.Value);   // exactly
        Assert.Equal(records.Select(r => r.Output), again.Records.Select(r => r.Output));
        Assert.Equal(2, again.Predictions.Distinct().Count());

        // The same texts in a CSV of one's own, labelled with the class names (read through the saved label words).
        string Quote(string s) => "\"" + s.Replace("\"", "\"\"") + "\"";
        string ClassOf(string word) => word == "bad" ? "negative" : "positive";
        var labelled = Path.Combine(temp, "texts.csv");
        File.WriteAllLines(labelled, ["review,label", .. records.Select(r => $"{Quote(r.Input)},{ClassOf(r.Answer)}")]);
        var fromCsv = Prediction.Evaluate(path, labelled, new PredictionOptions { TextData = new TextDataOptions { TextColumn = "review" } });
        Assert.Equal(again.Accuracy, fromCsv.Accuracy);
        Assert.Equal(again.Predictions, fromCsv.Predictions);
        Assert.Equal(records.Select(r => r.Answer), fromCsv.Records.Select(r => r.Answer));

        // No label column: predictions only; a list of strings gives the same.
        var unlabelled = Path.Combine(temp, "unlabelled.jsonl");
        File.WriteAllLines(unlabelled, records.Select(r => $"{{\"review\": {System.Text.Json.JsonSerializer.Serialize(r.Input)}}}"));
        var predicted = Prediction.Predict(path, unlabelled, new PredictionOptions { TextData = new TextDataOptions { TextColumn = "review" } });
        Assert.False(predicted.Labelled);
        Assert.Equal(again.Predictions, predicted.Predictions);
        var fromStrings = Prediction.Predict(path, records.Select(r => r.Input));
        Assert.Equal(again.Predictions, fromStrings.Predictions);
        Assert.Equal(["bad", "good"], fromStrings.Labels);

        // A label the prompt was not learned for names the row.
        var wrong = Path.Combine(temp, "wrong.csv");
        File.WriteAllLines(wrong, ["text,label", "fine film,positive", "dull film,neutral"]);
        Assert.Contains("row 2", Assert.Throws<InvalidDataException>(() => Prediction.Evaluate(path, wrong)).Message);
    }

    [Fact]
    public void A_model_other_than_the_one_it_was_learned_on_is_refused_naming_both_checksums_and_the_file()
    {
        var run = PromptTuning.Run(TinyTexts);
        var path = Path.Combine(temp, "sentiment.safetensors");
        run.Save(path);
        var e = Assert.Throws<LearnedFileException>(() => Prediction.Predict(path, ["a fine film"], new PredictionOptions { Model = "arith-cot" }));
        Assert.Contains(Path.GetFileName(path), e.Message);
        Assert.Contains(Frozen.ParameterChecksum.Short(run.Main.ChecksumBefore), e.Message);
        Assert.Contains("arith-cot", e.Message);
        Assert.Matches("checksum [0-9a-f]{12}\\)", e.Message);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(e.Message, "checksum [0-9a-f]{12}").Count);
    }

    [Fact]
    public void Missing_and_corrupt_files_are_refused_with_a_clear_message()
    {
        var missing = Path.Combine(temp, "nothing-here.safetensors");
        Assert.Contains("nothing-here.safetensors", Assert.Throws<FileNotFoundException>(() => Prediction.Predict(missing, ["x"])).Message);

        var run = PromptTuning.Run(TinyTexts);
        var path = Path.Combine(temp, "sentiment.safetensors");
        run.Save(path);
        var bytes = File.ReadAllBytes(path);
        bytes[^3] ^= 0x10;
        File.WriteAllBytes(path, bytes);
        Assert.Contains("is corrupt", Assert.Throws<LearnedFileException>(() => Prediction.Predict(path, ["x"])).Message);
        File.WriteAllText(path, "not a safetensors file");
        Assert.Throws<LearnedFileException>(() => Prediction.Predict(path, ["x"]));
        Assert.Contains("without adapter_config.json", Assert.Throws<LearnedFileException>(() => Prediction.Predict(temp, ["x"])).Message);
    }

    /// <summary>An image [C, H, W] in [0, 1] as an 8-bit PNG (grey channels are written to R, G and B).</summary>
    private static void WritePng(Tensor image, string path)
    {
        using var cpu = image.cpu().contiguous();
        var (c, h, w) = ((int)cpu.shape[0], (int)cpu.shape[1], (int)cpu.shape[2]);
        var data = cpu.data<float>().ToArray();
        using var png = new Image<Rgb24>(w, h);
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                byte Channel(int k) => (byte)Math.Clamp(MathF.Round(data[(c == 1 ? 0 : k) * h * w + y * w + x] * 255f), 0, 255);
                png[x, y] = new Rgb24(Channel(0), Channel(1), Channel(2));
            }
        }
        png.SaveAsPng(path);
    }
}
