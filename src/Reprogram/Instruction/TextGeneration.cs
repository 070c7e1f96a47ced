using Microsoft.Extensions.AI;
using Reprogram.Models.Causal;
using static TorchSharp.torch;

namespace Reprogram.Instruction;

/// <summary>How answers are generated: length, sampling (temperature 0 = greedy), the seed of sampling, stop sequences.</summary>
public sealed record GenerationSettings(int MaxNewTokens, double Temperature = 0, int? TopK = null, long Seed = 0, IReadOnlyList<string>? Stop = null);

/// <summary>Writes continuations of prompts: a local model in batches, or a chat model one request at a time.</summary>
public interface ITextGenerator
{
    string Name { get; }
    /// <summary>One continuation per prompt (cut right after the first stop sequence, which it keeps).</summary>
    IReadOnlyList<string> Generate(IReadOnlyList<string> prompts, GenerationSettings settings, CancellationToken cancellationToken = default);
    /// <summary>Tokens read and written so far (prompt positions plus generated tokens).</summary>
    long TokensProcessed { get; }
}

/// <summary>
/// Batched generation with a local decoder and its key/value cache: prompts are left-padded into batches and decoded
/// together until every row has written a stop sequence or an end token (<paramref name="endTokens"/>: a chat model's
/// end of turn or EOS, which is not kept), or the length runs out. Sampling draws from one generator seeded per batch,
/// so a run repeats exactly.
/// </summary>
public sealed class LocalTextGenerator(ICausalLm model, Func<string, long[]> encode, Func<IEnumerable<long>, string> decode, string name, int batchSize = 64,
    IReadOnlyCollection<long>? endTokens = null)
    : ITextGenerator
{
    public string Name => name;
    public long TokensProcessed { get; private set; }

    public IReadOnlyList<string> Generate(IReadOnlyList<string> prompts, GenerationSettings settings, CancellationToken cancellationToken = default)
    {
        var results = new string[prompts.Count];
        var encoded = prompts.Select(encode).ToArray();
        var longest = encoded.Max(e => e.Length);
        if (encoded.Any(e => e.Length == 0)) throw new ArgumentException("A prompt encodes to no tokens: there is nothing to continue.");
        if (longest >= model.MaxPositions)
        {
            throw new ArgumentException($"A prompt of {longest} tokens does not fit {name}'s {model.MaxPositions} positions (fewer shots, or a shorter template).");
        }
        // Batches of similar lengths waste the least padding; the order inside the batch does not change a row's tokens.
        var order = Enumerable.Range(0, prompts.Count).OrderBy(i => encoded[i].Length).ThenBy(i => i).ToArray();
        var batchIndex = 0;
        foreach (var batch in order.Chunk(batchSize))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var texts = GenerateBatch(batch.Select(i => encoded[i]).ToArray(), settings, settings.Seed + batchIndex++, cancellationToken);
            for (var i = 0; i < batch.Length; i++) results[batch[i]] = texts[i];
        }
        return results;
    }

    private string[] GenerateBatch(long[][] prompts, GenerationSettings settings, long seed, CancellationToken cancellationToken)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var device = model.TokenEmbeddings.device;
        var (n, width) = (prompts.Length, prompts.Max(p => p.Length));
        var steps = Math.Min(settings.MaxNewTokens, model.MaxPositions - width);
        var ids = new long[n * width];
        var mask = new long[n * width];
        for (var i = 0; i < n; i++)
        {
            var pad = width - prompts[i].Length;
            prompts[i].CopyTo(ids, i * width + pad);
            for (var k = pad; k < width; k++) mask[i * width + k] = 1;
        }
        var generator = settings.Temperature > 0 ? new Generator((ulong)seed, device: CPU) : null;
        using var cache = new KvCache(model.Layers);
        var next = tensor(ids, [n, width], device: device);
        var attention = tensor(mask, [n, width], device: device);
        var written = Enumerable.Range(0, n).Select(_ => new List<long>()).ToArray();
        var done = new bool[n];
        TokensProcessed += prompts.Sum(p => p.Length);
        for (var step = 0; step < steps && !done.All(d => d); step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Runtime.Cancellation.ThrowIfRequested();
            using var stepScope = NewDisposeScope();
            var logits = model.Forward(next, cache, attention, lastPositions: 1)[.., -1];               // [N, V]
            // The same token choice as CausalLm.Generate and the chat adapter.
            var token = CausalLm.NextToken(logits, settings.Temperature, settings.TopK, generator).squeeze(1);
            var values = token.cpu().data<long>().ToArray();
            for (var i = 0; i < n; i++)
            {
                if (done[i]) continue;
                TokensProcessed++;
                if (endTokens is not null && endTokens.Contains(values[i]))
                {
                    done[i] = true;
                    continue;
                }
                written[i].Add(values[i]);
                if (settings.Stop is { Count: > 0 } stop && stop.Any(s => s.Length > 0 && decode(written[i]).Contains(s, StringComparison.Ordinal))) done[i] = true;
            }
            // Rows that are done keep decoding (the batch moves together); their tokens are not kept.
            next = token.to(ScalarType.Int64).to(device).unsqueeze(1).MoveToOuterDisposeScope();
            attention = cat([attention, ones(n, 1, dtype: attention.dtype, device: device)], 1).MoveToOuterDisposeScope();
        }
        return written.Select(w => Cut(decode(w), settings.Stop)).ToArray();
    }

    /// <summary>The text up to and including the first stop sequence.</summary>
    public static string Cut(string text, IReadOnlyList<string>? stop)
    {
        if (stop is null) return text;
        var end = stop.Where(s => s.Length > 0).Select(s => (At: text.IndexOf(s, StringComparison.Ordinal), s.Length))
            .Where(p => p.At >= 0).OrderBy(p => p.At).Select(p => p.At + p.Length).DefaultIfEmpty(text.Length).First();
        return text[..end];
    }
}

