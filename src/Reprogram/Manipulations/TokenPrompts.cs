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
    /// <summary>Embeddings of vocabulary tokens drawn at random (seeded).</summary>
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

    public SoftPrompt(Tensor initial) : base("soft prompt")
    {
        if (initial.dim() != 2) throw new ArgumentException("A soft prompt is [tokens, hidden].");
        prompt = new Parameter(initial.detach().clone());
        register_parameter("prompt", prompt);
    }

    /// <summary>Creates n soft tokens for a model, initialised as asked; <paramref name="textTokenIds"/> is needed for <see cref="SoftPromptInit.Text"/>.</summary>
    public static SoftPrompt Create(ITokenModel model, int tokens, SoftPromptInit init, int seed, IReadOnlyList<long>? textTokenIds = null)
    {
        if (tokens <= 0) throw new ArgumentException($"A soft prompt needs at least one token, not {tokens}.");
        return new SoftPrompt(Initial(model, tokens, init, seed, textTokenIds));
    }

    internal static Tensor Initial(ITokenModel model, int tokens, SoftPromptInit init, int seed, IReadOnlyList<long>? textTokenIds)
    {
        using var scope = NewDisposeScope();
        var table = model.TokenEmbeddings.detach();
        var generator = new Generator((ulong)seed, device: CPU);
        Tensor initial = init switch
        {
            SoftPromptInit.Random => normal(0, 0.02, [tokens, model.HiddenSize], generator: generator),
            SoftPromptInit.Vocabulary => table.cpu().index_select(0, randint(model.VocabularySize, [tokens], generator: generator)),
            SoftPromptInit.Text => table.cpu().index_select(0, TextIds(textTokenIds, tokens)),
            _ => throw new ArgumentOutOfRangeException(nameof(init)),
        };
        return initial.to(table.device).MoveToOuterDisposeScope();
    }

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
        ["tokens"] = Tokens.ToString(), ["hidden"] = prompt.shape[1].ToString(),
    };
}

/// <summary>
/// Deep prompts (P-tuning v2, Liu et al. ACL 2022; VPT-deep, Jia et al. ECCV 2022): n learned vectors per layer. At the
/// first layer they are concatenated in front of the hidden states; at every later layer the prompt positions' states
/// are replaced by that layer's own vectors. Shapes: hidden [B, T, D] -> [B, n + T, D].
/// </summary>
public sealed class DeepPrompt : LearnableManipulation, IHiddenManipulation, ITokenManipulation
{
    private readonly Parameter prompts; // [layers, n, D]

    public DeepPrompt(ITokenModel model, int tokens, int seed) : base("deep prompts (P-tuning v2)")
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
/// Prefix-tuning (Li and Liang, ACL 2021): learned keys and values put in front of every layer's own, so every token
/// attends to them; the sequence itself keeps its length. With reparameterisation (the paper's stabiliser) the prefixes
/// are an MLP of a smaller learned table: P = MLP(E), E [n, D], MLP D -> r -> layers * 2 * D.
/// </summary>
public sealed class PrefixTuning : LearnableManipulation, IHiddenManipulation, ITokenManipulation
{
    private readonly int layers, heads, headSize, tokens;
    private readonly Parameter? direct;          // [layers, 2, n, D]
    private readonly Parameter? table;           // [n, D]
    private readonly TorchSharp.Modules.Sequential? mlp;
    private Tensor? cached;                      // this forward's [layers, 2, n, D], computed at layer 0

    public PrefixTuning(ITokenModel model, int tokens, int seed, int? reparameterisationSize = null) : base("prefix-tuning")
    {
        if (tokens <= 0) throw new ArgumentException($"Prefix-tuning needs at least one prefix position, not {tokens}.");
        (layers, heads, headSize, this.tokens) = (model.Layers, model.Heads, model.HiddenSize / model.Heads, tokens);
        var d = model.HiddenSize;
        var device = model.TokenEmbeddings.device;
        var generator = new Generator((ulong)seed, device: CPU);
        if (reparameterisationSize is { } r)
        {
            table = new Parameter(normal(0, 0.02, [tokens, d], generator: generator).to(device));
            register_parameter("table", table);
            manual_seed(seed);
            mlp = nn.Sequential(nn.Linear(d, r), nn.Tanh(), nn.Linear(r, layers * 2 * d));
            mlp.to(device);
            register_module("mlp", mlp);
        }
        else
        {
            direct = new Parameter(normal(0, 0.02, [layers, 2, tokens, d], generator: generator).to(device));
            register_parameter("prefixes", direct);
        }
    }

    public override Location Location => Location.Hidden;
    public override Operator Operator => Operator.Concatenative;
    public int Tokens => tokens;
    public bool Reparameterised => mlp is not null;

    public Tensor LayerInput(int layer, Tensor hidden) => hidden;

    public int PositionsAdded => 0;
    /// <summary>Every query attends over the n prefix keys and values of each layer.</summary>
    public int PositionsAttended => tokens;

    /// <summary>Prefixes take no position: the sequence keeps its length.</summary>
    public TokenInput Apply(TokenInput input, ITokenModel model) => input with { Hidden = this };

    public (Tensor Keys, Tensor Values)? PrefixKeyValues(int layer, long batch)
    {
        if (layer == 0 || cached is null)
        {
            cached = direct ?? mlp!.forward(table!).view(tokens, layers, 2, heads * headSize).permute(1, 2, 0, 3);
        }
        var kv = cached[layer].view(2, tokens, heads, headSize).permute(0, 2, 1, 3); // [2, H, n, hd]
        return (kv[0].unsqueeze(0).expand(batch, -1, -1, -1), kv[1].unsqueeze(0).expand(batch, -1, -1, -1));
    }

    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["tokens"] = tokens.ToString(), ["layers"] = layers.ToString(), ["heads"] = heads.ToString(),
        ["reparameterised"] = Reparameterised.ToString(),
    };
}
