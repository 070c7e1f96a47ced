using Reprogram.Alignments;
using Reprogram.Experiments;
using Reprogram.Instruction;
using Reprogram.Manipulations;
using Reprogram.Models.Causal;
using Reprogram.Models.Zoo;
using Reprogram.Taxonomy;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Reprogram.Tests;

public class PromptInstructionTests(ITestOutputHelper output)
{
    /// <summary>A small classification task whose pool and queries are written out here.</summary>
    private static InstructionTask Animals() => new()
    {
        Name = "animals",
        Description = "animals (test)",
        Pool =
        [
            new("cat", "mammal"), new("eagle", "bird"), new("salmon", "fish"), new("dog", "mammal"),
            new("sparrow", "bird"), new("trout", "fish"), new("horse", "mammal"), new("owl", "bird"),
        ],
        Queries = [new("cow", "mammal"), new("shark", "fish"), new("crow", "bird")],
        Labels = ["bird", "fish", "mammal"],
        Template = new PromptTemplate("Classify the animal.", "Animal: {input}\nClass: {label}", "\n\n", "Animal: {input}\nClass:"),
        Extraction = new AnswerExtraction(@"^\s*(\S+)", null),
    };

    [Fact]
    public void Prompts_have_the_exact_text_for_a_template_shots_and_seed()
    {
        var task = Animals();
        var chosen = new RandomDemonstrations().Select(task, 0, 3, seed: 4);
        Assert.Equal(Demonstrations.Permutation(task.Pool.Count, 4).Take(3), chosen);
        var prompts = InContextLearning.BuildPrompts(task, task.Template, new RandomDemonstrations(), DemonstrationOrder.AsSelected, 3, 4);
        var d = chosen.Select(i => task.Pool[i]).ToArray();
        var expected = "Classify the animal.\n\n" +
                       $"Animal: {d[0].Input}\nClass: {d[0].Answer}\n\n" +
                       $"Animal: {d[1].Input}\nClass: {d[1].Answer}\n\n" +
                       $"Animal: {d[2].Input}\nClass: {d[2].Answer}\n\n" +
                       "Animal: shark\nClass:";
        Assert.Equal(expected, prompts[1].Full);
        // The shared prefix is everything before the query, and every query shares it (one set per seed).
        Assert.Equal(expected[..expected.IndexOf("Animal: shark", StringComparison.Ordinal)], prompts[1].Prefix);
        Assert.All(prompts, p => Assert.Equal(prompts[0].Prefix, p.Prefix));
        // The same seed gives the same prompt; another seed other demonstrations.
        Assert.Equal(prompts[1].Full, InContextLearning.BuildPrompts(task, task.Template, new RandomDemonstrations(), DemonstrationOrder.AsSelected, 3, 4)[1].Full);
        Assert.NotEqual(prompts[1].Full, InContextLearning.BuildPrompts(task, task.Template, new RandomDemonstrations(), DemonstrationOrder.AsSelected, 3, 5)[1].Full);
        // 0 shots: the instruction and the query only.
        Assert.Equal("Classify the animal.\n\nAnimal: cow\nClass:", InContextLearning.BuildPrompts(task, task.Template, new RandomDemonstrations(), DemonstrationOrder.AsSelected, 0, 4)[0].Full);
        // The answer text a label adds after the prompt.
        Assert.Equal(" mammal", task.Template.AnswerText("cow", "mammal"));
        // The generated rule task writes the zoo model's format exactly: "ag;cm;b".
        var rules = InstructionTasks.RuleInference(seed: 3, queries: 5, pool: 10);
        var rulePrompt = InContextLearning.BuildPrompts(rules, rules.Template, new RandomDemonstrations(), DemonstrationOrder.AsSelected, 2, 3)[0];
        var p = Demonstrations.Permutation(10, 3).Take(2).Select(i => rules.Pool[i]).ToArray();
        Assert.Equal($"{p[0].Input}{p[0].Answer};{p[1].Input}{p[1].Answer};{rules.Queries[0].Input}", rulePrompt.Full);
    }

