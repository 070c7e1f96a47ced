using System.Collections;
using System.Globalization;
using System.Text;
using Microsoft.Data.Analysis;
using Reprogram.Taxonomy;

namespace Reprogram.Experiments;

/// <summary>
/// One row of results in the shape every result kind shares, in memory (<see cref="Results.Of(ComparisonResult)"/> and the
/// other overloads) or read back from an export (<see cref="Results.Load(string[])"/>): what ran (name, model, task,
/// coordinates), its metrics over seeds, what it cost, the frozen model's checksums, the settings and spec that rerun it,
/// the provenance, and every prediction.
/// </summary>
public sealed record ResultRow
{
    /// <summary>The file the row was read from (null for a result in memory).</summary>
    public string? Source { get; init; }
    /// <summary>reprogram, soft-prompt, comparison, in-context learning, chain-of-thought or experiment.</summary>
    public required string Kind { get; init; }
    public required string Name { get; init; }
    public required string Model { get; init; }
    public required string Task { get; init; }
    public required string Manipulation { get; init; }
    public required string Alignment { get; init; }
    /// <summary>Null without an input manipulation (a linear probe, a bare label mapping).</summary>
    public Coordinates? Coordinates { get; init; }
    public required OutputAlignment AlignmentKind { get; init; }
    public Paradigm? Paradigm => Coordinates?.TypicalParadigm;
    /// <summary>A comparison's labelled-example budget (null for other kinds).</summary>
    public int? Budget { get; init; }
    public int? LabelledExamples { get; init; }
    public required IReadOnlyDictionary<string, double> Metrics { get; init; }
    public required IReadOnlyList<int> Seeds { get; init; }
    public IReadOnlyList<double> TestAccuracyPerSeed { get; init; } = [];
    public long TrainableParameters { get; init; }
    public long FrozenParameters { get; init; }
    public double TrainingSeconds { get; init; }
    public double WallSeconds { get; init; }
    public double? InferenceTokensPerQuery { get; init; }
    public required string Device { get; init; }
    public required string ChecksumBefore { get; init; }
    public required string ChecksumAfter { get; init; }
    public bool FrozenUnchanged => ChecksumBefore == ChecksumAfter;
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();
    public RunProvenance? Provenance { get; init; }
    /// <summary>Each seed's test example ids (the same for every method of a seed).</summary>
    public IReadOnlyDictionary<int, IReadOnlyList<string>> TestIds { get; init; } = new Dictionary<int, IReadOnlyList<string>>();
    public IReadOnlyList<PredictionRecord> Records { get; init; } = [];

    public double? Metric(string name) => Metrics.TryGetValue(name, out var v) ? v : null;
    public double? TestAccuracy => Metric(MetricNames.TestAccuracy);
    public double? TestAccuracySd => Metric(MetricNames.TestAccuracySd);
}

/// <summary>
/// Rows of results from one or more runs or exports, side by side: a table (<see cref="ToCsv"/>, a notebook formatter),
/// a <see cref="DataFrame"/>, and the records of every row. Made by <see cref="Results"/>.
/// </summary>
public sealed class ResultSet(IReadOnlyList<ResultRow> rows) : IReadOnlyList<ResultRow>
{
    public IReadOnlyList<ResultRow> Rows { get; } = rows;
    public int Count => Rows.Count;
    public ResultRow this[int index] => Rows[index];
    public IEnumerator<ResultRow> GetEnumerator() => Rows.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The files the rows came from, in order (empty for results in memory).</summary>
    public IReadOnlyList<string> Sources => Rows.Select(r => r.Source).OfType<string>().Distinct().ToArray();
    /// <summary>Every metric name of any row, canonical ones first.</summary>
    public IReadOnlyList<string> MetricNames => Rows.SelectMany(r => r.Metrics.Keys).Distinct().OrderBy(MetricOrder).ThenBy(n => n, StringComparer.Ordinal).ToArray();
    public IEnumerable<PredictionRecord> Records => Rows.SelectMany(r => r.Records);

    /// <summary>These rows and those of <paramref name="other"/>.</summary>
    public ResultSet Concat(ResultSet other) => new([.. Rows, .. other.Rows]);

    /// <summary>The table's columns (CSV, DataFrame): identity, coordinates, metrics, cost, checksums, provenance.</summary>
    public IReadOnlyList<string> Columns => [.. FixedColumns, .. MetricNames.Select(MetricColumn), .. TailColumns];

    private static readonly string[] FixedColumns =
    [
        "source", "kind", "name", "model", "task", "manipulation", "alignment", "format", "location", "operator", "output_alignment", "paradigm",
        "budget", "labelled_examples",
    ];

    private static readonly string[] TailColumns =
    [
        "test_accuracy_per_seed", "seeds", "trainable_parameters", "frozen_parameters", "training_seconds", "wall_seconds", "inference_tokens_per_query",
        "device", "checksum_before", "checksum_after", "frozen_unchanged", "library_version", "torchsharp_version", "libtorch_version", "dotnet_version",
        "git_commit", "cpu", "gpu", "timestamp_utc",
    ];

    /// <summary>"test accuracy (best epoch)" → "test_accuracy_best_epoch".</summary>
    public static string MetricColumn(string metric)
    {
        var sb = new StringBuilder();
        foreach (var ch in metric.ToLowerInvariant())
        {
            if (char.IsLetterOrDigit(ch)) sb.Append(ch);
            else if (sb.Length > 0 && sb[^1] != '_') sb.Append('_');
        }
        return sb.ToString().TrimEnd('_');
    }

