using Reprogram.Frozen;
using Reprogram.Taxonomy;
using TorchSharp;
using static TorchSharp.torch;
using TorchSharp.Modules;

namespace Reprogram.Manipulations;

/// <summary>How soft tokens start (Lester et al. 2021 compare the three).</summary>
public enum SoftPromptInit
{
    /// <summary>Small random values (normal, std 0.02).</summary>
    Random,
    /// <summary>
    /// Embeddings of vocabulary tokens drawn at random without replacement (seeded): from the 5,000 most frequent
    /// tokens where the tokenizer's ids are in frequency order (Lester et al. 2021, Sec. 3: "sampled from the 5,000 most
    /// common tokens"; google-research/prompt-tuning, from_sample_of_embeddings with population_size 5000), from the
    /// whole vocabulary otherwise (see <see cref="VocabularyOrder"/>).
    /// </summary>
    Vocabulary,
    /// <summary>Embeddings of a text's tokens, repeated or cut to the prompt length.</summary>
    Text,
}

/// <summary>
/// Soft prompt (prompt tuning, Lester et al., EMNLP 2021): n learned vectors concatenated in front of the input
/// embeddings. Shapes: embeddings [B, T, D] -> [B, n + T, D].
/// </summary>
public sealed class SoftPrompt : LearnableManipulation, ITokenManipulation
{
    private readonly Parameter prompt;
    private readonly string initialisation;

    public SoftPrompt(Tensor initial, string initialisation = "given vectors") : base("soft prompt")
    {
        if (initial.dim() != 2) throw new ArgumentException("A soft prompt is [tokens, hidden].");
        prompt = new Parameter(initial.detach().clone());
        register_parameter("prompt", prompt);
        this.initialisation = initialisation;
    }

    /// <summary>Lester et al.'s population for the vocabulary initialisation: the 5,000 most frequent tokens.</summary>
    public const int FrequentTokens = 5000;

    /// <summary>
    /// Creates n soft tokens for a model, initialised as asked; <paramref name="textTokenIds"/> is needed for
    /// <see cref="SoftPromptInit.Text"/>; <paramref name="order"/> says whether the tokenizer's ids are in frequency
    /// order (then <see cref="SoftPromptInit.Vocabulary"/> draws from the first <see cref="FrequentTokens"/> ids).
    /// </summary>
    public static SoftPrompt Create(ITokenModel model, int tokens, SoftPromptInit init, int seed, IReadOnlyList<long>? textTokenIds = null,
                                    VocabularyOrder order = VocabularyOrder.Unknown)
    {
        if (tokens <= 0) throw new ArgumentException($"A soft prompt needs at least one token, not {tokens}.");
        return new SoftPrompt(Initial(model, tokens, init, seed, textTokenIds, order), Describe(model, init, order));
    }

    /// <summary>How many ids the vocabulary initialisation draws from: the first 5,000 in frequency order, else all.</summary>
    public static int VocabularyPopulation(int vocabularySize, VocabularyOrder order) =>
        order == VocabularyOrder.ByFrequency ? Math.Min(FrequentTokens, vocabularySize) : vocabularySize;

    internal static Tensor Initial(ITokenModel model, int tokens, SoftPromptInit init, int seed, IReadOnlyList<long>? textTokenIds,
                                   VocabularyOrder order = VocabularyOrder.Unknown)
    {
        using var scope = NewDisposeScope();
        var table = model.TokenEmbeddings.detach();
        var generator = new Generator((ulong)seed, device: CPU);
        Tensor initial = init switch
        {
            SoftPromptInit.Random => normal(0, 0.02, [tokens, model.HiddenSize], generator: generator),
            SoftPromptInit.Vocabulary => table.cpu().index_select(0, SampleIds(VocabularyPopulation(model.VocabularySize, order), tokens, generator)),
            SoftPromptInit.Text => table.cpu().index_select(0, TextIds(textTokenIds, tokens)),
            _ => throw new ArgumentOutOfRangeException(nameof(init)),
        };
        return initial.to(table.device).MoveToOuterDisposeScope();
    }

    // Without replacement, as the authors' from_sample_of_embeddings; with replacement only when the prompt is longer than the population.
    private static Tensor SampleIds(int population, int tokens, Generator generator) =>
        tokens <= population ? randperm(population, generator: generator)[..tokens] : randint(population, [tokens], generator: generator);

    private static string Describe(ITokenModel model, SoftPromptInit init, VocabularyOrder order) => init switch
    {
        SoftPromptInit.Random => "random (normal, std 0.02)",
        SoftPromptInit.Vocabulary when order == VocabularyOrder.ByFrequency =>
            $"vocabulary: sampled from the {VocabularyPopulation(model.VocabularySize, order):N0} most frequent tokens (ids in frequency order)",
        SoftPromptInit.Vocabulary =>
            $"vocabulary: sampled from all {model.VocabularySize:N0} tokens (this tokenizer gives no frequency order)",
        _ => "text: the embeddings of the given text's tokens",
    };