    [Fact]
    public void Random_sets_are_nested_balanced_sets_cover_every_label_and_orders_apply()
    {
        var task = Animals();
        var random = new RandomDemonstrations();
        Assert.Equal(random.Select(task, 0, 2, 9), random.Select(task, 0, 5, 9).Take(2));
        Assert.Equal(random.Select(task, 0, 4, 9), random.Select(task, 2, 4, 9));   // the same for every query

        var balanced = new BalancedDemonstrations().Select(task, 0, 3, 1);
        Assert.Equal(3, balanced.Select(i => task.Pool[i].Answer).Distinct().Count());
        var six = new BalancedDemonstrations().Select(task, 0, 6, 1);
        Assert.All(six.GroupBy(i => task.Pool[i].Answer), g => Assert.Equal(2, g.Count()));
        Assert.Equal(six.Distinct().Count(), six.Count);

        Assert.Equal(new[] { 3, 2, 1 }, Demonstrations.Arrange([1, 2, 3], DemonstrationOrder.Reversed, 0));
        var shuffled = Demonstrations.Arrange([1, 2, 3, 4, 5, 6], DemonstrationOrder.Shuffled, 0);
        Assert.Equal(new[] { 1, 2, 3, 4, 5, 6 }, shuffled.Order());
        Assert.Equal(shuffled, Demonstrations.Arrange([1, 2, 3, 4, 5, 6], DemonstrationOrder.Shuffled, 0));
    }

    /// <summary>Embeds a text as its normalised letter counts: "crow" is nearest "sparrow"? No: nearest what shares letters.</summary>
    private sealed class LetterEmbedder : ISentenceEmbedder
    {
        public string Name => "letters";
        public float[][] Embed(IReadOnlyList<string> texts) => texts.Select(t =>
        {
            var v = new float[26];
            foreach (var c in t.ToLowerInvariant()) if (c is >= 'a' and <= 'z') v[c - 'a']++;
            var norm = MathF.Sqrt(v.Sum(x => x * x));
            return v.Select(x => norm > 0 ? x / norm : 0).ToArray();
        }).ToArray();
    }

    [Fact]
    public void Similar_selection_takes_the_nearest_pool_inputs_per_query()
    {
        var task = Animals() with { Queries = [new("owls", "bird"), new("trouts", "fish")] };
        var kate = new SimilarDemonstrations(new LetterEmbedder());
        Assert.Equal("owl", task.Pool[kate.Select(task, 0, 1, 0)[0]].Input);
        Assert.Equal("trout", task.Pool[kate.Select(task, 1, 1, 0)[0]].Input);
        // Per query: the prompts differ, and reversed order puts the nearest next to the query.
        var prompts = InContextLearning.BuildPrompts(task, task.Template, kate, DemonstrationOrder.Reversed, 2, 0);
        Assert.NotEqual(prompts[0].Prefix, prompts[1].Prefix);
        Assert.EndsWith("Animal: owl\nClass: bird\n\nAnimal: owls\nClass:", prompts[0].Full);
    }

    [Fact]
    public void Contextual_calibration_divides_by_the_content_free_probabilities()
    {
        // log-likelihoods of two label words: p = (0.7, 0.3).
        var p = ContextualCalibration.Probabilities([Math.Log(0.7), Math.Log(0.3)]);
        Assert.Equal(0.7, p[0], 12);
        // Content-free inputs give (0.9, 0.1) and (0.7, 0.3): p_cf = (0.8, 0.2).
        var cf = ContextualCalibration.ContentFree([[Math.Log(0.9), Math.Log(0.1)], [Math.Log(7), Math.Log(3)]]);
        Assert.Equal(0.8, cf[0], 12);
        Assert.Equal(0.2, cf[1], 12);
        // W p = (0.875, 1.5), renormalised (0.368..., 0.631...): the prediction flips to the second label.
        var calibrated = ContextualCalibration.Apply(p, cf);
        Assert.Equal(0.875 / 2.375, calibrated[0], 12);
        Assert.Equal(1.5 / 2.375, calibrated[1], 12);
        // A uniform content-free distribution changes nothing.
        Assert.Equal(p, ContextualCalibration.Apply(p, [0.5, 0.5]));
        Assert.Equal(OutputAlignment.Statistical, new ContextualCalibration().Kind);
    }

