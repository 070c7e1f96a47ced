using Reprogram.Data;
using Reprogram.Instruction;
using Reprogram.Manipulations;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>What a prediction is asked to read.</summary>
internal abstract record Inputs
{
    /// <summary>null: the saved run's task; an existing file or folder: its rows or images; otherwise a task of the registry.</summary>
    public static Inputs Of(string? data) =>
        data is null ? new TaskInputs(null)
        : Directory.Exists(data) || File.Exists(data) ? new PathInputs(data)
        : new TaskInputs(data);
}

/// <summary>A task of the registry, split the way the saved run split its task (null: the saved run's own task).</summary>
internal sealed record TaskInputs(string? Task) : Inputs;
/// <summary>An image folder or a text file: every image or row.</summary>
internal sealed record PathInputs(string Path) : Inputs;
internal sealed record TextInputs(IReadOnlyList<string> Texts, IReadOnlyList<string>? Labels) : Inputs;
internal sealed record ImageInputs(Tensor Images, IReadOnlyList<string>? Labels) : Inputs;

/// <summary>
/// Turns inputs into the split a prediction scores: its queries are the inputs in order, its classes the saved alignment's
/// (in its order, which a head's rows and a mapping's columns follow), a text task's template the saved run's.
/// </summary>
internal static class PredictionInputs
{
    public static (TaskSplit Split, bool Labelled) Split(Inputs inputs, LearnedSource source, ExperimentSpec spec, Backbone backbone, PredictionOptions options) => inputs switch
    {
        TaskInputs t => (FromTask(t.Task ?? spec.Task, source, spec, options), true),
        PathInputs { Path: var path } when Directory.Exists(path) => FromFolder(path, source, backbone),
        PathInputs { Path: var path } => FromTextFile(path, source, spec, backbone, options),
        TextInputs t => Texts(t.Texts.Select((text, i) => (Id: $"text #{i + 1}", Where: $"text {i + 1}", Text: text, Label: t.Labels?[i])).ToArray(),
            t.Labels is null ? null : t.Labels.Count == t.Texts.Count ? t.Labels : throw new ArgumentException($"{t.Texts.Count} texts and {t.Labels.Count} labels: give one label per text."),
            $"{t.Texts.Count} texts", source, spec, backbone, options),
        ImageInputs i => FromTensor(i.Images, i.Labels, source, backbone),
        _ => throw new ArgumentOutOfRangeException(nameof(inputs)),
    };

    // ---- a task of the registry -------------------------------------------------------------------------------

    private static TaskSplit FromTask(string name, LearnedSource source, ExperimentSpec spec, PredictionOptions options)
    {
        var entry = Registries.Tasks.Resolve(name);
        var b = spec.Budget;
        // The saved run's sizes: a data set's test part depends on them, so the saved run's own test examples come back.
        var sizes = new SplitSizes(b.TrainExamples, b.PoolExamples ?? Math.Max(b.TrainExamples, spec.Options.Shots), options.TestExamples ?? b.TestExamples);
        var textData = entry.Modality == TaskModality.Text ? options.TextData ?? spec.TextData : null;
        var split = entry.Split(new TaskRequest(name, spec.Seeds[0], sizes, textData));
        if (source.Labels.Count == 0 || split.Labels.SequenceEqual(source.Labels)) return split;
        if (split.Labels.Order(StringComparer.Ordinal).SequenceEqual(source.Labels.Order(StringComparer.Ordinal)))
        {
            return split with { Labels = source.Labels };   // the same classes: in the saved alignment's order
        }
        (split as IDisposable)?.Dispose();
        throw new ArgumentException($"The task {name} has the classes {string.Join(", ", split.Labels)}; {source.FilePath} was learned for {string.Join(", ", source.Labels)}. " +
                                    "Give data with those classes (or no labels, for predictions only).");
    }

    // ---- images -----------------------------------------------------------------------------------------------

