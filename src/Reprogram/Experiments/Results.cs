using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Reprogram.Taxonomy;

namespace Reprogram.Experiments;

/// <summary>
/// Results that outlive the kernel: any result kind in memory, or any JSON export (<c>--export run.json</c>,
/// <c>result.Export("run.json")</c>) read back, as one <see cref="ResultSet"/> whose rows sit side by side in one table.
/// </summary>
public static class Results
{
    /// <summary>
    /// Reads one or more JSON exports (of <c>#!reprogram</c>, <c>#!soft-prompt</c>, <c>#!icl</c>, <c>#!cot</c>,
    /// <c>#!compare</c>, an experiment or a result set) into one set, rows in file order. A folder reads every .json in it.
    /// </summary>
    public static ResultSet Load(params string[] paths) => Load((IEnumerable<string>)paths);

    public static ResultSet Load(IEnumerable<string> paths)
    {
        var files = paths.SelectMany(Expand).ToArray();
        if (files.Length == 0) throw new ArgumentException("Results.Load needs at least one .json export (or a folder with some).");
        return new ResultSet(files.SelectMany(ReadFile).ToArray());
    }

    private static IEnumerable<string> Expand(string path)
    {
        if (Directory.Exists(path)) return Directory.GetFiles(path, "*.json").Order(StringComparer.Ordinal);
        return [path];
    }

