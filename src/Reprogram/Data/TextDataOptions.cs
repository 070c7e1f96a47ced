namespace Reprogram.Data;

/// <summary>
/// How a text task is read: the columns of a CSV/TSV header or the keys of a JSONL object that hold the text, the label
/// and (optionally) a chain-of-thought rationale, and the label words of a verbalizer. The defaults read
/// <c>text</c>, <c>label</c> and <c>rationale</c>, and score each class by its own name.
/// </summary>
public sealed record TextDataOptions
{
    public const string DefaultTextColumn = "text";
    public const string DefaultLabelColumn = "label";
    public const string DefaultRationaleColumn = "rationale";

    /// <summary>The column (CSV/TSV header, matched without regard to case) or JSON key that holds the text.</summary>
    public string TextColumn { get; init; } = DefaultTextColumn;
    /// <summary>The column or key that holds the class label.</summary>
    public string LabelColumn { get; init; } = DefaultLabelColumn;
    /// <summary>An optional column or key with a worked rationale per row (chain-of-thought demonstrations).</summary>
    public string RationaleColumn { get; init; } = DefaultRationaleColumn;
    /// <summary>The word each class is verbalized as (null: the class's own name).</summary>
    public LabelWords? LabelWords { get; init; }

    /// <summary>Whether the columns differ from the defaults (which only a file can have).</summary>
    public bool HasCustomColumns =>
        TextColumn != DefaultTextColumn || LabelColumn != DefaultLabelColumn || RationaleColumn != DefaultRationaleColumn;

    /// <summary>From the values of <c>--text-column --label-column --label-words</c> (null: the default).</summary>
    public static TextDataOptions From(string? textColumn, string? labelColumn, string? labelWords)
    {
        var options = new TextDataOptions
        {
            TextColumn = textColumn?.Trim() ?? DefaultTextColumn,
            LabelColumn = labelColumn?.Trim() ?? DefaultLabelColumn,
            LabelWords = labelWords is null ? null : Data.LabelWords.Parse(labelWords),
        };
        options.Validate();
        return options;
    }

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(TextColumn)) throw new ArgumentException("--text-column is empty.");
        if (string.IsNullOrWhiteSpace(LabelColumn)) throw new ArgumentException("--label-column is empty.");
        if (TextColumn.Equals(LabelColumn, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--text-column and --label-column are both '{TextColumn}': the text and the label need two columns.");
    }

    /// <summary>
    /// Refuses column names for a task that is not a file (the built-in tasks have no columns to choose), naming the option.
    /// </summary>
    public void RequireFileFor(string task)
    {
        if (TextColumn != DefaultTextColumn || LabelColumn != DefaultLabelColumn)
        {
            var option = TextColumn != DefaultTextColumn ? "--text-column" : "--label-column";
            throw new ArgumentException($"{option} applies to a .csv, .tsv or .jsonl file; '{task}' is a built-in task with its own texts and labels.");
        }
    }
}