    private static Tensor TextIds(IReadOnlyList<long>? ids, int tokens)
    {
        if (ids is null || ids.Count == 0) throw new ArgumentException("Initialising soft tokens from text needs the text's token ids; the text tokenised to nothing.");
        return tensor(Enumerable.Range(0, tokens).Select(i => ids[i % ids.Count]).ToArray());
    }

    public override Location Location => Location.Embedding;
    public override Operator Operator => Operator.Concatenative;
    public int Tokens => (int)prompt.shape[0];
    public Tensor Vectors => prompt;

    public Tensor Prepend(Tensor embeddings) =>
        cat([prompt.unsqueeze(0).expand(embeddings.shape[0], -1, -1), embeddings], 1);

    public int PositionsAdded => Tokens;

    public TokenInput Apply(TokenInput input, ITokenModel model)
    {
        var ones = input.Mask.new_ones(input.Mask.shape[0], Tokens);
        return input with
        {
            Embeddings = Prepend(input.Embeddings),
            Mask = cat([ones, input.Mask], 1),
            PromptMask = cat([ones, input.PromptMask], 1),
            Prepended = input.Prepended + Tokens,
        };
    }

    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["tokens"] = Tokens.ToString(), ["hidden"] = prompt.shape[1].ToString(), ["init"] = initialisation,
    };
}

/// <summary>
/// VPT-deep (Jia et al., ECCV 2022, Sec. 3.2 "Deep"): n learned vectors per layer. At the first layer they are
/// concatenated with the hidden states; at every later layer the prompt positions' states (the previous layer's output
/// there) are discarded and replaced by that layer's own vectors. Shapes: hidden [B, T, D] -> [B, n + T, D].
/// Deviations from the paper: the prompts go in front of the whole sequence (VPT puts them after [CLS]), start from
/// normal(0, 0.02) (VPT: uniform, Xavier-style from the patch size) and have no prompt dropout.
/// This is not P-tuning v2, which learns key/value prefixes (<see cref="PrefixTuning.PTuningV2"/>).
/// </summary>
public sealed class DeepPrompt : LearnableManipulation, IHiddenManipulation, ITokenManipulation
{
    private readonly Parameter prompts; // [layers, n, D]

    /// <summary>The manipulation's name in results and saved files.</summary>
    public const string DisplayName = "VPT-deep prompts";

    public DeepPrompt(ITokenModel model, int tokens, int seed) : base(DisplayName)
    {
        if (tokens <= 0) throw new ArgumentException($"Deep prompts need at least one token per layer, not {tokens}.");
        var generator = new Generator((ulong)seed, device: CPU);
        prompts = new Parameter(normal(0, 0.02, [model.Layers, tokens, model.HiddenSize], generator: generator).to(model.TokenEmbeddings.device));
        register_parameter("prompts", prompts);
    }

    public override Location Location => Location.Hidden;
    public override Operator Operator => Operator.Concatenative;
    public int Tokens => (int)prompts.shape[1];
    public int Layers => (int)prompts.shape[0];

    public Tensor LayerInput(int layer, Tensor hidden)
    {
        var own = prompts[layer].unsqueeze(0).expand(hidden.shape[0], -1, -1);
        return layer == 0
            ? cat([own, hidden], 1)
            : cat([own, hidden[.., Tokens..]], 1);
    }

    public (Tensor Keys, Tensor Values)? PrefixKeyValues(int layer, long batch) => null;

    public int PositionsAdded => Tokens;

    /// <summary>The prompts enter at layer 0 (the model grows its mask there), so the answer moves right by n positions.</summary>
    public TokenInput Apply(TokenInput input, ITokenModel model) => input with { Hidden = this, Prepended = input.Prepended + Tokens, GrownInside = input.GrownInside + Tokens };

    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["tokens"] = Tokens.ToString(), ["layers"] = Layers.ToString(), ["hidden"] = prompts.shape[2].ToString(),
    };
}

/// <summary>
/// Learned keys and values put in front of every layer's own, so every token attends to them; the sequence itself
/// keeps its length. Two published methods share this mechanism:
/// <list type="bullet">
/// <item>Prefix-tuning (Li and Liang, ACL 2021): the prefixes are an MLP of a smaller learned table, P = MLP(E),
/// E [n, D], MLP D -> 512 -> tanh -> layers * 2 * D (their reparameterisation for stable training, Sec. 4.3; the
/// authors' code XiangLi1999/PrefixTuning, gpt2/train_control.py: nn.Embedding(preseqlen, n_embd), Linear(n_embd,
/// mid_dim = 512), Tanh, Linear(mid_dim, n_layer * 2 * n_embd)). That is this class's default.</item>
/// <item>P-tuning v2 (Liu et al., ACL 2022): the per-layer prefixes learned directly, [layers, 2, n, D], no
/// reparameterisation (THUDM/P-tuning-v2, model/prefix_encoder.py with prefix_projection off:
/// nn.Embedding(pre_seq_len, layers * 2 * hidden)). Made by <see cref="PTuningV2"/>.</item>
/// </list>
/// Both initialise as the authors' nn.Embedding does: normal(0, 1); the MLP's linear layers as torch.nn.Linear.
/// Deviation: no dropout on the prefixes (P-tuning v2's code applies the model's hidden dropout, 0.1, to them).
/// </summary>
public sealed class PrefixTuning : LearnableManipulation, IHiddenManipulation, ITokenManipulation
{
    private readonly int layers, heads, headSize, tokens;
    private readonly Parameter? direct;          // [layers, 2, n, D]
    private readonly Parameter? table;           // [n, D]
    private readonly TorchSharp.Modules.Sequential? mlp;
    private Tensor? cached;                      // this forward's [layers, 2, n, D], computed at layer 0