    [Fact]
    public void Answer_extraction_rules_strict_flexible_and_user_rules()
    {
        var arithmetic = InstructionTasks.ThreeDigitAddition(0, 1, 1).ChainOfThought!.Extraction;
        Assert.Equal("0582", arithmetic.ExtractStrict("3+9+0=12,2+5+1=08,1+4+0=05;0582."));
        Assert.Equal("0582", arithmetic.ExtractStrict("0582."));
        Assert.Null(arithmetic.ExtractStrict("3+9+0=12,2+5+1=08,1+4+0=05;0582"));       // no end marker: not the taught format
        Assert.Equal("0582", arithmetic.ExtractFlexible("3+9+0=12,2+5+1=08,1+4+0=05;0582", []));
        Assert.Equal("17", arithmetic.ExtractFlexible("so it is 12 then 17 apples", []));
        Assert.Null(arithmetic.ExtractFlexible("no number", []));

        var text = InstructionTasks.FromTextDataset(Reprogram.Data.TextDataSets.GeneratedSentiment(40, 0), 0, 4, 8);
        var cot = text.ChainOfThought!.Extraction;
        Assert.Equal("positive", cot.ExtractStrict("The film was great, so the answer is positive."));
        Assert.Null(cot.ExtractStrict("I think positive."));
        Assert.Equal("positive", cot.ExtractFlexible("I think Positive, not negative", ["negative", "positive"]));
        Assert.Equal("negative", cot.ExtractFlexible("negative, not positive", ["negative", "positive"]));

        // The user's own rule replaces the task's; a broken rule is named.
        var mine = new AnswerExtraction(@"ANSWER=(\w+)", null);
        Assert.Equal("b", mine.ExtractStrict("xx ANSWER=b yy"));
        var e = Assert.Throws<ArgumentException>(() => new AnswerExtraction("(unclosed", null).Validate());
        Assert.Contains("strict answer rule '(unclosed'", e.Message);

        Assert.True(AnswerExtraction.Matches("0582", "582"));
        Assert.True(AnswerExtraction.Matches(" Positive ", "positive"));
        Assert.False(AnswerExtraction.Matches(null, "582"));
        Assert.False(AnswerExtraction.Matches("581", "582"));
    }

    [Fact]
    public void Self_consistency_takes_the_majority_and_earliest_on_ties()
    {
        Assert.Equal(("582", 3), MajorityVote.Vote(["582", "581", "0582", null, "582"]));
        Assert.Equal(("b", 2), MajorityVote.Vote(["b", "a", "a", "b"]));      // tie: b appeared first
        Assert.Equal(((string?)null, 0), MajorityVote.Vote([null, "", " "]));
        Assert.Equal(("x", 1), MajorityVote.Vote([null, "x"]));
    }

    private static InstructionModel RandomCharModel(int seed = 11)
    {
        manual_seed(seed);
        var tokenizer = new CharTokenizer();
        var model = new TinyGpt(new GptConfig(tokenizer.VocabularySize, MaxPositions: 64, Layers: 2, Heads: 2, HiddenSize: 32));
        return InstructionModel.FromLocal(model, $"random tiny gpt {seed}", tokenizer.Encode, ids => tokenizer.Decode(ids), CPU);
    }

