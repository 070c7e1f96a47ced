using Reprogram.Frozen;
using Reprogram.Models.Zoo;
using Reprogram.Training;
using Xunit;
using Xunit.Abstractions;

namespace Reprogram.Tests;

/// <summary>Trains each language-zoo model once, into a temporary cache folder, for the tests of this class.</summary>
public sealed class LanguageZooFixture
{
    public string Folder { get; } = Path.Combine(Path.GetTempPath(), $"rp-lzoo-{Guid.NewGuid():N}");
    private readonly Dictionary<string, (List<TrainingProgress> Progress, ModelCard Card)> trained = new();

    /// <summary>The first call trains (with progress) and caches; the reports are kept for the assertions.</summary>
    public (List<TrainingProgress> Progress, ModelCard Card) Trained(string name)
    {
        lock (trained)
        {
            if (!trained.TryGetValue(name, out var entry))
            {
                var reports = new List<TrainingProgress>();
                var (_, _, card) = LanguageZoo.Load(name, new SyncProgress(reports.Add), cacheFolder: Folder);
                trained[name] = entry = (reports, card);
            }
            return entry;
        }
    }

    public sealed class SyncProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }
}

[Collection("zoo")]
public class LanguageZooTests(LanguageZooFixture fixture, ITestOutputHelper output) : IClassFixture<LanguageZooFixture>
{
    private const int FreshItems = 100;
    private const int FreshSeed = 5_000;   // the model card measured on seed 1,000+; these items are new

    [Fact]
    public void The_tokenizer_round_trips_and_refuses_unknown_characters()
    {
        var tokenizer = new CharTokenizer();
        const string text = "ag;cm;b|123+459:3+9+0=12,2+5+1=08,1+4+0=05;0582.\n";
        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
        Assert.DoesNotContain(CharTokenizer.PadId, tokenizer.Encode(text));
        Assert.Equal(tokenizer.VocabularySize, tokenizer.Vocabulary.Count);
        Assert.Throws<ArgumentException>(() => tokenizer.Encode("A"));
    }

    [Fact]
    public void The_generators_are_deterministic_and_write_what_they_say()
    {
        var rules = new RuleInferenceTask();
        Assert.Equal(rules.TrainingSequences(50, 3).Select(s => s.Text), rules.TrainingSequences(50, 3).Select(s => s.Text));
        Assert.NotEqual(rules.TrainingSequences(50, 3).Select(s => s.Text), rules.TrainingSequences(50, 4).Select(s => s.Text));
        var item = rules.EvaluationItems(1, 4, seed: 9).Single();
        Assert.Equal(4, item.Shots);
        Assert.Equal(RuleInferenceTask.Render(item.Demonstrations, item.Query), item.Prompt);
        Assert.Matches("^([a-e][f-t];){4}[a-e]$", item.Prompt);
        // Within one item the demonstrations obey one rule, and so does the answer.
        var pairs = item.Demonstrations.Append(new Demonstration(item.Query, item.Answer));
        Assert.All(pairs.GroupBy(d => d.Input), g => Assert.Single(g.Select(d => d.Output).Distinct()));

        var addition = new AdditionTask();
        Assert.Equal("1+4+0=05", addition.Completion(123, 459, scratchpad: true).Split(',')[2][..8]);
        Assert.Equal("3+9+0=12,2+5+1=08,1+4+0=05;0582.", addition.Completion(123, 459, scratchpad: true));
        Assert.Equal("0582.", addition.Completion(123, 459, scratchpad: false));
        Assert.Equal("0582", AdditionTask.ParseAnswer("3+9+0=12,2+5+1=08,1+4+0=05;0582.", scratchpad: true));
        Assert.All(addition.TrainingSequences(200, 1), s => Assert.True(s.Length <= addition.SequenceLength));
    }

