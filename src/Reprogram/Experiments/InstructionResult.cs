using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Reprogram.Experiments;

/// <summary>One query of one setting and seed: what the model read and wrote, the answer taken from it, and whether it was right.</summary>
public sealed record InstructionRecord(
    string Setting, int Seed, int Query, int Shots, string Prompt, string Output, string? Extracted, string Answer, bool Correct,
    string? ExtractedFlexible = null, bool? CorrectFlexible = null);

/// <summary>Where a prompt-instruction run is: settings and queries done of all.</summary>
public sealed record InstructionProgress(string Setting, int Done, int Total, TimeSpan Elapsed);

/// <summary>
/// One setting of a prompt-instruction run (shots, selection, order, calibration or chain-of-thought mode, samples),
/// evaluated on every seed: its row in the one results table (mean accuracy over seeds, with the spread), the
/// accuracy of each seed, and every query's record.
/// </summary>
public sealed record InstructionSetting
{
    public required string Label { get; init; }
    public required int Shots { get; init; }
    public required string Selection { get; init; }
    public required string Order { get; init; }
    public bool Calibrated { get; init; }
    /// <summary>in-context, or a chain-of-thought mode (direct, zero-shot, few-shot).</summary>
    public required string Mode { get; init; }
    public int Samples { get; init; } = 1;
    public required ExperimentResult Main { get; init; }
    /// <summary>The main accuracy of each seed (strict for generated answers), in seed order.</summary>
    public required IReadOnlyList<double> AccuracyPerSeed { get; init; }
    /// <summary>The flexible rule's accuracy per seed (generated answers only).</summary>
    public IReadOnlyList<double>? FlexibleAccuracyPerSeed { get; init; }
    public required IReadOnlyList<InstructionRecord> Records { get; init; }
    /// <summary>The experiment behind the setting (its spec, test ids and records), when it ran here (null when loaded from elsewhere).</summary>
    public ExperimentRun? Run { get; init; }

    public double Accuracy => AccuracyPerSeed.Average();
    /// <summary>The sample standard deviation over seeds (0 for one seed).</summary>
    public double Spread => Statistics.StandardDeviation(AccuracyPerSeed);
    public double? FlexibleAccuracy => FlexibleAccuracyPerSeed?.Average();
    public double? FlexibleSpread => FlexibleAccuracyPerSeed is { } f ? Statistics.StandardDeviation(f) : null;
}

/// <summary>
/// The result of <c>#!icl</c> or <c>#!cot</c>: every setting (each an <see cref="ExperimentResult"/> in the one table),
/// the model and task, what it cost, and the frozen model's checksum before and after. Exports to CSV and JSON.
/// </summary>
public sealed record InstructionResult
{
    /// <summary>"in-context learning" or "chain-of-thought".</summary>
    public required string Kind { get; init; }
    public required string Model { get; init; }
    public required string Task { get; init; }
    public required IReadOnlyList<InstructionSetting> Settings { get; init; }
    public required IReadOnlyList<int> Seeds { get; init; }
    public required TimeSpan WallTime { get; init; }
    public required long TokensProcessed { get; init; }
    public required string ChecksumBefore { get; init; }
    public required string ChecksumAfter { get; init; }
    public bool FrozenUnchanged => ChecksumBefore == ChecksumAfter;
    /// <summary>The options the run was given (an <see cref="InContextOptions"/> or <see cref="ChainOfThoughtOptions"/>).</summary>
    public required InstructionOptionsBase Options { get; init; }
    /// <summary>Versions, git commit, machine, device and time of the run (see <see cref="RunProvenance"/>).</summary>
    public RunProvenance? Provenance { get; init; }

    /// <summary>Every setting's row of the results table.</summary>
    public IReadOnlyList<ExperimentResult> All => Settings.Select(s => s.Main).ToArray();
    public IEnumerable<InstructionRecord> Records => Settings.SelectMany(s => s.Records);
    public double TokensPerSecond => WallTime.TotalSeconds > 0 ? TokensProcessed / WallTime.TotalSeconds : 0;

    /// <summary>The setting with this label (see <see cref="InstructionSetting.Label"/>).</summary>
    public InstructionSetting this[string label] =>
        Settings.FirstOrDefault(s => s.Label == label) ?? throw new KeyNotFoundException($"No setting '{label}'. Settings: {string.Join("; ", Settings.Select(s => s.Label))}.");

    /// <summary>One page of the per-query records (1-based), for browsing long runs.</summary>
    public IReadOnlyList<InstructionRecord> Page(int page, int pageSize = 20)
    {
        if (page < 1 || pageSize < 1) throw new ArgumentException($"Pages start at 1 and hold at least 1 record (page {page}, size {pageSize}).");
        return Records.Skip((page - 1) * pageSize).Take(pageSize).ToArray();
    }

    public int PageCount(int pageSize = 20) => (Records.Count() + pageSize - 1) / pageSize;

    /// <summary>The per-query records as CSV (RFC 4180 quoting), one row per query, setting and seed.</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder("setting,seed,query,shots,prompt,output,extracted,answer,correct,extracted_flexible,correct_flexible\n");
        foreach (var r in Records)
        {
            sb.AppendJoin(',', Csv(r.Setting), r.Seed.ToString(CultureInfo.InvariantCulture), r.Query.ToString(CultureInfo.InvariantCulture),
                r.Shots.ToString(CultureInfo.InvariantCulture), Csv(r.Prompt), Csv(r.Output), Csv(r.Extracted ?? ""), Csv(r.Answer),
                r.Correct ? "true" : "false", Csv(r.ExtractedFlexible ?? ""), r.CorrectFlexible is { } c ? (c ? "true" : "false") : "");
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The whole run as JSON: summary per setting (with per-seed accuracies) and every record.</summary>
    public string ToJson()
    {
        var doc = ResultExport.Head(Kind, Model, Task, Options, Provenance);
        doc["seeds"] = Seeds;
        doc["wallSeconds"] = WallTime.TotalSeconds;
        doc["tokens"] = TokensProcessed;
        doc["checksumBefore"] = ChecksumBefore;
        doc["checksumAfter"] = ChecksumAfter;
        doc["frozenUnchanged"] = FrozenUnchanged;
        doc["settings"] = Settings.Select(s => new
        {
            label = s.Label, mode = s.Mode, shots = s.Shots, selection = s.Selection, order = s.Order, calibrated = s.Calibrated, samples = s.Samples,
            coordinates = s.Main.Coordinates?.ToString(), alignment = s.Main.Alignment,
            accuracy = s.Accuracy, spread = s.Spread, accuracyPerSeed = s.AccuracyPerSeed,
            flexibleAccuracy = s.FlexibleAccuracy, flexibleAccuracyPerSeed = s.FlexibleAccuracyPerSeed,
            tokens = s.Main.TokensProcessed, wallSeconds = s.Main.WallTime.TotalSeconds,
        }).ToArray();
        // The settings' rows in the shape every export shares (their records are the ones below, by setting).
        doc["rows"] = Settings.Select(s => ResultExport.Row(s.Main, s.Run, records: false)).ToArray();
        doc["records"] = Records.ToArray();
        return ResultExport.Serialize(doc);
    }

    /// <summary>Writes the records as .csv or the whole run as .json, by the file's extension.</summary>
    public void Export(string path)
    {
        var text = Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".csv" => ToCsv(),
            ".json" => ToJson(),
            _ => throw new ArgumentException($"Export to .csv (the per-query records) or .json (the whole run), not '{Path.GetFileName(path)}'."),
        };
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        File.WriteAllText(path, text);
    }

    private static string Csv(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;
}
