using Reprogram.Instruction;
using Reprogram.Manipulations;
using Reprogram.Taxonomy;

namespace Reprogram.Tests;

/// <summary>
/// Zero-shot chain-of-thought in Kojima et al.'s two stages (NeurIPS 2022; kojima-takeshi188/zero_shot_cot main.py):
/// the exact prompts of both stages and the paper's answer cleansing, for a text task and for the zoo adder.
/// </summary>
public class ZeroShotChainOfThoughtTests
{
    private static InstructionTask WordProblems()
    {
        var file = Path.Combine(Path.GetTempPath(), $"problems-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(file, Enumerable.Range(1, 12).Select(i => $"{{\"text\": \"Tom has {i} apples and buys 2 more. How many?\", \"label\": \"{i + 2}\"}}"));
        try { return InstructionTasks.Load(file, seed: 0, queries: 4, pool: 8); }
        finally { File.Delete(file); }
    }

    [Fact]
    public void A_numeric_text_task_gets_the_papers_two_prompts_and_the_first_number()
    {
        var task = WordProblems();
        var cot = ZeroShotChainOfThought.For(task);
        Assert.Equal(ZeroShotAnswerKind.Numeric, cot.AnswerKind);
        const string q = "Tom has 3 apples and buys 2 more. How many?";
        Assert.Equal("Q: Tom has 3 apples and buys 2 more. How many?\nA: Let's think step by step.", cot.ReasoningPrompt(q));
        // Stage 2 = stage 1's prompt + the reasoning as written + " " + "\nTherefore, the answer (arabic numerals) is".
        Assert.Equal("Q: Tom has 3 apples and buys 2 more. How many?\nA: Let's think step by step. Tom has 3 apples. He buys 2 more. 3 + 2 = 5. \n" +
                     "Therefore, the answer (arabic numerals) is",
            cot.AnswerPrompt(q, " Tom has 3 apples. He buys 2 more. 3 + 2 = 5.", task.Labels));
        // The paper's cleansing: commas removed, the first number, a final full stop dropped.
        Assert.Equal("5", cot.Clean(" 5.", task.Labels));
        Assert.Equal("1234", cot.Clean(" 1,234 apples, not 7.", task.Labels));
        Assert.Equal("-3.5", cot.Clean(" -3.5 or 4", task.Labels));
        Assert.Null(cot.Clean(" five", task.Labels));
        Assert.Equal(OutputAlignment.RuleBased, cot.Kind);
        Assert.Equal(128, cot.ReasoningTokens);
        Assert.Equal(32, cot.AnswerTokens);
    }

    [Fact]
    public void Label_words_and_lettered_choices_get_the_papers_choice_prompts_and_the_first_choice()
    {
        var sentiment = InstructionTasks.Load("sentiment", seed: 0, queries: 4, pool: 8);
        var words = ZeroShotChainOfThought.For(sentiment);
        Assert.Equal(ZeroShotAnswerKind.Words, words.AnswerKind);
        Assert.Equal("Q: a fine day\nA: Let's think step by step. It is fine. \nTherefore, the answer (negative or positive) is",
            words.AnswerPrompt("a fine day", " It is fine.", sentiment.Labels));
        Assert.Equal("positive", words.Clean(" Positive.", sentiment.Labels));
        Assert.Equal("negative", words.Clean(" \"negative\": it is not positive", sentiment.Labels));
        Assert.Null(words.Clean(" neutral", sentiment.Labels));

        var letters = sentiment with { Labels = ["A", "B", "C", "D", "E"] };
        var choice = ZeroShotChainOfThought.For(letters);
        Assert.Equal(ZeroShotAnswerKind.Letters, choice.AnswerKind);
        Assert.Equal("\nTherefore, among A through E, the answer is", choice.AnswerCue(letters.Labels));
        Assert.Equal("C", choice.Clean(" (C) 42", letters.Labels));
        var open = ZeroShotChainOfThought.For(sentiment with { Labels = [] });
        Assert.Equal(ZeroShotAnswerKind.Open, open.AnswerKind);
        Assert.Equal("\nTherefore, the answer is", open.AnswerCue([]));
        Assert.Equal("abcd", open.Clean(" \"ab cd\".", []));
    }

    [Fact]
    public void The_zoo_adder_is_asked_with_its_own_cues()
    {
        var task = InstructionTasks.ThreeDigitAddition(seed: 0, queries: 3, pool: 4);
        var cot = ZeroShotChainOfThought.For(task);
        Assert.Equal(";", cot.ModelAnswerCue);
        Assert.Equal("123+459:", cot.ReasoningPrompt("123+459"));
        // Stage 1 stops at the adder's answer cue; stage 2 is the scratchpad followed by that cue.
        Assert.Equal([";", "."], cot.ReasoningStop);
        Assert.Equal("123+459:3+9+0=12,2+5+1=08,1+4+0=05;", cot.AnswerPrompt("123+459", "3+9+0=12,2+5+1=08,1+4+0=05;", []));
        Assert.Equal("123+459:3+9+0=12,2+5+1=08,1+4+0=05;", cot.AnswerPrompt("123+459", "3+9+0=12,2+5+1=08,1+4+0=05", []));
        Assert.Equal("0582", cot.Clean("0582.", []));
        Assert.Equal("123+459=", new PromptTemplate("", "", "", "{input}=").Render([], "123+459"));   // the direct baseline's prompt
    }

    [Fact]
    public void Both_stages_run_in_order_with_the_papers_settings()
    {
        var task = InstructionTasks.ThreeDigitAddition(seed: 0, queries: 2, pool: 4);
        var cot = ZeroShotChainOfThought.For(task);
        var generator = new ScriptedGenerator(prompt => prompt.EndsWith(':') ? "3+9+0=12,2+5+1=08,1+4+0=05;0582." : "0582.");
        var outputs = cot.Generate(generator, [("123+459", []), ("001+002", [])], samples: 2, temperature: 0.7, topK: null, seed: 3);

        Assert.Equal(2, generator.Calls.Count);
        var (stage1, settings1) = generator.Calls[0];
        Assert.Equal(["123+459:", "123+459:", "001+002:", "001+002:"], stage1);
        Assert.Equal(0.7, settings1.Temperature);                       // samples vary the reasoning
        Assert.Equal([";", "."], settings1.Stop);
        var (stage2, settings2) = generator.Calls[1];
        Assert.Equal("123+459:3+9+0=12,2+5+1=08,1+4+0=05;", stage2[0]);
        Assert.Equal(0, settings2.Temperature);                         // the answer is read greedily
        Assert.Equal(4, outputs.Count);
        Assert.Equal("3+9+0=12,2+5+1=08,1+4+0=05", outputs[0].Reasoning);
        Assert.Equal("3+9+0=12,2+5+1=08,1+4+0=05;0582.", outputs[0].Text);
        Assert.Equal("0582", outputs[0].Cleaned);
    }

    private sealed class ScriptedGenerator(Func<string, string> answer) : ITextGenerator
    {
        public List<(string[] Prompts, GenerationSettings Settings)> Calls { get; } = [];
        public string Name => "scripted";
        public long TokensProcessed => 0;

        public IReadOnlyList<string> Generate(IReadOnlyList<string> prompts, GenerationSettings settings, CancellationToken cancellationToken = default)
        {
            Calls.Add((prompts.ToArray(), settings));
            return prompts.Select(p => LocalTextGenerator.Cut(answer(p), settings.Stop)).ToArray();
        }
    }
}

/// <summary>The label-word bias probe of the reproduction report (Zhao et al.'s majority label bias, in the icl-rules alphabet).</summary>
[Collection("zoo")]
public class LabelWordBiasTests
{
    [Fact]
    public void The_probe_favours_one_word_in_its_prefix_and_balances_the_answers()
    {
        var (prefix, favoured, queries) = LabelWordBias.Build(seed: 3, queries: 10);
        Assert.Equal(string.Concat(Enumerable.Repeat($"a{favoured};", LabelWordBias.BiasShots)), prefix);
        Assert.Equal(5, queries.Count(q => q.Gold == "f"));
        Assert.All(queries, q =>
        {
            Assert.Single(q.Context.Split(';', StringSplitOptions.RemoveEmptyEntries), d => d[0] == 'a');   // item a shown once, with its gold word
            Assert.Contains($"a{q.Gold};", q.Context);
            Assert.Equal(LabelWordBias.Fillers + 1, q.Context.Count(c => c == ';'));
        });
        Assert.Equal(LabelWordBias.Build(3, 10), LabelWordBias.Build(3, 10), new ProbeComparer());
    }

