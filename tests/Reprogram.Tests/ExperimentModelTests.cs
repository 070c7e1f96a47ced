using Reprogram.Alignments;
using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Instruction;
using Reprogram.Manipulations;
using Reprogram.Models.Causal;
using Reprogram.Models.Vision;
using Reprogram.Models.Zoo;
using Reprogram.Taxonomy;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;
using static Reprogram.Tests.EngineFixtures;

namespace Reprogram.Tests;

/// <summary>The one experiment model: every registry entry through the one entry point, the same split and scorer for every paradigm.</summary>
[Collection("zoo")]
public class ExperimentModelTests(ITestOutputHelper output)
{
    /// <summary>A tiny budget: a few examples, one or two epochs.</summary>
    private static ExperimentSpec Tiny(string task, string manipulation, string alignment) => new()
    {
        Task = task, Manipulation = manipulation, Alignment = alignment, Seeds = [0, 1],
        Budget = new Budget { TrainExamples = 6, TestExamples = 5, Epochs = 1, BatchSize = 4 },
        Options = new MethodOptions { Tokens = 2, Shots = 2, Samples = 2, MaxNewTokens = 6, PatchSize = 4 },
    };

    /// <summary>A random tiny image classifier over the digits' 10 classes, 28 px grey.</summary>
    private static ImageBackbone DigitsCnn() { manual_seed(3); return new ImageBackbone(new SmallCnn(1, 28, DataSetClasses, width: 4), "random digits cnn", CPU, null, ownsModel: true); }
    private static readonly string[] DataSetClasses = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    private static void AssertRun(ExperimentRun run, ExperimentSpec spec)
    {
        Assert.Equal(spec.Seeds.Count, run.Seeds.Count);
        Assert.True(run.Result.FrozenUnchanged, $"{run.Name}: the frozen model changed");
        Assert.All(run.Seeds, s => Assert.Equal(run.Result.ChecksumBefore, s.ChecksumAfter));
        Assert.InRange(run.TestAccuracy, 0, 1);
        Assert.Contains(MetricNames.TestAccuracy, run.Result.Metrics.Keys);
        Assert.Contains(MetricNames.TestAccuracySd, run.Result.Metrics.Keys);
        Assert.All(run.Seeds, s => Assert.Equal(s.TestIds.Count, s.Records.Count));
        Assert.Equal(spec.Seeds, run.Result.Seeds);
    }

    public static TheoryData<string> TextManipulations() => new(Registries.Manipulations.Entries.Where(e => e.Modality is TaskModality.Text or null).Select(e => e.Name));
    public static TheoryData<string> ImageManipulations() => new(Registries.Manipulations.Entries.Where(e => e.Modality is TaskModality.Image).Select(e => e.Name));
    public static TheoryData<string> Alignments() => new(Registries.Alignments.Entries.Select(e => e.Name));

    [Theory]
    [MemberData(nameof(TextManipulations))]
    public void Every_text_manipulation_runs_through_the_one_entry_point_on_a_tiny_decoder(string name)
    {
        var entry = Registries.Manipulations.Find(name);
        using var model = CharGpt(positions: 128);
        using var backbone = new DecoderBackbone(model, ownsModel: false);
        // Chain-of-thought prompts read generated sums; everything else answers the held-out rule by label words.
        var spec = entry.ChainOfThought ? Tiny("addition", name, "answer-extraction") : Tiny(InstructionTasks.HeldOutRule, name, "verbalizer");
        var run = Experiment.Run(backbone, spec);
        AssertRun(run, spec);
        if (entry.Format == Format.Learnable) Assert.True(run.Result.TrainableParameters > 0);
        else Assert.Equal(0, run.Result.TrainableParameters);
        Assert.Equal(entry.CoordinatesWith(run.Result.AlignmentKind), run.Result.Coordinates);
    }

