using Reprogram.Frozen;
using Reprogram.Taxonomy;
using TorchSharp;
using static TorchSharp.torch;
using TorchSharp.Modules;

namespace Reprogram.Manipulations;

/// <summary>
/// Model reprogramming of a language model with discrete input tokens (learnable · input · concatenative): k vocabulary
/// tokens put in front of the text, each chosen by learned logits theta [k, V]. Training uses the straight-through
/// Gumbel-softmax (Jang et al. 2017), as Neekhara et al. (EMNLP 2019) train their discrete adversarial program: the
/// forward pass reads the one-hot sample's embedding, the gradient flows through the relaxed sample. Evaluation reads the
/// argmax tokens, so the learned prompt is real text that can be printed. Deviation: Neekhara et al. remap the input's own
/// tokens (a parametric operator); this prompt adds tokens in front of them.
/// </summary>
public sealed class DiscretePrompt : LearnableManipulation, ITokenManipulation
{
    private readonly Parameter logits;               // [k, V]
    private readonly Generator noise;

    public DiscretePrompt(ITokenModel model, int tokens, int seed, double temperature = 1.0) : base("discrete prompt (Gumbel-softmax)")
    {
        if (tokens < 1) throw new ArgumentException($"A discrete prompt needs at least one token, not {tokens}.");
        if (!(temperature > 0)) throw new ArgumentException($"The Gumbel-softmax temperature must be positive, not {temperature}.");
        Temperature = temperature;
        noise = new Generator((ulong)seed + 17, device: CPU);
        var g = new Generator((ulong)seed, device: CPU);
        logits = new Parameter(normal(0, 0.01, [tokens, model.VocabularySize], generator: g).to(model.TokenEmbeddings.device));
        register_parameter("logits", logits);
    }

    public override Location Location => Location.Input;
    public override Operator Operator => Operator.Concatenative;
    public int Tokens => (int)logits.shape[0];
    public int PositionsAdded => Tokens;
    public double Temperature { get; }

    /// <summary>The tokens the prompt reads at evaluation [k].</summary>
    public long[] TokenIds()
    {
        using var _ = no_grad();
        using var ids = logits.argmax(-1).cpu();
        return ids.data<long>().ToArray();
    }

    public TokenInput Apply(TokenInput input, ITokenModel model)
    {
        Tensor weights;                                                                                            // [k, V]
        if (training && is_grad_enabled())
        {
            var uniform = rand(logits.shape, generator: noise).to(logits.device).clamp(1e-9, 1 - 1e-9);
            var soft = nn.functional.softmax((logits - (-uniform.log()).log()) / Temperature, -1);
            var hard = nn.functional.one_hot(soft.argmax(-1), logits.shape[1]).to(soft.dtype);
            weights = hard - soft.detach() + soft;
        }
        else
        {
            weights = nn.functional.one_hot(logits.argmax(-1), logits.shape[1]).to(logits.dtype);
        }
        var prompt = weights.matmul(model.TokenEmbeddings).unsqueeze(0).expand(input.Embeddings.shape[0], -1, -1);  // [B, k, D]
        var ones = input.Mask.new_ones(input.Mask.shape[0], Tokens);
        return input with
        {
            Embeddings = cat([prompt.to(input.Embeddings.dtype), input.Embeddings], 1),
            Mask = cat([ones, input.Mask], 1),
            PromptMask = cat([ones, input.PromptMask], 1),
            Prepended = input.Prepended + Tokens,
        };
    }

    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["tokens"] = Tokens.ToString(), ["vocabulary"] = logits.shape[1].ToString(),
        ["training"] = $"straight-through Gumbel-softmax, temperature {Temperature}", ["evaluation"] = "argmax tokens",
    };
}
