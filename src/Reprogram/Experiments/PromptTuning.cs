using System.Diagnostics;
using Reprogram.Alignments;
using Reprogram.Data;
using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Models.Text;
using Reprogram.Runtime;
using Reprogram.Taxonomy;
using Reprogram.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>Everything <c>#!soft-prompt</c> takes.</summary>
public sealed record PromptTuningOptions
{
    /// <summary>The session's defaults for options a cell does not give.</summary>
    public static PromptTuningOptions SessionDefaults { get; set; } = new();

    /// <summary>soft (prompt tuning, Lester et al.), prefix (prefix-tuning, Li and Liang) or deep (P-tuning v2).</summary>
    public string Method { get; init; } = "soft";
    /// <summary>
    /// minilm (all-MiniLM-L6-v2, a real pretrained encoder; linear head), a zoo decoder (icl-rules, arith-cot) or a
    /// Hugging Face checkpoint folder (GPT-2, Llama, Qwen2, SmolLM); decoders use a verbalizer (label words' first token).
    /// </summary>
    public string Model { get; init; } = "minilm";
    /// <summary>fortunes (Debian quote categories), sentiment (generated), or a .csv/.jsonl file with text and label columns.</summary>
    public string Task { get; init; } = "fortunes";
    public int TrainCount { get; init; } = 400;
    public int TestCount { get; init; } = 200;
    /// <summary>Number of virtual tokens (per layer for prefix and deep prompts).</summary>
    public int Tokens { get; init; } = 8;
    /// <summary>random, vocab or text (soft prompts only).</summary>
    public string Init { get; init; } = "random";
    public string? InitText { get; init; }
    /// <summary>Prefix-tuning's reparameterisation MLP (hidden size), as in Li and Liang; null for none.</summary>
    public int? Reparameterisation { get; init; }
    public int Epochs { get; init; } = 4;
    public int BatchSize { get; init; } = 16;
    public double LearningRate { get; init; } = 0.01;
    public int MaxLength { get; init; } = 64;
    public int Seed { get; init; }
    public string? Device { get; init; }
    /// <summary>Columns of a data file and the verbalizer's label words (<c>--text-column --label-column --label-words</c>).</summary>
    public TextDataOptions TextData { get; init; } = new();

    public static IReadOnlyList<string> Methods { get; } = ["soft", "prefix", "deep"];
    public static IReadOnlyList<string> Models { get; } = ["minilm", Reprogram.Models.Zoo.LanguageZoo.IclRulesName, Reprogram.Models.Zoo.LanguageZoo.ArithCotName];
    public static IReadOnlyList<string> Inits { get; } = ["random", "vocab", "text"];

    public void Validate()
    {
        if (!Methods.Contains(Method)) throw new ArgumentException($"'{Method}' is not a prompt-tuning method. Allowed: {string.Join(", ", Methods)}.");
        if (!Models.Contains(Model) && !File.Exists(Path.Combine(Model, "config.json")))
        {
            throw new ArgumentException($"'{Model}' is not a model for #!soft-prompt. Allowed: {string.Join(", ", Models)}, or a Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer files).");
        }
        if (!Inits.Contains(Init)) throw new ArgumentException($"'{Init}' is not an initialisation. Allowed: {string.Join(", ", Inits)}.");
        if (Init == "text" && string.IsNullOrWhiteSpace(InitText)) throw new ArgumentException("--init text needs --init-text \"some words\".");
        if (Init != "random" && Method != "soft") throw new ArgumentException($"--init {Init} applies to soft prompts only; {Method} prompts start random.");
        if (Tokens is < 1 or > 100) throw new ArgumentException($"The number of virtual tokens must be 1 to 100, not {Tokens}.");
        if (TrainCount < 2 || TestCount < 1) throw new ArgumentException($"Train and test counts are too small ({TrainCount}, {TestCount}).");
        if (MaxLength is < 8 or > 512) throw new ArgumentException($"--max-length {MaxLength} is out of range (8 to 512).");
        if (Reparameterisation is <= 0) throw new ArgumentException($"The reparameterisation size must be positive, not {Reparameterisation}.");
        DeviceSpec.Parse(Device ?? "auto");
        TextData.Validate();
        if (TextData.LabelWords is not null && Model == "minilm") throw new ArgumentException("--label-words is a decoder's verbalizer; minilm has a linear head, which learns the classes itself.");
        new TrainingOptions { Epochs = Epochs, BatchSize = BatchSize, LearningRate = LearningRate }.Validate();
    }
}