    [Theory]
    [MemberData(nameof(ImageManipulations))]
    public void Every_image_manipulation_runs_through_the_one_entry_point_on_a_tiny_cnn(string name)
    {
        // Pixel prompts on a small CNN; prompts among patch tokens on a tiny ViT.
        using var backbone = Registries.Manipulations.Find(name).Location == Location.Input ? DigitsCnn()
            : new ImageBackbone(ViTLoader.Load(VisionCheckpoints.Shared.Folder("vit_hf")), "tiny HF ViT", CPU, null, ownsModel: true);
        var spec = Tiny("digits", name, "linear");
        var run = Experiment.Run(backbone, spec);
        AssertRun(run, spec);
        Assert.Equal(Registries.Manipulations.Find(name).Location, run.Result.Coordinates!.Location);
        Assert.True(run.Result.TrainableParameters > 10 * 10);   // the manipulation's and the head's
    }

    [Theory]
    [MemberData(nameof(Alignments))]
    public void Every_alignment_runs_through_the_one_entry_point(string name)
    {
        var entry = Registries.Alignments.Find(name);
        if (name is "clip-zero-shot" or "coop")
        {
            // CLIP's text tower as the head of a tiny CLIP: the zero-shot head is a rule, CoOp learns its context.
            using var clip = new ImageBackbone(Reprogram.Models.Clip.ClipLoader.Load(VisionCheckpoints.Shared.Folder("clip")), "tiny HF CLIP", CPU, null, ownsModel: true);
            var clipSpec = Tiny("digits", "none", name) with { Seeds = [0] };
            var clipRun = Experiment.Run(clip, clipSpec);
            AssertRun(clipRun, clipSpec);
            Assert.Equal(entry.Kind, clipRun.Result.AlignmentKind);
            Assert.Equal(name == "coop", clipRun.Result.TrainableParameters > 0);
            return;
        }
        using var model = CharGpt(positions: 128);
        using var backbone = new DecoderBackbone(model, ownsModel: false);
        var spec = entry.Reads == AlignmentReads.GeneratedText ? Tiny("addition", "zero-shot-cot", name) : Tiny(InstructionTasks.HeldOutRule, "soft-prompt", name);
        var run = Experiment.Run(backbone, spec);
        AssertRun(run, spec);
        Assert.Equal(entry.Kind, run.Result.AlignmentKind);
        if (entry.Reads == AlignmentReads.ModelOutputs)
        {
            // The same alignments read an image model's outputs.
            using var image = DigitsCnn();
            var imageSpec = Tiny("digits", "none", name);
            AssertRun(Experiment.Run(image, imageSpec), imageSpec);
        }
    }

    public static TheoryData<string> Models() => new(Registries.Models.Entries.Select(e => e.Name));

    [Theory]
    [MemberData(nameof(Models))]
    public void Every_model_entry_loads_and_runs_through_the_one_entry_point(string name)
    {
        var entry = Registries.Models.Entries.Single(e => e.Name == name);
        string spec = name;
        IDisposable? cleanup = null;
        Chat.FakeServer? server = null;
        try
        {
            if (name == "<checkpoint folder>") spec = CheckpointFolder();
            if (name == "<vision checkpoint folder>") spec = VisionCheckpoints.Shared.Folder("vit_hf");
            if (name == "<encoder checkpoint folder>")
            {
                var encoders = new EncoderCheckpoints();
                cleanup = encoders;
                spec = encoders.Folder("bert");
            }
            if (name == "<torchvision file>") spec = TorchvisionFile();
            if (name == "<provider:model>")
            {
                var adapter = Reprogram.Instruction.Backends.LocalChatClient.ForZoo(LanguageZoo.ArithCotName);
                server = new Chat.FakeServer(adapter);
                Environment.SetEnvironmentVariable("REPROGRAM_TEST_ENTRY_KEY", "sk-test-entry");
                spec = "openai:arith-cot";
            }
            var experiment = entry.Modality == TaskModality.Image
                ? Tiny("digits", "pad", entry.Kind == "image classifier" && name != "<vision checkpoint folder>" ? "ilm" : "linear")
                    with { Options = new MethodOptions { ImageSize = name == "resnet18" ? 32 : null } }
                : entry.Kind == "chat model" || name == LanguageZoo.ArithCotName ? Tiny("addition", "direct", "answer-extraction")
                : entry.Kind == "text encoder" ? Tiny("sentiment", "soft-prompt", "linear")
                : Tiny(name == "<checkpoint folder>" ? CheckpointTask(spec) : InstructionTasks.HeldOutRule, "soft-prompt", "verbalizer");
            experiment = experiment with
            {
                Model = spec, Seeds = [0],
                Options = experiment.Options with { Endpoint = server is null ? null : server.Address.ToString().TrimEnd('/') + "/v1", ApiKeyVariable = "REPROGRAM_TEST_ENTRY_KEY" },
            };
            Assert.Same(entry, Registries.Models.Resolve(spec));
            var run = Experiment.Run(experiment);
            AssertRun(run, experiment);
            output.WriteLine($"{name}: {run.Result.Model}, test accuracy {run.TestAccuracy:P0}");
        }
        finally
        {
            server?.Dispose();
            cleanup?.Dispose();
        }
    }

