using System.Diagnostics;

namespace Reprogram.Tests;

/// <summary>
/// Runs an independent reference (a script in tests/Reprogram.Tests/reference, copied beside the tests) with Debian's
/// /usr/bin/python3, whose torch, torchvision, sentencepiece and jinja2 the references use (.ci/setup installs them).
/// </summary>
public static class PythonReference
{
    /// <summary>Runs <paramref name="script"/> with <paramref name="arguments"/>; returns its standard output.</summary>
    /// <param name="needs">The Debian packages the script needs, named in the failure message.</param>
    public static string Script(string script, IEnumerable<string> arguments, TimeSpan limit, string needs = "python3-torch") =>
        Run([Path.Combine(AppContext.BaseDirectory, script), .. arguments], script, limit, needs);

    /// <summary>Runs /usr/bin/python3 with <paramref name="arguments"/> (a script, or -c and code); returns its standard output.</summary>
    public static string Run(IEnumerable<string> arguments, string what, TimeSpan limit, string needs = "python3-torch")
    {
        var start = new ProcessStartInfo("/usr/bin/python3", arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["OMP_WAIT_POLICY"] = "PASSIVE";   // torch's threads must not spin beside the test host's
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{what} needs /usr/bin/python3 with Debian's {needs} (.ci/setup installs them): {e.Message}", e);
        }
        using var _ = process;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{what} took over {limit.TotalSeconds:0} s.");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{what} failed ({process.ExitCode}; it needs Debian's {needs}, which .ci/setup installs): {stderr.Result} {stdout.Result}");
        }
        return stdout.Result;
    }
}
