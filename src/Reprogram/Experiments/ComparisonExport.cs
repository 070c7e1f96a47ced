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
        Converters = { new JsonStringEnumConverter() },
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

    public static string Json(ComparisonResult result)
    {
        var doc = ResultExport.Head("comparison", result.Model, result.Task, result.Options, result.Provenance);
        doc["vary"] = result.Vary;
        doc["seeds"] = result.Options.Seeds;
        doc["examples"] = result.Options.Examples;
        doc["testExamples"] = result.Options.TestExamples;
        doc["training"] = new { epochs = result.Options.Epochs, batchSize = result.Options.BatchSize, learningRate = result.Options.LearningRate };
        doc["wallSeconds"] = result.WallTime.TotalSeconds;
        doc["checksumBefore"] = result.ChecksumBefore;
        doc["frozenUnchanged"] = result.FrozenUnchanged;
        doc["sameTestExamples"] = result.SameTestExamples;
        doc["stopped"] = result.Stopped;
        doc["rows"] = result.Rows.Select(row =>
        {
            // The row in the shape every export shares, with the comparison's own keys: the method (registry names) and budget.
            var r = ResultExport.Row(row.Result, row.Run);
            r["method"] = row.Method.Name;
            r["manipulation"] = row.Method.Manipulation.Name;
            r["alignment"] = row.Method.Alignment.Name;
            r["budget"] = row.Budget;
            return r;
        }).ToArray();
        doc["skipped"] = result.Skipped;
        return ResultExport.Serialize(doc);
    }

    public static void Write(string path, Func<string> csv, Func<string> json) => ResultFiles.Write(path, csv, json);
}
