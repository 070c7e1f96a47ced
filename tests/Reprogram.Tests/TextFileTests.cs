using System.Text;
using Reprogram.Data;
using Reprogram.Experiments;
using Reprogram.Instruction;
using Reprogram.Models.Causal;
using Reprogram.Models.Zoo;
using Xunit;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>A researcher's own text files: CSV/TSV/JSONL with any columns, quoting, BOMs, label words, and errors that name the row.</summary>
public sealed class TextFileTests : IDisposable
{
    private readonly string temp = Directory.CreateTempSubdirectory("reprogram-text-files-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    private string Write(string name, string content, bool bom = false)
    {
        var path = Path.Combine(temp, name);
        File.WriteAllText(path, content, new UTF8Encoding(encoderShouldEmitUTF8Identifier: bom));
        return path;
    }

    private static readonly TextDataOptions ReviewColumns = new() { TextColumn = "review", LabelColumn = "sentiment" };

    [Fact]
    public void A_csv_with_a_bom_quoted_newlines_commas_quotes_and_custom_columns_reads_exactly()
    {
        // CRLF line ends, a BOM, columns in another order with an extra one, and every kind of quoting.
        var csv = "id,sentiment,review,source\r\n" +
                  "1,positive,\"Great film.\r\nWould watch again, twice.\",web\r\n" +
                  "2,negative,\"He said \"\"meh\"\", and left.\",paper\r\n" +
                  "\r\n" +
                  "3,positive,plain text,web\r\n" +
                  "4,negative,\"ends with a newline\n\",web\r\n";
        var path = Write("reviews.csv", csv, bom: true);

        var data = TextDataSets.FromFile(path, ReviewColumns);
        Assert.Equal(["Great film.\r\nWould watch again, twice.", "He said \"meh\", and left.", "plain text", "ends with a newline\n"], data.Texts);
        Assert.Equal(["negative", "positive"], data.ClassNames);
        Assert.Equal([1, 0, 1, 0], data.Labels);
        Assert.Null(data.Rationales);
        Assert.Equal(data.ClassNames, data.Verbalized);
        // Header names match without regard to case; the same file without a BOM reads the same.
        var noBom = Write("reviews-nobom.csv", csv.Replace("id,sentiment,review", "ID,Sentiment,Review"));
        Assert.Equal(data.Texts, TextDataSets.FromFile(noBom, ReviewColumns).Texts);
    }

    [Fact]
    public void Jsonl_and_tsv_files_read_with_custom_keys_and_a_bom()
    {
        var jsonl = Write("reviews.jsonl",
            "{\"review\": \"multi\\nline\", \"sentiment\": \"positive\", \"rationale\": \"it says so\"}\n\n" +
            "{\"review\": \"numbers as labels\", \"sentiment\": 3}\n", bom: true);
        var fromJson = TextDataSets.FromFile(jsonl, ReviewColumns);
        Assert.Equal(["multi\nline", "numbers as labels"], fromJson.Texts);
        Assert.Equal(["3", "positive"], fromJson.ClassNames);
        Assert.Equal(["it says so", null], fromJson.Rationales!);

        var tsv = Write("reviews.tsv", "review\tsentiment\n\"tab\tinside\"\tnegative\nfine, with a comma\tpositive\n", bom: true);
        var fromTsv = TextDataSets.FromFile(tsv, ReviewColumns);
        Assert.Equal(["tab\tinside", "fine, with a comma"], fromTsv.Texts);
    }

    [Fact]
    public void The_librarys_own_multi_line_icl_export_reads_back()
    {
        manual_seed(3);
        var tokenizer = new CharTokenizer();
        using var model = InstructionModel.FromLocal(new TinyGpt(new GptConfig(tokenizer.VocabularySize, MaxPositions: 64, Layers: 1, Heads: 2, HiddenSize: 16)),
            "random tiny gpt", tokenizer.Encode, ids => tokenizer.Decode(ids), CPU);
        // Demonstrations on lines of their own: every prompt spans several lines and has a comma (so it is quoted).
        var result = InContextLearning.Run(model, new InContextOptions
        {
            Shots = [2], Seeds = [0], Queries = 6, Pool = 4, DemonstrationFormat = "{input}\n=> {label}", Separator = "\n", QueryFormat = "{input}\n=>",
            Instruction = "label, then answer:\n",
        });
        var export = Path.Combine(temp, "icl.csv");
        result.Export(export);
        Assert.Contains(result.Records, r => r.Prompt.Contains('\n'));

        var read = TextDataSets.FromFile(export, new TextDataOptions { TextColumn = "prompt", LabelColumn = "answer" });
        Assert.Equal(result.Records.Select(r => r.Prompt), read.Texts);
        Assert.Equal(result.Records.Select(r => r.Answer), read.Labels.Select(l => read.ClassNames[l]));
    }

    [Fact]
    public void A_missing_column_names_the_columns_the_file_has()
    {
        var path = Write("a.csv", "review,label\nfine,positive\n");
        var e = Assert.Throws<InvalidDataException>(() => TextDataSets.FromFile(path, ReviewColumns with { LabelColumn = "label", TextColumn = "text" }));
        Assert.Contains("no column 'text'", e.Message);
        Assert.Contains("'review', 'label'", e.Message);
        Assert.Contains("--text-column", e.Message);

        var jsonl = Write("a.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"class\": \"y\"}\n");
        var j = Assert.Throws<InvalidDataException>(() => TextDataSets.FromFile(jsonl));
        Assert.Contains("row 2 (line 2) has no \"label\"", j.Message);
        Assert.Contains("\"text\", \"class\"", j.Message);
    }

    [Fact]
    public void An_empty_class_names_its_row_and_line_after_a_multi_line_field()
    {
        // Row 2 starts on line 3 and spans two lines, and a blank line follows, so the empty label of row 3 is on line 6.
        var path = Write("b.csv", "text,label\nfirst,x\n\"second\nspans two lines\",y\n\nthird,\nfourth,x\n");
        var e = Assert.Throws<InvalidDataException>(() => TextDataSets.FromFile(path));
        Assert.Contains("row 3 (line 6)", e.Message);
        Assert.Contains("label ('label') is empty", e.Message);

        var json = Write("b.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": null}\n");
        Assert.Contains("row 2 (line 2): the label", Assert.Throws<InvalidDataException>(() => TextDataSets.FromFile(json)).Message);
    }

    [Theory]
    [InlineData("text,label\nfine,x\nHe said \"no\" loudly,y\n", "row 2 (line 3): a quote inside an unquoted field")]
    [InlineData("text,label\nfine,x\nno, quotes around a comma,y\n", "row 2 (line 3) has 3 fields; the header has 2 (quote a field that contains ',')")]
    [InlineData("text,label\nfine,x\n\"left open,y\nthird,x\n", "row 2 (line 3): a quote opened here is never closed")]
    [InlineData("text,label,source\nfine,x,web\nonly two,y\n", "row 2 (line 3) has 2 fields; the header has 3 (a missing field)")]
    [InlineData("text,label\nfine,x\n   ,y\n", "row 2 (line 3): the text ('text') is empty")]
    [InlineData("", "is empty: it needs a header")]
    [InlineData("text,label\n", "has no data rows")]
    public void An_unreadable_row_is_named(string content, string expected)
    {
        var path = Write("c.csv", content);
        Assert.Contains(expected, Assert.Throws<InvalidDataException>(() => TextDataSets.FromFile(path)).Message);
    }

    [Fact]
    public void Bytes_that_are_not_utf8_and_lines_that_are_not_json_are_named()
    {
        var path = Path.Combine(temp, "latin1.csv");
        File.WriteAllBytes(path, [.. Encoding.ASCII.GetBytes("text,label\nfine,x\ncaf"), 0xE9, .. Encoding.ASCII.GetBytes(",y\n")]);
        var e = Assert.Throws<InvalidDataException>(() => TextDataSets.FromFile(path));
        Assert.Contains("row 2 (line 3): bytes that are not UTF-8", e.Message);

        var jsonl = Write("d.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\nnot json\n");
        Assert.Contains("row 2 (line 2) is not JSON", Assert.Throws<InvalidDataException>(() => TextDataSets.FromFile(jsonl)).Message);
        var array = Write("e.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n[1, 2]\n");
        Assert.Contains("row 2 (line 2) is a JSON array", Assert.Throws<InvalidDataException>(() => TextDataSets.FromFile(array)).Message);
    }

    [Fact]
    public void Label_words_parse_apply_to_every_class_and_refuse_what_does_not_fit()
    {
        var words = LabelWords.Parse(" negative = bad , positive=very good");
        Assert.Equal("bad", words["negative"]);
        Assert.Equal("very good", words["positive"]);
        Assert.Equal("negative=bad,positive=very good", words.ToString());

        Assert.Contains("is not class=word", Assert.Throws<ArgumentException>(() => LabelWords.Parse("negative:bad")).Message);
        Assert.Contains("stands for several classes", Assert.Throws<ArgumentException>(() => LabelWords.Parse("a=x,b=x")).Message);
        Assert.Contains("given a word twice", Assert.Throws<ArgumentException>(() => LabelWords.Parse("a=x,a=y")).Message);
        Assert.Contains("no word after '='", Assert.Throws<ArgumentException>(() => LabelWords.Parse("a=,b=y")).Message);

        var sentiment = TextDataSets.Load("sentiment", 0, new TextDataOptions { LabelWords = words });
        Assert.Equal(["negative", "positive"], sentiment.ClassNames);
        Assert.Equal(["bad", "very good"], sentiment.Verbalized);
        Assert.Equal(sentiment.Verbalized, sentiment.Split(10, 10, 0).Train.Verbalized);

        var unknown = Assert.Throws<ArgumentException>(() => TextDataSets.Load("sentiment", 0, new TextDataOptions { LabelWords = LabelWords.Parse("negative=bad,neutral=meh,positive=good") }));
        Assert.Contains("does not have: neutral", unknown.Message);
        Assert.Contains("Its classes: negative, positive", unknown.Message);
        var missing = Assert.Throws<ArgumentException>(() => TextDataSets.Load("sentiment", 0, new TextDataOptions { LabelWords = LabelWords.Parse("negative=bad") }));
        Assert.Contains("no word for positive", missing.Message);

        // Column names belong to files; a built-in task refuses them by option name.
        Assert.Contains("--text-column applies to a .csv", Assert.Throws<ArgumentException>(() => TextDataSets.Load("sentiment", 0, new TextDataOptions { TextColumn = "review" })).Message);
        Assert.Contains("both 'x'", Assert.Throws<ArgumentException>(() => TextDataOptions.From("x", "X", null)).Message);
    }

    [Fact]
    public void In_context_tasks_from_a_file_use_its_columns_and_label_words()
    {
        var lines = Enumerable.Range(0, 12).Select(i => $"\"review {i},\nline two\",{(i % 2 == 0 ? "negative" : "positive")}");
        var path = Write("icl.csv", string.Join("\n", ["review,sentiment", .. lines]) + "\n", bom: true);
        var task = InstructionTasks.Load(path, seed: 1, queries: 4, pool: 6,
            textData: ReviewColumns with { LabelWords = LabelWords.Parse("negative=bad,positive=good") });
        Assert.Equal(["bad", "good"], task.Labels);
        Assert.All(task.Queries.Concat(task.Pool), e => Assert.Contains(e.Answer, new[] { "bad", "good" }));
        Assert.All(task.Queries, e => Assert.EndsWith(",\nline two", e.Input));
        Assert.Contains("labels bad, good", task.Description);

        var refused = Assert.Throws<ArgumentException>(() => InstructionTasks.Load(InstructionTasks.Rules, 0, 4, 4, textData: new TextDataOptions { LabelWords = LabelWords.Parse("a=b") }));
        Assert.Contains("apply to text tasks", refused.Message);
        Assert.Contains("--label-words is a decoder's verbalizer",
            Assert.Throws<ArgumentException>(() => new PromptTuningOptions { TextData = new TextDataOptions { LabelWords = LabelWords.Parse("a=b") } }.Validate()).Message);
    }
}
