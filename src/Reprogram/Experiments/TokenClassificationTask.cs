using Reprogram.Alignments;
using Reprogram.Frozen;
using Reprogram.Manipulations;
using Reprogram.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>
/// Prompt tuning of a frozen token model for classification: each text [T] (right-padded, with its length) goes
/// through the learned prompt (soft prompt, deep prompts or prefixes) and the model; the next-token logits at the
/// last real position are aligned to the classes (a verbalizer), and the loss is cross-entropy.
/// </summary>
public sealed class TokenClassificationTask<TModel> : ITrainingTask where TModel : nn.Module, ITokenModel
{
    private readonly FrozenModel<TModel> frozen;
    private readonly LearnableManipulation prompt;
    private readonly IOutputAlignment alignment;
    private readonly Tensor tokens, lengths, labels;

    public TokenClassificationTask(FrozenModel<TModel> frozen, LearnableManipulation prompt, IOutputAlignment alignment,
                                   Tensor tokens, Tensor lengths, Tensor labels)
    {
        if (prompt is not (SoftPrompt or IHiddenManipulation))
        {
            throw new ArgumentException($"{prompt.Name} is not a prompt for a token model (soft prompt, deep prompts or prefix-tuning).");
        }
        this.frozen = frozen;
        this.prompt = prompt;
        this.alignment = alignment;
        this.tokens = tokens;
        this.lengths = lengths;
        this.labels = labels;
        prompt.to(frozen.Device);
        (alignment as nn.Module)?.to(frozen.Device);
        TrainableParameters = prompt.parameters().Concat((alignment as nn.Module)?.parameters() ?? [])
            .Where(p => p.requires_grad).ToArray();
    }

    public IReadOnlyList<Parameter> TrainableParameters { get; }
    public int ExampleCount => (int)tokens.shape[0];

    public void BeforeEpoch(int epoch) { }

    public BatchOutput Step(long[] indices)
    {
        using var index = tensor(indices);
        var y = labels.index_select(0, index).to(frozen.Device);
        var scores = Scores(tokens.index_select(0, index), lengths.index_select(0, index));
        var loss = nn.functional.cross_entropy(scores, y);
        var correct = scores.argmax(-1).eq(y).sum().item<long>();
        return new BatchOutput(loss, correct, indices.Length, lengths.index_select(0, index).sum().item<long>());
    }

    /// <summary>Class scores [B, classes] for a batch of token ids [B, T] with their lengths [B].</summary>
    public Tensor Scores(Tensor batchTokens, Tensor batchLengths)
    {
        var ids = batchTokens.to(frozen.Device);
        var lens = batchLengths.to(frozen.Device);
        var mask = arange(ids.shape[1], device: frozen.Device).unsqueeze(0).lt(lens.unsqueeze(1)).to(ScalarType.Int64);
        var embeddings = frozen.Model.Embed(ids);
        Tensor logits;
        long shift;
        switch (prompt)
        {
            case SoftPrompt soft:
                embeddings = soft.Prepend(embeddings);
                mask = cat([ones(ids.shape[0], soft.Tokens, dtype: ScalarType.Int64, device: frozen.Device), mask], 1);
                logits = frozen.Model.ForwardEmbeddings(embeddings, null, mask);
                shift = soft.Tokens;
                break;
            case DeepPrompt deep:
                logits = frozen.Model.ForwardEmbeddings(embeddings, deep, mask);
                shift = deep.Tokens;
                break;
            default:
                logits = frozen.Model.ForwardEmbeddings(embeddings, (IHiddenManipulation)prompt, mask);
                shift = 0;
                break;
        }
        var last = (lens - 1 + shift).view(-1, 1, 1).expand(-1, 1, logits.shape[2]);
        return alignment.Map(logits.gather(1, last).squeeze(1));
    }

    public double Accuracy(Tensor testTokens, Tensor testLengths, Tensor testLabels)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return Scores(testTokens, testLengths).argmax(-1).cpu().eq(testLabels.cpu()).to(ScalarType.Float32).mean().item<float>();
    }
}