    /// <summary>Li and Liang's reparameterisation MLP hidden size (mid_dim in their code).</summary>
    public const int PaperReparameterisation = 512;
    public const string PrefixTuningName = "prefix-tuning";
    public const string PTuningV2Name = "P-tuning v2 (per-layer prefixes)";

    /// <summary>
    /// Prefix-tuning with n prefix positions per layer; reparameterised through an MLP of hidden size
    /// <paramref name="reparameterisationSize"/> (default: the paper's 512), or learned directly when it is null.
    /// </summary>
    public PrefixTuning(ITokenModel model, int tokens, int seed, int? reparameterisationSize = PaperReparameterisation)
        : this(model, tokens, seed, reparameterisationSize, reparameterisationSize is null ? PrefixTuningName + " (no reparameterisation)" : PrefixTuningName)
    {
    }

    private PrefixTuning(ITokenModel model, int tokens, int seed, int? reparameterisationSize, string name) : base(name)
    {
        if (tokens <= 0) throw new ArgumentException($"{name} needs at least one prefix position, not {tokens}.");
        if (reparameterisationSize is <= 0) throw new ArgumentException($"The reparameterisation MLP needs a positive hidden size, not {reparameterisationSize}.");
        (layers, heads, headSize, this.tokens) = (model.Layers, model.Heads, model.HiddenSize / model.Heads, tokens);
        var d = model.HiddenSize;
        var device = model.TokenEmbeddings.device;
        var generator = new Generator((ulong)seed, device: CPU);
        if (reparameterisationSize is { } r)
        {
            table = new Parameter(normal(0, 1, [tokens, d], generator: generator).to(device));
            register_parameter("table", table);
            manual_seed(seed);
            mlp = nn.Sequential(nn.Linear(d, r), nn.Tanh(), nn.Linear(r, layers * 2 * d));
            mlp.to(device);
            register_module("mlp", mlp);
        }
        else
        {
            direct = new Parameter(normal(0, 1, [layers, 2, tokens, d], generator: generator).to(device));
            register_parameter("prefixes", direct);
        }
    }

    /// <summary>P-tuning v2 (Liu et al., ACL 2022): per-layer key/value prefixes learned directly, no reparameterisation.</summary>
    public static PrefixTuning PTuningV2(ITokenModel model, int tokens, int seed) => new(model, tokens, seed, null, PTuningV2Name);

    public override Location Location => Location.Hidden;
    public override Operator Operator => Operator.Concatenative;
    public int Tokens => tokens;
    public int Layers => layers;
    public bool Reparameterised => mlp is not null;
    /// <summary>The reparameterisation MLP's hidden size, or null when the prefixes are learned directly.</summary>
    public int? ReparameterisationSize => mlp is null ? null : (int)((TorchSharp.Modules.Linear)mlp[0]).weight!.shape[0];

    public Tensor LayerInput(int layer, Tensor hidden) => hidden;

    public int PositionsAdded => 0;
    /// <summary>Every query attends over the n prefix keys and values of each layer.</summary>
    public int PositionsAttended => tokens;

    /// <summary>Prefixes take no position: the sequence keeps its length.</summary>
    public TokenInput Apply(TokenInput input, ITokenModel model) => input with { Hidden = this };

    /// <summary>All prefixes of this forward pass, [layers, 2 (keys, values), n, D].</summary>
    public Tensor Prefixes() => direct ?? mlp!.forward(table!).view(tokens, layers, 2, heads * headSize).permute(1, 2, 0, 3);

    public (Tensor Keys, Tensor Values)? PrefixKeyValues(int layer, long batch)
    {
        if (layer == 0 || cached is null)
        {
            cached = Prefixes();
        }
        var kv = cached[layer].view(2, tokens, heads, headSize).permute(0, 2, 1, 3); // [2, H, n, hd]
        return (kv[0].unsqueeze(0).expand(batch, -1, -1, -1), kv[1].unsqueeze(0).expand(batch, -1, -1, -1));
    }

    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["tokens"] = tokens.ToString(), ["layers"] = layers.ToString(), ["heads"] = heads.ToString(),
        ["reparameterised"] = Reparameterised.ToString(),
        ["reparameterisation hidden"] = ReparameterisationSize?.ToString() ?? "none",
    };
}