    [Fact]
    public void Cached_and_uncached_scoring_predict_the_same_and_the_cache_reads_fewer_tokens()
    {
        using var model = RandomCharModel();
        var tokenizer = new CharTokenizer();
        long[] E(string s) => tokenizer.Encode(s);
        // Two prefixes, single- and multi-token choices, an empty query (the choice read at the prefix's last position).
        var requests = new List<ScoringRequest>
        {
            new(E("ag;cm;bi;"), E("a"), [E("f"), E("g"), E("h")]),
            new(E("ag;cm;bi;"), E("c"), [E("l"), E("m"), E("n")]),
            new(E("ag;cm;bi;"), E(""), [E("a"), E("b")]),
            new(E("12+34="), E(""), [E("46."), E("0046."), E("47.")]),
            new(E("12+34="), E("0"), [E("046."), E("47")]),
        };
        var (cached, cachedCost) = LikelihoodScoring.Score(model.Local!, requests, useCache: true, batchRows: 2);
        var (full, fullCost) = LikelihoodScoring.Score(model.Local!, requests, useCache: false, batchRows: 3);
        for (var r = 0; r < requests.Count; r++)
        {
            Assert.Equal(Array.IndexOf(full[r], full[r].Max()), Array.IndexOf(cached[r], cached[r].Max()));
            for (var c = 0; c < full[r].Length; c++) Assert.True(Math.Abs(full[r][c] - cached[r][c]) < 1e-4, $"request {r} choice {c}: {cached[r][c]} vs {full[r][c]}");
        }
        // The reference: each choice scored alone by the existing unbatched scorer over the whole text.
        var alone = CausalLm.ScoreContinuations(model.Local!, [.. E("12+34=")], [E("46."), E("0046."), E("47.")], batch: false);
        for (var c = 0; c < 3; c++) Assert.True(Math.Abs(alone[c] - full[3][c]) < 1e-6);
        Assert.True(cachedCost.Tokens < fullCost.Tokens, $"cached {cachedCost.Tokens} tokens, uncached {fullCost.Tokens}");
        output.WriteLine($"tokens: cached {cachedCost.Tokens}, uncached {fullCost.Tokens}; passes {cachedCost.ForwardPasses} vs {fullCost.ForwardPasses}");
    }

    [Fact]
    public void In_context_runs_with_and_without_the_prefix_cache_agree_and_leave_the_model_unchanged()
    {
        using var model = RandomCharModel();
        var options = new InContextOptions { Task = InstructionTasks.Rules, Shots = [0, 4], Seeds = [0, 1], Queries = 24, Pool = 8, Calibration = "both", Selections = ["random", "balanced"] };
        var cached = InContextLearning.Run(model, options);
        var uncached = InContextLearning.Run(model, options with { SharedPrefixCache = false });
        Assert.Equal(2 * 2 * 2, cached.Settings.Count);
        Assert.Equal(cached.Records.Select(r => (r.Setting, r.Seed, r.Query, r.Prompt, r.Extracted)), uncached.Records.Select(r => (r.Setting, r.Seed, r.Query, r.Prompt, r.Extracted)));
        Assert.True(cached.TokensProcessed < uncached.TokensProcessed);
        Assert.True(cached.FrozenUnchanged);
        Assert.Equal(cached.ChecksumBefore, cached.ChecksumAfter);
        Assert.All(cached.All, r => Assert.Equal(0, r.TrainableParameters));
        Assert.All(cached.All, r => Assert.Equal(new Coordinates(Format.Fixed, Location.Input, Operator.Concatenative, r.AlignmentKind), r.Coordinates));
        Assert.Contains(cached.All, r => r.AlignmentKind == OutputAlignment.Statistical);   // calibrated settings
        Assert.Contains(cached.All, r => r.AlignmentKind == OutputAlignment.RuleBased);     // label-word likelihood
        // The same options repeat exactly.
        var again = InContextLearning.Run(model, options);
        Assert.Equal(cached.Records.Select(r => r.Output), again.Records.Select(r => r.Output));
    }

    [Fact]
    public void A_cancelled_run_stops_and_leaves_the_model_usable()
    {
        using var model = RandomCharModel();
        var options = new InContextOptions { Shots = [2], Seeds = [0], Queries = 10, Pool = 4 };
        Assert.ThrowsAny<OperationCanceledException>(() => InContextLearning.Run(model, options, null, new CancellationToken(canceled: true)));
        Assert.ThrowsAny<OperationCanceledException>(() => ChainOfThought.Run(model, new ChainOfThoughtOptions { Queries = 3 }, null, new CancellationToken(canceled: true)));
        var after = InContextLearning.Run(model, options);
        Assert.Equal(10, after.Records.Count());
        Assert.True(after.FrozenUnchanged);
    }