/// <summary>The nearest vocabulary tokens of one learned soft token, by cosine similarity.</summary>
public sealed record NearestTokens(int Position, IReadOnlyList<(string Token, double Cosine)> Tokens);

public sealed record PromptTuningResult
{
    public required ExperimentResult Main { get; init; }
    public IReadOnlyList<NearestTokens> Nearest { get; init; } = [];
    public required PromptTuningOptions Options { get; init; }
    internal LearnableManipulation? Prompt { get; init; }
    internal IOutputAlignment? Alignment { get; init; }

    /// <summary>Saves the learned prompt and its head (safetensors with coordinates and the model's checksum).</summary>
    public void Save(string path) => LearnedManipulationFile.Save(path, Prompt!, Alignment!, Main.Model, Main.ChecksumBefore, Main.Settings);
}

/// <summary>
/// Prompt tuning of a frozen encoder (<c>#!soft-prompt</c>): soft tokens at the embeddings, deep prompts at every layer,
/// or prefixes of keys and values, trained with a linear head on the mean-pooled output; the encoder never changes.
/// </summary>
public static class PromptTuning
{

    /// <summary>Runs on <see cref="ComputeThread"/>, where freed tensor memory stays mapped between steps.</summary>
    public static PromptTuningResult Run(PromptTuningOptions options, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ComputeThread.Run(() => RunHere(options, progress, cancellationToken));

    private static PromptTuningResult RunHere(PromptTuningOptions options, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        options.Validate();
        if (options.Model != "minilm") return RunDecoder(options, progress, cancellationToken);
        var clock = Stopwatch.StartNew();
        var device = (options.Device is null ? ExperimentDefaults.Device : DeviceSpec.Parse(options.Device)).Resolve();
        var (model, tokenizer) = MiniLmLoader.Shared();
        using var frozen = new FrozenModel<BertEncoder>(model, MiniLmLoader.Identity, device, ownsModel: false);
        var data = TextDataSets.Load(options.Task, options.Seed, options.TextData);
        var (train, test) = data.Split(options.TrainCount, options.TestCount, options.Seed);
        if (train.Count < train.ClassNames.Count) throw new ArgumentException($"The task has too few examples for {options.TrainCount} training examples.");

        // The text's tokens without [CLS] and [SEP].
        var prompt = CreatePrompt(model, options, text => tokenizer.EncodeOne(text, options.MaxLength)[1..^1].Select(i => (long)i).ToArray());
        var head = new LinearHead(model.HiddenSize, data.ClassNames, options.Seed);
        var (trainIds, trainMask) = tokenizer.Encode(train.Texts, options.MaxLength);
        var (testIds, testMask) = tokenizer.Encode(test.Texts, options.MaxLength);
        using var trainLabels = tensor(train.Labels.Select(l => (long)l).ToArray());
        using var testLabels = tensor(test.Labels.Select(l => (long)l).ToArray());
        var task = new EncoderClassificationTask(frozen, prompt, head, trainIds, trainMask, trainLabels);
        var report = Train(task, options, progress, cancellationToken);
        var accuracies = (task.Accuracy(trainIds, trainMask, trainLabels), task.Accuracy(testIds, testMask, testLabels));
        foreach (var t in new[] { trainIds, trainMask, testIds, testMask }) t.Dispose();
        return Finish(frozen, prompt, head, task, report, accuracies, data, train, test, options, clock, tokenizer.TokenText);
    }

    /// <summary>
    /// Prompt tuning of a frozen decoder: each text becomes "{text}\nLabel:", the learned prompt acts at the embeddings or
    /// inside the layers, and the next-token log-probabilities of each class's label word (its first token, after a
    /// space) are the class scores (a verbalizer, rule-based alignment).
    /// </summary>
    private static PromptTuningResult RunDecoder(PromptTuningOptions options, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        var device = (options.Device is null ? ExperimentDefaults.Device : DeviceSpec.Parse(options.Device)).Resolve();
        if (Models.Zoo.LanguageZoo.Names.Contains(options.Model))
        {
            var (zoo, chars, card) = Models.Zoo.LanguageZoo.Load(options.Model, progress, cancellationToken);
            // The zoo's character vocabulary is small: texts are lower-cased and other characters dropped.
            long[] Encode(string text) => chars.Encode(new string(text.ToLowerInvariant().Where(c => Models.Zoo.CharTokenizer.Characters.Contains(c)).ToArray()));
            return RunDecoder(zoo, $"{card.Name} (zoo, {card.Parameters:N0} parameters)", Encode, id => chars.Decode([id]), options, device, progress, cancellationToken);
        }
        var lm = Models.Causal.CheckpointLoader.Load(options.Model);
        var tokenizer = Models.Causal.HfTokenizer.Load(options.Model);
        var module = new TokenModelModule(lm);
        return RunDecoder(module, $"{Path.GetFileName(Path.GetFullPath(options.Model).TrimEnd('/'))} ({lm.Config.ModelType})",
            text => tokenizer.EncodeToIds(text).Select(i => (long)i).ToArray(), id => tokenizer.Decode([(int)id]) ?? "", options, device, progress, cancellationToken);
    }

    /// <summary>Prompt tuning of any frozen token model with a verbalizer; the C# API for decoders and tokenizers of one's own.</summary>
    public static PromptTuningResult RunDecoder<TModel>(TModel model, string identity, Func<string, long[]> encode, Func<long, string> tokenText,
        PromptTuningOptions options, Device device, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
        where TModel : nn.Module, Frozen.ITokenModel
    {
        var clock = Stopwatch.StartNew();
        using var frozen = new FrozenModel<TModel>(model, identity, device, ownsModel: false);
        var data = TextDataSets.Load(options.Task, options.Seed, options.TextData);
        var (train, test) = data.Split(options.TrainCount, options.TestCount, options.Seed);
        // A label word's token as it follows "Label:": " word" in BPE vocabularies; where a space is a token of its own
        // (character vocabularies), the word's first token after it.
        var space = encode(" ");
        long LabelToken(string word)
        {
            var ids = encode(" " + word);
            if (ids.Length > space.Length && space.Length > 0 && ids.Take(space.Length).SequenceEqual(space)) return ids[space.Length];
            return ids.Length > 0 ? ids[0] : throw new ArgumentException($"The label word '{word}' encodes to no token in this model's vocabulary.");
        }
        var labelTokens = data.Verbalized.Select(LabelToken).ToArray();
        var verbalizer = new Verbalizer(data.Verbalized, labelTokens);
        var room = Math.Min(options.MaxLength, model.MaxPositions - options.Tokens);
        if (room < 4) throw new ArgumentException($"{identity} has {model.MaxPositions} positions: no room for {options.Tokens} virtual tokens and a text.");
        (Tensor Ids, Tensor Lengths) Batch(IReadOnlyList<string> texts)
        {
            var encoded = texts.Select(t => { var ids = encode(t + "\nLabel:"); return ids.Length > room ? ids[^room..] : ids; }).ToArray();
            var width = Math.Max(1, encoded.Max(e => e.Length));
            var ids = zeros(encoded.Length, width, dtype: ScalarType.Int64);
            for (var i = 0; i < encoded.Length; i++) if (encoded[i].Length > 0) ids[i, ..encoded[i].Length] = tensor(encoded[i]);
            return (ids, tensor(encoded.Select(e => (long)Math.Max(1, e.Length)).ToArray()));
        }
        var prompt = CreatePrompt(model, options, encode);
        var (trainIds, trainLengths) = Batch(train.Texts);
        var (testIds, testLengths) = Batch(test.Texts);
        using var trainLabels = tensor(train.Labels.Select(l => (long)l).ToArray());
        using var testLabels = tensor(test.Labels.Select(l => (long)l).ToArray());
        var task = new TokenClassificationTask<TModel>(frozen, prompt, verbalizer, trainIds, trainLengths, trainLabels);
        var report = Train(task, options, progress, cancellationToken);
        var accuracies = (task.Accuracy(trainIds, trainLengths, trainLabels), task.Accuracy(testIds, testLengths, testLabels));
        foreach (var t in new[] { trainIds, trainLengths, testIds, testLengths }) t.Dispose();
        return Finish(frozen, prompt, verbalizer, task, report, accuracies, data, train, test, options, clock, tokenText);
    }

    /// <summary>The learned prompt the options ask for; <paramref name="encode"/> tokenises the text of --init text.</summary>
    private static LearnableManipulation CreatePrompt(Frozen.ITokenModel model, PromptTuningOptions options, Func<string, long[]> encode)
    {
        manual_seed(options.Seed);
        return options.Method switch
        {
            "soft" => SoftPrompt.Create(model, options.Tokens,
                options.Init switch { "vocab" => SoftPromptInit.Vocabulary, "text" => SoftPromptInit.Text, _ => SoftPromptInit.Random },
                options.Seed, options.Init == "text" ? encode(options.InitText!) : null),
            "deep" => new DeepPrompt(model, options.Tokens, options.Seed),
            _ => new PrefixTuning(model, options.Tokens, options.Seed, options.Reparameterisation),
        };
    }

    private static TrainingReport Train(ITrainingTask task, PromptTuningOptions options, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken) =>
        Trainer.Train(task, new TrainingOptions { Epochs = options.Epochs, BatchSize = options.BatchSize, LearningRate = options.LearningRate, Seed = options.Seed },
            progress, cancellationToken);

    /// <summary>Proves the model unchanged and puts the run in the one result shape, with the soft tokens' nearest words.</summary>
    private static PromptTuningResult Finish<TModel>(FrozenModel<TModel> frozen, LearnableManipulation prompt, IOutputAlignment alignment,
        ITrainingTask task, TrainingReport report, (double Train, double Test) accuracy, TextDataset data, TextDataset train, TextDataset test,
        PromptTuningOptions options, Stopwatch clock, Func<long, string> tokenText) where TModel : nn.Module, Frozen.ITokenModel
    {
        var after = frozen.VerifyUnchanged();
        var result = new ExperimentResult
        {
            Name = $"{prompt.Name} ({options.Tokens} tokens) + {alignment.Name}",
            Coordinates = new Coordinates(prompt.Format, prompt.Location, prompt.Operator, alignment.Kind),
            AlignmentKind = alignment.Kind,
            Model = frozen.Identity,
            Task = $"{data.Name} ({train.Count} train / {test.Count} test, {data.ClassNames.Count} classes: {string.Join(", ", data.ClassNames)})",
            Manipulation = prompt.Name,
            Alignment = alignment.Name,
            Metrics = new Dictionary<string, double> { ["train accuracy"] = accuracy.Train, ["test accuracy"] = accuracy.Test },
            TrainableParameters = task.TrainableParameters.Sum(p => p.numel()),
            FrozenParameters = frozen.ParameterCount,
            WallTime = clock.Elapsed,
            ExamplesProcessed = report.ExamplesSeen,
            TokensProcessed = report.TokensSeen,
            Device = frozen.Device.ToString(),
            Seed = options.Seed,
            ChecksumBefore = frozen.ChecksumAtFreeze,
            ChecksumAfter = after,
            Curve = report.Curve,
            Stop = report.Stop,
            StopMessage = report.Message,
            Settings = new Dictionary<string, string>
            {
                ["method"] = options.Method, ["tokens"] = options.Tokens.ToString(), ["init"] = options.Init, ["epochs"] = options.Epochs.ToString(),
                ["learning rate"] = options.LearningRate.ToString(System.Globalization.CultureInfo.InvariantCulture), ["seed"] = options.Seed.ToString(),
            },
        };
        return new PromptTuningResult
        {
            Main = result,
            Nearest = prompt is SoftPrompt soft ? NearestTokensOf(soft.Vectors, frozen.Model.TokenEmbeddings, tokenText) : [],
            Options = options,
            Prompt = prompt,
            Alignment = alignment,
        };
    }

    /// <summary>For each soft token, the <paramref name="k"/> vocabulary tokens whose embeddings are closest by cosine.</summary>
    public static IReadOnlyList<NearestTokens> NearestTokensOf(Tensor vectors, Tensor embeddings, Func<long, string> tokenText, int k = 3)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var v = nn.functional.normalize(vectors.detach().cpu(), dim: 1);
        var e = nn.functional.normalize(embeddings.detach().cpu(), dim: 1);
        var (values, indices) = v.matmul(e.T).topk(k, dim: 1);
        var result = new List<NearestTokens>();
        for (var i = 0; i < (int)v.shape[0]; i++)
        {
            result.Add(new NearestTokens(i, Enumerable.Range(0, k)
                .Select(j => (tokenText(indices[i, j].item<long>()), (double)values[i, j].item<float>())).ToArray()));
        }
        return result;
    }

    /// <summary>Lets a loaded checkpoint (any <see cref="Models.Causal.ICausalLm"/>) be held as a frozen token model.</summary>
    private sealed class TokenModelModule : nn.Module<Tensor, Tensor>, Frozen.ITokenModel
    {
        private readonly Models.Causal.ICausalLm lm;

        public TokenModelModule(Models.Causal.ICausalLm lm) : base("checkpoint")
        {
            this.lm = lm;
            register_module("model", lm.Module);
        }

        public int VocabularySize => lm.VocabularySize;
        public int HiddenSize => lm.HiddenSize;
        public int Layers => lm.Layers;
        public int Heads => lm.Heads;
        public int MaxPositions => lm.MaxPositions;
        public Tensor TokenEmbeddings => lm.TokenEmbeddings;
        public Tensor Embed(Tensor tokenIds) => lm.Embed(tokenIds);
        public Tensor ForwardEmbeddings(Tensor embeddings, Frozen.IHiddenManipulation? hidden = null, Tensor? attentionMask = null) =>
            lm.ForwardEmbeddings(embeddings, hidden, attentionMask);
        public override Tensor forward(Tensor ids) => lm.Forward(ids);
    }

    /// <summary>Classification with a frozen encoder: the prompt, the encoder, mean pooling over real positions, a linear head.</summary>
    private sealed class EncoderClassificationTask : ITrainingTask
    {
        private readonly FrozenModel<BertEncoder> frozen;
        private readonly LearnableManipulation prompt;
        private readonly LinearHead head;
        private readonly Tensor ids, mask, labels;

        public EncoderClassificationTask(FrozenModel<BertEncoder> frozen, LearnableManipulation prompt, LinearHead head, Tensor ids, Tensor mask, Tensor labels)
        {
            (this.frozen, this.prompt, this.head, this.ids, this.mask, this.labels) = (frozen, prompt, head, ids, mask, labels);
            prompt.to(frozen.Device);
            head.to(frozen.Device);
            TrainableParameters = prompt.parameters().Concat(head.parameters()).Where(p => p.requires_grad).ToArray();
        }

        public IReadOnlyList<Parameter> TrainableParameters { get; }
        public int ExampleCount => (int)ids.shape[0];
        public void BeforeEpoch(int epoch) { }

        public BatchOutput Step(long[] indices)
        {
            using var index = tensor(indices);
            var y = labels.index_select(0, index).to(frozen.Device);
            var batchMask = mask.index_select(0, index);
            var scores = Scores(ids.index_select(0, index), batchMask);
            var loss = nn.functional.cross_entropy(scores, y);
            return new BatchOutput(loss, scores.argmax(-1).eq(y).sum().item<long>(), indices.Length, batchMask.sum().item<long>());
        }

        public Tensor Scores(Tensor batchIds, Tensor batchMask)
        {
            var x = batchIds.to(frozen.Device);
            var m = batchMask.to(frozen.Device);
            var embeddings = frozen.Model.Embed(x);
            Tensor hidden;
            switch (prompt)
            {
                case SoftPrompt soft:
                    m = cat([ones(x.shape[0], soft.Tokens, dtype: m.dtype, device: m.device), m], 1);
                    hidden = frozen.Model.ForwardEmbeddings(soft.Prepend(embeddings), null, m);
                    break;
                case DeepPrompt deep:
                    hidden = frozen.Model.ForwardEmbeddings(embeddings, deep, m);
                    m = cat([ones(x.shape[0], deep.Tokens, dtype: m.dtype, device: m.device), m], 1);
                    break;
                default:
                    hidden = frozen.Model.ForwardEmbeddings(embeddings, (IHiddenManipulation)prompt, m);
                    break;
            }
            return head.forward(BertEncoder.MeanPooled(hidden, m));
        }

        public double Accuracy(Tensor allIds, Tensor allMask, Tensor allLabels)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            long correct = 0;
            for (long i = 0; i < allIds.shape[0]; i += 64)
            {
                var n = Math.Min(64, allIds.shape[0] - i);
                correct += Scores(allIds.narrow(0, i, n), allMask.narrow(0, i, n)).argmax(-1).cpu().eq(allLabels.narrow(0, i, n)).sum().item<long>();
            }
            return (double)correct / allIds.shape[0];
        }
    }
}
