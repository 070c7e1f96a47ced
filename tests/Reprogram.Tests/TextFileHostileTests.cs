using System.Text;
using Reprogram.Data;
using Xunit;
using Xunit.Abstractions;

namespace Reprogram.Tests;

/// <summary>
/// CSV, TSV and JSONL files that are not what they say: binary content, UTF-16 without a byte-order mark, Latin-1,
/// one class only, an empty file, missing columns. Each is refused with the file's full path and, where one row is at
/// fault, its row and line.
/// </summary>
public sealed class TextFileHostileTests(ITestOutputHelper output) : IDisposable
{
    private readonly string temp = Directory.CreateTempSubdirectory("reprogram-hostile-text-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    private const string Csv = "text,label\nthe film was great,positive\nthe food was awful,negative\n";
    private const string Jsonl = "{\"text\": \"the film was great\", \"label\": \"positive\"}\n{\"text\": \"awful\", \"label\": \"negative\"}\n";

    public static TheoryData<string, string, string> Cases() => new()
    {
        { "binary.csv", "png", "it holds a NUL byte" },
        { "binary.jsonl", "png", "it holds a NUL byte" },
        { "utf16le.csv", "utf-16le", "looks like UTF-16 text without a byte-order mark (little-endian" },
        { "utf16be.tsv", "utf-16be", "looks like UTF-16 text without a byte-order mark (big-endian" },
        { "utf16le.jsonl", "utf-16le-jsonl", "looks like UTF-16" },
        { "latin1.csv", "latin-1", "row 2 (line 3): bytes that are not UTF-8 text (Latin-1" },
        { "latin1.jsonl", "latin-1-jsonl", "row 2 (line 2): bytes that are not UTF-8" },
        { "one-class.csv", "text,label\na,x\nb,x\nc,x\n", "has one class: every one of its 3 rows is labelled 'x'" },
        { "one-class.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": \"x\"}\n", "has one class" },
        { "empty.csv", "", "is empty: it needs a header" },
        { "empty.jsonl", "", "has no data rows" },
        { "no-label.csv", "text,class\na,x\nb,y\n", "no column 'label'. The header has: 'text', 'class'" },
        { "no-text.jsonl", "{\"review\": \"a\", \"label\": \"x\"}\n", "row 1 (line 1) has no \"text\"" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_bad_text_file_is_refused_naming_it(string name, string content, string expected)
    {
        var path = Path.Combine(temp, name);
        File.WriteAllBytes(path, content switch
        {
            // A PNG saved under a text name: valid UTF-8 is not enough to be text.
            "png" => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1],
            "utf-16le" => Encoding.Unicode.GetBytes(Csv),
            "utf-16be" => Encoding.BigEndianUnicode.GetBytes(Csv.Replace(',', '\t')),
            "utf-16le-jsonl" => Encoding.Unicode.GetBytes(Jsonl),
            "latin-1" => Encoding.Latin1.GetBytes("text,label\nfine,x\ncafé crème,y\n"),
            "latin-1-jsonl" => Encoding.Latin1.GetBytes("{\"text\": \"fine\", \"label\": \"x\"}\n{\"text\": \"café\", \"label\": \"y\"}\n"),
            _ => Encoding.UTF8.GetBytes(content),
        });
        var e = Assert.Throws<InvalidDataException>(() => TextDataSets.FromFile(path));
        output.WriteLine(e.Message);
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        // The same through the loader every directive uses.
        Assert.Equal(e.Message, Assert.Throws<InvalidDataException>(() => TextDataSets.Load(path)).Message);
    }

    [Fact]
    public void Utf16_with_a_byte_order_mark_and_utf8_with_one_still_read()
    {
        var utf16 = Path.Combine(temp, "bom16.csv");
        File.WriteAllBytes(utf16, [0xFF, 0xFE, .. Encoding.Unicode.GetBytes(Csv)]);
        var utf8 = Path.Combine(temp, "bom8.csv");
        File.WriteAllBytes(utf8, [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Csv)]);
        foreach (var path in new[] { utf16, utf8 })
        {
            var data = TextDataSets.FromFile(path);
            Assert.Equal(["negative", "positive"], data.ClassNames);
            Assert.Equal("the film was great", data.Texts[0]);
        }
    }
}