    [Fact]
    public void Results_export_as_csv_and_json_and_page()
    {
        using var model = RandomCharModel();
        var result = InContextLearning.Run(model, new InContextOptions { Shots = [1], Seeds = [0, 1], Queries = 15, Pool = 4 });
        var folder = Path.Combine(Path.GetTempPath(), "rp-icl-" + Guid.NewGuid().ToString("N"));
        try
        {
            result.Export(Path.Combine(folder, "r.csv"));
            var lines = File.ReadAllLines(Path.Combine(folder, "r.csv"));
            Assert.Equal(1 + 30, lines.Length);
            Assert.StartsWith("setting,seed,query,shots,prompt,output,extracted,answer,correct", lines[0]);
            result.Export(Path.Combine(folder, "r.json"));
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "r.json")));
            Assert.Equal(30, json.RootElement.GetProperty("records").GetArrayLength());
            Assert.Equal(2, json.RootElement.GetProperty("settings")[0].GetProperty("accuracyPerSeed").GetArrayLength());
            Assert.Throws<ArgumentException>(() => result.Export(Path.Combine(folder, "r.txt")));
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
        }
        Assert.Equal(2, result.PageCount(20));
        Assert.Equal(10, result.Page(2, 20).Count);
        Assert.Equal(result.Records.Skip(20).First(), result.Page(2, 20)[0]);
        var s = result.Settings[0];
        Assert.Equal(s.AccuracyPerSeed.Average(), s.Accuracy, 12);
        Assert.Equal(Math.Abs(s.AccuracyPerSeed[0] - s.AccuracyPerSeed[1]) / Math.Sqrt(2), s.Spread, 12);
    }

    [Theory]
    [InlineData("shots", "--shots must be 0 to 256")]
    [InlineData("selection", "is not a demonstration selection")]
    [InlineData("calibration", "is not a calibration")]
    [InlineData("calibrate-generation", "use it with --scoring likelihood")]
    [InlineData("pool", "need a pool of at least")]
    [InlineData("seeds", "repeats a seed")]
    [InlineData("rule", "is not a valid regular expression")]
    [InlineData("endpoint", "is not an absolute URL")]
    [InlineData("model", "is not a model")]
    [InlineData("task", "is not a text task")]
    public void Bad_options_get_clear_messages(string what, string message)
    {
        var o = new InContextOptions();
        Action run = what switch
        {
            "shots" => () => (o with { Shots = [1, 300] }).Validate(),
            "selection" => () => (o with { Selections = ["nearest"] }).Validate(),
            "calibration" => () => (o with { Calibration = "yes" }).Validate(),
            "calibrate-generation" => () => (o with { Calibration = "contextual", Scoring = "generation" }).Validate(),
            "pool" => () => (o with { Shots = [16], Pool = 8 }).Validate(),
            "seeds" => () => (o with { Seeds = [1, 1] }).Validate(),
            "rule" => () => (o with { StrictRule = "([" }).Validate(),
            "endpoint" => () => (o with { Endpoint = "localhost-without-scheme" }).Validate(),
            "model" => () => InContextLearning.Run(o with { Model = "gpt-17" }),
            _ => () => InContextLearning.Run(o with { Task = "imdb" }),
        };
        var e = Assert.ThrowsAny<ArgumentException>(run);
        Assert.Contains(message, e.Message);
        Assert.Contains("few-shot needs --shots", Assert.Throws<ArgumentException>(() => new ChainOfThoughtOptions { Modes = ["few-shot"] }.Validate()).Message);
        Assert.Contains("--temperature must be above 0", Assert.Throws<ArgumentException>(() => new ChainOfThoughtOptions { Samples = 4, Temperature = 0 }.Validate()).Message);
        Assert.Contains("is not a chain-of-thought mode", Assert.Throws<ArgumentException>(() => new ChainOfThoughtOptions { Modes = ["tree"] }.Validate()).Message);
    }

    [Fact]
    public void A_prompt_too_long_for_the_model_is_refused_with_the_numbers()
    {
        using var model = RandomCharModel();
        var options = new ChainOfThoughtOptions { Modes = ["few-shot"], Shots = 2, Queries = 3, Seeds = [0] };
        var e = Assert.Throws<ArgumentException>(() => ChainOfThought.Run(model, options));
        output.WriteLine(e.Message);
        Assert.Contains("does not fit", e.Message);
        Assert.Contains("64 positions", e.Message);
    }

    [Fact]
    public void Chain_of_thought_prompts_have_the_exact_text_of_each_mode()
    {
        // A decoder with room for demonstrations with rationales (the zoo adder has 64 positions: one worked example is 40).
        manual_seed(5);
        var tokenizer = new CharTokenizer();
        using var model = InstructionModel.FromLocal(new TinyGpt(new GptConfig(tokenizer.VocabularySize, MaxPositions: 256, Layers: 1, Heads: 2, HiddenSize: 16)),
            "random 256-position gpt", tokenizer.Encode, ids => tokenizer.Decode(ids), CPU);
        var options = new ChainOfThoughtOptions { Modes = ["direct", "zero-shot", "few-shot"], Shots = 2, Queries = 3, Pool = 6, MaxNewTokens = 8 };
        var result = ChainOfThought.Run(model, options);
        var task = InstructionTasks.ThreeDigitAddition(0, 3, 6);
        var q = task.Queries[0];
        var d = Demonstrations.Permutation(6, 0).Take(2).Select(i => task.Pool[i]).ToArray();
        // Direct with 2 shots: worked answers without rationales, then "a+b=".
        Assert.Equal($"{d[0].Input}={d[0].Answer}.{d[1].Input}={d[1].Answer}.{q.Input}=", result["direct, 2-shot"].Records[0].Prompt);
        // Zero-shot: the query and the trigger.
        Assert.Equal($"{q.Input}:", result["zero-shot CoT (two-stage), trigger \":\""].Records[0].Prompt);
        // Few-shot: each demonstration with its scratchpad (Wei et al.'s rationale), then the query in the scratchpad format.
        Assert.Equal($"{d[0].Input}:{d[0].Rationale};{d[0].Answer}.{d[1].Input}:{d[1].Rationale};{d[1].Answer}.{q.Input}:",
            result["few-shot CoT, 2 rationales"].Records[0].Prompt);
        Assert.Matches(@"^\d\+\d\+0=\d\d,\d\+\d\+[01]=\d\d,\d\+\d\+[01]=\d\d$", d[0].Rationale);
        // The user's trigger replaces the task's.
        var custom = ChainOfThought.Run(model, options with { Modes = ["zero-shot"], Trigger = "=" });
        Assert.Equal($"{q.Input}=", custom.Settings[0].Records[0].Prompt);
        Assert.True(result.FrozenUnchanged);
    }

    [Fact]
    public void A_users_jsonl_with_rationales_gives_few_shot_chain_of_thought_prompts()
    {
        var file = Path.Combine(Path.GetTempPath(), $"problems-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(file, Enumerable.Range(1, 12).Select(i =>
            $"{{\"text\": \"Tom has {i} apples and buys 2 more. How many?\", \"label\": \"{i + 2}\", \"rationale\": \"{i} and 2 make {i + 2}.\"}}"));
        try
        {
            var task = InstructionTasks.Load(file, seed: 0, queries: 4, pool: 8);
            Assert.All(task.Pool, p => Assert.EndsWith($"make {p.Answer}.", p.Rationale));
            var cot = task.ChainOfThought!;
            var prompt = InContextLearning.BuildPrompts(task, cot.WithRationales, new RandomDemonstrations(), DemonstrationOrder.AsSelected, 1, 0)[0];
            var d = task.Pool[Demonstrations.Permutation(task.Pool.Count, 0)[0]];
            Assert.Equal($"Q: {d.Input}\nA: {d.Rationale} The answer is {d.Answer}.\n\nQ: {task.Queries[0].Input}\nA:", prompt.Full);
            // Numeric answers: the flexible rule takes the last number of a rationale.
            Assert.Equal("9", cot.Extraction.ExtractFlexible("7 and 2 make 9, I think", task.Labels));
            Assert.Equal("9", cot.Extraction.ExtractStrict("7 and 2 make 9. The answer is 9."));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Zoo_icl_rules_accuracy_rises_with_shots_and_similar_demonstrations_beat_random()
    {
        var options = new InContextOptions
        {
            Model = LanguageZoo.IclRulesName, Shots = [0, 4], Seeds = [0, 1, 2], Queries = 60, Pool = 16, Selections = ["random", "similar"],
        };
        var result = InContextLearning.Run(options);
        foreach (var s in result.Settings) output.WriteLine($"{s.Label}: {s.Accuracy:P1} ± {s.Spread:P1}");
        Assert.True(result["4-shot, random"].Accuracy > result["0-shot, random"].Accuracy + 0.1);
        Assert.True(result["4-shot, similar"].Accuracy > result["4-shot, random"].Accuracy);
        Assert.True(result.FrozenUnchanged);
    }

    [Fact]
    public void Zoo_arith_cot_zero_shot_trigger_beats_direct_and_self_consistency_votes()
    {
        var options = ChainOfThoughtOptions.SessionDefaults with { Queries = 40, Samples = 3, Temperature = 0.5 };
        var result = ChainOfThought.Run(options);
        foreach (var s in result.Settings) output.WriteLine($"{s.Label}: strict {s.Accuracy:P1}, flexible {s.FlexibleAccuracy:P1}");
        Assert.Equal(["direct", "zero-shot CoT (two-stage), trigger \":\"", "zero-shot CoT (two-stage), trigger \":\", self-consistency (3 samples, T=0.5)"], result.Settings.Select(s => s.Label));
        Assert.True(result.Settings[1].Accuracy > result.Settings[0].Accuracy + 0.3);
        var voted = result.Settings[2].Records[0];
        Assert.Equal(3, voted.Output.Split('\n').Length);
        Assert.Equal(OutputAlignment.Statistical, result.Settings[2].Main.AlignmentKind);
        Assert.True(result.FrozenUnchanged);
    }
}

