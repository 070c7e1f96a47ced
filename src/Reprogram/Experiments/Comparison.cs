using System.Diagnostics;
using Reprogram.Runtime;
using Reprogram.Taxonomy;

namespace Reprogram.Experiments;

/// <summary>
/// Everything <c>#!compare</c> takes: one frozen model and one task, a set of methods (manipulation + alignment, each a
/// point in the taxonomy), the labelled-example budgets, the seeds, and one training budget for every method.
/// </summary>
public sealed record ComparisonOptions
{
    /// <summary>The session's defaults for options a cell does not give (a parameters cell can shrink a whole tutorial).</summary>
    public static ComparisonOptions SessionDefaults { get; set; } = new();

    public string Model { get; init; } = Models.Zoo.LanguageZoo.RuleFamilyName;
    public string Task { get; init; } = Instruction.InstructionTasks.HeldOutRule;
    /// <summary>A text task's columns and label words (a data file); null: the defaults.</summary>
    public Data.TextDataOptions? TextData { get; init; }
    /// <summary>Input manipulations (registry names), each crossed with every alignment of <see cref="Alignments"/>.</summary>
    public IReadOnlyList<string> Manipulations { get; init; } = ["none", "icl", "soft-prompt", "prefix", "deep", "embedding-perturbation", "discrete-prompt"];
    /// <summary>Output alignments (registry names).</summary>
    public IReadOnlyList<string> Alignments { get; init; } = ["verbalizer", "ilm", "linear"];
    /// <summary>
    /// Methods given as manipulation+alignment pairs ("soft-prompt+linear"); when set, they replace the crossing of
    /// <see cref="Manipulations"/> and <see cref="Alignments"/>.
    /// </summary>
    public IReadOnlyList<string>? Methods { get; init; }
    /// <summary>
    /// Holds three coordinates of <see cref="Base"/> fixed and varies this one (format, location, operator or alignment):
    /// the methods compared are the base and every registry method one dimension away from it in this dimension.
    /// </summary>
    public string? Vary { get; init; }
    /// <summary>The method <see cref="Vary"/> starts from, as manipulation+alignment.</summary>
    public string Base { get; init; } = "soft-prompt+verbalizer";
    /// <summary>
    /// Labelled examples per method: in-context learning shows that many demonstrations; learned manipulations, heads and
    /// label mappings learn from that many training examples. One row per method and budget.
    /// </summary>
    public IReadOnlyList<int> Examples { get; init; } = [2, 4, 8, 16];
    public IReadOnlyList<int> Seeds { get; init; } = [0, 1, 2];
    public int TestExamples { get; init; } = 100;
    public int Epochs { get; init; } = 30;
    public int BatchSize { get; init; } = 16;
    public double LearningRate { get; init; } = 0.03;
    /// <summary>The settings manipulations read (virtual tokens, selection, ...), the same for every method.</summary>
    public MethodOptions Options { get; init; } = new();
    public string? Device { get; init; }

    public static IReadOnlyList<string> Dimensions { get; } = ["format", "location", "operator", "alignment"];

    public void Validate()
    {
        if (Examples.Count == 0) throw new ArgumentException("--examples needs at least one budget, e.g. 2,4,8,16.");
        if (Examples.Any(e => e is < 0 or > 100_000)) throw new ArgumentException($"--examples must be 0 to 100000 each: {string.Join(",", Examples)}.");
        if (Seeds.Count == 0) throw new ArgumentException("--seeds needs at least one seed.");
        if (Seeds.Distinct().Count() != Seeds.Count) throw new ArgumentException($"--seeds repeats a seed: {string.Join(",", Seeds)}.");
        if (TestExamples < 1) throw new ArgumentException($"--test must be at least 1, not {TestExamples}.");
        if (Vary is not null && !Dimensions.Contains(Vary.Trim().ToLowerInvariant()))
        {
            throw new ArgumentException($"'{Vary}' is not a dimension to vary. Allowed: {string.Join(", ", Dimensions)}.");
        }
        foreach (var m in Manipulations) Registries.Manipulations.Find(m);
        foreach (var a in Alignments) Registries.Alignments.Find(a);
        foreach (var pair in Methods ?? []) Method.Parse(pair);
        Method.Parse(Base);
        var modality = Registries.Models.Resolve(Model).Modality;
        Registries.Tasks.Resolve(Task);
        MethodsToRun(modality);
        Options.Validate();
        DeviceSpec.Parse(Device ?? "auto");
        Spec(new Method(Registries.Manipulations.Find("none"), Registries.Alignments.Find("linear")), Examples[0]).Validate(model: false);
    }