    public static TheoryData<string> Tasks() => new(Registries.Tasks.Entries.Select(e => e.Name));

    [Theory]
    [MemberData(nameof(Tasks))]
    public void Every_task_entry_draws_a_split_and_runs(string name)
    {
        var entry = Registries.Tasks.Entries.Single(e => e.Name == name);
        var spec = name switch
        {
            "<.csv, .tsv or .jsonl file>" => TextFile(),
            "<image folder>" => ImageFolder(),
            _ => name,
        };
        Assert.Same(entry, Registries.Tasks.Resolve(spec));
        ExperimentRun run;
        if (entry.Modality == TaskModality.Image)
        {
            using var backbone = new ImageBackbone(new SmallCnn(3, 16, DataSetClasses, width: 4), "random rgb cnn", CPU, null, ownsModel: true);
            run = Experiment.Run(backbone, Tiny(spec, "watermark", "linear") with { Seeds = [0] });
        }
        else
        {
            using var model = CharGpt(positions: 256);
            using var backbone = new DecoderBackbone(model, ownsModel: false);
            run = entry.OpenAnswers
                ? Experiment.Run(backbone, Tiny(spec, "direct", "answer-extraction") with { Seeds = [0] })
                : Experiment.Run(backbone, Tiny(spec, "soft-prompt", "verbalizer") with { Seeds = [0] });
        }
        AssertRun(run, run.Spec);
        Assert.Equal(5, run.Seeds[0].TestIds.Count);
        Assert.Equal(5, run.Seeds[0].TestIds.Distinct().Count());
    }

    [Fact]
    public void The_same_seed_gives_every_paradigm_the_same_test_examples_and_the_same_scorer_and_metric_names()
    {
        using var model = CharGpt(positions: 128);
        using var backbone = new DecoderBackbone(model, ownsModel: false);
        var methods = new (string Manipulation, string Alignment, Paradigm? Paradigm)[]
        {
            ("icl", "verbalizer", Paradigm.PromptInstruction), ("icl", "calibration", Paradigm.PromptInstruction),
            ("soft-prompt", "verbalizer", Paradigm.PromptTuning), ("prefix", "linear", Paradigm.PromptTuning), ("deep", "verbalizer", Paradigm.PromptTuning),
            ("embedding-perturbation", "ilm", Paradigm.ModelReprogramming), ("discrete-prompt", "verbalizer", Paradigm.ModelReprogramming), ("none", "blm", null),
        };
        var runs = methods.Select(m => Experiment.Run(backbone, Tiny(InstructionTasks.HeldOutRule, m.Manipulation, m.Alignment) with { Seeds = [3, 4] })).ToArray();
        foreach (var (run, method) in runs.Zip(methods)) Assert.Equal(method.Paradigm, run.Result.Paradigm);
        // The test examples: the same ids, inputs and answers for every method, seed by seed; different seeds, different examples.
        foreach (var seed in new[] { 0, 1 })
        {
            var ids = runs[0].Seeds[seed].TestIds;
            Assert.All(runs, r => Assert.Equal(ids, r.Seeds[seed].TestIds));
            var examples = runs[0].Seeds[seed].Records.Select(r => (r.Id, r.Input, r.Answer)).ToArray();
            Assert.All(runs, r => Assert.Equal(examples, r.Seeds[seed].Records.Select(x => (x.Id, x.Input, x.Answer))));
        }
        Assert.NotEqual(runs[0].Seeds[0].TestIds, runs[0].Seeds[1].TestIds);
        // One metric vocabulary: test accuracy and its spread for every paradigm, train accuracy where something was learned.
        foreach (var r in runs)
        {
            var expected = r.Result.TrainableParameters > 0 || r.Result.Alignment.Contains("label mapping")
                ? new[] { MetricNames.TestAccuracy, MetricNames.TestAccuracySd, MetricNames.TrainAccuracy }
                : [MetricNames.TestAccuracy, MetricNames.TestAccuracySd];
            Assert.Equal(expected.Order(), r.Result.Metrics.Keys.Order());
        }
        Assert.All(runs, r => Assert.Equal(r.Seeds.Average(s => s.Records.Count(x => x.Correct) / (double)s.Records.Count), r.TestAccuracy, 12));
    }

