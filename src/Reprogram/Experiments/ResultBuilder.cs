using System.Globalization;
using Reprogram.Manipulations;
using Reprogram.Taxonomy;
using Reprogram.Training;

namespace Reprogram.Experiments;

/// <summary>
/// Puts an experiment's seeds into its one row: test accuracy mean and sd over seeds (canonical metric names), what was
/// learned and from how many labelled examples, the cost, the checksums, and every setting that decided the run.
/// </summary>
public static class ResultBuilder
{
    public static ExperimentRun Build(ExperimentSpec spec, Backbone backbone, TaskEntry task, ManipulationEntry manipulation, AlignmentEntry alignment,
        string name, OutputAlignment kind, string alignmentName, IReadOnlyList<SeedRun> seeds, TimeSpan wall)
    {
        var accuracies = seeds.Select(s => s.TestAccuracy).ToArray();
        var metrics = new Dictionary<string, double>
        {
            [MetricNames.TestAccuracy] = accuracies.Average(),
            [MetricNames.TestAccuracySd] = Statistics.StandardDeviation(accuracies),
        };
        if (seeds.All(s => s.FlexibleTestAccuracy is not null))
        {
            var flexible = seeds.Select(s => s.FlexibleTestAccuracy!.Value).ToArray();
            metrics[MetricNames.FlexibleTestAccuracy] = flexible.Average();
            metrics[MetricNames.FlexibleTestAccuracySd] = Statistics.StandardDeviation(flexible);
        }
        if (seeds.All(s => s.TrainAccuracy is not null)) metrics[MetricNames.TrainAccuracy] = seeds.Average(s => s.TrainAccuracy!.Value);
        if (seeds.All(s => s.BestEpoch is not null)) metrics[MetricNames.BestEpochTestAccuracy] = seeds.Average(s => s.BestEpoch!.Value.Accuracy);
        var first = seeds[0];
        var worst = seeds.Select(s => s.Training).Where(t => t is not null && t.Stop != StopReason.Completed).FirstOrDefault();
        var positions = seeds.All(s => s.PositionsPerQuery is not null) ? seeds.Average(s => s.PositionsPerQuery!.Value) : (double?)null;
        var result = new ExperimentResult
        {
            Name = name,
            Coordinates = manipulation.CoordinatesWith(kind),
            AlignmentKind = kind,
            Model = backbone.Identity,
            Task = seeds[0].Task,
            Manipulation = first.Manipulation,
            Alignment = alignmentName,
            Metrics = metrics,
            TrainableParameters = first.TrainableParameters,
            FrozenParameters = backbone.ParameterCount,
            WallTime = wall,
            ExamplesProcessed = seeds.Sum(s => (s.Training?.ExamplesSeen ?? 0) + s.Records.Count),
            TokensProcessed = seeds.Sum(s => s.TokensProcessed),
            Device = backbone.Device.ToString(),
            Seed = first.Seed,
            Seeds = seeds.Select(s => s.Seed).ToArray(),
            TestAccuracyPerSeed = accuracies,
            LabelledExamples = (int)Math.Round(seeds.Average(s => s.LabelledExamples)),
            TrainingTime = TimeSpan.FromTicks((long)seeds.Average(s => s.TrainingTime.Ticks)),
            InferenceTokensPerQuery = positions,
            ChecksumBefore = backbone.ChecksumBefore,
            ChecksumAfter = seeds[^1].ChecksumAfter,
            Curve = first.Training?.Curve ?? [],
            Stop = worst?.Stop ?? StopReason.Completed,
            StopMessage = worst?.Message ?? "completed",
            Settings = Settings(spec, backbone, task, manipulation, alignment, first),
            Provenance = RunProvenance.Capture(backbone.Device.ToString()),
        };
        return new ExperimentRun
        {
            Spec = spec, Result = result, Seeds = seeds,
            PublishedMethods = manipulation.PublishedMethods.Concat(alignment.PublishedMethods).Distinct().ToArray(),
        };
    }

    private static IReadOnlyDictionary<string, string> Settings(ExperimentSpec spec, Backbone backbone, TaskEntry task, ManipulationEntry manipulation,
        AlignmentEntry alignment, SeedRun first)
    {
        var b = spec.Budget;
        var o = spec.Options;
        var settings = new Dictionary<string, string>
        {
            ["model"] = spec.Model, ["task"] = spec.Task, ["manipulation"] = manipulation.Name, ["alignment"] = alignment.Name,
            ["seeds"] = string.Join(",", spec.Seeds),
            ["split"] = $"{b.TrainExamples} training examples, pool {b.PoolExamples ?? Math.Max(b.TrainExamples, o.Shots)}, {b.TestExamples} test examples per seed (the same test examples for every method)",
            ["scoring"] = alignment.Reads switch
            {
                AlignmentReads.LabelWords => "label-word log-likelihood (the whole word's tokens)",
                AlignmentReads.GeneratedText => "generation, answers read by rules",
                _ => $"the model's output ({backbone.OutputSize}) through the alignment",
            },
        };
        if (first.TrainableParameters > 0)
        {
            settings["training"] = $"{b.Epochs} epochs, batch {b.BatchSize}, learning rate {b.LearningRate.ToString(CultureInfo.InvariantCulture)} ({b.Optimizer}, {b.Schedule})";
        }
        foreach (var read in manipulation.Reads)
        {
            settings[read] = read switch
            {
                "tokens" => o.Tokens.ToString(CultureInfo.InvariantCulture),
                "shots" => o.Shots.ToString(CultureInfo.InvariantCulture),
                "selection" => o.Selection,
                "order" => o.Order ?? "default",
                "init" => o.Init,
                "reparameterisation" => o.Reparameterisation?.ToString(CultureInfo.InvariantCulture) ?? "method default",
                "pad-width" => o.PadWidth?.ToString(CultureInfo.InvariantCulture) ?? "an eighth of the image",
                "patch-size" => o.PatchSize.ToString(CultureInfo.InvariantCulture),
                "positions" => o.Positions?.ToString(CultureInfo.InvariantCulture) ?? "the model's context",
                _ => "as given",
            };
        }
        foreach (var (k, v) in first.ManipulationSettings) settings.TryAdd(k, v);
        foreach (var (k, v) in backbone.Settings) settings[k] = v;
        if (first.PromptsShortened > 0) settings["prompts shortened"] = $"{first.PromptsShortened} prompt reads (seed {first.Seed}) kept only their last tokens to fit the model's context";
        foreach (var (k, v) in spec.Notes) settings[k] = v;
        if (first.BestEpoch is { } best) settings["reported"] = $"test accuracy is the final epoch's; test accuracy (best epoch) the best of every epoch (seed {first.Seed}: epoch {best.Epoch})";
        if (manipulation.Deviation is { } d) settings["deviation (manipulation)"] = d;
        if (alignment.Deviation is { } a) settings["deviation (alignment)"] = a;
        return settings;
    }
}

/// <summary>Tiny statistics used by results.</summary>
public static class Statistics
{
    /// <summary>The sample standard deviation (0 for fewer than two values).</summary>
    public static double StandardDeviation(IReadOnlyList<double> values)
    {
        if (values.Count < 2) return 0;
        var mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }
}
