using System.Globalization;
using System.Text.Json;

namespace Reprogram.Experiments;

/// <summary>
/// The JSON every result kind exports (<c>--export run.json</c>, <c>result.Export("run.json")</c>): a
/// <see cref="FormatTag"/>, the kind, the options it was given, the provenance, and its rows in one shape, each with the
/// spec that reruns it, the checksums, the seeds with their test ids, label words and template, and every prediction.
/// <see cref="Results.Load(string[])"/> reads any of them back. The CSV is the table: one row per result.
/// </summary>
public static class ResultExport
{
    public const string FormatTag = "reprogram.results/1";

    /// <summary>One row of any export: an experiment's result, and its run where it is at hand (spec, seeds, records).</summary>
    public static Dictionary<string, object?> Row(ExperimentResult r, ExperimentRun? run, bool records = true)
    {
        var row = new Dictionary<string, object?>
        {
            ["name"] = r.Name,
            ["model"] = r.Model,
            ["task"] = r.Task,
            ["manipulation"] = r.Manipulation,
            ["alignment"] = r.Alignment,
            ["coordinates"] = r.Coordinates?.ToString(),
            ["taxonomy"] = r.Coordinates is { } c
                ? new Dictionary<string, string> { ["format"] = c.Format.ToString(), ["location"] = c.Location.ToString(), ["operator"] = c.Operator.ToString(), ["alignment"] = c.Alignment.ToString() }
                : null,
            ["alignmentKind"] = r.AlignmentKind.ToString(),
            ["paradigm"] = r.Paradigm?.ToString(),
            ["publishedMethods"] = run?.PublishedMethods,
            ["labelledExamples"] = r.LabelledExamples,
            ["testAccuracy"] = r.Metric(MetricNames.TestAccuracy),
            ["testAccuracySd"] = r.Metric(MetricNames.TestAccuracySd),
            ["testAccuracyPerSeed"] = r.TestAccuracyPerSeed,
            ["metrics"] = r.Metrics,
            ["seeds"] = r.Seeds,
            ["trainableParameters"] = r.TrainableParameters,
            ["frozenParameters"] = r.FrozenParameters,
            ["wallSeconds"] = r.WallTime.TotalSeconds,
            ["trainingSeconds"] = r.TrainingTime.TotalSeconds,
            ["examplesProcessed"] = r.ExamplesProcessed,
            ["tokensProcessed"] = r.TokensProcessed,
            ["inferenceTokensPerQuery"] = r.InferenceTokensPerQuery,
            ["device"] = r.Device,
            ["checksumBefore"] = r.ChecksumBefore,
            ["checksumAfter"] = r.ChecksumAfter,
            ["frozenUnchanged"] = r.FrozenUnchanged,
            ["stop"] = r.Stop.ToString(),
            ["stopMessage"] = r.StopMessage,
            ["settings"] = r.Settings,
            ["curve"] = r.Curve,
            ["provenance"] = r.Provenance,
            ["spec"] = run?.Spec,
        };
        if (run is not null)
        {
            row["testIds"] = run.Seeds.ToDictionary(s => s.Seed.ToString(CultureInfo.InvariantCulture), s => s.TestIds);
            row["seedRuns"] = run.Seeds.Select(SeedRow).ToArray();
            if (records) row["records"] = run.Records.ToArray();
        }
        return row;
    }

    private static object SeedRow(SeedRun s) => new Dictionary<string, object?>
    {
        ["seed"] = s.Seed,
        ["task"] = s.Task,
        ["testIds"] = s.TestIds,
        ["labels"] = s.Labels,
        ["template"] = s.Template is { } t
            ? new Dictionary<string, string> { ["instruction"] = t.Instruction, ["demonstrationFormat"] = t.DemonstrationFormat, ["separator"] = t.Separator, ["queryFormat"] = t.QueryFormat }
            : null,
        ["testAccuracy"] = s.TestAccuracy,
        ["flexibleTestAccuracy"] = s.FlexibleTestAccuracy,
        ["trainAccuracy"] = s.TrainAccuracy,
        ["bestEpoch"] = s.BestEpoch is { } b ? new Dictionary<string, object> { ["accuracy"] = b.Accuracy, ["epoch"] = b.Epoch } : null,
        ["labelledExamples"] = s.LabelledExamples,
        ["trainableParameters"] = s.TrainableParameters,
        ["trainingSeconds"] = s.TrainingTime.TotalSeconds,
        ["evaluationSeconds"] = s.EvaluationTime.TotalSeconds,
        ["positionsPerQuery"] = s.PositionsPerQuery,
        ["tokensProcessed"] = s.TokensProcessed,
        ["promptsShortened"] = s.PromptsShortened,
        ["checksumAfter"] = s.ChecksumAfter,
        ["manipulation"] = s.Manipulation,
        ["manipulationSettings"] = s.ManipulationSettings,
        ["stop"] = s.Training?.Stop.ToString(),
    };

    /// <summary>The top of every export: the format, the kind, model and task, the options given, and the provenance.</summary>
    internal static Dictionary<string, object?> Head(string kind, string model, string task, object? options, RunProvenance? provenance) => new()
    {
        ["format"] = FormatTag,
        ["kind"] = kind,
        ["model"] = model,
        ["task"] = task,
        ["options"] = options,
        ["provenance"] = provenance,
    };

    internal static string Serialize(Dictionary<string, object?> document) => JsonSerializer.Serialize(document, ResultFiles.Json);

    /// <summary>One experiment run (<see cref="Experiment.Run(ExperimentSpec, IProgress{ExperimentProgress}?, CancellationToken)"/>).</summary>
    public static string Json(ExperimentRun run)
    {
        var doc = Head("experiment", run.Result.Model, run.Result.Task, run.Spec, run.Result.Provenance);
        doc["rows"] = new[] { Row(run.Result, run) };
        return Serialize(doc);
    }

    /// <summary>A <c>#!reprogram</c> result: the main run and its baselines, each with its spec and predictions.</summary>
    public static string Json(ReprogramResult result)
    {
        var doc = Head("reprogram", result.Main.Model, result.Main.Task, result.Options, result.Main.Provenance);
        doc["caveat"] = result.Caveat;
        doc["targetLabels"] = result.TargetLabels;
        doc["sourceLabels"] = result.SourceLabels;
        doc["rows"] = result.All.Select((r, i) => Row(r, i < result.Runs.Count ? result.Runs[i] : null)).ToArray();
        return Serialize(doc);
    }

    /// <summary>A <c>#!soft-prompt</c> result: the run with its spec and predictions, and the nearest tokens of each soft token.</summary>
    public static string Json(PromptTuningResult result)
    {
        var doc = Head("soft-prompt", result.Main.Model, result.Main.Task, result.Options, result.Main.Provenance);
        doc["nearestTokens"] = result.Nearest.Select(n => new { position = n.Position, tokens = n.Tokens.Select(t => new { token = t.Token, cosine = t.Cosine }) }).ToArray();
        doc["rows"] = new[] { Row(result.Main, result.Run) };
        return Serialize(doc);
    }
}
