namespace Reprogram.Experiments;

/// <summary>One named thing of an axis (a model, a manipulation, an alignment, a task), with its help text.</summary>
public abstract record RegistryEntry
{
    public required string Name { get; init; }
    public required string Description { get; init; }
    /// <summary>Other names that find this entry (older option values, short forms).</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];
    /// <summary>
    /// For entries that stand for a family of values (a checkpoint folder, a CSV file): whether a value belongs to it.
    /// Such entries are shown as their <see cref="Name"/> ("&lt;checkpoint folder&gt;") and matched after the exact names.
    /// </summary>
    public Func<string, bool>? Accepts { get; init; }
    public bool IsPattern => Accepts is not null;
}

/// <summary>
/// A registry of one axis: directives, completions, help and validation all read it. Unknown names are errors that list
/// the allowed ones; nothing falls back to a default.
/// </summary>
public sealed class Registry<TEntry>(string noun) where TEntry : RegistryEntry
{
    // noun carries its article ("an input manipulation"), as messages say it.
    private readonly List<TEntry> entries = [];

    /// <summary>What an entry is called in messages, with its article, e.g. "an input manipulation".</summary>
    public string Noun => noun;
    public IReadOnlyList<TEntry> Entries => entries;
    /// <summary>The names a user can type (pattern entries excluded).</summary>
    public IReadOnlyList<string> Names => entries.Where(e => !e.IsPattern).Select(e => e.Name).ToArray();

    /// <summary>Adds an entry; a name or alias already taken is refused.</summary>
    public void Add(TEntry entry)
    {
        var taken = entries.SelectMany(e => e.Aliases.Prepend(e.Name)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var name in entry.Aliases.Prepend(entry.Name))
        {
            if (taken.Contains(name)) throw new ArgumentException($"The name '{name}' is already registered ({noun}).");
        }
        entries.Add(entry);
    }

    public bool TryFind(string? value, out TEntry entry)
    {
        entry = null!;
        if (string.IsNullOrWhiteSpace(value)) return false;
        var key = value.Trim();
        entry = entries.FirstOrDefault(e => !e.IsPattern && (string.Equals(e.Name, key, StringComparison.OrdinalIgnoreCase) ||
                                                               e.Aliases.Any(a => string.Equals(a, key, StringComparison.OrdinalIgnoreCase))))
                ?? entries.FirstOrDefault(e => e.Accepts?.Invoke(key) == true)!;
        return entry is not null;
    }

    /// <summary>The entry for <paramref name="value"/>, or an error listing the allowed names (and the forms of pattern entries).</summary>
    public TEntry Find(string? value) =>
        TryFind(value, out var entry) ? entry : throw new ArgumentException($"'{value}' is not {noun}. Allowed: {Allowed()}.");

    /// <summary>The allowed values, as a message lists them.</summary>
    public string Allowed() => string.Join(", ", entries.Select(e => e.Name));
}
