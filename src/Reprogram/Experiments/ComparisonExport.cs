using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Reprogram.Experiments;

/// <summary>Writes results as .csv (the table) or .json (everything, with every prediction), chosen by the file's extension.</summary>
public static class ResultFiles
{
    public static void Write(string path, Func<string> csv, Func<string> json)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("Export needs a file name ending in .csv or .json.");
        var text = Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".csv" => csv(),
            ".json" => json(),
            _ => throw new ArgumentException($"Export to .csv (the table) or .json (the whole run, with every prediction), not '{Path.GetFileName(path)}'."),
        };
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        File.WriteAllText(path, text);
    }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>RFC 4180 quoting.</summary>
    public static string Csv(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;

    public static string Number(double? value) => value is { } v ? v.ToString("R", CultureInfo.InvariantCulture) : "";
}

/// <summary>A comparison's table as CSV and the whole comparison as JSON.</summary>
internal static class ComparisonExport
{
    private static readonly string[] Columns =
    [
        "method", "manipulation", "alignment", "format", "location", "operator", "output_alignment", "paradigm", "budget", "labelled_examples",
        "test_accuracy", "test_accuracy_sd", "test_accuracy_per_seed", "train_accuracy", "trainable_parameters", "frozen_parameters",
        "training_seconds", "inference_tokens_per_query", "seeds", "checksum_before", "checksum_after",
    ];

    public static string Csv(ComparisonResult result)
    {
        var sb = new StringBuilder(string.Join(',', Columns)).Append('\n');
        foreach (var row in result.Rows)
        {
            var r = row.Result;
            var c = r.Coordinates;
            sb.AppendJoin(',',
                ResultFiles.Csv(row.Method.Name), ResultFiles.Csv(row.Method.Manipulation.Name), ResultFiles.Csv(row.Method.Alignment.Name),
                c?.Format.ToString() ?? "", c?.Location.ToString() ?? "", c?.Operator.ToString() ?? "", r.AlignmentKind.ToString(), r.Paradigm?.ToString() ?? "",
                row.Budget.ToString(CultureInfo.InvariantCulture), (r.LabelledExamples ?? 0).ToString(CultureInfo.InvariantCulture),
                ResultFiles.Number(row.TestAccuracy), ResultFiles.Number(row.TestAccuracySd),
                ResultFiles.Csv(string.Join(";", r.TestAccuracyPerSeed.Select(a => a.ToString("R", CultureInfo.InvariantCulture)))),
                ResultFiles.Number(r.Metric(MetricNames.TrainAccuracy)), r.TrainableParameters.ToString(CultureInfo.InvariantCulture),
                r.FrozenParameters.ToString(CultureInfo.InvariantCulture), ResultFiles.Number(r.TrainingTime.TotalSeconds),
                ResultFiles.Number(r.InferenceTokensPerQuery), ResultFiles.Csv(string.Join(";", r.Seeds)), r.ChecksumBefore, r.ChecksumAfter);
            sb.Append('\n');
        }
        return sb.ToString();
    }

    public static string Json(ComparisonResult result) => JsonSerializer.Serialize(new
    {
        kind = "comparison",
        model = result.Model,
        task = result.Task,
        vary = result.Vary,
        seeds = result.Options.Seeds,
        examples = result.Options.Examples,
        testExamples = result.Options.TestExamples,
        training = new { epochs = result.Options.Epochs, batchSize = result.Options.BatchSize, learningRate = result.Options.LearningRate },
        wallSeconds = result.WallTime.TotalSeconds,
        checksumBefore = result.ChecksumBefore,
        frozenUnchanged = result.FrozenUnchanged,
        sameTestExamples = result.SameTestExamples,
        stopped = result.Stopped,
        rows = result.Rows.Select(row => new
        {
            method = row.Method.Name,
            manipulation = row.Method.Manipulation.Name,
            alignment = row.Method.Alignment.Name,
            coordinates = row.Result.Coordinates?.ToString(),
            paradigm = row.Result.Paradigm?.ToString(),
            publishedMethods = row.Run.PublishedMethods,
            budget = row.Budget,
            labelledExamples = row.Result.LabelledExamples,
            testAccuracy = row.TestAccuracy,
            testAccuracySd = row.TestAccuracySd,
            testAccuracyPerSeed = row.Result.TestAccuracyPerSeed,
            metrics = row.Result.Metrics,
            trainableParameters = row.Result.TrainableParameters,
            frozenParameters = row.Result.FrozenParameters,
            trainingSeconds = row.Result.TrainingTime.TotalSeconds,
            inferenceTokensPerQuery = row.Result.InferenceTokensPerQuery,
            checksumBefore = row.Result.ChecksumBefore,
            checksumAfter = row.Result.ChecksumAfter,
            settings = row.Result.Settings,
            testIds = row.Run.Seeds.ToDictionary(s => s.Seed.ToString(CultureInfo.InvariantCulture), s => s.TestIds),
            records = row.Run.Records,
        }),
        skipped = result.Skipped,
    }, ResultFiles.Json);

    public static void Write(string path, Func<string> csv, Func<string> json) => ResultFiles.Write(path, csv, json);
}
