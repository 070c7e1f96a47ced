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

/// <summary>
/// A reading of generated text in two calls: what the model wrote for the prompt (its reasoning) is followed by an
/// answer-extraction prompt, the model writes again, and the answer is cleaned from that (Kojima et al.'s zero-shot
/// chain-of-thought, <see cref="Instruction.ZeroShotChainOfThought"/>).
/// </summary>
public interface ITwoStageReading : IGenerationAlignment
{
    /// <summary>Stage 1's length and stop sequences (the reasoning).</summary>
    int ReasoningTokens { get; }
    IReadOnlyList<string>? ReasoningStop { get; }
    /// <summary>Stage 2's length and stop sequences (the answer).</summary>
    int AnswerTokens { get; }
    IReadOnlyList<string>? AnswerStop { get; }
    /// <summary>Stage 2's prompt for a query whose reasoning stage 1 wrote.</summary>
    string AnswerPrompt(string input, string reasoning, IReadOnlyList<string> choices);
    /// <summary>The answers under the strict rule (cleaned stage-2 answers, voted over samples) and the flexible one (read from the reasonings).</summary>
    (string? Strict, string? Flexible) Read(IReadOnlyList<string> reasonings, IReadOnlyList<string> answers, IReadOnlyList<string> choices);
}

/// <summary>
/// Zero-shot chain-of-thought's two stages (Kojima et al., NeurIPS 2022) as an alignment: rule-based with one greedy
/// sample (the answer-extraction prompt and the paper's answer cleansing); with several sampled reasonings, their
/// cleaned answers are voted on (self-consistency over the two-stage answers: statistical). The flexible rule reads
/// the reasoning with the task's flexible rule.
/// </summary>
public sealed class TwoStageAnswer(Instruction.ZeroShotChainOfThought stages, AnswerExtraction rules, int samples = 1, double temperature = 0, int? topK = null)
    : ITwoStageReading
{
    public Instruction.ZeroShotChainOfThought Stages => stages;
    public string Name => samples > 1 ? $"{stages.Name}; majority vote over {samples} sampled reasonings (self-consistency)" : stages.Name;
    public OutputAlignment Kind => samples > 1 ? OutputAlignment.Statistical : OutputAlignment.RuleBased;
    public int Samples { get; } = samples >= 1 ? samples : throw new ArgumentException($"At least one sample per query, not {samples}.");
    public double Temperature { get; } = samples > 1 && !(temperature > 0) ? throw new ArgumentException("Sampled reasonings need a temperature above 0.") : temperature;
    public int? TopK => topK;
    public int ReasoningTokens => stages.ReasoningTokens;
    public IReadOnlyList<string>? ReasoningStop => stages.ReasoningStop;
    public int AnswerTokens => stages.AnswerTokens;
    public IReadOnlyList<string>? AnswerStop => stages.AnswerStop;

    public string AnswerPrompt(string input, string reasoning, IReadOnlyList<string> choices) => stages.AnswerPrompt(input, reasoning, choices);

    public (string? Strict, string? Flexible) Read(IReadOnlyList<string> reasonings, IReadOnlyList<string> answers, IReadOnlyList<string> choices)
    {
        var cleaned = answers.Select(a => stages.Clean(a, choices)).ToArray();
        var flexible = reasonings.Select(r => rules.ExtractFlexible(r, choices)).ToArray();
        return cleaned.Length == 1 ? (cleaned[0], flexible[0]) : (MajorityVote.Vote(cleaned).Answer, MajorityVote.Vote(flexible).Answer);
    }

    /// <summary>One stage only (not used: the engine runs both stages for a two-stage reading).</summary>
    public (string? Strict, string? Flexible) Read(IReadOnlyList<string> outputs, IReadOnlyList<string> choices) =>
        throw new InvalidOperationException("A two-stage reading needs its second stage's answers.");
}
