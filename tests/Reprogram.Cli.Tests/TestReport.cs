using Xunit.Abstractions;

namespace Reprogram.Cli.Tests;

/// <summary>
/// What a test measured, for people reading the suite's log: the test's own output (shown by detailed loggers), and,
/// where <c>REPROGRAM_TEST_REPORT</c> names a file (<c>.ci/test</c> sets it), appended there so that the run prints it
/// after the tests (the console logger hides a passing test's output).
/// </summary>
public static class TestReport
{
    private static readonly object Gate = new();

    public static void Write(ITestOutputHelper log, string text)
    {
        log.WriteLine(text);
        if (Environment.GetEnvironmentVariable("REPROGRAM_TEST_REPORT") is { Length: > 0 } path)
        {
            lock (Gate) File.AppendAllText(path, text.TrimEnd() + Environment.NewLine + Environment.NewLine);
        }
    }
}
