using Reprogram.Frozen;
using Reprogram.Taxonomy;
using TorchSharp;
using static TorchSharp.torch;
using TorchSharp.Modules;

namespace Reprogram.Manipulations;

/// <summary>
/// Model reprogramming of a language model at its embedding interface: a learned perturbation added to the input token
/// embeddings at every prompt position, delta [positions, D] (x_t + delta_t), the text analogue of an image watermark
/// prompt (learnable · embedding · additive). It adds no position, so its capacity is the prompt's length; answer tokens
/// being scored are left as they are. Starts at zero (the unmanipulated model).
/// </summary>
public sealed class EmbeddingPerturbation : LearnableManipulation, ITokenManipulation
{
    private readonly Parameter delta;

    public EmbeddingPerturbation(ITokenModel model, int positions) : base("embedding perturbation")
    {
        if (positions < 1 || positions > model.MaxPositions)
        {
            throw new ArgumentException($"An embedding perturbation covers 1 to {model.MaxPositions} positions, not {positions}.");
        }
        delta = new Parameter(zeros(positions, model.HiddenSize, device: model.TokenEmbeddings.device));
        register_parameter("delta", delta);
    }

    public override Location Location => Location.Embedding;
    public override Operator Operator => Operator.Additive;
    public int Positions => (int)delta.shape[0];
    public Tensor Delta => delta;
    public int PositionsAdded => 0;

    public TokenInput Apply(TokenInput input, ITokenModel model)
    {
        var t = input.Embeddings.shape[1];
        var covered = Math.Min(t, Positions);
        var d = delta.narrow(0, 0, covered);
        if (covered < t) d = cat([d, zeros(t - covered, delta.shape[1], device: delta.device)], 0);                // [T, D]
        var where = input.PromptMask.unsqueeze(-1).to(input.Embeddings.dtype);                                       // [B, T, 1]
        return input with { Embeddings = input.Embeddings + where * d.unsqueeze(0) };
    }

    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["positions"] = Positions.ToString(), ["hidden"] = delta.shape[1].ToString(), ["init"] = "zeros",
    };
}