    private static IReadOnlyList<ResultRow> ReadFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"There is no results export at {Path.GetFullPath(path)}.", path);
        if (Path.GetExtension(path).Equals(".csv", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"{Path.GetFileName(path)} is a CSV table; Results.Load reads the .json exports, which hold everything (export with --export run.json).");
        }
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON ({e.Message}).", e);
        }
        if (root is not JsonObject document || document["rows"] is not JsonArray rows)
        {
            throw new InvalidDataException($"{path} is not a Reprogram results export: it has no \"rows\" (expected a file written by --export or Export(\"....json\"), format {ResultExport.FormatTag}).");
        }
        var kind = Text(document, "kind") ?? "experiment";
        var source = Path.GetFullPath(path);
        var result = new List<ResultRow>();
        // Prompt instruction exports keep their records once, at the top, by setting.
        var instructionRecords = document["records"] is JsonArray top && rows.All(r => r?["records"] is null)
            ? top.Select(r => r!.Deserialize<InstructionRecord>(ResultFiles.Json)!).ToArray() : null;
        for (var i = 0; i < rows.Count; i++)
        {
            try
            {
                var row = Row(rows[i] as JsonObject ?? throw new InvalidDataException("it is not an object"), kind, document, source);
                if (instructionRecords is not null) row = row with { Records = FromInstruction(instructionRecords.Where(r => r.Setting == row.Name), row.TestIds) };
                result.Add(row);
            }
            catch (Exception e) when (e is JsonException or InvalidDataException or FormatException or ArgumentException or InvalidOperationException or KeyNotFoundException)
            {
                throw new InvalidDataException($"{path}: row {i + 1} cannot be read ({e.Message}).", e);
            }
        }
        return result;
    }

    private static ResultRow Row(JsonObject r, string kind, JsonObject document, string source)
    {
        var provenance = (r["provenance"] ?? document["provenance"])?.Deserialize<RunProvenance>(ResultFiles.Json);
        return new ResultRow
        {
            Source = Text(r, "source") ?? source,
            Kind = Text(r, "kind") ?? kind,
            Name = Text(r, "name") ?? Text(r, "method") ?? throw new InvalidDataException("it has no name"),
            Model = Text(r, "model") ?? Text(document, "model") ?? "",
            Task = Text(r, "task") ?? Text(document, "task") ?? "",
            Manipulation = Text(r, "manipulation") ?? "",
            Alignment = Text(r, "alignment") ?? "",
            Coordinates = r["taxonomy"] is JsonObject t
                ? new Coordinates(Enum.Parse<Format>(Text(t, "format")!), Enum.Parse<Location>(Text(t, "location")!), Enum.Parse<Operator>(Text(t, "operator")!),
                    Enum.Parse<OutputAlignment>(Text(t, "alignment")!))
                : null,
            AlignmentKind = Text(r, "alignmentKind") is { } k ? Enum.Parse<OutputAlignment>(k) : throw new InvalidDataException("it has no alignmentKind"),
            Budget = (int?)r["budget"],
            LabelledExamples = (int?)r["labelledExamples"],
            Metrics = r["metrics"]?.Deserialize<Dictionary<string, double>>(ResultFiles.Json) ?? [],
            Seeds = r["seeds"]?.Deserialize<int[]>(ResultFiles.Json) ?? [],
            TestAccuracyPerSeed = r["testAccuracyPerSeed"]?.Deserialize<double[]>(ResultFiles.Json) ?? [],
            TrainableParameters = (long?)r["trainableParameters"] ?? 0,
            FrozenParameters = (long?)r["frozenParameters"] ?? 0,
            TrainingSeconds = Number(r["trainingSeconds"]) ?? 0,
            WallSeconds = Number(r["wallSeconds"]) ?? 0,
            InferenceTokensPerQuery = Number(r["inferenceTokensPerQuery"]),
            Device = Text(r, "device") ?? provenance?.Device ?? "",
            ChecksumBefore = Text(r, "checksumBefore") ?? "",
            ChecksumAfter = Text(r, "checksumAfter") ?? "",
            Settings = r["settings"]?.Deserialize<Dictionary<string, string>>(ResultFiles.Json) ?? [],
            Provenance = provenance,
            TestIds = (r["testIds"]?.Deserialize<Dictionary<string, string[]>>(ResultFiles.Json) ?? [])
                .ToDictionary(kv => int.Parse(kv.Key, CultureInfo.InvariantCulture), kv => (IReadOnlyList<string>)kv.Value),
            Records = r["records"]?.Deserialize<PredictionRecord[]>(ResultFiles.Json) ?? [],
        };
    }

    private static string? Text(JsonObject o, string key) => o[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    // Numbers may be written as JSON numbers or, for NaN and infinities, as strings.
    private static double? Number(JsonNode? node) => node?.Deserialize<double?>(ResultFiles.Json);

    /// <summary>A prompt-instruction record in the common record shape (its query index names the test example of its seed).</summary>
    private static PredictionRecord[] FromInstruction(IEnumerable<InstructionRecord> records, IReadOnlyDictionary<int, IReadOnlyList<string>> testIds) =>
        records.Select(r => new PredictionRecord(r.Setting, r.Seed,
            testIds.TryGetValue(r.Seed, out var ids) && r.Query < ids.Count ? ids[r.Query] : r.Query.ToString(CultureInfo.InvariantCulture),
            "", r.Prompt, r.Output, r.Extracted, r.Answer, r.Correct, r.ExtractedFlexible, r.CorrectFlexible)).ToArray();

    // In memory: the same rows an export of the same result reads back as.

    /// <summary>An experiment run's row (kind "experiment" unless given).</summary>
    public static ResultSet Of(ExperimentRun run, string kind = "experiment") => new([Row(run.Result, run, kind)]);

    public static ResultSet Of(ComparisonResult result) =>
        new(result.Rows.Select(row => Row(row.Result, row.Run, "comparison") with
        {
            Name = row.Method.Name, Manipulation = row.Method.Manipulation.Name, Alignment = row.Method.Alignment.Name, Budget = row.Budget,
        }).ToArray());

    public static ResultSet Of(ReprogramResult result) =>
        new(result.All.Select((r, i) => Row(r, i < result.Runs.Count ? result.Runs[i] : null, "reprogram")).ToArray());

    public static ResultSet Of(PromptTuningResult result) => new([Row(result.Main, result.Run, "soft-prompt")]);

    public static ResultSet Of(InstructionResult result) =>
        new(result.Settings.Select(s =>
        {
            var row = Row(s.Main, s.Run, result.Kind);
            return row with { Records = FromInstruction(s.Records, row.TestIds) };
        }).ToArray());

    private static ResultRow Row(ExperimentResult r, ExperimentRun? run, string kind) => new()
    {
        Kind = kind, Name = r.Name, Model = r.Model, Task = r.Task, Manipulation = r.Manipulation, Alignment = r.Alignment,
        Coordinates = r.Coordinates, AlignmentKind = r.AlignmentKind, LabelledExamples = r.LabelledExamples, Metrics = r.Metrics, Seeds = r.Seeds,
        TestAccuracyPerSeed = r.TestAccuracyPerSeed, TrainableParameters = r.TrainableParameters, FrozenParameters = r.FrozenParameters,
        TrainingSeconds = r.TrainingTime.TotalSeconds, WallSeconds = r.WallTime.TotalSeconds, InferenceTokensPerQuery = r.InferenceTokensPerQuery,
        Device = r.Device, ChecksumBefore = r.ChecksumBefore, ChecksumAfter = r.ChecksumAfter, Settings = r.Settings, Provenance = r.Provenance,
        TestIds = run?.Seeds.ToDictionary(s => s.Seed, s => s.TestIds) ?? new Dictionary<int, IReadOnlyList<string>>(),
        Records = run?.Records.ToArray() ?? [],
    };

    /// <summary>A result set as JSON in the common row shape (kind "result set"), which <see cref="Load(string[])"/> reads back.</summary>
    internal static string Json(ResultSet set)
    {
        var doc = new Dictionary<string, object?> { ["format"] = ResultExport.FormatTag, ["kind"] = "result set" };
        doc["rows"] = set.Rows.Select(r => new Dictionary<string, object?>
        {
            ["source"] = r.Source,
            ["kind"] = r.Kind,
            ["name"] = r.Name,
            ["model"] = r.Model,
            ["task"] = r.Task,
            ["manipulation"] = r.Manipulation,
            ["alignment"] = r.Alignment,
            ["taxonomy"] = r.Coordinates is { } c
                ? new Dictionary<string, string> { ["format"] = c.Format.ToString(), ["location"] = c.Location.ToString(), ["operator"] = c.Operator.ToString(), ["alignment"] = c.Alignment.ToString() }
                : null,
            ["alignmentKind"] = r.AlignmentKind.ToString(),
            ["budget"] = r.Budget,
            ["labelledExamples"] = r.LabelledExamples,
            ["metrics"] = r.Metrics,
            ["seeds"] = r.Seeds,
            ["testAccuracyPerSeed"] = r.TestAccuracyPerSeed,
            ["trainableParameters"] = r.TrainableParameters,
            ["frozenParameters"] = r.FrozenParameters,
            ["trainingSeconds"] = r.TrainingSeconds,
            ["wallSeconds"] = r.WallSeconds,
            ["inferenceTokensPerQuery"] = r.InferenceTokensPerQuery,
            ["device"] = r.Device,
            ["checksumBefore"] = r.ChecksumBefore,
            ["checksumAfter"] = r.ChecksumAfter,
            ["settings"] = r.Settings,
            ["provenance"] = r.Provenance,
            ["testIds"] = r.TestIds.ToDictionary(kv => kv.Key.ToString(CultureInfo.InvariantCulture), kv => kv.Value),
            ["records"] = r.Records,
        }).ToArray();
        return ResultExport.Serialize(doc);
    }
}