    [Fact]
    public void Training_is_deterministic()
    {
        // The full recipes take about a minute each; a short run of the same recipe shows the same determinism.
        foreach (var name in LanguageZoo.Names)
        {
            var recipe = LanguageZoo.Recipe(name) with { TrainSequences = 640 };
            var (a, _) = LanguageZoo.Train(recipe);
            var (b, _) = LanguageZoo.Train(recipe);
            Assert.Equal(ParameterChecksum.Of(a), ParameterChecksum.Of(b));
        }
    }

    [Fact]
    public void Icl_rules_is_trained_once_cached_and_learns_from_its_demonstrations()
    {
        var (reports, card) = fixture.Trained(LanguageZoo.IclRulesName);
        Assert.NotEmpty(reports);
        Assert.True(File.Exists(Path.Combine(fixture.Folder, "icl-rules-v1.json")));
        output.WriteLine($"trained in {reports[^1].Elapsed.TotalSeconds:F0} s; card: {card.WhatItDoes}");

        var again = new List<TrainingProgress>();
        var (model, tokenizer, reloaded) = LanguageZoo.Load(LanguageZoo.IclRulesName, new LanguageZooFixture.SyncProgress(again.Add), cacheFolder: fixture.Folder);
        Assert.Empty(again);                                    // loaded, not trained
        Assert.Equal(card.Checksum, reloaded.Checksum);
        Assert.Equal(card.Checksum, ParameterChecksum.Of(model));

        var accuracy = new[] { 0, 1, 2, 4, 8 }.ToDictionary(k => k, k => LanguageZoo.RuleAccuracy(model, tokenizer, k, FreshItems, FreshSeed + k));
        foreach (var (k, a) in accuracy) output.WriteLine($"{k} shots: {a:P0} (ideal reader {RuleInferenceTask.IdealAccuracy(k):P0})");
        Assert.True(accuracy[0] < 0.5, $"0 shots can only guess among 3 labels, yet {accuracy[0]:P0}");
        Assert.True(accuracy[8] - accuracy[0] >= 0.35, $"8 shots {accuracy[8]:P0} vs 0 shots {accuracy[0]:P0}");
        Assert.True(accuracy[4] > accuracy[0], $"4 shots {accuracy[4]:P0} vs 0 shots {accuracy[0]:P0}");
    }

    [Fact]
    public void Arith_cot_adds_better_with_a_scratchpad_than_directly()
    {
        var (reports, card) = fixture.Trained(LanguageZoo.ArithCotName);
        Assert.NotEmpty(reports);
        output.WriteLine($"trained in {reports[^1].Elapsed.TotalSeconds:F0} s; card: {card.WhatItDoes}");
        var (model, tokenizer, _) = LanguageZoo.Load(LanguageZoo.ArithCotName, cacheFolder: fixture.Folder);
        var direct = LanguageZoo.AdditionAccuracy(model, tokenizer, scratchpad: false, FreshItems, FreshSeed);
        var scratchpad = LanguageZoo.AdditionAccuracy(model, tokenizer, scratchpad: true, FreshItems, FreshSeed);
        output.WriteLine($"direct {direct:P0}, scratchpad {scratchpad:P0}");
        Assert.True(scratchpad - direct >= 0.5, $"scratchpad {scratchpad:P0} vs direct {direct:P0}");
    }

    [Fact]
    public void A_tampered_cache_entry_is_refused_with_what_to_do()
    {
        fixture.Trained(LanguageZoo.IclRulesName);
        var folder = fixture.Folder + "-tampered";
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(fixture.Folder, "icl-rules-v1.*")) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        var card = Path.Combine(folder, "icl-rules-v1.json");
        File.WriteAllText(card, File.ReadAllText(card).Replace("\"Checksum\": \"", "\"Checksum\": \"00"));
        var e = Assert.Throws<InvalidDataException>(() => LanguageZoo.Load(LanguageZoo.IclRulesName, cacheFolder: folder));
        Assert.Contains("delete both files to retrain", e.Message);
    }
}
