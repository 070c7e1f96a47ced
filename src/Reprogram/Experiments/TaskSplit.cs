namespace Reprogram.Experiments;

/// <summary>What a task's inputs are.</summary>
public enum TaskModality { Text, Image }

/// <summary>
/// One labelled example of a task. <see cref="Id"/> names it stably (the same example has the same id in every method's
/// records), <see cref="Answer"/> is its class name or open answer, <see cref="Choices"/> the answers it may be given
/// (null: all of the task's classes). Image examples point at a row of their split's images.
/// </summary>
public sealed record TaskExample(string Input, string Answer, IReadOnlyList<string>? Choices = null, string? Rationale = null)
{
    private readonly string? id;

    /// <summary>The example's stable name (its input when none was given).</summary>
    public string Id { get => id ?? Input; init => id = value; }
    /// <summary>The row of the split's image tensor (image tasks only; -1 for text).</summary>
    public int Row { get; init; } = -1;
}

/// <summary>How many examples a split draws: to learn from, to choose demonstrations from, and to test on.</summary>
public sealed record SplitSizes(int Train, int Pool, int Test)
{
    public void Validate()
    {
        if (Train < 0 || Pool < 0) throw new ArgumentException($"Train and pool sizes cannot be negative ({Train}, {Pool}).");
        if (Test < 1) throw new ArgumentException($"A split needs at least one test example, not {Test}.");
    }
}

/// <summary>
/// One seed's instance of a task, the same for every method run with that seed: the labelled examples a method may
/// learn from (<see cref="Train"/>, nested: a smaller budget takes a prefix of a larger one), the pool demonstrations are
/// chosen from (<see cref="Pool"/>), and the test examples every method is scored on (<see cref="Queries"/>). For data
/// sets the test part is fixed across seeds; generated tasks draw a new member of their family per seed.
/// </summary>
public abstract record TaskSplit
{
    public required string Name { get; init; }
    public required string Description { get; init; }
    public int Seed { get; init; }
    /// <summary>Labelled examples to learn from (trained manipulations, heads, label mappings).</summary>
    public IReadOnlyList<TaskExample> Train { get; init; } = [];
    /// <summary>Labelled examples demonstrations are chosen from.</summary>
    public required IReadOnlyList<TaskExample> Pool { get; init; }
    /// <summary>The test examples (queries), scored the same way for every method.</summary>
    public required IReadOnlyList<TaskExample> Queries { get; init; }
    /// <summary>The classes (label words for text) of a classification task; empty for open answers.</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];
    public abstract TaskModality Modality { get; }

    public IReadOnlyList<TaskExample> Test => Queries;
    public bool OpenAnswers => Labels.Count == 0 && Queries.All(q => q.Choices is null);

    /// <summary>The answers an example is scored against.</summary>
    public IReadOnlyList<string> ChoicesOf(TaskExample example) => example.Choices ?? Labels;

    /// <summary>The class index of an example's answer (-1 for open answers).</summary>
    public int ClassOf(TaskExample example)
    {
        for (var i = 0; i < Labels.Count; i++) if (string.Equals(Labels[i], example.Answer, StringComparison.Ordinal)) return i;
        return -1;
    }
}
