using Reprogram.Cli.Notebooks;

namespace Reprogram.Cli.Tests;

/// <summary>Every tutorial in notebooks/ runs through the runner, against the freshly packed extension.</summary>
[Collection(PackedCollection.Name)]
public class NotebookTests(PackedPackages packages)
{
    public static TheoryData<string> Notebooks()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Repo.NotebooksFolder, "*.ipynb").Order()) data.Add(Path.GetFileName(file));
        return data;
    }

    [Fact]
    public void There_are_tutorials()
    {
        Assert.Contains(Path.Combine(Repo.NotebooksFolder, "01-taxonomy.ipynb"), Directory.GetFiles(Repo.NotebooksFolder, "*.ipynb"));
    }

    [Theory]
    [MemberData(nameof(Notebooks))]
    public async Task Tutorial_runs_without_a_failing_cell(string notebook)
    {
        var path = Path.Combine(Repo.NotebooksFolder, notebook);
        var document = await NotebookRunner.ReadAsync(path);
        // Tutorials with a parameters cell declare `ci`; the tests run them with their smaller CI settings.
        var parameters = document.Elements.Any(NotebookParameters.IsParametersCell)
            ? new Dictionary<string, string> { ["ci"] = "true" }
            : new Dictionary<string, string>();
        var output = Repo.NewTempFolder("reprogram-nb");
        var run = await NotebookRunner.RunAsync(path, new NotebookRunOptions
        {
            OutputFolder = output,
            PackageSources = [packages.Feed],
            Parameters = parameters,
        });
        Assert.True(run.Succeeded, $"{notebook}: cell {run.FailedCell?.Index + 1} ({run.FailedCell?.FirstLine}) failed:\n{run.FailedCell?.Error}");
        Assert.Equal(document.Elements.Count(e => e.KernelName != "markdown" && !string.IsNullOrWhiteSpace(e.Contents)) + (parameters.Count > 0 ? 1 : 0),
                     run.Cells.Count);
        Assert.True(File.Exists(run.OutputNotebook));
        Assert.True(File.Exists(run.OutputHtml));
        var executed = await NotebookRunner.ReadAsync(run.OutputNotebook!);
        Assert.All(executed.Elements.Where(e => e.KernelName != "markdown" && !string.IsNullOrWhiteSpace(e.Contents)),
                   e => Assert.DoesNotContain(e.Outputs, o => o is Microsoft.DotNet.Interactive.Documents.ErrorElement));
    }
}
