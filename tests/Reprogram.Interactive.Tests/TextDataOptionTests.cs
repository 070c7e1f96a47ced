using Microsoft.DotNet.Interactive.Events;

namespace Reprogram.Interactive.Tests;

/// <summary>--text-column, --label-column and --label-words reach #!soft-prompt, #!icl and #!cot from a user's own file.</summary>
public sealed class TextDataOptionTests : KernelTestBase, IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("rp-text-options-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>
    /// Reviews in the zoo models' character alphabet, with the text and label in custom columns (and the label first),
    /// quoted, some over two lines, with a BOM.
    /// </summary>
    private string Reviews()
    {
        var rows = Enumerable.Range(0, 24).Select(i => i % 2 == 0 ? $"negative,\"bad {i},\nawful\"" : $"positive,\"good {i}\"");
        var path = Path.Combine(folder, "reviews.csv");
        File.WriteAllText(path, string.Join("\r\n", ["sentiment,review", .. rows]) + "\r\n", new System.Text.UTF8Encoding(true));
        return path;
    }

    private const string Columns = "--text-column review --label-column sentiment";

    [Fact]
    public async Task Icl_reads_the_columns_and_answers_with_the_label_words()
    {
        var csv = Reviews();
        await SubmitOk($"#!icl --model icl-rules --task {csv} {Columns} --label-words negative=x,positive=y " +
                       "--shots 0,2 --seeds 1 --queries 6 --pool 8 --demo-format \"{input}={label}\" --separator \";\" --query-format \"{input}=\" --name r");
        var answers = await SubmitOk("string.Join(\",\", r.Records.Select(x => x.Answer).Distinct().OrderBy(a => a))");
        Assert.Equal("x,y", answers.Events.OfType<ReturnValueProduced>().Single().Value);
        var prompt = await SubmitOk("r.Records.First(x => x.Shots == 2).Prompt");
        Assert.Matches("=(x|y);", (string)prompt.Events.OfType<ReturnValueProduced>().Single().Value);
    }

    [Fact]
    public async Task Soft_prompt_on_a_decoder_trains_with_the_columns_and_label_words()
    {
        var csv = Reviews();
        await SubmitOk($"#!soft-prompt --model icl-rules --task {csv} {Columns} --label-words negative=n,positive=p " +
                       "--train 12 --test 6 --tokens 2 --epochs 1 --batch 6 --max-length 16 --name sp");
        var task = await SubmitOk("sp.Main.Task");
        // The verbalizer scores the label words, not the class names.
        Assert.Contains("labels n, p", (string)task.Events.OfType<ReturnValueProduced>().Single().Value);
    }

    [Fact]
    public async Task Compare_reads_the_columns_and_scores_the_label_words_for_every_method()
    {
        var csv = Reviews();
        await SubmitOk($"#!compare --model icl-rules --task {csv} {Columns} --label-words negative=n,positive=p " +
                       "--methods none+verbalizer,soft-prompt+verbalizer --examples 4 --seeds 1 --test 6 --epochs 1 --tokens 2 --name cmp");
        var labels = await SubmitOk("string.Join(\",\", cmp.Rows.SelectMany(r => r.Run.Seeds[0].Records.Select(p => p.Answer)).Distinct().OrderBy(a => a))");
        Assert.Equal("n,p", labels.Events.OfType<ReturnValueProduced>().Single().Value);
        var same = await SubmitOk("cmp.SameTestExamples && cmp.Rows.Count == 2");
        Assert.Equal(true, same.Events.OfType<ReturnValueProduced>().Single().Value);
    }

    [Theory]
    [InlineData("#!soft-prompt --model icl-rules --task {csv} --text-column text", "no column 'text'")]
    [InlineData("#!soft-prompt --model icl-rules --task {csv} --text-column review --label-column sentiment --label-words negative=n,neutral=u", "does not have: neutral")]
    [InlineData("#!soft-prompt --label-words negative=bad,positive=good", "minilm has a linear head")]
    [InlineData("#!soft-prompt --task fortunes --text-column quote", "--text-column applies to a .csv")]
    [InlineData("#!icl --task icl-rules --label-words a=b", "apply to text tasks")]
    [InlineData("#!cot --task addition --text-column q", "apply to text tasks")]
    [InlineData("#!compare --task held-out-rule --label-words a=b --examples 2 --seeds 1", "--label-words applies to text tasks")]
    [InlineData("#!icl --task sentiment --label-words negative", "is not class=word")]
    public async Task Wrong_columns_or_label_words_are_named_and_the_kernel_stays_usable(string cell, string message)
    {
        Assert.Contains(message, await SubmitFails(cell.Replace("{csv}", Reviews())));
        await AssertKernelStillUsable();
    }
}
