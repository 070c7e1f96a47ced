namespace Reprogram.Cli.Tests;

/// <summary>The documented exit codes: 0 ok, 1 a cell, run or check failed, 2 bad usage (parse errors included).</summary>
public class ExitCodeTests
{
    [Theory]
    [InlineData("")]                                 // no command
    [InlineData("fly")]                              // an unknown command
    [InlineData("doctor --fixx")]                    // an unknown option
    [InlineData("run")]                              // a missing argument
    [InlineData("bench --rounds many")]              // a value that does not parse
    [InlineData("run /no/such/notebook.ipynb")]      // a notebook that does not exist
    public async Task Bad_usage_exits_2(string commandLine)
    {
        var args = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var error = new StringWriter();
        var before = Console.Error;
        Console.SetError(error);
        try
        {
            Assert.Equal(2, await Program.Main(args));
        }
        finally
        {
            Console.SetError(before);
        }
        Assert.NotEmpty(error.ToString().Trim());
    }

    [Fact]
    public async Task Help_exits_0()
    {
        var before = Console.Out;
        var output = new StringWriter();
        Console.SetOut(output);
        try
        {
            Assert.Equal(0, await Program.Main(["--help"]));
            Assert.Equal(0, await Program.Main(["run", "--help"]));
        }
        finally
        {
            Console.SetOut(before);
        }
        Assert.Contains("doctor", output.ToString());
        Assert.Contains("--param", output.ToString());
    }
}
