using Microsoft.DotNet.Interactive.Documents;
using Reprogram.Cli.Notebooks;

namespace Reprogram.Cli.Tests;

public class RunnerTests
{
    // A notebook read back from .ipynb holds multi-line outputs as arrays of lines.
    private static string Text(object value) => value is string s ? s : string.Concat(((System.Collections.IEnumerable)value).Cast<object>());

    private static string Write(string name, string content)
    {
        var path = Path.Combine(Repo.NewTempFolder("reprogram-runner"), name);
        File.WriteAllText(path, content);
        return path;
    }

    private const string FailingDib = """
        #!markdown

        # A notebook that fails in its third cell

        #!csharp

        var x = 6 * 7;
        x

        #!csharp

        Console.WriteLine("to stdout");

        #!csharp

        throw new InvalidOperationException("boom in cell three");

        #!csharp

        Console.WriteLine("never runs");
        """;

    [Fact]
    public async Task Stops_at_the_first_failing_cell_and_records_outputs()
    {
        var path = Write("failing.dib", FailingDib);
        var outFolder = Path.Combine(Path.GetDirectoryName(path)!, "out");
        var run = await NotebookRunner.RunAsync(path, new NotebookRunOptions { OutputFolder = outFolder });

        Assert.False(run.Succeeded);
        Assert.Equal(3, run.Cells.Count); // the fourth code cell never ran
        Assert.Contains("boom in cell three", run.FailedCell!.Error);

        var executed = await NotebookRunner.ReadAsync(run.OutputNotebook!);
        var code = executed.Elements.Where(e => e.KernelName != "markdown").ToArray();
        var answer = Assert.IsType<ReturnValueElement>(code[0].Outputs.Single());
        Assert.Contains("<pre>42</pre>", string.Concat(answer.Data.Values.Select(Text)));
        Assert.Equal(1, answer.ExecutionOrder);
        Assert.Contains("to stdout", Assert.IsType<TextElement>(code[1].Outputs.Single()).Text);
        Assert.Contains("boom in cell three", Assert.IsType<ErrorElement>(code[2].Outputs.Single()).ErrorValue);
        Assert.Empty(code[3].Outputs);

        var html = await File.ReadAllTextAsync(run.OutputHtml!);
        Assert.Contains("<h1", html);
        Assert.Contains("boom in cell three", html);
        Assert.Contains("to stdout", html);
    }

    [Fact]
    public async Task The_command_returns_non_zero_when_a_cell_fails_and_zero_otherwise()
    {
        var failing = Write("failing.dib", FailingDib);
        Assert.Equal(1, await Program.Main(["run", failing, "--out", Path.Combine(Path.GetDirectoryName(failing)!, "o")]));

        var passing = Write("passing.dib", "#!csharp\n\n1 + 1\n");
        Assert.Equal(0, await Program.Main(["run", passing, "--out", Path.Combine(Path.GetDirectoryName(passing)!, "o")]));
        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(passing)!, "o", "passing.html")));
    }

    [Fact]
    public async Task Bad_input_gives_a_message_and_exit_code_2()
    {
        Assert.Equal(2, await Program.Main(["run", "/nonexistent/notebook.ipynb"]));
        Assert.Equal(2, await Program.Main(["run", Write("x.txt", "hello")]));
        Assert.Equal(2, await Program.Main(["run", Write("p.dib", "#!csharp\n\n1\n"), "--param", "noequals"]));
        Assert.Equal(2, await Program.Main(["run", Write("q.dib", "#!csharp\n\n1\n"), "--param", "n=1"])); // no parameters cell
    }

    [Fact]
    public async Task Parameters_override_the_parameters_cell()
    {
        var path = Write("params.dib", """
            #!csharp

            // parameters
            var epochs = 100;
            var name = "full";

            #!csharp

            $"{name}:{epochs * 2}"
            """);
        var run = await NotebookRunner.RunAsync(path, new NotebookRunOptions
        {
            OutputFolder = Path.Combine(Path.GetDirectoryName(path)!, "out"),
            Parameters = NotebookParameters.Parse(["epochs=3", "name=ci \"small\""]),
        });
        Assert.True(run.Succeeded, run.FailedCell?.Error);
        var executed = await NotebookRunner.ReadAsync(run.OutputNotebook!);
        var last = executed.Elements.Last();
        Assert.Matches("ci (\"|&quot;)small(\"|&quot;):6", string.Concat(Assert.IsType<ReturnValueElement>(last.Outputs.Single()).Data.Values.Select(Text)));
    }

    [Fact]
    public async Task Display_updates_replace_the_earlier_output_like_a_live_progress_bar()
    {
        var path = Write("progress.dib", """
            #!csharp

            // The extension's progress goes through the invocation context, as here. (The C# kernel's own
            // "x".Display() helper in this DNI version publishes updates under a different id than the display.)
            var context = Microsoft.DotNet.Interactive.KernelInvocationContext.Current;
            var d = Microsoft.DotNet.Interactive.KernelInvocationContextExtensions.Display(context, "step 1 of 3", "text/plain");
            d.Update("step 2 of 3");
            d.Update("done: 3 of 3");
            """);
        var run = await NotebookRunner.RunAsync(path, new NotebookRunOptions { OutputFolder = Path.Combine(Path.GetDirectoryName(path)!, "out") });
        Assert.True(run.Succeeded, run.FailedCell?.Error);
        var cell = (await NotebookRunner.ReadAsync(run.OutputNotebook!)).Elements.Single();
        var shown = Assert.IsType<DisplayElement>(cell.Outputs.Single());
        Assert.Contains("done: 3 of 3", string.Concat(shown.Data.Values.Select(Text)));
    }

    [Theory]
    [InlineData("3", "var n = 3;")]
    [InlineData("0.5", "var n = 0.5;")]
    [InlineData("true", "var n = true;")]
    [InlineData("a\\b", "var n = \"a\\\\b\";")]
    public void Parameter_values_become_csharp_literals(string value, string expected)
    {
        Assert.Contains(expected, NotebookParameters.ToCSharp(new Dictionary<string, string> { ["n"] = value }));
    }
}
