using System.CommandLine;
using Reprogram.Cli.Notebooks;
using Reprogram.Runtime;

namespace Reprogram.Cli;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        // Before anything can load libtorch: MKL's fast path on AMD needs its shim in front of libtorch (MklOnAmd).
        MklOnAmd.Apply();
        var root = new RootCommand("reprogram: run reprogrammability notebooks and experiments from the command line.");
        root.Subcommands.Add(RunCommand());
        root.Subcommands.Add(DoctorCommand());
        root.Subcommands.Add(BenchCommand());
        root.Subcommands.Add(ExperimentCommands.Compare());
        root.Subcommands.Add(ExperimentCommands.Eval());
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // Bad usage exits 2 (System.CommandLine's own exit code for parse errors is 1, which means a failed run here).
            foreach (var error in parse.Errors) Console.Error.WriteLine(error.Message);
            Console.Error.WriteLine("Usage: reprogram run|doctor|bench|compare|eval [options]; `reprogram <command> --help` lists a command's options.");
            return UsageError;
        }
        return await parse.InvokeAsync();
    }

    /// <summary>The exit code for bad usage: an unknown command or option, a missing or malformed argument.</summary>
    public const int UsageError = 2;

    private static Command RunCommand()
    {
        var notebook = new Argument<FileInfo>("notebook") { Description = "The notebook to execute (.ipynb or .dib)." };
        var output = new Option<DirectoryInfo>("--out", "-o")
        {
            Description = "Folder for the executed .ipynb and its self-contained .html (default: ./out).",
            DefaultValueFactory = _ => new DirectoryInfo("out"),
        };
        var sources = new Option<string[]>("--source", "-s")
        {
            Description = "A NuGet package source (folder or URL) added before the first cell, as #i \"nuget: ...\" does. Repeatable.",
            AllowMultipleArgumentsPerToken = false,
        };
        var parameters = new Option<string[]>("--param", "-p")
        {
            Description = "name=value for the notebook's parameters cell (papermill style). Repeatable.",
        };
        var command = new Command("run", "Execute a notebook in-process, stop at the first failing cell, and write the executed notebook and an HTML page with its outputs and charts.")
        {
            notebook, output, sources, parameters,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var file = parse.GetValue(notebook)!;
            NotebookRunOptions options;
            try
            {
                options = new NotebookRunOptions
                {
                    OutputFolder = parse.GetValue(output)!.FullName,
                    PackageSources = parse.GetValue(sources) ?? [],
                    Parameters = NotebookParameters.Parse(parse.GetValue(parameters) ?? []),
                    OnCell = cell => Console.WriteLine(
                        $"  cell {cell.Index + 1,3} {(cell.Failed ? "FAILED" : "ok    ")} {cell.Elapsed.TotalSeconds,6:0.0} s  {Truncate(cell.FirstLine, 70)}"),
                };
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine(e.Message);
                return 2;
            }

            Console.WriteLine($"Running {file.FullName}");
            NotebookRun run;
            try
            {
                run = await NotebookRunner.RunAsync(file.FullName, options, cancellationToken);
            }
            catch (Exception e) when (e is FileNotFoundException or ArgumentException or InvalidOperationException)
            {
                Console.Error.WriteLine(e.Message);
                return 2;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The cells ran; writing the executed notebook failed (a folder not writable, a file open elsewhere).
                Console.Error.WriteLine($"Could not write the executed notebook to {options.OutputFolder}: {e.Message}");
                return 1;
            }
            Console.WriteLine($"Wrote {run.OutputNotebook}");
            Console.WriteLine($"Wrote {run.OutputHtml}");
            if (run.FailedCell is { } failed)
            {
                Console.Error.WriteLine($"Cell {failed.Index + 1} failed ({failed.FirstLine}):");
                Console.Error.WriteLine(failed.Error);
                return 1;
            }
            Console.WriteLine($"All {run.Cells.Count} code cells ran in {run.Elapsed.TotalSeconds:0.0} s.");
            return 0;
        });
        return command;
    }

    private static Command DoctorCommand()
    {
        var fix = new Option<bool>("--fix") { Description = "Repair every copy that will not load (marks the unused GLIBCXX requirement weak; keeps a .orig backup)." };
        var packages = new Option<string?>("--packages") { Description = "The NuGet packages folder to check (default: $NUGET_PACKAGES or ~/.nuget/packages)." };
        var command = new Command("doctor", "Check that TorchSharp's native library loads on this system (Debian 12 and Ubuntu 22.04 need a one-bit fix), and repair it with --fix.")
        {
            fix, packages,
        };
        command.SetAction(parse => Doctor.Run(parse.GetValue(fix), parse.GetValue(packages), Console.Out));
        return command;
    }

    private static Command BenchCommand()
    {
        var rounds = new Option<int?>("--rounds")
        {
            Description = $"Rounds per workload; each runs ours, then PyTorch with glibc, then PyTorch with jemalloc (default: {BenchOptions.MinRounds} to {BenchOptions.MaxRounds}, until every median is stable within the time budget).",
        };
        var budget = new Option<double?>("--budget") { Description = "Seconds the whole run may take with automatic rounds (default: 330)." };
        var steps = new Option<int?>("--steps") { Description = "Timed steps per run (default: each workload's own, 2-10)." };
        var workloads = new Option<string[]>("--workload", "-w")
        {
            Description = $"Only this workload; repeatable. Known: {string.Join(", ", Bench.Workloads.Select(w => w.Name))}.",
        };
        var noReference = new Option<bool>("--no-reference") { Description = "Measure only our steps (no PyTorch runs)." };
        var python = new Option<string?>("--python") { Description = "The Python with torch for the reference (default: $BENCH_PYTHON or /usr/bin/python3)." };
        var command = new Command("bench", "Throughput of Reprogram's own steps and of plain GEMMs against a PyTorch reference of the same work, interleaved in one session: medians with their spread, ratios, and GFLOP/s against the measured peak.")
        {
            rounds, budget, steps, workloads, noReference, python,
        };
        command.SetAction(parse =>
        {
            var options = new BenchOptions
            {
                Rounds = parse.GetValue(rounds),
                Steps = parse.GetValue(steps),
                Only = parse.GetValue(workloads) ?? [],
                Reference = !parse.GetValue(noReference),
            };
            if (parse.GetValue(python) is { } p) options = options with { Python = p };
            if (parse.GetValue(budget) is { } b) options = options with { Budget = TimeSpan.FromSeconds(b) };
            try
            {
                return Bench.Run(options, Console.Out);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or FileNotFoundException or LibTorchUnavailableException)
            {
                Console.Error.WriteLine(e.Message);
                return 2;
            }
        });
        return command;
    }

    private static string Truncate(string s, int n) => s.Length <= n ? s : s[..(n - 1)] + "…";
}