    /// <summary>The experiment of one method at one budget: every method gets the same task, test examples, seeds and training.</summary>
    public ExperimentSpec Spec(Method method, int examples)
    {
        var demonstrations = method.Manipulation.Format == Format.Fixed && method.Manipulation.Reads.Contains("shots");
        var learns = method.Alignment.Reads == AlignmentReads.ModelOutputs || method.Manipulation.Format == Format.Learnable;
        return new ExperimentSpec
        {
            Model = Model, Task = Task, TextData = TextData, Manipulation = method.Manipulation.Name, Alignment = method.Alignment.Name, Seeds = Seeds, Device = Device,
            Name = method.Name,
            Budget = new Budget
            {
                TrainExamples = learns ? examples : 0, PoolExamples = examples, TestExamples = TestExamples,
                Epochs = Epochs, BatchSize = BatchSize, LearningRate = LearningRate,
            },
            Options = demonstrations ? Options with { Shots = examples } : Options,
        };
    }

    /// <summary>The methods compared: the crossing (or the given pairs), or the base and its neighbours along <see cref="Vary"/>.</summary>
    public IReadOnlyList<Method> MethodsToRun(TaskModality modality)
    {
        if (Vary is { } v) return Method.Neighbours(Method.Parse(Base), v, modality);
        if (Methods is { } pairs) return pairs.Select(Method.Parse).ToArray();
        return Manipulations.SelectMany(m => Alignments.Select(a => new Method(Registries.Manipulations.Find(m), Registries.Alignments.Find(a)))).ToArray();
    }
}

/// <summary>A method of a comparison: a manipulation and an alignment, and so a point in the taxonomy.</summary>
public sealed record Method(ManipulationEntry Manipulation, AlignmentEntry Alignment)
{
    public string Name => $"{Manipulation.Name} + {Alignment.Name}";
    public Coordinates? Coordinates => Manipulation.CoordinatesWith(Alignment.Kind);

    /// <summary>"soft-prompt+linear" (or "soft-prompt + linear"): registry names of a manipulation and an alignment.</summary>
    public static Method Parse(string text)
    {
        var parts = text.Split('+', 2, StringSplitOptions.TrimEntries);
        // "blm+" is an alignment whose name ends in '+': split on the first '+' that leaves a known manipulation.
        if (parts.Length != 2 || parts[1].Length == 0)
        {
            throw new ArgumentException($"'{text}' is not a method: write manipulation+alignment, e.g. soft-prompt+verbalizer. " +
                                        $"Manipulations: {Registries.Manipulations.Allowed()}. Alignments: {Registries.Alignments.Allowed()}.");
        }
        return new Method(Registries.Manipulations.Find(parts[0]), Registries.Alignments.Find(parts[1]));
    }

    /// <summary>
    /// The base and every registry method that differs from it in <paramref name="dimension"/> only (the catalog's
    /// notion of a neighbour): other manipulations with the same alignment for format, location and operator; other
    /// alignments with the same manipulation for the alignment.
    /// </summary>
    public static IReadOnlyList<Method> Neighbours(Method basis, string dimension, TaskModality modality)
    {
        var d = dimension.Trim().ToLowerInvariant();
        if (basis.Coordinates is not { } origin) throw new ArgumentException($"The base {basis.Name} has no input manipulation, so it has no coordinates to vary: pick a base with one.");
        var methods = new List<Method> { basis };
        if (d == "alignment")
        {
            methods.AddRange(Registries.Alignments.Entries.Where(a => a.Name != basis.Alignment.Name && a.Reads != AlignmentReads.GeneratedText)
                .Select(a => new Method(basis.Manipulation, a)));
        }
        else
        {
            methods.AddRange(Registries.Manipulations.Entries
                .Where(m => m.Name != basis.Manipulation.Name && !m.ChainOfThought && (m.Modality is null || m.Modality == modality))
                .Select(m => new Method(m, basis.Alignment))
                .Where(m => m.Coordinates is { } c && Differing(origin, c).SequenceEqual([d])));
        }
        if (methods.Count == 1)
        {
            throw new ArgumentException($"No method of the registry differs from {basis.Name} ({origin}) in {d} alone. " +
                                        "Try another --base, e.g. icl+verbalizer to vary the format, soft-prompt+verbalizer for location or operator.");
        }
        return methods;
    }

    private static IEnumerable<string> Differing(Coordinates a, Coordinates b)
    {
        if (a.Format != b.Format) yield return "format";
        if (a.Location != b.Location) yield return "location";
        if (a.Operator != b.Operator) yield return "operator";
        if (a.Alignment != b.Alignment) yield return "alignment";
    }
}

