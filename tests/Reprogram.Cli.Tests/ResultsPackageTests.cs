using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Events;
using Reprogram.Cli.Hosting;

namespace Reprogram.Cli.Tests;

/// <summary>
/// Through #r "nuget:" as a notebook has it: the package brings Microsoft.Data.Analysis (and its own notebook extension)
/// without failing the load, and a result set shows as our table and as a DataFrame.
/// </summary>
[Collection(PackedCollection.Name)]
public class ResultsPackageTests(PackedPackages packages)
{
    [Fact]
    public async Task A_result_set_and_its_data_frame_display_after_hash_r()
    {
        using var kernel = NotebookKernel.Create();
        await Ok(kernel, $"#i \"nuget: {packages.Feed}\"");
        await Ok(kernel, $"#r \"nuget: Reprogram.Interactive, {packages.Version}\"");
        var set = "var set = new ResultSet([new ResultRow { Kind = \"experiment\", Name = \"pad <b>\", Model = \"m\", Task = \"t\", Manipulation = \"pad\", Alignment = \"ilm\", " +
                  "Coordinates = new Coordinates(Format.Learnable, Location.Input, Operator.Additive, OutputAlignment.Statistical), AlignmentKind = OutputAlignment.Statistical, " +
                  "Metrics = new Dictionary<string, double> { [\"test accuracy\"] = 0.625 }, Seeds = [0], Device = \"cpu\", ChecksumBefore = \"abc\", ChecksumAfter = \"abc\" }]);";
        var table = Html(await Ok(kernel, set + "\nset"));
        Assert.Contains("<b>1 result</b>", table);
        Assert.Contains("pad &lt;b&gt;", table);
        var frame = Html(await Ok(kernel, "set.ToDataFrame()"));
        Assert.Contains("test_accuracy", frame);
        Assert.Contains("0.625", frame);
    }

    private static string Html(KernelCommandResult result) =>
        string.Join("\n", result.Events.OfType<DisplayEvent>().SelectMany(e => e.FormattedValues).Where(v => v.MimeType == "text/html").Select(v => v.Value));

    private static async Task<KernelCommandResult> Ok(Microsoft.DotNet.Interactive.Kernel kernel, string code)
    {
        var result = await kernel.SendAsync(new SubmitCode(code));
        var failed = result.Events.OfType<CommandFailed>().FirstOrDefault();
        Assert.True(failed is null, $"{code}\nfailed: {failed?.Message}");
        return result;
    }
}
