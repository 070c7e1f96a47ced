using System.Text.Json;
using Reprogram.Models.Clip;
using Xunit;
using Xunit.Abstractions;

namespace Reprogram.Tests;

/// <summary>CLIP's BPE tokenizer against the independent Python reference on a few hundred strings.</summary>
public sealed class ClipTokenizerTests(ITestOutputHelper output)
{
    private static VisionCheckpoints Checkpoints => VisionCheckpoints.Shared;

    private static IReadOnlyList<(string Text, int[] Ids)> Cases()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Checkpoints.Folder("clip"), "tokenizer_cases.json")));
        return json.RootElement.EnumerateArray()
            .Select(e => (e.GetProperty("text").GetString()!, e.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray())).ToList();
    }

    [Fact]
    public void Ids_match_the_reference_on_every_string()
    {
        var tokenizer = ClipTokenizer.Load(Checkpoints.Folder("clip"));
        var cases = Cases();
        Assert.True(cases.Count >= 300, $"{cases.Count} strings");
        var failures = cases.Where(c => !tokenizer.Encode(c.Text).SequenceEqual(c.Ids))
            .Select(c => $"{JsonSerializer.Serialize(c.Text)}: ours [{string.Join(", ", tokenizer.Encode(c.Text))}], reference [{string.Join(", ", c.Ids)}]").ToList();
        foreach (var f in failures.Take(20)) output.WriteLine(f);
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} strings differ; first: {failures.FirstOrDefault()}");
        // The vocabulary has </w> symbols and merges were used (not only single bytes).
        Assert.Contains(cases, c => c.Ids.Length > 2 && c.Ids.Skip(1).SkipLast(1).Any(i => i >= 512 && i < tokenizer.StartOfText));
    }
}
