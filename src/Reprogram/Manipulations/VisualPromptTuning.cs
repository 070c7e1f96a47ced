using Reprogram.Frozen;
using Reprogram.Taxonomy;
using TorchSharp;
using static TorchSharp.torch;
using TorchSharp.Modules;

namespace Reprogram.Manipulations;

/// <summary>VPT's settings; the defaults are the authors' (KMnP/vpt, src/configs/config.py: NUM_TOKENS 5, DEEP False).</summary>
/// <param name="Tokens">Prompt tokens (per layer for VPT-deep).</param>
/// <param name="Deep">VPT-deep (prompts at every layer) rather than VPT-shallow (at the embeddings only).</param>
public sealed record VptOptions(int Tokens = 5, bool Deep = false);

/// <summary>
/// Visual Prompt Tuning (Jia et al., ECCV 2022) on a frozen patch-token model. VPT-shallow: n learned tokens are
/// inserted after the class token of the embedded sequence, [cls; P; patches] (after position embeddings, which the
/// prompts do not get). VPT-deep: as shallow at the first layer, and at the input of every later layer i the prompt
/// positions' states are replaced by that layer's own learned tokens, [cls; P_i; patches]. The model reads its output
/// at the class token, so a (new) linear head on it is VPT's alignment.
/// Initialisation as the authors' code (KMnP/vpt, src/models/vit_prompt/vit.py): uniform(-v, v) with
/// v = sqrt(6 / (3 · p² + D)) (Xavier uniform over a patch's fan-in and the width); no prompt projection, no prompt
/// dropout (their defaults PROJECT -1, DROPOUT 0.0). On CLIP's image tower the prompts go in before its pre-LayerNorm,
/// as MaPLe's and CoOp-family VPT baselines attach them after the position embeddings.
/// Shapes: tokens [B, 1 + N, D] -> [B, 1 + n + N, D]; prompts [1 or layers, n, D].
/// </summary>
public sealed class VisualPromptTuning : LearnableManipulation, IHiddenManipulation, IPatchTokenManipulation
{
    private readonly Parameter prompts;          // [layers (deep) or 1 (shallow), n, D]

    public bool Deep { get; }
    public int Tokens => (int)prompts.shape[1];
    public int Width => (int)prompts.shape[2];
    /// <summary>The bound of the uniform initialisation, sqrt(6 / (channels · p² + D)).</summary>
    public double InitBound { get; }

    public VisualPromptTuning(IPatchTokenModel model, VptOptions options, int seed) : base(options.Deep ? "VPT-deep" : "VPT-shallow")
    {
        if (options.Tokens < 1) throw new ArgumentException($"VPT needs at least one prompt token, not {options.Tokens}.");
        Deep = options.Deep;
        InitBound = Math.Sqrt(6.0 / (model.InputChannels * model.PatchSize * model.PatchSize + model.HiddenSize));
        // On the model's device (seeded on the CPU, so that a seed gives the same prompts on any device).
        var device = (model as nn.Module)?.parameters().FirstOrDefault()?.device ?? CPU;
        using (NewDisposeScope())
        {
            var generator = new Generator((ulong)seed, device: CPU);
            var initial = rand([Deep ? model.Layers : 1, options.Tokens, model.HiddenSize], generator: generator) * (2 * InitBound) - InitBound;
            prompts = new Parameter(initial.to(device).DetachFromDisposeScope());
        }
        register_parameter("prompts", prompts);
    }

    /// <summary>VPT for a model, or an <see cref="ArgumentException"/> naming why the model cannot take it.</summary>
    public static VisualPromptTuning Create(object model, VptOptions? options = null, int seed = 0)
    {
        options ??= new VptOptions();
        return new VisualPromptTuning(ModelRequirements.PatchTokens(model, options.Deep ? "VPT-deep" : "VPT-shallow"), options, seed);
    }

    public override Location Location => Deep ? Location.Hidden : Location.Embedding;
    public override Operator Operator => Operator.Concatenative;
    /// <summary>The learned tokens, [layers or 1, n, D].</summary>
    public Tensor Prompts => prompts;

    /// <summary>The embedding-level insertion: [cls; patches] [B, 1 + N, D] -> [cls; P_0; patches] [B, 1 + n + N, D].</summary>
    public Tensor Insert(Tensor tokens)
    {
        var b = tokens.shape[0];
        return cat([tokens[.., ..1], prompts[0].unsqueeze(0).expand(b, -1, -1), tokens[.., 1..]], 1);
    }

    /// <summary>VPT-deep: layer i ≥ 1 gets its own prompts in place of the previous layer's outputs at their positions.</summary>
    public Tensor LayerInput(int layer, Tensor hidden)
    {
        if (!Deep || layer == 0) return hidden;
        var b = hidden.shape[0];
        return cat([hidden[.., ..1], prompts[layer].unsqueeze(0).expand(b, -1, -1), hidden[.., (1 + Tokens)..]], 1);
    }

    public (Tensor Keys, Tensor Values)? PrefixKeyValues(int layer, long batch) => null;

    /// <summary>The frozen model's output [B, OutputSize] for pixels [B, C, S, S] with the prompts in.</summary>
    public Tensor Forward(IPatchTokenModel model, Tensor images)
    {
        if (Width != model.HiddenSize || (Deep && prompts.shape[0] != model.Layers))
        {
            throw new ArgumentException($"The prompts are {Width} wide for {prompts.shape[0]} layer(s), the model's tokens {model.HiddenSize} wide in {model.Layers} layers: " +
                                        "they were made for another model.");
        }
        return model.ForwardEmbeddings(Insert(model.Embed(images)), Deep ? this : null);
    }

    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["tokens"] = Tokens.ToString(), ["deep"] = Deep.ToString(), ["layers prompted"] = prompts.shape[0].ToString(),
        ["width"] = Width.ToString(), ["init"] = $"uniform ±{InitBound:G4}", ["projection"] = "none", ["dropout"] = "0",
    };
}