/// <summary>
/// Generation through a chat model (<see cref="IChatClient"/>: a remote OpenAI-compatible or Ollama endpoint, or a
/// local model behind an adapter): each prompt is one user message; a few requests run at once.
/// </summary>
public sealed class ChatTextGenerator(IChatClient client, string name, int concurrency = 4) : ITextGenerator
{
    private long tokens;

    public string Name => name;
    public long TokensProcessed => Interlocked.Read(ref tokens);

    public IReadOnlyList<string> Generate(IReadOnlyList<string> prompts, GenerationSettings settings, CancellationToken cancellationToken = default)
    {
        var results = new string[prompts.Count];
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, concurrency), CancellationToken = cancellationToken };
        try
        {
            Parallel.ForEachAsync(Enumerable.Range(0, prompts.Count), options, async (i, ct) =>
            {
                var chat = new ChatOptions
                {
                    MaxOutputTokens = settings.MaxNewTokens,
                    Temperature = (float)settings.Temperature,
                    TopK = settings.TopK,
                    // Each request its own seed, so n samples of one prompt differ and a rerun repeats (where the server honours seeds).
                    Seed = settings.Seed + i,
                    StopSequences = settings.Stop?.Where(s => s.Length > 0).ToList(),
                };
                var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, prompts[i])], chat, ct).ConfigureAwait(false);
                Interlocked.Add(ref tokens, response.Usage?.TotalTokenCount ?? 0);
                // Servers drop the stop sequence; put it back so extraction rules see the same text as with local models.
                var text = response.Text ?? "";
                if (response.FinishReason == ChatFinishReason.Stop && settings.Stop is { Count: > 0 } stop && !stop.Any(s => s.Length > 0 && text.Contains(s, StringComparison.Ordinal)))
                {
                    text += stop.First(s => s.Length > 0);
                }
                results[i] = LocalTextGenerator.Cut(text, settings.Stop);
            }).GetAwaiter().GetResult();
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            throw e.InnerExceptions[0];
        }
        return results;
    }
}
