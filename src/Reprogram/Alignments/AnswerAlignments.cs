using System.Text.RegularExpressions;
using Reprogram.Taxonomy;

namespace Reprogram.Alignments;

/// <summary>
/// Output alignments of prompt instruction, which map what a frozen language model writes or scores to a task's answer.
/// Each declares its coordinate: reading the answer by a rule is rule-based; re-weighting by content-free statistics
/// and voting over samples are statistical.
/// </summary>
public interface IAnswerAlignment : IAlignment;

/// <summary>
/// Answer extraction from generated text (rule-based alignment): a strict rule that accepts only the format the prompt
/// asks for and a flexible one that finds an answer anywhere (as lm-evaluation-harness's "strict-match" and
/// "flexible-extract"). Rules are regular expressions whose first group is the answer (the whole match without a
/// group); a null flexible rule means "the first of the query's answer choices that the text contains".
/// </summary>
public sealed record AnswerExtraction(string Strict, string? Flexible) : IAnswerAlignment
{
    public string Name => "answer extraction (strict / flexible rules)";
    public OutputAlignment Kind => OutputAlignment.RuleBased;

    /// <summary>Checks both rules compile; the message names the rule.</summary>
    public void Validate()
    {
        Compile(Strict, "strict");
        if (Flexible is not null) Compile(Flexible, "flexible");
    }

    public string? ExtractStrict(string output) => Apply(Compile(Strict, "strict"), output);

    public string? ExtractFlexible(string output, IReadOnlyList<string> choices)
    {
        if (Flexible is not null) return Apply(Compile(Flexible, "flexible"), output);
        // The earliest choice in the text; at the same position the longest (so "positive" wins over "pos").
        var best = choices.Select(c => (Choice: c, At: c.Length == 0 ? -1 : output.IndexOf(c, StringComparison.OrdinalIgnoreCase)))
            .Where(p => p.At >= 0).OrderBy(p => p.At).ThenByDescending(p => p.Choice.Length).FirstOrDefault();
        return best.Choice;
    }

    /// <summary>Whether an extracted answer is the gold one: trimmed, case-insensitive, and numbers by value ("0582" = "582").</summary>
    public static bool Matches(string? extracted, string gold)
    {
        if (extracted is null) return false;
        var (a, b) = (extracted.Trim(), gold.Trim());
        if (decimal.TryParse(a, System.Globalization.NumberStyles.Number, System.Globalization.CultureInfo.InvariantCulture, out var x) &&
            decimal.TryParse(b, System.Globalization.NumberStyles.Number, System.Globalization.CultureInfo.InvariantCulture, out var y)) return x == y;
        return string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
    }

    private static string? Apply(Regex rule, string output)
    {
        var m = rule.Match(output);
        if (!m.Success) return null;
        return (m.Groups.Count > 1 ? m.Groups[1].Value : m.Value).Trim();
    }

    private static Regex Compile(string pattern, string which)
    {
        try { return new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Singleline, TimeSpan.FromSeconds(1)); }
        catch (ArgumentException e) { throw new ArgumentException($"The {which} answer rule '{pattern}' is not a valid regular expression: {e.Message}"); }
    }
}

/// <summary>
/// Contextual calibration (Zhao et al., ICML 2021, "Calibrate before use"), a statistical alignment: the label
/// probabilities p of a query (its label words' likelihoods, renormalised over the labels) are divided by p_cf, those
/// the same prompt gives a content-free input such as "N/A" (averaged over several), and renormalised: W = diag(p_cf)^-1,
/// b = 0. The paper then takes softmax(W p); the renormalised W p has the same argmax and is a distribution too.
/// </summary>
public sealed class ContextualCalibration : IAnswerAlignment
{
    public string Name => "contextual calibration";
    public OutputAlignment Kind => OutputAlignment.Statistical;

    /// <summary>Log-likelihoods of the label words to probabilities over the labels.</summary>
    public static double[] Probabilities(IReadOnlyList<double> logLikelihoods)
    {
        var max = logLikelihoods.Max();
        var e = logLikelihoods.Select(l => Math.Exp(l - max)).ToArray();
        var sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    /// <summary>p_cf: the mean of the content-free inputs' label probabilities.</summary>
    public static double[] ContentFree(IReadOnlyList<IReadOnlyList<double>> contentFreeLogLikelihoods)
    {
        if (contentFreeLogLikelihoods.Count == 0) throw new ArgumentException("Calibration needs at least one content-free input.");
        var probabilities = contentFreeLogLikelihoods.Select(Probabilities).ToArray();
        return Enumerable.Range(0, probabilities[0].Length).Select(i => probabilities.Average(p => p[i])).ToArray();
    }

    /// <summary>Calibrated probabilities: normalise(p / p_cf).</summary>
    public static double[] Apply(IReadOnlyList<double> probabilities, IReadOnlyList<double> contentFree)
    {
        if (probabilities.Count != contentFree.Count) throw new ArgumentException($"{probabilities.Count} label probabilities but {contentFree.Count} content-free ones.");
        var w = probabilities.Select((p, i) => p / Math.Max(contentFree[i], 1e-12)).ToArray();
        var sum = w.Sum();
        return w.Select(v => v / sum).ToArray();
    }
}

/// <summary>
/// Self-consistency (Wang et al., ICLR 2023), a statistical alignment: the answers extracted from several sampled
/// rationales are counted and the most frequent wins; unanswered samples do not vote; a tie goes to the answer that
/// appeared first. Answers are compared as <see cref="AnswerExtraction.Matches"/> does (numbers by value).
/// </summary>
public sealed class MajorityVote : IAnswerAlignment
{
    public string Name => "majority vote over sampled rationales (self-consistency)";
    public OutputAlignment Kind => OutputAlignment.Statistical;

    public static (string? Answer, int Votes) Vote(IEnumerable<string?> answers)
    {
        var tally = new List<(string Answer, int Votes)>();
        foreach (var answer in answers)
        {
            if (string.IsNullOrWhiteSpace(answer)) continue;
            var i = tally.FindIndex(t => AnswerExtraction.Matches(answer, t.Answer));
            if (i < 0) tally.Add((answer.Trim(), 1));
            else tally[i] = (tally[i].Answer, tally[i].Votes + 1);
        }
        if (tally.Count == 0) return (null, 0);
        var best = tally[0];
        foreach (var t in tally.Skip(1)) if (t.Votes > best.Votes) best = t;   // strictly more: ties keep the earlier
        return best;
    }
}

/// <summary>
/// Label-word likelihood (a verbalizer over whole words, rule-based): each answer choice is scored by the sum of its
/// tokens' log-probabilities after the prompt, and the highest wins.
/// </summary>
public sealed class LabelWordLikelihood : IAnswerAlignment
{
    public string Name => "label-word likelihood (verbalizer)";
    public OutputAlignment Kind => OutputAlignment.RuleBased;
}
