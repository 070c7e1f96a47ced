using Reprogram.Taxonomy;

namespace Reprogram.Alignments;

/// <summary>
/// An alignment of generated text to an answer: it reads what the frozen model wrote for a query (one or several
/// samples) and gives the answer under a strict and a flexible rule.
/// </summary>
public interface IGenerationAlignment : IAlignment
{
    /// <summary>Samples generated per query (1: greedy).</summary>
    int Samples { get; }
    double Temperature { get; }
    int? TopK { get; }
    /// <summary>The answer under the strict and the flexible rule, from a query's outputs.</summary>
    (string? Strict, string? Flexible) Read(IReadOnlyList<string> outputs, IReadOnlyList<string> choices);
}

/// <summary>Answer extraction from one greedy generation (rule-based): the task's strict and flexible rules.</summary>
public sealed class ExtractedAnswer(AnswerExtraction rules) : IGenerationAlignment
{
    public AnswerExtraction Rules => rules;
    public string Name => rules.Name;
    public OutputAlignment Kind => OutputAlignment.RuleBased;
    public int Samples => 1;
    public double Temperature => 0;
    public int? TopK => null;

    public (string? Strict, string? Flexible) Read(IReadOnlyList<string> outputs, IReadOnlyList<string> choices) =>
        (rules.ExtractStrict(outputs[0]), rules.ExtractFlexible(outputs[0], choices));
}

/// <summary>
/// Self-consistency (Wang et al., ICLR 2023), statistical: several sampled generations, each read by the task's rules,
/// and a majority vote (<see cref="MajorityVote"/>).
/// </summary>
public sealed class SelfConsistency(AnswerExtraction rules, int samples, double temperature, int? topK = null) : IGenerationAlignment
{
    public AnswerExtraction Rules => rules;
    public string Name => new MajorityVote().Name;
    public OutputAlignment Kind => OutputAlignment.Statistical;
    public int Samples { get; } = samples >= 2 ? samples : throw new ArgumentException($"Self-consistency votes over at least 2 samples, not {samples}.");
    public double Temperature { get; } = temperature > 0 ? temperature : throw new ArgumentException("Self-consistency samples rationales: the temperature must be above 0.");
    public int? TopK => topK;

    public (string? Strict, string? Flexible) Read(IReadOnlyList<string> outputs, IReadOnlyList<string> choices) =>
        (MajorityVote.Vote(outputs.Select(rules.ExtractStrict)).Answer, MajorityVote.Vote(outputs.Select(o => rules.ExtractFlexible(o, choices))).Answer);
}
