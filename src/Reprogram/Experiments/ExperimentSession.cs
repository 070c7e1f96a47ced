using Reprogram.Runtime;
using Reprogram.Training;

namespace Reprogram.Experiments;

/// <summary>
/// Runs several experiments sharing what they can: each model is loaded (and frozen, checksummed) once per session and
/// every experiment on it runs against the same weights. Disposing the session frees the models it loaded.
/// </summary>
public sealed class ExperimentSession : IDisposable
{
    private readonly Dictionary<string, Backbone> backbones = new(StringComparer.Ordinal);

    /// <summary>The loaded model for a spec (loading it on first use, with progress for first-use training).</summary>
    public Backbone Backbone(ExperimentSpec spec, IProgress<ExperimentProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        using var cancellation = Cancellation.Use(cancellationToken);
        var device = (spec.Device is null ? ExperimentDefaults.Device : DeviceSpec.Parse(spec.Device)).Resolve();
        var entry = Registries.Models.Resolve(spec.Model);
        var key = $"{spec.Model}|{device}|{spec.Options.ImageSize}|{spec.Options.MaxLength}|{spec.Options.SharedPrefixCache}|{spec.Options.BatchRows}|{spec.Options.Endpoint}|{spec.Options.ApiKeyVariable}";
        if (backbones.TryGetValue(key, out var loaded)) return loaded;
        var sink = progress is null ? null : new LoadingSink($"loading {spec.Model} (training it on first use)", progress);
        progress?.Report(new ExperimentProgress($"loading {spec.Model}", ExperimentPhase.Loading, 0, 0, 1, TimeSpan.Zero));
        return backbones[key] = entry.Load(new ModelRequest(spec.Model, device, spec.Options, sink, cancellationToken));
    }

    public ExperimentRun Run(ExperimentSpec spec, IProgress<ExperimentProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        spec.Validate();
        return Experiment.RunOn(Backbone(spec, progress, cancellationToken), spec, progress, cancellationToken);
    }

    public void Dispose()
    {
        foreach (var b in backbones.Values) b.Dispose();
        backbones.Clear();
    }

    private sealed class LoadingSink(string run, IProgress<ExperimentProgress> progress) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) =>
            progress.Report(new ExperimentProgress(run, ExperimentPhase.Loading, 0, value.Step, value.TotalSteps, value.Elapsed) { Training = value });
    }
}