/// <summary>One row of a comparison: a method at a budget, and its experiment.</summary>
public sealed record ComparisonRow(Method Method, int Budget, ExperimentRun Run)
{
    public ExperimentResult Result => Run.Result;
    public double TestAccuracy => Run.TestAccuracy;
    public double TestAccuracySd => Run.TestAccuracySd;
    public int LabelledExamples => Result.LabelledExamples ?? 0;
}

/// <summary>A method and budget that could not run on this model and task, and why (a prompt too long for the context, ...).</summary>
public sealed record SkippedMethod(string Method, int Budget, string Reason);

/// <summary>
/// The outcome of <c>#!compare</c>: a row per method and budget (all on the same frozen model, task, test examples and
/// seeds), what could not run and why, and whether the run was cut short.
/// </summary>
public sealed record ComparisonResult
{
    public required ComparisonOptions Options { get; init; }
    public required string Model { get; init; }
    public required string Task { get; init; }
    public required IReadOnlyList<ComparisonRow> Rows { get; init; }
    public IReadOnlyList<SkippedMethod> Skipped { get; init; } = [];
    public required TimeSpan WallTime { get; init; }
    public required string ChecksumBefore { get; init; }
    /// <summary>Set when the run was cancelled: the rows done so far are kept.</summary>
    public string? Stopped { get; init; }
    /// <summary>Versions, git commit, machine, device and time of the comparison (each row has its own too).</summary>
    public RunProvenance? Provenance { get; init; }
    /// <summary>The dimension varied (null when methods were crossed).</summary>
    public string? Vary => Options.Vary?.Trim().ToLowerInvariant();

    public IEnumerable<ExperimentResult> All => Rows.Select(r => r.Result);
    public IEnumerable<PredictionRecord> Records => Rows.SelectMany(r => r.Run.Records);
    /// <summary>Every row's checksum after equals the one before.</summary>
    public bool FrozenUnchanged => Rows.All(r => r.Result.FrozenUnchanged && r.Result.ChecksumBefore == ChecksumBefore);

    /// <summary>Whether every method met the same test examples for each seed (it always should; tests check it).</summary>
    public bool SameTestExamples => Rows.Select(r => string.Join("|", r.Run.Seeds.Select(s => $"{s.Seed}:{string.Join(",", s.TestIds)}")))
        .Distinct().Count() <= 1;

    public string ToCsv() => ComparisonExport.Csv(this);
    public string ToJson() => ComparisonExport.Json(this);

    /// <summary>Writes the table as .csv or the whole comparison (with every prediction) as .json, by the file's extension.</summary>
    public void Export(string path) => ComparisonExport.Write(path, ToCsv, ToJson);
}

/// <summary>
/// Runs a comparison (<c>#!compare</c>): every method at every budget on one frozen model loaded once, the same task
/// split per seed. A method that cannot run here (a prompt longer than the model's context, an alignment the model cannot
/// give) is listed with the reason instead of stopping the others. Cancelling keeps the rows done so far.
/// </summary>
public static class Comparison
{
    public static ComparisonResult Run(ComparisonOptions options, IProgress<ExperimentProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ComputeThread.Run(() =>
        {
            options.Validate();
            var clock = Stopwatch.StartNew();
            using var session = new ExperimentSession();
            var first = options.Spec(new Method(Registries.Manipulations.Find("none"), Registries.Alignments.Find("linear")), options.Examples[0]);
            var backbone = session.Backbone(first, progress, cancellationToken);
            var methods = options.MethodsToRun(backbone.Modality);
            var rows = new List<ComparisonRow>();
            var skipped = new List<SkippedMethod>();
            string? stopped = null;
            foreach (var method in methods)
            {
                foreach (var budget in options.Examples)
                {
                    try
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        var spec = options.Spec(method, budget);
                        Experiment.CheckFits(backbone, Registries.Tasks.Resolve(spec.Task), method.Manipulation, method.Alignment, spec);
                        rows.Add(new ComparisonRow(method, budget, Experiment.RunOn(backbone, spec, progress, cancellationToken)));
                    }
                    catch (OperationCanceledException e)
                    {
                        stopped = $"cancelled during {method.Name} at {budget} examples ({e.Message}); the {rows.Count} rows done are kept";
                        break;
                    }
                    catch (ArgumentException e)
                    {
                        skipped.Add(new SkippedMethod(method.Name, budget, e.Message));
                    }
                }
                if (stopped is not null) break;
            }
            return new ComparisonResult
            {
                Options = options, Model = backbone.Identity, Task = rows.FirstOrDefault()?.Result.Task ?? options.Task, Rows = rows, Skipped = skipped,
                WallTime = clock.Elapsed, ChecksumBefore = backbone.ChecksumBefore, Stopped = stopped,
                Provenance = RunProvenance.Capture(backbone.Device.ToString()),
            };
        });
}
