namespace Reprogram.Experiments;

/// <summary>
/// The four axes of an experiment, one registry each: models, manipulations, alignments and tasks, each entry with its
/// name, description, coordinates (where it has them) and factory. Directives, completions, help and validation read
/// these; a new method is one class plus one entry added here (or with <see cref="Registry{TEntry}.Add"/> at run time).
/// </summary>
public static class Registries
{
    public static ModelRegistry Models { get; } = new(ModelEntries.All);
    public static Registry<ManipulationEntry> Manipulations { get; } = Build("an input manipulation", ManipulationEntries.All);
    public static Registry<AlignmentEntry> Alignments { get; } = Build("an output alignment", AlignmentEntries.All);
    public static TaskRegistry Tasks { get; } = new(TaskEntries.All);

    private static Registry<T> Build<T>(string noun, IEnumerable<T> entries) where T : RegistryEntry
    {
        var registry = new Registry<T>(noun);
        foreach (var e in entries) registry.Add(e);
        return registry;
    }
}

/// <summary>The model registry: names, and the families of paths (checkpoint folders, state-dict files, remote models).</summary>
public sealed class ModelRegistry
{
    private readonly Registry<ModelEntry> registry = new("a model");

    public ModelRegistry(IEnumerable<ModelEntry> entries)
    {
        foreach (var e in entries) registry.Add(e);
    }

    public IReadOnlyList<ModelEntry> Entries => registry.Entries;
    public IReadOnlyList<string> Names => registry.Names;
    public void Add(ModelEntry entry) => registry.Add(entry);
    public string Allowed() => registry.Allowed();

    /// <summary>The entry for a name or path; a path that looks meant (a folder, a file) but is not there gets its own message.</summary>
    public ModelEntry Resolve(string? spec)
    {
        if (registry.TryFind(spec, out var entry)) return entry;
        if (!string.IsNullOrWhiteSpace(spec) && Directory.Exists(spec))
        {
            throw new ArgumentException($"The folder {Path.GetFullPath(spec)} has no config.json: it is not a Hugging Face checkpoint.");
        }
        if (!string.IsNullOrWhiteSpace(spec) && (spec.Contains('/') || spec.Contains('\\')) && !File.Exists(spec))
        {
            throw new ArgumentException($"There is no model at {Path.GetFullPath(spec)}. Allowed: {registry.Allowed()}.");
        }
        return registry.Find(spec);
    }
}

/// <summary>The task registry: names, and the families of paths (text files, image folders).</summary>
public sealed class TaskRegistry
{
    private readonly Registry<TaskEntry> registry = new("a task");

    public TaskRegistry(IEnumerable<TaskEntry> entries)
    {
        foreach (var e in entries) registry.Add(e);
    }

    public IReadOnlyList<TaskEntry> Entries => registry.Entries;
    public IReadOnlyList<string> Names => registry.Names;
    public void Add(TaskEntry entry) => registry.Add(entry);
    public string Allowed() => registry.Allowed();

    /// <summary>The entry for a task of this modality, or an error naming the allowed ones ("is not a text task").</summary>
    public TaskEntry Resolve(string? spec, TaskModality modality)
    {
        var kind = modality == TaskModality.Text ? "a text task" : "an image task";
        var allowed = string.Join(", ", registry.Entries.Where(e => e.Modality == modality).Select(e => e.Name));
        TaskEntry entry;
        try { entry = Resolve(spec); }
        catch (ArgumentException) { throw new ArgumentException($"'{spec}' is not {kind}. Allowed: {allowed}."); }
        return entry.Modality == modality ? entry : throw new ArgumentException($"'{spec}' is not {kind}. Allowed: {allowed}.");
    }

    public TaskEntry Resolve(string? spec)
    {
        if (registry.TryFind(spec, out var entry))
        {
            if (entry.IsPattern && !Directory.Exists(spec) && !File.Exists(spec))
            {
                throw new Data.DataSetNotFoundException($"No data file at {Path.GetFullPath(spec!)}: give a .csv or .jsonl file with text and label columns.");
            }
            return entry;
        }
        if (!string.IsNullOrWhiteSpace(spec) && (spec.Contains('/') || spec.Contains('\\')))
        {
            throw new Data.DataSetNotFoundException($"There is no data file or folder at {Path.GetFullPath(spec)}. Allowed: {registry.Allowed()}.");
        }
        return registry.Find(spec);
    }
}