/// <summary>The remote backend end to end: an OpenAI-compatible server (in the test) answering through the local adapter.</summary>
public class RemoteInstructionTests(ITestOutputHelper output)
{
    [Fact]
    public void Chain_of_thought_through_an_openai_compatible_endpoint_matches_the_local_run()
    {
        using var adapter = Reprogram.Instruction.Backends.LocalChatClient.ForZoo(LanguageZoo.ArithCotName);
        using var server = new ChatBackendTests.FakeChatServer(adapter);
        Environment.SetEnvironmentVariable("REPROGRAM_TEST_REMOTE_KEY", "sk-test-not-a-secret-1234");
        var options = new ChainOfThoughtOptions { Queries = 12, Seeds = [0] };
        var remote = ChainOfThought.Run(options with
        {
            Model = "openai:arith-cot", Endpoint = server.Address.ToString().TrimEnd('/') + "/v1", ApiKeyVariable = "REPROGRAM_TEST_REMOTE_KEY",
        });
        var local = ChainOfThought.Run(options);
        foreach (var s in remote.Settings) output.WriteLine($"remote {s.Label}: {s.Accuracy:P0}; local {local[s.Label].Accuracy:P0}");
        Assert.Equal(local.Records.Select(r => (r.Setting, r.Prompt, r.Output, r.Extracted)), remote.Records.Select(r => (r.Setting, r.Prompt, r.Output, r.Extracted)));
        Assert.Equal("Bearer sk-test-not-a-secret-1234", server.LastAuthorization);
        Assert.Contains("remote", remote.Model);
        Assert.Equal(0, remote.All[0].FrozenParameters);
        Assert.DoesNotContain("sk-test", remote.ToJson());
    }