    [Fact]
    public void Label_words_are_scored_one_way_with_and_without_a_learned_prompt()
    {
        // The full label word's log-likelihood: the fixed-prompt scorer (with its cache) and the differentiable reader agree.
        using var model = CharGpt(seed: 5, positions: 64);
        var lm = model.Local!;
        var tokenizer = new CharTokenizer();
        long[] E(string s) => tokenizer.Encode(s);
        var prompts = new[] { E("ab;cd;e"), E("12+3"), E("x") };
        var answers = new[] { " even", " odd", "gh" }.Select(E).ToArray();
        using var noGrad = no_grad();
        var read = TokenReadout.AnswerLogLikelihood(lm, null, prompts, prompts.Select(_ => (IReadOnlyList<long[]>)answers).ToArray());
        var (scored, _) = LikelihoodScoring.Score(lm, prompts.Select(p => new ScoringRequest(p[..^1], p[^1..], answers)).ToArray(), useCache: true);
        for (var i = 0; i < prompts.Length; i++)
        {
            for (var j = 0; j < answers.Length; j++) Assert.True(Math.Abs(read[i, j].item<float>() - scored[i][j]) < 1e-4, $"prompt {i} answer {j}: {read[i, j].item<float>()} vs {scored[i][j]}");
        }
        // And through the engine: a zero-shot verbalizer run gives the same predictions on either path (an identity learned prompt vs none).
        using var backbone = new DecoderBackbone(model, ownsModel: false);
        var task = InstructionTasks.HeldOutRuleTask(seed: 2, queries: 12, pool: 0);
        var fixedScores = backbone.LabelWordScores(null, task, task.Queries);
        var learnedScores = backbone.LabelWordScores(new NoTokens(), task, task.Queries);
        Assert.True(fixedScores.allclose(learnedScores, rtol: 0, atol: 1e-4));
    }

    /// <summary>A token manipulation that changes nothing: scores must equal the fixed-prompt path's.</summary>
    private sealed class NoTokens : ITokenManipulation
    {
        public string Name => "nothing";
        public Format Format => Format.Learnable;
        public Location Location => Location.Embedding;
        public Operator Operator => Operator.Additive;
        public long TrainableParameters => 0;
        public int PositionsAdded => 0;
        public TokenInput Apply(TokenInput input, ITokenModel model) => input;
    }

    [Theory]
    [InlineData("Model", "gpt-17", "is not a model. Allowed: rule-family")]
    [InlineData("Manipulation", "lora", "is not an input manipulation. Allowed: none, icl")]
    [InlineData("Alignment", "softmax", "is not an output alignment. Allowed: verbalizer")]
    [InlineData("Task", "imdb", "is not a task. Allowed: held-out-rule")]
    public void Unknown_names_are_refused_with_the_allowed_names(string axis, string value, string expected)
    {
        var spec = axis switch
        {
            "Model" => new ExperimentSpec { Model = value },
            "Manipulation" => new ExperimentSpec { Manipulation = value },
            "Alignment" => new ExperimentSpec { Alignment = value },
            _ => new ExperimentSpec { Task = value },
        };
        Assert.Contains(expected, Assert.Throws<ArgumentException>(() => Experiment.Run(spec)).Message);
        Assert.Contains(expected, Assert.Throws<ArgumentException>(() => spec.Validate()).Message);
        // Every front-end refuses through the same registries.
        if (axis == "Manipulation") Assert.Contains("is not", Assert.ThrowsAny<ArgumentException>(() => new ComparisonOptions { Manipulations = [value] }.Validate()).Message);
        if (axis == "Alignment") Assert.Contains("Allowed", Assert.ThrowsAny<ArgumentException>(() => new ComparisonOptions { Base = "soft-prompt+" + value }.Validate()).Message);
    }