    [Fact]
    public void The_probe_scores_the_zoo_model_with_and_without_calibration()
    {
        using var model = InstructionModel.Load(Models.Zoo.LanguageZoo.IclRulesName, TorchSharp.torch.CPU);
        var result = LabelWordBias.Run(model, seed: 0, queries: 20);
        Assert.Equal(20, result.Queries);
        Assert.InRange(result.Uncalibrated, 0, 1);
        Assert.InRange(result.Calibrated, 0, 1);
        Assert.StartsWith($"a{result.FavouredWord};a{result.FavouredWord};", result.ExamplePrompt);
        Assert.EndsWith("a", result.ExamplePrompt);
    }

    private sealed class ProbeComparer : IEqualityComparer<(string Prefix, string Favoured, IReadOnlyList<(string Context, string Gold)> Queries)>
    {
        public bool Equals((string Prefix, string Favoured, IReadOnlyList<(string Context, string Gold)> Queries) x,
                           (string Prefix, string Favoured, IReadOnlyList<(string Context, string Gold)> Queries) y) =>
            x.Prefix == y.Prefix && x.Favoured == y.Favoured && x.Queries.SequenceEqual(y.Queries);
        public int GetHashCode((string Prefix, string Favoured, IReadOnlyList<(string Context, string Gold)> Queries) obj) => obj.Prefix.GetHashCode();
    }
}