    [Fact]
    public void An_unreachable_endpoint_and_a_missing_key_give_clear_errors()
    {
        var port = ChatBackendTests.FreePort();
        var options = new ChainOfThoughtOptions { Queries = 2, Model = "ollama:llama3", Endpoint = $"http://127.0.0.1:{port}" };
        var e = Assert.Throws<Reprogram.Instruction.Backends.ChatBackendException>(() => ChainOfThought.Run(options));
        output.WriteLine(e.Message);
        Assert.Contains($"127.0.0.1:{port}", e.Message);
        var missing = Assert.ThrowsAny<Exception>(() => ChainOfThought.Run(options with { Model = "openai:gpt-4o-mini", ApiKeyVariable = "REPROGRAM_NO_SUCH_KEY_VARIABLE" }));
        Assert.Contains("REPROGRAM_NO_SUCH_KEY_VARIABLE", missing.Message);
        // Likelihood scoring needs the model's token probabilities, which a chat endpoint does not give.
        var scoring = Assert.Throws<ArgumentException>(() => InContextLearning.Run(new InContextOptions { Model = "ollama:llama3", Endpoint = $"http://127.0.0.1:{port}" }));
        Assert.Contains("--scoring generation", scoring.Message);
    }
}

/// <summary>In-context learning on a Hugging Face checkpoint folder with its own BPE tokenizer and the user's CSV task.</summary>
public class CheckpointInstructionTests(DecoderCheckpoints checkpoints) : IClassFixture<DecoderCheckpoints>
{
    [Fact]
    public void A_checkpoint_folder_scores_multi_token_label_words_the_same_with_and_without_the_cache()
    {
        // The generated GPT-2 checkpoint (vocabulary of 100) with a byte-level BPE vocabulary that fits it; label " yy" takes two tokens.
        var folder = Path.Combine(Path.GetTempPath(), $"gpt2-icl-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            foreach (var file in Directory.GetFiles(checkpoints.Folder("gpt2"))) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            var vocab = new Dictionary<string, int>();
            for (var b = 32; b < 127; b++) vocab[b == 32 ? "Ġ" : ((char)b).ToString()] = vocab.Count;
            vocab["Ġx"] = vocab.Count;
            vocab["Ġy"] = vocab.Count;
            File.WriteAllText(Path.Combine(folder, "vocab.json"), System.Text.Json.JsonSerializer.Serialize(vocab));
            File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\nĠ x\nĠ y\n");
            var csv = Path.Combine(folder, "task.csv");
            File.WriteAllLines(csv, ["text,label", .. Enumerable.Range(0, 40).Select(i => $"{(i % 2 == 0 ? "a" : "b")}{i},{(i % 2 == 0 ? "x" : "yy")}")]);

            // The checkpoint has 32 positions: a compact template, and the default one refused with the numbers.
            var options = new InContextOptions
            {
                Model = folder, Task = csv, Shots = [0, 2], Seeds = [0, 1], Queries = 10, Pool = 8, Calibration = "both", Selections = ["balanced"],
                DemonstrationFormat = "{input}:{label}", Separator = "\n", QueryFormat = "{input}:",
            };
            var tooLong = Assert.Throws<ArgumentException>(() => InContextLearning.Run(options with { DemonstrationFormat = null, Separator = null, QueryFormat = null, Shots = [4] }));
            Assert.Contains("more than the model's 32 positions", tooLong.Message);
            var cached = InContextLearning.Run(options);
            var recomputed = InContextLearning.Run(options with { SharedPrefixCache = false });
            Assert.Contains("gpt2", cached.Model);
            Assert.Equal(cached.Records.Select(r => r.Extracted), recomputed.Records.Select(r => r.Extracted));
            Assert.True(cached.TokensProcessed < recomputed.TokensProcessed);
            Assert.True(cached.FrozenUnchanged);
            Assert.Matches(@"^[ab]\d+:(x|yy)\n[ab]\d+:(x|yy)\n[ab]\d+:$", cached["2-shot, balanced"].Records[0].Prompt);
            // Generation through the same model, and chain-of-thought prompts in the text format.
            var generated = InContextLearning.Run(options with { Scoring = "generation", Calibration = "none", MaxNewTokens = 3 });
            Assert.All(generated.Records, r => Assert.NotNull(r.ExtractedFlexible is null ? r.Output : r.ExtractedFlexible));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }
}