    private static int MetricOrder(string name) => name switch
    {
        Experiments.MetricNames.TestAccuracy => 0,
        Experiments.MetricNames.TestAccuracySd => 1,
        Experiments.MetricNames.TrainAccuracy => 2,
        _ => 3,
    };

    /// <summary>A row's cells in <see cref="Columns"/> order, as text (numbers round-trip: "R" format, invariant culture).</summary>
    public IReadOnlyList<string> Cells(ResultRow row)
    {
        var c = row.Coordinates;
        var p = row.Provenance;
        return
        [
            row.Source ?? "", row.Kind, row.Name, row.Model, row.Task, row.Manipulation, row.Alignment,
            c?.Format.ToString() ?? "", c?.Location.ToString() ?? "", c?.Operator.ToString() ?? "", row.AlignmentKind.ToString(), row.Paradigm?.ToString() ?? "",
            Int(row.Budget), Int(row.LabelledExamples),
            .. MetricNames.Select(m => ResultFiles.Number(row.Metric(m))),
            string.Join(";", row.TestAccuracyPerSeed.Select(a => a.ToString("R", CultureInfo.InvariantCulture))), string.Join(";", row.Seeds),
            row.TrainableParameters.ToString(CultureInfo.InvariantCulture), row.FrozenParameters.ToString(CultureInfo.InvariantCulture),
            ResultFiles.Number(row.TrainingSeconds), ResultFiles.Number(row.WallSeconds), ResultFiles.Number(row.InferenceTokensPerQuery),
            row.Device, row.ChecksumBefore, row.ChecksumAfter, row.FrozenUnchanged ? "true" : "false",
            p?.LibraryVersion ?? "", p?.TorchSharpVersion ?? "", p?.LibTorchVersion ?? "", p?.DotNetVersion ?? "", p?.GitCommit ?? "",
            p?.Cpu ?? "", p?.Gpu ?? "", p?.TimestampUtc.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) ?? "",
        ];
    }

    private static string Int(int? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "";

    /// <summary>The table as CSV (RFC 4180 quoting): one row per result.</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder(string.Join(',', Columns)).Append('\n');
        foreach (var row in Rows) sb.AppendJoin(',', Cells(row).Select(ResultFiles.Csv)).Append('\n');
        return sb.ToString();
    }

    /// <summary>Writes the table as .csv, or every row (with its records) as .json that <see cref="Results.Load(string[])"/> reads back.</summary>
    public void Export(string path) => ResultFiles.Write(path, ToCsv, () => Results.Json(this));

    /// <summary>
    /// The table as a <see cref="DataFrame"/>: text columns as strings, counts as longs, metrics and seconds as doubles
    /// (null where a row has none), the frozen check as a boolean and the timestamp as a UTC <see cref="DateTime"/>.
    /// </summary>
    public DataFrame ToDataFrame()
    {
        var metrics = MetricNames;
        var columns = new List<DataFrameColumn>
        {
            Text("source", r => r.Source), Text("kind", r => r.Kind), Text("name", r => r.Name), Text("model", r => r.Model), Text("task", r => r.Task),
            Text("manipulation", r => r.Manipulation), Text("alignment", r => r.Alignment),
            Text("format", r => r.Coordinates?.Format.ToString()), Text("location", r => r.Coordinates?.Location.ToString()),
            Text("operator", r => r.Coordinates?.Operator.ToString()), Text("output_alignment", r => r.AlignmentKind.ToString()),
            Text("paradigm", r => r.Paradigm?.ToString()),
            Long("budget", r => r.Budget), Long("labelled_examples", r => r.LabelledExamples),
        };
        columns.AddRange(metrics.Select(m => Double(MetricColumn(m), r => r.Metric(m))));
        columns.AddRange(
        [
            Text("test_accuracy_per_seed", r => string.Join(";", r.TestAccuracyPerSeed.Select(a => a.ToString("R", CultureInfo.InvariantCulture)))),
            Text("seeds", r => string.Join(";", r.Seeds)),
            Long("trainable_parameters", r => r.TrainableParameters), Long("frozen_parameters", r => r.FrozenParameters),
            Double("training_seconds", r => r.TrainingSeconds), Double("wall_seconds", r => r.WallSeconds),
            Double("inference_tokens_per_query", r => r.InferenceTokensPerQuery),
            Text("device", r => r.Device), Text("checksum_before", r => r.ChecksumBefore), Text("checksum_after", r => r.ChecksumAfter),
            new BooleanDataFrameColumn("frozen_unchanged", Rows.Select(r => r.FrozenUnchanged)),
            Text("library_version", r => r.Provenance?.LibraryVersion), Text("torchsharp_version", r => r.Provenance?.TorchSharpVersion),
            Text("libtorch_version", r => r.Provenance?.LibTorchVersion), Text("dotnet_version", r => r.Provenance?.DotNetVersion),
            Text("git_commit", r => r.Provenance?.GitCommit), Text("cpu", r => r.Provenance?.Cpu), Text("gpu", r => r.Provenance?.Gpu),
            new PrimitiveDataFrameColumn<DateTime>("timestamp_utc", Rows.Select(r => r.Provenance?.TimestampUtc.UtcDateTime)),
        ]);
        return new DataFrame(columns);
    }

    private StringDataFrameColumn Text(string name, Func<ResultRow, string?> value) => new(name, Rows.Select(value));
    private DoubleDataFrameColumn Double(string name, Func<ResultRow, double?> value) => new(name, Rows.Select(value));
    private Int64DataFrameColumn Long(string name, Func<ResultRow, long?> value) => new(name, Rows.Select(value));
}