    [Fact]
    public void Combinations_that_cannot_run_are_refused_with_the_reason()
    {
        using var model = CharGpt();
        using var decoder = new DecoderBackbone(model, ownsModel: false);
        using var image = DigitsCnn();
        Assert.Contains("needs an image model", Assert.Throws<ArgumentException>(() => Experiment.Run(decoder, Tiny(InstructionTasks.HeldOutRule, "pad", "verbalizer"))).Message);
        Assert.Contains("is an image task", Assert.Throws<ArgumentException>(() => Experiment.Run(decoder, Tiny("digits", "none", "linear"))).Message);
        Assert.Contains("scores label words", Assert.Throws<ArgumentException>(() => Experiment.Run(image, Tiny("digits", "none", "verbalizer"))).Message);
        Assert.Contains("open answers", Assert.Throws<ArgumentException>(() => Experiment.Run(decoder, Tiny("addition", "direct", "verbalizer"))).Message);
        Assert.Contains("labelled examples", Assert.Throws<ArgumentException>(() => Experiment.Run(decoder, Tiny(InstructionTasks.HeldOutRule, "soft-prompt", "verbalizer") with { Budget = new Budget { TrainExamples = 0, TestExamples = 4 } })).Message);
    }

    [Fact]
    public void A_learned_prompt_trains_through_contextual_calibration_without_nan()
    {
        // Classes outside a query's choices score log 0; the calibrated scores must not turn that into NaN gradients.
        using var model = CharGpt(positions: 128);
        using var backbone = new DecoderBackbone(model, ownsModel: false);
        var run = Experiment.Run(backbone, Tiny(InstructionTasks.HeldOutRule, "soft-prompt", "calibration") with
        {
            Budget = new Budget { TrainExamples = 8, TestExamples = 6, Epochs = 6, BatchSize = 4, LearningRate = 0.1 },
        });
        Assert.All(run.Seeds, s => Assert.Equal(Training.StopReason.Completed, s.Training!.Stop));
        Assert.All(run.Seeds.SelectMany(s => s.Training!.Curve), c => Assert.True(double.IsFinite(c.Loss)));
    }

    [Fact]
    public void A_run_repeats_exactly_and_a_new_method_is_one_class_and_one_entry()
    {
        using var model = CharGpt(positions: 128);
        using var backbone = new DecoderBackbone(model, ownsModel: false);
        var spec = Tiny(InstructionTasks.HeldOutRule, "soft-prompt", "calibration");
        var a = Experiment.Run(backbone, spec);
        var b = Experiment.Run(backbone, spec);
        Assert.Equal(a.Records.Select(r => (r.Id, r.Output, r.Predicted)), b.Records.Select(r => (r.Id, r.Output, r.Predicted)));
        Assert.Equal(a.Seeds[0].Training!.Curve.Select(c => c.Loss), b.Seeds[0].Training!.Curve.Select(c => c.Loss));

        // A method of one's own: the class below plus this entry; the engine, the directives and validation find it by name.
        var name = "test-scaled-embeddings-" + Guid.NewGuid().ToString("N")[..6];
        Registries.Manipulations.Add(new ManipulationEntry
        {
            Name = name, Description = "learned per-dimension scale of the embeddings (a test method)", Modality = TaskModality.Text,
            Format = Format.Learnable, Location = Location.Embedding, Operator = Operator.Parametric,
            Create = r => new ScaledEmbeddings(r.TokenModel("A scaling").HiddenSize),
        });
        var mine = Experiment.Run(backbone, spec with { Manipulation = name, Alignment = "verbalizer" });
        AssertRun(mine, spec with { Manipulation = name });
        Assert.Equal(new Coordinates(Format.Learnable, Location.Embedding, Operator.Parametric, OutputAlignment.RuleBased), mine.Result.Coordinates);
        Assert.Equal(model.Local!.HiddenSize, mine.Result.TrainableParameters);
        Assert.Contains(name, new ComparisonOptions { Manipulations = [name] }.MethodsToRun(TaskModality.Text).Select(m => m.Manipulation.Name));
    }

