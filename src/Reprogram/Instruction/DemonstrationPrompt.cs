using Reprogram.Experiments;
using Reprogram.Manipulations;
using Reprogram.Taxonomy;

namespace Reprogram.Instruction;

/// <summary>A query's prompt: the part shared with other queries (instruction and demonstrations), the whole text, and its demonstrations.</summary>
public sealed record InstructionPrompt(string Prefix, string Full, IReadOnlyList<Demonstration> Demonstrations);

/// <summary>
/// A fixed manipulation of a text input (prompt instruction, fixed · input · concatenative): the prompt text an example
/// is given in, with any demonstrations, instruction or trigger phrase. It changes what the model reads, as text.
/// </summary>
public interface ITextManipulation : IManipulation
{
    /// <summary>Labelled examples it shows the model per query (demonstrations).</summary>
    int Shots { get; }
    /// <summary>The ids of every pool example it has shown so far (for counting the labelled examples a run used).</summary>
    IReadOnlyCollection<string> Shown { get; }
    /// <summary>
    /// The prompt for <paramref name="example"/> of <paramref name="task"/>; <paramref name="input"/> replaces the example's
    /// input text (content-free inputs for calibration) while the demonstrations stay those chosen for the example.
    /// </summary>
    InstructionPrompt Render(InstructionTask task, TaskExample example, string? input = null);
}

/// <summary>
/// k demonstrations from the task's pool in a template, then the query (in-context learning, Brown et al. 2020; with
/// rationales, chain-of-thought, Wei et al. 2022; with no demonstrations and a trigger phrase in the query format,
/// zero-shot chain-of-thought, Kojima et al. 2022). Query-independent selections choose one set per task instance and
/// seed, shared by every query (so a key/value cache can hold it); KATE chooses per query.
/// </summary>
public sealed class DemonstrationPrompt(PromptTemplate template, IDemonstrationSelection selection, DemonstrationOrder order, int shots, int seed, string name)
    : ITextManipulation
{
    private readonly Dictionary<InstructionTask, IReadOnlyList<Demonstration>> shared = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<string> shown = new(StringComparer.Ordinal);

    public string Name => name;
    public Format Format => Format.Fixed;
    public Location Location => Location.Input;
    public Operator Operator => Operator.Concatenative;
    public long TrainableParameters => 0;
    public int Shots => shots;
    public IReadOnlyCollection<string> Shown => shown;
    public PromptTemplate Template => template;
    public IDemonstrationSelection Selection => selection;
    public DemonstrationOrder Order => order;
    public int Seed => seed;
    /// <summary>The chain-of-thought formats whose answer rules, stop sequence and length read what is generated (null: the task's own).</summary>
    public ChainOfThoughtFormats? Answers { get; init; }

    public InstructionPrompt Render(InstructionTask task, TaskExample example, string? input = null)
    {
        var demonstrations = DemonstrationsFor(task, example);
        return new InstructionPrompt(template.SharedPrefix(demonstrations), template.Render(demonstrations, input ?? example.Input), demonstrations);
    }

    /// <summary>The demonstrations shown with <paramref name="example"/>.</summary>
    public IReadOnlyList<Demonstration> DemonstrationsFor(InstructionTask task, TaskExample example)
    {
        if (shots > task.Pool.Count) throw new ArgumentException($"{shots} shots need a pool of at least {shots} examples; the task has {task.Pool.Count}.");
        if (!selection.DependsOnQuery && shared.TryGetValue(task, out var cached)) return cached;
        var indices = Demonstrations.Arrange(selection.Select(task, example, shots, seed), order, seed);
        foreach (var i in indices) shown.Add(task.Pool[i].Id);
        var chosen = indices.Select(i => new Demonstration(task.Pool[i].Input, task.Pool[i].Answer, task.Pool[i].Rationale)).ToArray();
        if (!selection.DependsOnQuery) shared[task] = chosen;
        return chosen;
    }
}
