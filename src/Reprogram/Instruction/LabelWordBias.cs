using Reprogram.Alignments;
using Reprogram.Models.Zoo;

namespace Reprogram.Instruction;

/// <summary>One seed of the label-word bias probe: accuracy without and with contextual calibration, and how often the uncalibrated model chose the favoured word.</summary>
public sealed record LabelWordBiasResult(int Seed, int Queries, double Uncalibrated, double Calibrated, double FavouredShare, string FavouredWord, string ExamplePrompt);

/// <summary>
/// A task whose label words carry a strong prior, to test contextual calibration where Zhao et al. (ICML 2021, Sec. 4:
/// majority label bias) locate the problem: the prompt's demonstrations favour one label word, so the model prefers it
/// whatever the query says. Written in the icl-rules zoo model's alphabet:
/// <list type="bullet">
/// <item>the shared prefix is <see cref="BiasShots"/> demonstrations of item "a" with one label word (the favoured one,
/// f or g, drawn per seed), e.g. "ag;ag;ag;ag;";</item>
/// <item>each query's own context shows item "a" once with its true label (f or g, balanced), among
/// <see cref="Fillers"/> demonstrations of other items under a random rule, e.g. "cm;af;eq;", then asks "a";</item>
/// <item>the two label words are f and g (both labels of item a, so both are plausible to the model);</item>
/// <item>the content-free inputs replace the query's context by "" and "x;" (no demonstration of a), as the icl-rules
/// task does, and calibration divides by their label-word probabilities (W = diag(p_cf)^-1).</item>
/// </list>
/// The numbers of demonstrations are fixed before any run (4 biased shots, as a 4-shot prompt whose demonstrations all
/// carry one label; 2 fillers), not chosen by the outcome.
/// </summary>
public static class LabelWordBias
{
    public const int BiasShots = 4, Fillers = 2;
    public static readonly string[] Words = ["f", "g"];
    public static readonly string[] ContentFreeInputs = ["", "x;"];

    /// <summary>The shared prefix, and the queries (context, gold word) for one seed; half the queries have each word.</summary>
    public static (string Prefix, string Favoured, IReadOnlyList<(string Context, string Gold)> Queries) Build(int seed, int queries)
    {
        if (queries < 2) throw new ArgumentException($"At least 2 queries (one per label word), not {queries}.");
        var random = new Random(seed);
        var favoured = Words[random.Next(2)];
        var prefix = string.Concat(Enumerable.Repeat($"a{favoured}{RuleInferenceTask.Separator}", BiasShots));
        var list = new List<(string, string)>();
        for (var q = 0; q < queries; q++)
        {
            var gold = Words[q % 2];
            // Fillers: other items (b..e) with labels from a rule drawn for this query; the a-demonstration at a random place.
            var demos = Enumerable.Range(0, Fillers).Select(_ =>
            {
                var item = 1 + random.Next(RuleInferenceTask.Items.Length - 1);
                var labels = RuleInferenceTask.LabelSets[item];
                return $"{RuleInferenceTask.Items[item]}{labels[random.Next(labels.Length)]}{RuleInferenceTask.Separator}";
            }).ToList();
            demos.Insert(random.Next(demos.Count + 1), $"a{gold}{RuleInferenceTask.Separator}");
            list.Add((string.Concat(demos), gold));
        }
        return (prefix, favoured, list.OrderBy(_ => random.Next()).ToArray());
    }

    /// <summary>Scores both label words after every query (and the content-free inputs) and returns the accuracy without and with calibration.</summary>
    public static LabelWordBiasResult Run(InstructionModel model, int seed, int queries = 100, CancellationToken cancellationToken = default)
    {
        var lm = model.Local ?? throw new ArgumentException($"{model.Identity} cannot score label words (a remote chat model).");
        var (prefix, favoured, items) = Build(seed, queries);
        var prefixIds = model.Encode(prefix, "the biased demonstrations");
        var choices = Words.Select(w => model.Encode(w, $"the label word '{w}'")).ToArray();
        ScoringRequest Request(string context) => new(prefixIds, model.Encode(context + "a", "the query"), choices);
        var requests = items.Select(i => Request(i.Context)).Concat(ContentFreeInputs.Select(Request)).ToArray();
        var (scores, _) = LikelihoodScoring.Score(lm, requests, useCache: true, cancellationToken: cancellationToken);
        var prior = ContextualCalibration.ContentFree(scores.Skip(items.Count).Select(s => (IReadOnlyList<double>)s).ToArray());
        int plain = 0, calibrated = 0, chosFavoured = 0;
        for (var q = 0; q < items.Count; q++)
        {
            var p = ContextualCalibration.Probabilities(scores[q]);
            var c = ContextualCalibration.Apply(p, prior);
            var rawWord = Words[p[0] >= p[1] ? 0 : 1];
            plain += rawWord == items[q].Gold ? 1 : 0;
            chosFavoured += rawWord == favoured ? 1 : 0;
            calibrated += Words[c[0] >= c[1] ? 0 : 1] == items[q].Gold ? 1 : 0;
        }
        model.VerifyUnchanged();
        double n = items.Count;
        return new LabelWordBiasResult(seed, items.Count, plain / n, calibrated / n, chosFavoured / n, favoured, prefix + items[0].Context + "a");
    }
}