/// <summary><c>ToResultSet()</c> and <c>ToDataFrame()</c> on every result kind.</summary>
public static class ResultSetExtensions
{
    public static ResultSet ToResultSet(this ExperimentRun run) => Results.Of(run);
    public static ResultSet ToResultSet(this ComparisonResult result) => Results.Of(result);
    public static ResultSet ToResultSet(this ReprogramResult result) => Results.Of(result);
    public static ResultSet ToResultSet(this PromptTuningResult result) => Results.Of(result);
    public static ResultSet ToResultSet(this InstructionResult result) => Results.Of(result);

    public static Microsoft.Data.Analysis.DataFrame ToDataFrame(this ExperimentRun run) => Results.Of(run).ToDataFrame();
    public static Microsoft.Data.Analysis.DataFrame ToDataFrame(this ComparisonResult result) => Results.Of(result).ToDataFrame();
    public static Microsoft.Data.Analysis.DataFrame ToDataFrame(this ReprogramResult result) => Results.Of(result).ToDataFrame();
    public static Microsoft.Data.Analysis.DataFrame ToDataFrame(this PromptTuningResult result) => Results.Of(result).ToDataFrame();
    public static Microsoft.Data.Analysis.DataFrame ToDataFrame(this InstructionResult result) => Results.Of(result).ToDataFrame();
}
