using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Reprogram.Cli.Notebooks;

namespace Reprogram.Cli.Tests;

/// <summary>End-to-end checks with real clients: headless Chromium on the runner's HTML, and Jupyter's nbconvert.</summary>
[Collection(PackedCollection.Name)]
public class BrowserAndJupyterTests(PackedPackages packages)
{
    private static string Tutorial => Path.Combine(Repo.NotebooksFolder, "01-taxonomy.ipynb");

    [Fact]
    public async Task Chromium_draws_the_plotly_chart_of_the_runner_html_with_the_network_off()
    {
        Assert.True(File.Exists("/usr/bin/chromium"), "Chromium is missing: .ci/setup installs Debian's chromium package.");
        var output = Repo.NewTempFolder("reprogram-html");
        var run = await NotebookRunner.RunAsync(Tutorial, new NotebookRunOptions { OutputFolder = output, PackageSources = [packages.Feed] });
        Assert.True(run.Succeeded, run.FailedCell?.Error);

        var result = await ProcessResult.RunAsync("/usr/bin/chromium",
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", $"--user-data-dir={Repo.NewTempFolder("reprogram-chromium")}",
            // Network off: no name resolves and every request goes to a closed proxy port.
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
            "--virtual-time-budget=20000", "--dump-dom", "file://" + run.OutputHtml,
        ], output, timeout: TimeSpan.FromMinutes(2));
        var dom = result.Output;
        Assert.Contains("class=\"main-svg\"", dom);
        // Bars are drawn as <g class="point"><path d="..."> in each trace; non-empty paths mean data points exist.
        var points = Regex.Matches(dom, "<g class=\"point\"><path d=\"M[^\"]+\"").Count;
        Assert.True(points >= 24, $"expected drawn bars, found {points}");
        Assert.DoesNotMatch("class=\"rp-plotly\"[^>]*>plotly.js is not loaded", dom);
    }

    public static TheoryData<string> Tutorials() => NotebookTests.Notebooks();

    [Theory]
    [MemberData(nameof(Tutorials))]
    public async Task Real_jupyter_runs_the_tutorial_against_the_packed_package(string tutorial)
    {
        var tools = ProcessResult.DotnetToolsPath;
        Assert.True(File.Exists("/usr/bin/jupyter"), "jupyter is missing: .ci/setup installs Debian's jupyter-nbconvert and jupyter-client.");
        Assert.True(File.Exists(Path.Combine(tools, "dotnet-interactive")), "dotnet-interactive is missing: .ci/setup installs it as a global tool.");

        var work = Repo.NewTempFolder("reprogram-jupyter");
        // The notebook as a researcher has it, with the local feed added first and the fresh version pinned.
        var notebook = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(Repo.NotebooksFolder, tutorial)))!;
        var cells = notebook["cells"]!.AsArray();
        foreach (var cell in cells)
        {
            if (cell!["cell_type"]!.GetValue<string>() != "code") continue;
            var source = string.Concat(cell["source"]!.AsArray().Select(s => s!.GetValue<string>()));
            if (source.Contains("#r \"nuget: Reprogram.Interactive\""))
            {
                cell["source"] = new JsonArray($"#i \"nuget: {packages.Feed}\"\n", $"#r \"nuget: Reprogram.Interactive, {packages.Version}\"");
            }
            // nbconvert has no parameters: the CI settings are set in the parameters cell itself, as papermill would.
            if (source.TrimStart().StartsWith("// parameters", StringComparison.Ordinal))
            {
                cell["source"] = new JsonArray(source.Replace("var ci = false;", "var ci = true;"));
            }
        }
        var input = Path.Combine(work, tutorial);
        await File.WriteAllTextAsync(input, notebook.ToJsonString());

        // dotnet-interactive's .net-csharp kernel, bound to 127.0.0.1 only.
        var kernelDir = Path.Combine(work, "jupyter", "kernels", ".net-csharp");
        Directory.CreateDirectory(kernelDir);
        await File.WriteAllTextAsync(Path.Combine(kernelDir, "kernel.json"), new JsonObject
        {
            ["argv"] = new JsonArray(Path.Combine(tools, "dotnet-interactive"), "jupyter", "--default-kernel", "csharp", "--http-local-only", "{connection_file}"),
            ["display_name"] = ".NET (C#)",
            ["language"] = "C#",
        }.ToJsonString());

        var result = await ProcessResult.RunAsync("jupyter",
            ["nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name=.net-csharp",
             "--ExecutePreprocessor.timeout=300", "--output", "executed.ipynb", input],
            work,
            new Dictionary<string, string>
            {
                ["JUPYTER_PATH"] = Path.Combine(work, "jupyter"),
                ["PATH"] = ProcessResult.PathWithDotnetTools,
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            },
            TimeSpan.FromMinutes(8));
        Assert.True(result.ExitCode == 0, "nbconvert failed:\n" + result.Output);

        var executed = await File.ReadAllTextAsync(Path.Combine(work, "executed.ipynb"));
        Assert.Contains("Plotly.newPlot", executed); // chart cells ran, so Plotly.NET met the tool's FSharp.Core
        Assert.DoesNotContain("\"output_type\": \"error\"", executed);
        if (tutorial.StartsWith("01")) Assert.Contains("Adversarial reprogramming", executed);
        if (tutorial.StartsWith("02")) Assert.Contains("unchanged ✓", executed);
    }
}