    private static (TaskSplit, bool) FromFolder(string folder, LearnedSource source, Backbone backbone)
    {
        if (PeftPromptTuning.IsAdapterFolder(folder)) throw new ArgumentException($"{folder} is a PEFT adapter, not data: load it with --load, and give the data with --task.");
        if (backbone.Modality != TaskModality.Image)
        {
            throw new ArgumentException($"{folder} is a folder; {backbone.Identity} reads text: give a .csv, .tsv or .jsonl file with a text column.");
        }
        var hasClasses = Directory.EnumerateDirectories(folder).Any(d => !Path.GetFileName(d).StartsWith('.'));
        ImageDataset images;
        IReadOnlyList<string> ids;
        bool labelled;
        if (hasClasses)
        {
            // Read exactly as a folder task is read for training: one sub-folder per class, at the folder storage size.
            images = DataSets.ImageFolder(folder, ImageTasks.FolderStorageSize, minClasses: 1);  // evaluating: one class is enough
            using var labels = images.Labels.cpu();
            var classes = images.ClassNames;
            ids = labels.data<long>().ToArray().Select((c, i) => $"{classes[(int)c]}/#{i}").ToArray();
            labelled = true;
        }
        else
        {
            var files = Directory.EnumerateFiles(folder)
                .Where(f => !Path.GetFileName(f).StartsWith('.') && DataSets.ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal).ToArray();
            if (files.Length == 0)
            {
                throw new InvalidDataException($"The folder {folder} has no images ({string.Join(", ", DataSets.ImageExtensions)}) and no class sub-folders.");
            }
            images = Decode(files, ImageTasks.FolderStorageSize, Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))), source.Labels);
            ids = files.Select(Path.GetFileName).ToArray()!;
            labelled = false;
        }
        return (Build(images, ids, labelled, source, $"{Path.GetFullPath(folder)} ({images.Count} images{(labelled ? $", classes {string.Join(", ", images.ClassNames)}" : ", no labels")})"), labelled);
    }

    private static (TaskSplit, bool) FromTensor(Tensor images, IReadOnlyList<string>? labels, LearnedSource source, Backbone backbone)
    {
        if (backbone.Modality != TaskModality.Image) throw new ArgumentException($"{backbone.Identity} reads text, not image tensors.");
        if (images.dim() != 4 || images.shape[1] is not (1 or 3))
        {
            throw new ArgumentException($"Images must be [N, C, H, W] with 1 or 3 channels, not [{string.Join(", ", images.shape)}].");
        }
        var count = (int)images.shape[0];
        if (labels is not null && labels.Count != count) throw new ArgumentException($"{count} images and {labels.Count} labels: give one label per image.");
        IReadOnlyList<string> classes = labels?.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray() ?? Known(source);
        var index = labels?.Select(l => (long)Experiment.IndexOf(classes, l)).ToArray() ?? new long[count];
        Tensor copy;
        using (var scope = NewDisposeScope()) copy = images.detach().to(ScalarType.Float32).cpu().clone().MoveToOuterDisposeScope();  // the intermediates go with the scope
        var data = new ImageDataset("images", copy, tensor(index, ScalarType.Int64), classes, "tensors");
        var ids = Enumerable.Range(0, count).Select(i => $"image #{i + 1}").ToArray();
        return (Build(data, ids, labels is not null, source, $"{count} images{(labels is null ? ", no labels" : "")}"), labels is not null);
    }

    /// <summary>The split over a data set's every image, its classes the saved alignment's (an unknown class is refused).</summary>
    private static ImageTaskSplit Build(ImageDataset data, IReadOnlyList<string> ids, bool labelled, LearnedSource source, string description)
    {
        try
        {
            var classes = source.Labels.Count > 0 ? source.Labels : data.ClassNames;
            using var labels = data.Labels.cpu();
            var values = labels.data<long>().ToArray();
            var queries = new TaskExample[data.Count];
            for (var i = 0; i < data.Count; i++)
            {
                var answer = labelled ? data.ClassNames[(int)values[i]] : "";
                if (labelled && !classes.Contains(answer, StringComparer.Ordinal))
                {
                    throw new ArgumentException($"{ids[i]}: the class '{answer}' is not one {source.FilePath} was learned for ({string.Join(", ", classes)}).");
                }
                queries[i] = new TaskExample($"image {ids[i]}", answer) { Id = ids[i], Row = i };
            }
            return new ImageTaskSplit
            {
                Name = data.Name, Seed = 0, Description = description, Pool = [], Queries = queries, Labels = classes,
                Images = data,
            };
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    /// <summary>Images decoded as <see cref="DataSets.ImageFolder"/> decodes them (ImageSharp, RGB, stretched to size x size), without labels.</summary>
    private static ImageDataset Decode(IReadOnlyList<string> files, int size, string name, IReadOnlyList<string> classes) =>
        new(name, tensor(DataSets.DecodeImages(files, size, 3, $"The folder {name}"), [files.Count, 3, size, size]),
            zeros(files.Count, dtype: ScalarType.Int64), Known(classes), "image files");

    private static IReadOnlyList<string> Known(LearnedSource source) => Known(source.Labels);
    private static IReadOnlyList<string> Known(IReadOnlyList<string> classes) => classes.Count > 0 ? classes : ["(unknown)"];

    // ---- text -------------------------------------------------------------------------------------------------

    private static (TaskSplit, bool) FromTextFile(string path, LearnedSource source, ExperimentSpec spec, Backbone backbone, PredictionOptions options)
    {
        if (Path.GetExtension(path).ToLowerInvariant() is not (".csv" or ".tsv" or ".tab" or ".jsonl" or ".ndjson" or ".json"))
        {
            throw new ArgumentException($"{path}: give an image folder, or a .csv, .tsv or .jsonl file with a text column (and a label column for accuracy).");
        }
        var columns = options.TextData ?? spec.TextData ?? new TextDataOptions();
        var rows = TextFileReader.Read(path, columns, labelRequired: false);
        var labelled = rows.Where(r => r.Label.Length > 0).ToArray();
        if (labelled.Length > 0 && labelled.Length < rows.Count)
        {
            var first = rows.First(r => r.Label.Length == 0);
            throw new InvalidDataException($"{path}, row {first.Number} (line {first.Line}) has no '{columns.LabelColumn}' while other rows have one: label every row, or none for predictions only.");
        }
        var name = Path.GetFileName(path);
        return Texts(rows.Select(r => (Id: $"{name}#{r.Number}", Where: $"{path}, row {r.Number} (line {r.Line})", r.Text, Label: (string?)r.Label)).ToArray(),
            labelled.Length > 0 ? rows.Select(r => r.Label).ToArray() : null, $"{Path.GetFullPath(path)} ({rows.Count} rows{(labelled.Length > 0 ? "" : ", no labels")})",
            source, spec, backbone, options);
    }

    /// <summary>
    /// Texts as the queries of the saved run's text task: its template and content-free inputs, its classes (label words
    /// for a verbalizer: a label given as a class name is read through the label words).
    /// </summary>
    private static (TaskSplit, bool) Texts(IReadOnlyList<(string Id, string Where, string Text, string? Label)> rows, IReadOnlyList<string>? labels, string description,
        LearnedSource source, ExperimentSpec spec, Backbone backbone, PredictionOptions options)
    {
        if (backbone.Modality != TaskModality.Text) throw new ArgumentException($"{backbone.Identity} reads images; texts cannot be its inputs.");
        if (rows.Count == 0) throw new ArgumentException("There are no texts to predict.");
        var bad = rows.FirstOrDefault(r => string.IsNullOrWhiteSpace(r.Text));
        if (bad.Where is not null) throw new InvalidDataException($"{bad.Where}: the text is empty.");
        var words = options.TextData?.LabelWords ?? spec.TextData?.LabelWords;
        var classes = source.Labels.Count > 0 ? source.Labels
            : words is not null ? words.Pairs.Select(p => p.Value).ToArray()
            : labels?.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray()
            ?? throw new ArgumentException($"{source.FilePath} does not say which classes it chooses among (a PEFT adapter made elsewhere): give labelled data or --label-words class=word,...");
        string Answer((string Id, string Where, string Text, string? Label) row)
        {
            var label = row.Label!.Trim();
            if (classes.Contains(label, StringComparer.Ordinal)) return label;
            var pair = words?.Pairs.FirstOrDefault(p => p.Key == label);
            if (pair is { Value: { } word } && classes.Contains(word, StringComparer.Ordinal)) return word;
            throw new InvalidDataException($"{row.Where}: the label '{label}' is not one {source.FilePath} was learned for ({string.Join(", ", classes)}" +
                                           (words is null ? "" : $"; label words {words}") + ").");
        }
        var queries = rows.Select(r => new TaskExample(r.Text, labels is null ? "" : Answer(r)) { Id = r.Id }).ToArray();
        var template = source.Experiment?.Template ?? TemplateOfTask(source, spec);
        return (new InstructionTask
        {
            Name = "inputs", Seed = spec.Seeds[0], Description = description, Pool = [], Queries = queries, Labels = classes,
            Template = template?.Template ?? InstructionTasks.FileTemplate,
            Extraction = template?.Extraction ?? InstructionTasks.FileExtraction,
            ContentFreeInputs = template?.ContentFreeInputs ?? ["N/A", "", "[MASK]"],
        }, labels is not null);
    }

    /// <summary>For files saved before the template was recorded: the saved task's own, drawn again (null when its data is gone, or for adapters PEFT wrote).</summary>
    private static SavedTemplate? TemplateOfTask(LearnedSource source, ExperimentSpec spec)
    {
        if (source.Experiment is null) return null;
        try
        {
            var entry = Registries.Tasks.Resolve(spec.Task);
            return entry.Split(new TaskRequest(spec.Task, spec.Seeds[0], new SplitSizes(0, 0, 1), spec.TextData)) is InstructionTask task ? SavedTemplate.Of(task) : null;
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException)
        {
            return null;
        }
    }
}