    /// <summary>x * (1 + s): learnable · embedding · parametric, in a few lines.</summary>
    private sealed class ScaledEmbeddings : LearnableManipulation, ITokenManipulation
    {
        private readonly TorchSharp.Modules.Parameter scale;
        public ScaledEmbeddings(int hidden) : base("scaled embeddings")
        {
            scale = new TorchSharp.Modules.Parameter(zeros(hidden));
            register_parameter("scale", scale);
        }
        public override Location Location => Location.Embedding;
        public override Operator Operator => Operator.Parametric;
        public int PositionsAdded => 0;
        public TokenInput Apply(TokenInput input, ITokenModel model) => input with { Embeddings = input.Embeddings * (1 + scale) };
    }

    [Fact]
    public void Varying_one_dimension_holds_the_other_three_fixed()
    {
        string[] Names(string vary, string basis = "soft-prompt+verbalizer") =>
            new ComparisonOptions { Vary = vary, Base = basis }.MethodsToRun(TaskModality.Text).Select(m => m.Name).ToArray();
        Assert.Equal(["soft-prompt + verbalizer", "prefix + verbalizer", "p-tuning-v2 + verbalizer", "vpt-deep + verbalizer", "discrete-prompt + verbalizer"], Names("location"));
        Assert.Equal(["soft-prompt + verbalizer", "embedding-perturbation + verbalizer"], Names("operator"));
        Assert.Equal(["icl + verbalizer", "discrete-prompt + verbalizer"], Names("format", "icl+verbalizer"));
        Assert.Contains("in format alone", Assert.Throws<ArgumentException>(() => Names("format")).Message);
        var alignments = Names("alignment");
        Assert.Equal("soft-prompt + verbalizer", alignments[0]);
        Assert.Contains("soft-prompt + linear", alignments);
        Assert.Contains("soft-prompt + blm+", alignments);
        Assert.DoesNotContain("soft-prompt + answer-extraction", alignments);
        Assert.Equal(["pad + linear", "parametric + linear"], new ComparisonOptions { Vary = "operator", Base = "pad+linear" }.MethodsToRun(TaskModality.Image)
            .Select(m => m.Name).Where(n => n is "pad + linear" or "parametric + linear"));
    }

    [Fact]
    public void A_comparison_runs_every_method_on_one_model_and_split_and_exports()
    {
        using var noZoo = new RegisteredCharGpt();
        var options = new ComparisonOptions
        {
            Model = noZoo.Name, Methods = ["icl+verbalizer", "soft-prompt+verbalizer", "embedding-perturbation+linear", "none+ilm"],
            Examples = [2, 4, 40], Seeds = [0, 1], TestExamples = 6, Epochs = 2,
        };
        var result = Comparison.Run(options);
        foreach (var r in result.Rows) output.WriteLine($"{r.Method.Name} @ {r.Budget}: {r.TestAccuracy:P0} ± {r.TestAccuracySd:P0}, {r.LabelledExamples} labelled, {r.Result.InferenceTokensPerQuery} tokens");
        // In-context learning at 40 shots does not fit 64 positions: listed with the reason, the others run.
        var skipped = Assert.Single(result.Skipped);
        Assert.Equal(("icl + verbalizer", 40), (skipped.Method, skipped.Budget));
        Assert.Contains("64 positions", skipped.Reason);
        Assert.Equal(11, result.Rows.Count);
        Assert.True(result.SameTestExamples);
        Assert.True(result.FrozenUnchanged);
        Assert.Equal([2, 4], result.Rows.Where(r => r.Method.Manipulation.Name == "icl").Select(r => r.LabelledExamples));
        Assert.Equal([2, 4, 40], result.Rows.Where(r => r.Method.Manipulation.Name == "soft-prompt").Select(r => r.LabelledExamples));
        Assert.Equal([7.0, 13.0], result.Rows.Where(r => r.Method.Manipulation.Name == "icl").Select(r => r.Result.InferenceTokensPerQuery!.Value));
        var csv = result.ToCsv().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(12, csv.Length);
        Assert.StartsWith("method,manipulation,alignment,format,location,operator,output_alignment,paradigm,budget,labelled_examples,test_accuracy", csv[0]);
        using var json = System.Text.Json.JsonDocument.Parse(result.ToJson());
        Assert.Equal(11, json.RootElement.GetProperty("rows").GetArrayLength());
        Assert.Equal(12, json.RootElement.GetProperty("rows")[0].GetProperty("records").GetArrayLength());
        Assert.True(json.RootElement.GetProperty("sameTestExamples").GetBoolean());
        Assert.Throws<ArgumentException>(() => result.Export(Path.Combine(Path.GetTempPath(), "comparison.txt")));
    }

