using System.Text.RegularExpressions;
using Reprogram.Experiments;

namespace Reprogram.Tests;

/// <summary>
/// The README's registry tables are the registries: every registered model, manipulation, alignment and task has its row,
/// and no row names something that is not registered (a renamed or removed method fails here, not in a reader's notebook).
/// </summary>
public class ReadmeRegistryTests
{
    public static TheoryData<string> Axes => new() { "model", "manipulation", "alignment", "task" };

    [Theory]
    [MemberData(nameof(Axes))]
    public void The_readme_table_of_each_registry_lists_exactly_its_entries(string axis)
    {
        // The library's own entries (other tests add entries of their own to the live registries while this runs).
        var registered = axis switch
        {
            "model" => ModelEntries.All.Select(e => e.Name),
            "manipulation" => ManipulationEntries.All.Select(e => e.Name),
            "alignment" => AlignmentEntries.All.Select(e => e.Name),
            _ => TaskEntries.All.Select(e => e.Name),
        };
        var listed = TableNames(File.ReadAllText(ReadmePath()), axis);
        Assert.NotEmpty(listed);
        Assert.Equal(registered.OrderBy(n => n, StringComparer.Ordinal), listed.OrderBy(n => n, StringComparer.Ordinal));
    }

    /// <summary>The first-column names (in backticks) of the README table whose header starts with "| axis |".</summary>
    private static List<string> TableNames(string readme, string axis)
    {
        var lines = readme.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var header = lines.FindIndex(l => l.StartsWith($"| {axis} |", StringComparison.Ordinal));
        Assert.True(header >= 0, $"README.md has no table headed '| {axis} |'.");
        return lines.Skip(header + 2).TakeWhile(l => l.StartsWith('|'))
            .Select(l => Regex.Match(l, @"^\|\s*`([^`]+)`").Groups[1].Value).ToList();
    }

    private static string ReadmePath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var readme = Path.Combine(dir.FullName, "README.md");
            if (File.Exists(Path.Combine(dir.FullName, "Reprogram.Interactive.sln")) && File.Exists(readme)) return readme;
        }
        throw new FileNotFoundException("README.md beside Reprogram.Interactive.sln was not found above " + AppContext.BaseDirectory);
    }
}
