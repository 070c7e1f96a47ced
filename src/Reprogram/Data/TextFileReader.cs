using System.Globalization;
using System.Text;
using System.Text.Json;
using CsvHelper;
using CsvHelper.Configuration;

namespace Reprogram.Data;

/// <summary>
/// Reads labelled texts from CSV, TSV and JSONL (or JSON array) files. CSV and TSV go through CsvHelper (RFC 4180:
/// quoted fields with delimiters, doubled quotes and line breaks inside them). Files are UTF-8 with or without a
/// byte-order mark (UTF-16 with one also reads). Rows that cannot be read are errors (<see cref="InvalidDataException"/>)
/// naming the row (1 = the first after the header) and the line it starts on, never skipped: a missing column, an empty
/// text or label, a row with more or fewer fields than the header, a stray or unclosed quote, bytes that are not UTF-8,
/// a line that is not a JSON object.
/// </summary>
public static class TextFileReader
{
    /// <summary>One row of a text task: its number (1 = the first data row), the line it starts on, and its values.</summary>
    public sealed record Row(int Number, int Line, string Text, string Label, string? Rationale);

    /// <summary>
    /// The rows of a .csv, .tsv, .jsonl or .json file, in file order. With <paramref name="labelRequired"/> false the label
    /// column may be missing altogether (texts to predict on): its rows then have an empty <see cref="Row.Label"/>.
    /// </summary>
    public static IReadOnlyList<Row> Read(string path, TextDataOptions options, bool labelRequired = true)
    {
        options.Validate();
        if (!File.Exists(path)) throw new DataSetNotFoundException($"No data file at {Path.GetFullPath(path)}.", path);
        // Messages name the file by its full path.
        path = Path.GetFullPath(path);
        var file = FileText.Read(path);
        if (file.Binary is { } binary) throw Bad(binary);
        var rows = Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".jsonl" or ".ndjson" => ReadJsonLines(file, options, labelRequired),
            ".json" => file.Text.TrimStart().StartsWith('[') ? ReadJsonArray(file, options, labelRequired) : ReadJsonLines(file, options, labelRequired),
            ".tsv" or ".tab" => ReadDelimited(file, "\t", options, labelRequired),
            _ => ReadDelimited(file, ",", options, labelRequired),
        };
        if (file.BadLine is { } bad) throw NotUtf8(file, rows.Count + 1, bad); // past the last row read
        if (rows.Count == 0) throw Bad($"{path} has no data rows.");
        return rows;
    }

    // ---- CSV / TSV ----------------------------------------------------------------------------------------------

    private static List<Row> ReadDelimited(FileText file, string delimiter, TextDataOptions options, bool labelRequired)
    {
        var path = file.Path;
        string? badField = null;
        var configuration = new CsvConfiguration(CultureInfo.InvariantCulture)
        {
            Delimiter = delimiter,
            HasHeaderRecord = true,
            IgnoreBlankLines = true,
            DetectDelimiter = false,
            // A quote inside an unquoted field, text after a closing quote, or a quote never closed: reported with its row below.
            BadDataFound = args => badField ??= args.Field,
        };
        using var parser = new CsvParser(new StringReader(file.Text), configuration);
        var rows = new List<Row>();
        string[]? header = null;
        int text = -1, label = -1, rationale = -1;
        while (parser.Read())
        {
            var record = parser.Record ?? [];   // fields are parsed (and bad data found) here
            var start = parser.CharCount - (parser.RawRecord?.Length ?? 0);
            var line = file.LineAt(start);
            var lastLine = file.LineAt(Math.Max(start, parser.CharCount - 1));
            var number = rows.Count + 1;
            var where = header is null ? $"{path}, line {line} (the header)" : $"{path}, row {number} (line {line})";
            if (file.BadLine is { } bad && bad <= lastLine) throw NotUtf8(file, number, bad);
            if (badField is not null)
            {
                if (badField.StartsWith('"') && parser.CharCount >= file.Text.Length)
                    throw Bad($"{where}: a quote opened here is never closed, so the rest of the file reads as one field.");
                throw Bad($"{where}: a quote inside an unquoted field ({Shorten(badField)}). Put the whole field in double quotes and double the quotes inside it.");
            }
            if (header is null)
            {
                header = record.Select(h => h.Trim()).ToArray();
                text = Column(header, options.TextColumn, path, required: true);
                label = Column(header, options.LabelColumn, path, required: labelRequired);
                rationale = Column(header, options.RationaleColumn, path, required: false);
                continue;
            }
            if (record.Length != header.Length)
            {
                var hint = record.Length > header.Length
                    ? $"quote a field that contains '{(delimiter == "\t" ? "\\t" : delimiter)}'"
                    : "a missing field";
                throw Bad($"{where} has {record.Length} field{(record.Length == 1 ? "" : "s")}; the header has {header.Length} ({hint}).");
            }
            rows.Add(Checked(where, number, line, options, record[text], label >= 0 ? record[label] : null, rationale >= 0 ? record[rationale] : null));
        }
        if (header is null) throw Bad($"{path} is empty: it needs a header with the columns '{options.TextColumn}' and '{options.LabelColumn}'.");
        return rows;
    }

    private static int Column(string[] header, string name, string path, bool required)
    {
        var matches = header.Select((h, i) => (h, i)).Where(p => p.h.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(p => p.i).ToArray();
        if (matches.Length > 1) throw Bad($"{path}: the header has {matches.Length} columns named '{name}' (columns {string.Join(", ", matches.Select(i => i + 1))}).");
        if (matches.Length == 1) return matches[0];
        if (!required) return -1;
        throw Bad($"{path}: no column '{name}'. The header has: {string.Join(", ", header.Select(h => $"'{h}'"))}. " +
                  "Name the columns with --text-column and --label-column.");
    }

    // ---- JSONL / JSON -------------------------------------------------------------------------------------------

    private static List<Row> ReadJsonLines(FileText file, TextDataOptions options, bool labelRequired)
    {
        var rows = new List<Row>();
        var lines = file.Text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = i + 1;
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            var number = rows.Count + 1;
            if (file.BadLine == line) throw NotUtf8(file, number, line);
            var where = $"{file.Path}, row {number} (line {line})";
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(lines[i]);
            }
            catch (JsonException e)
            {
                throw Bad($"{where} is not JSON: {e.Message}");
            }
            using (document) rows.Add(FromObject(document.RootElement, where, number, line, options, labelRequired));
        }
        return rows;
    }

    private static List<Row> ReadJsonArray(FileText file, TextDataOptions options, bool labelRequired)
    {
        if (file.BadLine is { } bad) throw NotUtf8(file, null, bad);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(file.Text);
        }
        catch (JsonException e)
        {
            throw Bad($"{file.Path}, line {e.LineNumber + 1} is not JSON: {e.Message}");
        }
        using (document)
        {
            return document.RootElement.EnumerateArray()
                .Select((element, i) => FromObject(element, $"{file.Path}, row {i + 1} (item {i + 1} of the array)", i + 1, 0, options, labelRequired))
                .ToList();
        }
    }

    private static Row FromObject(JsonElement element, string where, int number, int line, TextDataOptions options, bool labelRequired)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw Bad($"{where} is a JSON {element.ValueKind.ToString().ToLowerInvariant()}, not an object with \"{options.TextColumn}\" and \"{options.LabelColumn}\".");
        string? Value(string key, bool required)
        {
            var property = element.EnumerateObject().FirstOrDefault(p => p.Name.Equals(key, StringComparison.OrdinalIgnoreCase));
            if (property.Value.ValueKind == JsonValueKind.Undefined)
            {
                if (!required) return null;
                throw Bad($"{where} has no \"{key}\". Its keys: {string.Join(", ", element.EnumerateObject().Select(p => $"\"{p.Name}\""))}. " +
                          "Name them with --text-column and --label-column.");
            }
            return property.Value.ValueKind switch
            {
                JsonValueKind.String => property.Value.GetString(),
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => property.Value.GetRawText(),
                JsonValueKind.Null => "",
                _ => throw Bad($"{where}: \"{key}\" is a JSON {property.Value.ValueKind.ToString().ToLowerInvariant()}, not a string or number."),
            };
        }
        return Checked(where, number, line, options, Value(options.TextColumn, true)!, Value(options.LabelColumn, labelRequired), Value(options.RationaleColumn, false));
    }

    // ---- shared -------------------------------------------------------------------------------------------------

    private static Row Checked(string where, int number, int line, TextDataOptions options, string text, string? label, string? rationale)
    {
        // null: no label column (allowed only when labels are not required); an empty value in a label column is an error.
        label = label?.Trim();
        if (label is { Length: 0 }) throw Bad($"{where}: the label ('{options.LabelColumn}') is empty; every row needs a class.");
        if (string.IsNullOrWhiteSpace(text)) throw Bad($"{where}: the text ('{options.TextColumn}') is empty.");
        return new Row(number, line, text, label ?? "", string.IsNullOrEmpty(rationale) ? null : rationale);
    }

    /// <summary>A file that cannot be read as a text task; the message names the file and, where one is at fault, the row and its line.</summary>
    private static InvalidDataException Bad(string message) => new(message);

    private static InvalidDataException NotUtf8(FileText file, int? row, int line) =>
        Bad($"{file.Path}, {(row is null ? "" : $"row {row} ")}(line {line}): bytes that are not UTF-8 text (Latin-1 or Windows-1252, perhaps). Save the file as UTF-8.");

    private static string Shorten(string s)
    {
        s = s.ReplaceLineEndings(" ");
        return s.Length <= 40 ? s : s[..39] + "…";
    }

    /// <summary>
    /// A file's text, decoded as UTF-8 (a UTF-8 byte-order mark is dropped; a UTF-16 one selects UTF-16). Invalid bytes
    /// do not stop the reading: they decode to U+FFFD and <see cref="BadLine"/> says on which line the first one is, so
    /// that the reader can name the row that holds it.
    /// </summary>
    private sealed class FileText
    {
        private readonly int[] lineStarts;

        private FileText(string path, string text, int? badLine, string? binary = null)
        {
            Binary = binary;
            Path = path;
            Text = text;
            BadLine = badLine;
            var starts = new List<int> { 0 };
            for (var i = 0; i < text.Length; i++) if (text[i] == '\n') starts.Add(i + 1);
            lineStarts = starts.ToArray();
        }

        public string Path { get; }
        public string Text { get; }
        public int? BadLine { get; }
        /// <summary>Why the file is not text at all (NUL bytes: binary content, or UTF-16 without a byte-order mark), or null.</summary>
        public string? Binary { get; }

        /// <summary>The 1-based line of a character offset.</summary>
        public int LineAt(long offset)
        {
            var index = Array.BinarySearch(lineStarts, (int)Math.Min(offset, int.MaxValue));
            return index >= 0 ? index + 1 : ~index;
        }

        public static FileText Read(string path)
        {
            var bytes = File.ReadAllBytes(path);
            if (bytes is [0xFF, 0xFE, ..]) return new FileText(path, Encoding.Unicode.GetString(bytes, 2, bytes.Length - 2), null);
            if (bytes is [0xFE, 0xFF, ..]) return new FileText(path, Encoding.BigEndianUnicode.GetString(bytes, 2, bytes.Length - 2), null);
            var skip = bytes is [0xEF, 0xBB, 0xBF, ..] ? 3 : 0;
            if (Array.IndexOf(bytes, (byte)0, skip) is var nul and >= 0)
            {
                // No text file holds NUL. ASCII saved as UTF-16 without a byte-order mark puts one in every other byte.
                var sample = bytes.AsSpan(skip, Math.Min(bytes.Length - skip, 4096));
                int even = 0, odd = 0;
                for (var i = 0; i < sample.Length; i++) if (sample[i] == 0) { if (i % 2 == 0) even++; else odd++; }
                var half = sample.Length / 2;
                var line = 1 + bytes.AsSpan(skip, nul - skip).Count((byte)'\n');
                var why = half > 0 && (odd > 0.4 * half && even < 0.05 * half || even > 0.4 * half && odd < 0.05 * half)
                    ? $"{path} looks like UTF-16 text without a byte-order mark ({(odd > even ? "little" : "big")}-endian: a zero byte between the characters). Save the file as UTF-8."
                    : $"{path} is not a text file: it holds a NUL byte (line {line}, byte {nul}), which text never does (a binary file, or an image or archive with a .csv/.jsonl name).";
                return new FileText(path, "", null, why);
            }
            try
            {
                return new FileText(path, new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, skip, bytes.Length - skip), null);
            }
            catch (DecoderFallbackException e)
            {
                var badLine = 1 + bytes.AsSpan(skip, Math.Max(0, e.Index)).Count((byte)'\n');
                return new FileText(path, new UTF8Encoding(false, throwOnInvalidBytes: false).GetString(bytes, skip, bytes.Length - skip), badLine);
            }
        }
    }
}