    /// <summary>A random char GPT registered as a model for the test's lifetime (the registry takes models of one's own).</summary>
    private sealed class RegisteredCharGpt : IDisposable
    {
        public string Name { get; } = "test-char-gpt-" + Guid.NewGuid().ToString("N")[..6];
        public RegisteredCharGpt() => Registries.Models.Add(new ModelEntry
        {
            Name = Name, Kind = "text decoder", Modality = TaskModality.Text, Description = "a random character GPT (tests)",
            Load = _ => new DecoderBackbone(CharGpt(positions: 64)),
        });
        public void Dispose() { }
    }

    // Files the path entries accept.

    private static string TextFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"task-{Guid.NewGuid():N}.csv");
        File.WriteAllLines(path, ["text,label", .. Enumerable.Range(0, 30).Select(i => $"item {i},{(i % 2 == 0 ? "even" : "odd")}")]);
        return path;
    }

    private static string ImageFolder()
    {
        var root = Directory.CreateTempSubdirectory("images-").FullName;
        var random = new Random(1);
        foreach (var label in new[] { "dark", "light" })
        {
            Directory.CreateDirectory(Path.Combine(root, label));
            for (var i = 0; i < 8; i++)
            {
                using var image = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(8, 8);
                var v = (byte)(label == "dark" ? random.Next(0, 60) : random.Next(190, 255));
                for (var y = 0; y < 8; y++) for (var x = 0; x < 8; x++) image[x, y] = new SixLabors.ImageSharp.PixelFormats.Rgb24(v, v, v);
                SixLabors.ImageSharp.ImageExtensions.SaveAsPng(image, Path.Combine(root, label, $"{i}.png"));
            }
        }
        return root;
    }

    private static string TorchvisionFile()
    {
        manual_seed(4);
        using var model = new ResNet([2, 2, 2, 2], 1000);
        var path = Path.Combine(Path.GetTempPath(), $"resnet18-{Guid.NewGuid():N}.safetensors");
        TorchSharp.PyBridge.PyBridgeModuleExtensions.save_safetensors(model, path);
        return path;
    }

    private static string? checkpointFolder;

    /// <summary>The generated GPT-2 checkpoint with a tokenizer that fits its 100-token vocabulary.</summary>
    private static string CheckpointFolder()
    {
        if (checkpointFolder is not null) return checkpointFolder;
        using var checkpoints = new DecoderCheckpoints();
        var folder = Path.Combine(Path.GetTempPath(), $"gpt2-entry-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(checkpoints.Folder("gpt2"))) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        var vocab = new Dictionary<string, int>();
        for (var b = 32; b < 127; b++) vocab[b == 32 ? "Ġ" : ((char)b).ToString()] = vocab.Count;
        vocab["Ġx"] = vocab.Count;
        vocab["Ġy"] = vocab.Count;
        File.WriteAllText(Path.Combine(folder, "vocab.json"), System.Text.Json.JsonSerializer.Serialize(vocab));
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\nĠ x\nĠ y\n");
        return checkpointFolder = folder;
    }

    private static string CheckpointTask(string folder)
    {
        var csv = Path.Combine(folder, "task.csv");
        File.WriteAllLines(csv, ["text,label", .. Enumerable.Range(0, 24).Select(i => $"{(i % 2 == 0 ? "aab" : "bba")}{i},{(i % 2 == 0 ? "x" : "y")}")]);
        return csv;
    }
}

/// <summary>The remote-model entry's fake endpoint (the chat tests' server).</summary>
internal static class Chat
{
    internal sealed class FakeServer(Microsoft.Extensions.AI.IChatClient backend) : IDisposable
    {
        private readonly ChatBackendTests.FakeChatServer server = new(backend);
        public Uri Address => server.Address;
        public void Dispose()
        {
            server.Dispose();
            backend.Dispose();
        }
    }
}
