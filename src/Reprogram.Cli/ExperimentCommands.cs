using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Reprogram.Data;
using Reprogram.Experiments;
using Reprogram.Runtime;

namespace Reprogram.Cli;

/// <summary>
/// <c>reprogram compare</c> (what <c>#!compare</c> does, from a terminal: the table printed, <c>--export</c> written) and
/// <c>reprogram eval</c> (a saved manipulation and alignment evaluated on a task). Exit codes as every command:
/// 0 ok, 1 the run failed, 2 bad usage (an unknown name or a malformed value included).
/// </summary>
public static class ExperimentCommands
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;

    // Options shared by both commands.
    private static Option<string?> TextOption(string name, string description) => new(name) { Description = description };
    private static Option<string[]> ExportOption() => new("--export", "-e")
    {
        Description = "Write the results to this file: .csv (the table) or .json (everything: options, spec, test ids, every prediction, provenance; Results.Load reads it back). Repeatable.",
    };

    public static Command Compare()
    {
        var d = new ComparisonOptions();
        var model = TextOption("--model", $"A model of the registry or a path ({Registries.Models.Allowed()}). Default {d.Model}.");
        var task = TextOption("--task", $"A task of the registry or a path ({Registries.Tasks.Allowed()}). Default {d.Task}.");
        var manipulations = TextOption("--manipulations", $"Input manipulations, comma-separated, each crossed with every alignment. Default {string.Join(",", d.Manipulations)}.");
        var alignments = TextOption("--alignments", $"Output alignments, comma-separated. Default {string.Join(",", d.Alignments)}.");
        var methods = TextOption("--methods", "Methods as manipulation+alignment pairs, comma-separated (e.g. icl+verbalizer,soft-prompt+linear); replaces the crossing.");
        var vary = TextOption("--vary", "Hold three coordinates of --base fixed and vary this one: format, location, operator or alignment.");
        var basis = TextOption("--base", $"The method --vary starts from, as manipulation+alignment. Default {d.Base}.");
        var examples = TextOption("--examples", $"Labelled-example budgets: shots for in-context learning, training examples for learned methods. Default {string.Join(",", d.Examples)}.");
        var seeds = TextOption("--seeds", "Seeds: a count (3 = 0,1,2), a list (0,4,7) or a range (0-4). Default 0,1,2.");
        var test = TextOption("--test", $"Test examples per seed (the same for every method). Default {d.TestExamples}.");
        var epochs = TextOption("--epochs", $"Epochs for every learned method. Default {d.Epochs}.");
        var batch = TextOption("--batch", $"Batch size. Default {d.BatchSize}.");
        var lr = TextOption("--lr", $"Learning rate (Adam) for every learned method. Default {d.LearningRate.ToString(CultureInfo.InvariantCulture)}.");
        var tokens = TextOption("--tokens", $"Virtual tokens of soft, prefix, deep and discrete prompts. Default {d.Options.Tokens}.");
        var selection = TextOption("--selection", "How in-context learning chooses demonstrations: random, balanced or similar (KATE). Default random.");
        var device = TextOption("--device", "auto, cpu, cuda or cuda:N. Default auto.");
        var (textColumn, labelColumn, labelWords) = TextDataOptionSet();
        var export = ExportOption();
        var command = new Command("compare", "Compare methods of all three paradigms on one frozen model and task (as #!compare): the same split, scorer and seeds for every method; prints the table and writes --export.")
        {
            model, task, manipulations, alignments, methods, vary, basis, examples, seeds, test, epochs, batch, lr, tokens, selection, device, textColumn, labelColumn, labelWords, export,
        };
        command.SetAction((parse, cancellationToken) => Task.FromResult(Run(Console.Error, () =>
        {
            string? Get(Option<string?> o) => parse.GetValue(o);
            var options = d with
            {
                Model = Get(model) ?? d.Model,
                Task = Get(task) ?? d.Task,
                Manipulations = Get(manipulations) is { } m ? List(m) : d.Manipulations,
                Alignments = Get(alignments) is { } a ? List(a) : d.Alignments,
                Methods = Get(methods) is { } pairs ? List(pairs) : d.Methods,
                Vary = Get(vary) ?? d.Vary,
                Base = Get(basis) ?? d.Base,
                Examples = Get(examples) is { } e ? InstructionOptionsBase.ParseInts(e, "--examples") : d.Examples,
                Seeds = Get(seeds) is { } s ? InstructionOptionsBase.ParseSeeds(s) : d.Seeds,
                TestExamples = Int(Get(test), "--test") ?? d.TestExamples,
                Epochs = Int(Get(epochs), "--epochs") ?? d.Epochs,
                BatchSize = Int(Get(batch), "--batch") ?? d.BatchSize,
                LearningRate = Number(Get(lr), "--lr") ?? d.LearningRate,
                Options = d.Options with { Tokens = Int(Get(tokens), "--tokens") ?? d.Options.Tokens, Selection = Get(selection)?.ToLowerInvariant() ?? d.Options.Selection },
                Device = Get(device),
                TextData = TextData(Get(textColumn), Get(labelColumn), Get(labelWords)),
            };
            options.Validate();
            var exports = Exports(parse.GetValue(export));
            return () =>
            {
                var result = Comparison.Run(options, new Progress(Console.Out), cancellationToken);
                Console.Out.WriteLine();
                Print(Console.Out, result);
                foreach (var path in exports)
                {
                    result.Export(path);
                    Console.Out.WriteLine($"Wrote {Path.GetFullPath(path)}");
                }
                if (result.Stopped is { } stopped) { Console.Error.WriteLine(stopped); return Failed; }
                if (result.Rows.Count == 0) { Console.Error.WriteLine("No method could run on this model and task (see the reasons above)."); return Failed; }
                if (!result.FrozenUnchanged) { Console.Error.WriteLine("The frozen model's checksum changed during the comparison."); return Failed; }
                return Ok;
            };
        })));
        return command;
    }

    public static Command Eval()
    {
        var file = new Argument<FileInfo>("file") { Description = "A saved manipulation and alignment (.safetensors, from --save or result.Save)." };
        var model = TextOption("--model", "The frozen model (default: the one the file was learned on; its checksum must match).");
        var task = TextOption("--task", "The task to evaluate on (default: the file's own task).");
        var manipulation = TextOption("--manipulation", "The manipulation's registry name (default: the file's).");
        var alignment = TextOption("--alignment", "The alignment's registry name (default: the file's).");
        var test = TextOption("--test", "Test examples per seed. Default 100.");
        var seeds = TextOption("--seeds", "Seeds (each draws its own test split where the task has one per seed): a count, a list or a range. Default 0.");
        var tokens = TextOption("--tokens", "Virtual tokens (default: the file's).");
        var padWidth = TextOption("--pad-width", "Frame width of a padding prompt in pixels (default: the file's).");
        var imageSize = TextOption("--image-size", "The size of the images the frozen model sees (default: the file's).");
        var device = TextOption("--device", "auto, cpu, cuda or cuda:N. Default auto.");
        var (textColumn, labelColumn, labelWords) = TextDataOptionSet();
        var export = ExportOption();
        var command = new Command("eval", "Evaluate a saved manipulation and alignment on a task with the frozen model it was learned on: prints the test accuracy and writes --export.")
        {
            file, model, task, manipulation, alignment, test, seeds, tokens, padWidth, imageSize, device, textColumn, labelColumn, labelWords, export,
        };
        command.SetAction((parse, cancellationToken) => Task.FromResult(Run(Console.Error, () =>
        {
            string? Get(Option<string?> o) => parse.GetValue(o);
            var path = parse.GetValue(file)!.FullName;
            if (!File.Exists(path)) throw new ArgumentException($"There is no saved manipulation at {path}.");
            var saved = SavedSettings(path);
            string From(Option<string?> option, string key) =>
                Get(option) ?? saved.GetValueOrDefault(key) ?? throw new ArgumentException($"{Path.GetFileName(path)} does not say its {key}: give {option.Name}.");
            var spec = new ExperimentSpec
            {
                Model = From(model, "model"), Task = From(task, "task"), Manipulation = From(manipulation, "manipulation"), Alignment = From(alignment, "alignment"),
                Seeds = Get(seeds) is { } s ? InstructionOptionsBase.ParseSeeds(s) : [0],
                Device = Get(device),
                Load = path,
                TextData = TextData(Get(textColumn), Get(labelColumn), Get(labelWords)),
                Budget = new Budget { TrainExamples = 0, PoolExamples = 0, TestExamples = Int(Get(test), "--test") ?? 100 },
                Options = new MethodOptions
                {
                    Tokens = Int(Get(tokens), "--tokens") ?? SavedInt(saved, "tokens") ?? new MethodOptions().Tokens,
                    Shots = 0,
                    PadWidth = Int(Get(padWidth), "--pad-width") ?? SavedInt(saved, "pad-width"),
                    ImageSize = Int(Get(imageSize), "--image-size") ?? SavedInt(saved, "image size"),
                    Reparameterisation = SavedInt(saved, "reparameterisation"),
                },
            };
            spec.Validate();
            var exports = Exports(parse.GetValue(export));
            return () =>
            {
                var run = Experiment.Run(spec, new Progress(Console.Out), cancellationToken);
                var r = run.Result;
                Console.Out.WriteLine();
                Console.Out.WriteLine($"{r.Name} on {r.Model}, {r.Task}");
                Console.Out.WriteLine($"  loaded from {path}");
                foreach (var seed in run.Seeds) Console.Out.WriteLine($"  seed {seed.Seed}: test accuracy {Percent(seed.TestAccuracy)} ({seed.Records.Count} examples)");
                Console.Out.WriteLine($"  test accuracy {Percent(run.TestAccuracy)} ± {Percent(run.TestAccuracySd)} over {run.Seeds.Count} seed(s)");
                Console.Out.WriteLine($"  frozen model {Short(r.ChecksumBefore)} → {Short(r.ChecksumAfter)}: {(r.FrozenUnchanged ? "unchanged" : "CHANGED")}");
                Console.Out.WriteLine($"  {r.Provenance?.Describe()}");
                foreach (var p in exports)
                {
                    run.Export(p);
                    Console.Out.WriteLine($"Wrote {Path.GetFullPath(p)}");
                }
                return r.FrozenUnchanged ? Ok : Failed;
            };
        })));
        return command;
    }

    /// <summary>
    /// Parses and checks (bad usage: exit 2, with the message), then runs (a failure: exit 1, with the message).
    /// </summary>
    internal static int Run(TextWriter error, Func<Func<int>> prepare)
    {
        Func<int> run;
        try
        {
            run = prepare();
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or DataSetNotFoundException or FormatException)
        {
            error.WriteLine(e.Message);
            return Usage;
        }
        catch (LearnedFileException e)
        {
            // The file exists but cannot be used (corrupt, not a saved manipulation): the run fails.
            error.WriteLine(e.Message);
            return Failed;
        }
        try
        {
            return run();
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or DataSetNotFoundException or InvalidDataException or LibTorchUnavailableException
                                      or Frozen.FrozenModelChangedException or LearnedFileException or InvalidOperationException or OperationCanceledException
                                      or IOException or UnauthorizedAccessException)
        {
            error.WriteLine(e.Message);
            return Failed;
        }
    }

    private static (Option<string?>, Option<string?>, Option<string?>) TextDataOptionSet() =>
    (
        TextOption("--text-column", "The column (CSV/TSV header) or JSONL key that holds the text, for a --task file. Default text."),
        TextOption("--label-column", "The column or JSONL key that holds the class label, for a --task file. Default label."),
        TextOption("--label-words", "The word a language model scores for each class, e.g. negative=bad,positive=good (default: the class names).")
    );

    private static TextDataOptions? TextData(string? textColumn, string? labelColumn, string? labelWords) =>
        textColumn is null && labelColumn is null && labelWords is null ? null : Data.TextDataOptions.From(textColumn, labelColumn, labelWords);

    private static IReadOnlyList<string> Exports(string[]? paths)
    {
        var result = new List<string>();
        foreach (var path in paths ?? [])
        {
            if (string.IsNullOrWhiteSpace(path) || Path.GetExtension(path.Trim()).ToLowerInvariant() is not (".csv" or ".json"))
            {
                throw new ArgumentException($"--export '{path}': give a file name ending in .csv (the table) or .json (everything, with every prediction).");
            }
            result.Add(path.Trim());
        }
        return result;
    }

    /// <summary>The settings a saved file was learned with (its result's settings: model, task, manipulation, alignment, tokens, ...).</summary>
    private static IReadOnlyDictionary<string, string> SavedSettings(string path)
    {
        var (metadata, tensors) = LearnedManipulationFile.Read(path);
        foreach (var t in tensors.Values) t.Dispose();
        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, string>>(metadata.GetValueOrDefault("training") ?? "{}") ?? [];
        }
        catch (JsonException)
        {
            return new Dictionary<string, string>();
        }
    }

    /// <summary>A whole number at the start of a saved setting ("112 px, 3 channel(s)" → 112); null where there is none.</summary>
    private static int? SavedInt(IReadOnlyDictionary<string, string> saved, string key)
    {
        if (!saved.TryGetValue(key, out var text)) return null;
        var digits = new string(text.TakeWhile(char.IsDigit).ToArray());
        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
    }

    private static string[] List(string text) => text.Split([',', ';', '|'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static int? Int(string? text, string option) =>
        text is null ? null
        : int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
        : throw new ArgumentException($"{option}: '{text}' is not a whole number.");

    private static double? Number(string? text, string option) =>
        text is null ? null
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
        : throw new ArgumentException($"{option}: '{text}' is not a number.");

    private static string Percent(double value) => (value * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";
    private static string Short(string checksum) => checksum.Length > 12 ? checksum[..12] : checksum;

    /// <summary>The comparison's table as text: one line per method and budget.</summary>
    public static void Print(TextWriter output, ComparisonResult result)
    {
        var o = result.Options;
        output.WriteLine($"Comparison on {result.Model}; task {result.Task}; seeds {string.Join(",", o.Seeds)}; {o.TestExamples} test examples per seed; " +
                         $"{o.Epochs} epochs, batch {o.BatchSize}, learning rate {o.LearningRate.ToString(CultureInfo.InvariantCulture)}; {result.WallTime.TotalSeconds:0.0} s");
        var header = new[] { "method", "examples", "paradigm", "coordinates", "test accuracy", "labelled", "trainable", "training s", "tokens/query", "frozen" };
        var rows = result.Rows.Select(row => new[]
        {
            row.Method.Name, row.Budget.ToString(CultureInfo.InvariantCulture), row.Result.Paradigm?.ToString() ?? "-",
            row.Result.Coordinates?.ToString() ?? $"(no input manipulation) · {row.Result.AlignmentKind}",
            $"{Percent(row.TestAccuracy)} ± {Percent(row.TestAccuracySd)}", row.LabelledExamples.ToString(CultureInfo.InvariantCulture),
            row.Result.TrainableParameters.ToString("N0", CultureInfo.InvariantCulture), row.Result.TrainingTime.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture),
            row.Result.InferenceTokensPerQuery?.ToString("0.0", CultureInfo.InvariantCulture) ?? "-", row.Result.FrozenUnchanged ? "unchanged" : "CHANGED",
        }).ToArray();
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Select(r => r[i].Length).DefaultIfEmpty(0).Max())).ToArray();
        string Line(string[] cells) => string.Join("  ", cells.Select((c, i) => c.PadRight(widths[i]))).TrimEnd();
        output.WriteLine(Line(header));
        output.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var row in rows) output.WriteLine(Line(row));
        foreach (var s in result.Skipped) output.WriteLine($"not run: {s.Method} at {s.Budget} examples: {s.Reason}");
        if (result.Provenance is { } p) output.WriteLine(p.Describe());
    }

    /// <summary>One line per run as it starts (loading, training, evaluating), not per step.</summary>
    private sealed class Progress(TextWriter output) : IProgress<ExperimentProgress>
    {
        private string? last;

        public void Report(ExperimentProgress value)
        {
            // A training run's name already says its seed.
            var line = value.Phase switch
            {
                ExperimentPhase.Loading => value.Run,
                ExperimentPhase.Training => $"{value.Run}: training",
                _ => $"{value.Run}, seed {value.Seed}: {value.Phase.ToString().ToLowerInvariant()}",
            };
            lock (output)
            {
                if (line == last) return;
                last = line;
                output.WriteLine($"  {line}");
            }
        }
    }
}
