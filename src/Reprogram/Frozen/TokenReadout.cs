using Reprogram.Manipulations;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Frozen;

/// <summary>
/// What a token model's output is read as, under a token-level manipulation, with gradients flowing to the manipulation:
/// next-token log-probabilities after a prompt (a decoder's output), the log-likelihood of whole answers after a prompt
/// (label words), or the mean of an encoder's output. Rows are right-padded; the manipulation may put positions in front.
/// </summary>
public static class TokenReadout
{
    /// <summary>Token rows, right-padded: ids [B, T] and mask [B, T] (1 = real).</summary>
    public static (Tensor Ids, Tensor Mask) Pad(IReadOnlyList<long[]> rows, Device device)
    {
        if (rows.Count == 0) throw new ArgumentException("No rows to read.");
        if (rows.Any(r => r.Length == 0)) throw new ArgumentException("A row encodes to no tokens: there is nothing for the model to read.");
        var width = rows.Max(r => r.Length);
        var ids = new long[rows.Count * width];
        var mask = new long[rows.Count * width];
        for (var i = 0; i < rows.Count; i++)
        {
            rows[i].CopyTo(ids, i * width);
            Array.Fill(mask, 1, i * width, rows[i].Length);
        }
        return (tensor(ids, [rows.Count, width], device: device), tensor(mask, [rows.Count, width], device: device));
    }

    /// <summary>
    /// Rows through the manipulation and the model: the output [B, T', V or D] and the input as manipulated. The first
    /// <paramref name="promptLengths"/>[b] tokens of row b are its prompt, the rest an answer being scored.
    /// </summary>
    public static (Tensor Output, TokenInput Input) Forward(ITokenModel model, ITokenManipulation? manipulation, IReadOnlyList<long[]> rows,
                                                           IReadOnlyList<int> promptLengths)
    {
        var added = manipulation?.PositionsAdded ?? 0;
        var longest = rows.Max(r => r.Length) + added;
        if (longest > model.MaxPositions)
        {
            throw new ArgumentException($"A prompt and its answer take {longest} positions{(added > 0 ? $" ({added} of them the manipulation's)" : "")}, " +
                                        $"more than the model's {model.MaxPositions}.");
        }
        var device = model.TokenEmbeddings.device;
        var (ids, mask) = Pad(rows, device);
        var lengths = tensor(promptLengths.Select(l => (long)l).ToArray(), device: device);
        var promptMask = arange(ids.shape[1], device: device).unsqueeze(0).lt(lengths.unsqueeze(1)).to(ScalarType.Int64);   // [B, T]
        var input = new TokenInput(model.Embed(ids), mask, promptMask);
        if (manipulation is not null) input = manipulation.Apply(input, model);
        return (model.ForwardEmbeddings(input.Embeddings, input.Hidden, input.Mask), input);
    }

    /// <summary>Log-probabilities of the token after each prompt [B, V]: a decoder's output at the answer position.</summary>
    public static Tensor NextTokenLogProbs(ITokenModel model, ITokenManipulation? manipulation, IReadOnlyList<long[]> prompts)
    {
        var (logits, input) = Forward(model, manipulation, prompts, prompts.Select(p => p.Length).ToArray());       // [B, T', V]
        var at = tensor(prompts.Select(p => (long)(p.Length - 1 + input.Prepended)).ToArray(), device: logits.device);
        var last = logits.gather(1, at.view(-1, 1, 1).expand(-1, 1, logits.shape[2])).squeeze(1);                 // [B, V]
        return nn.functional.log_softmax(last.to(ScalarType.Float32), -1);
    }

    /// <summary>
    /// The log-likelihood of each class's answer after each prompt [B, C]: the sum over the answer's tokens of
    /// log p(token | prompt, earlier answer tokens). <paramref name="answers"/>[b][c] are the tokens of class c's answer
    /// for row b. One row per prompt when every answer is one token; one row per (prompt, class) otherwise.
    /// </summary>
    public static Tensor AnswerLogLikelihood(ITokenModel model, ITokenManipulation? manipulation, IReadOnlyList<long[]> prompts,
                                             IReadOnlyList<IReadOnlyList<long[]>> answers)
    {
        var (b, c) = (prompts.Count, answers[0].Count);
        if (answers.Any(a => a.Count != c)) throw new ArgumentException("Every prompt needs the same number of answers.");
        if (answers.Any(a => a.Any(t => t.Length == 0))) throw new ArgumentException("An answer encodes to no tokens.");
        var device = model.TokenEmbeddings.device;
        if (answers.All(a => a.All(t => t.Length == 1)))
        {
            var firsts = tensor(answers.SelectMany(a => a.Select(t => t[0])).ToArray(), [b, c], device: device);
            return NextTokenLogProbs(model, manipulation, prompts).gather(1, firsts);
        }
        var rows = new List<long[]>(b * c);
        var promptLengths = new List<int>(b * c);
        for (var i = 0; i < b; i++)
        {
            for (var j = 0; j < c; j++)
            {
                rows.Add([.. prompts[i], .. answers[i][j][..^1]]);
                promptLengths.Add(prompts[i].Length);
            }
        }
        var (logits, input) = Forward(model, manipulation, rows, promptLengths);                                   // [B*C, T', V]
        // Answer token k of row r is predicted at position promptLength - 1 + k (+ the positions put in front).
        var reads = new List<(long Row, long Position, long Target)>();
        for (var r = 0; r < rows.Count; r++)
        {
            var answer = answers[r / c][r % c];
            for (var k = 0; k < answer.Length; k++) reads.Add((r, promptLengths[r] - 1 + k + input.Prepended, answer[k]));
        }
        var width = logits.shape[1];
        var flat = logits.reshape(-1, logits.shape[2]);                                                            // [B*C*T', V]
        var at = tensor(reads.Select(x => x.Row * width + x.Position).ToArray(), device: device);
        var targets = tensor(reads.Select(x => x.Target).ToArray(), device: device);
        var logp = nn.functional.log_softmax(flat.index_select(0, at).to(ScalarType.Float32), -1).gather(1, targets.unsqueeze(1)).squeeze(1);
        var owner = tensor(reads.Select(x => x.Row).ToArray(), device: device);
        return zeros(rows.Count, device: device).index_add(0, owner, logp, 1).view(b, c);
    }

    /// <summary>The mean of an encoder's output over its real positions [B, D] (inserted prompt positions included).</summary>
    public static Tensor MeanPooled(ITokenModel model, ITokenManipulation? manipulation, IReadOnlyList<long[]> rows)
    {
        var (hidden, input) = Forward(model, manipulation, rows, rows.Select(r => r.Length).ToArray());            // [B, T', D]
        var mask = input.OutputMask.unsqueeze(-1).to(hidden.dtype);
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1);
    }
}
