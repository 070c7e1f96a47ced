using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using Reprogram.Models.Causal;
using Reprogram.Models.Zoo;
using Reprogram.Training;
using static TorchSharp.torch;

namespace Reprogram.Instruction.Backends;

/// <summary>
/// An <see cref="IChatClient"/> over a local decoder, so generation-based runs treat local TorchSharp models and remote
/// chat models alike. The prompt is the messages' texts in order, joined by <see cref="MessageSeparator"/> (roles are
/// not marked: the zoo's character models have no chat template). Generation runs token by token with the key/value
/// cache and picks tokens exactly as <see cref="CausalLm.Generate(ICausalLm, Tensor, int, double, int?, long, bool, Tensor?)"/>
/// does. Options honoured: MaxOutputTokens, Temperature (0 or none = greedy), TopK, Seed, StopSequences (the response
/// ends right after the first stop sequence, which it includes) and ModelId (must name this model). Calls are
/// serialised: a model is not re-entrant. The model is used as it is (call eval() on it first); it is disposed with
/// this client only when the client loaded it (<see cref="ForZoo"/>).
/// </summary>
public sealed class LocalChatClient : IChatClient
{
    public const string ProviderName = "reprogram-local";

    private readonly ICausalLm model;
    private readonly Func<string, long[]> encode;
    private readonly Func<IEnumerable<long>, string> decode;
    private readonly bool ownsModel;
    private readonly object gate = new();

    public LocalChatClient(ICausalLm model, Func<string, long[]> encode, Func<IEnumerable<long>, string> decode, string modelId)
        : this(model, encode, decode, modelId, ownsModel: false) { }

    private LocalChatClient(ICausalLm model, Func<string, long[]> encode, Func<IEnumerable<long>, string> decode, string modelId, bool ownsModel)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(encode);
        ArgumentNullException.ThrowIfNull(decode);
        if (string.IsNullOrWhiteSpace(modelId)) throw new ArgumentException("A local chat client needs a model id (the name responses report).", nameof(modelId));
        this.model = model;
        this.encode = encode;
        this.decode = decode;
        this.ownsModel = ownsModel;
        ModelId = modelId;
    }

    /// <summary>
    /// The zoo model <paramref name="name"/> ("icl-rules", "arith-cot") with its character tokenizer, in eval mode and
    /// frozen (trained on first use, see <see cref="LanguageZoo.Load"/>). The client owns the model.
    /// </summary>
    public static LocalChatClient ForZoo(string name, IProgress<TrainingProgress>? progress = null, string? cacheFolder = null)
    {
        var (model, tokenizer, _) = LanguageZoo.Load(name, progress, cacheFolder: cacheFolder);
        model.eval();
        foreach (var parameter in model.parameters()) parameter.requires_grad = false;
        return new LocalChatClient(model, tokenizer.Encode, tokenizer.Decode, name, ownsModel: true);
    }

    public string ModelId { get; }

    /// <summary>Placed between consecutive messages' texts in the prompt ("" by default: the texts are concatenated).</summary>
    public string MessageSeparator { get; set; } = "";

    /// <summary>Tokens generated when the options give no MaxOutputTokens (clipped to the positions the model has left).</summary>
    public int DefaultMaxOutputTokens { get; set; } = 64;

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        // Generation is compute-bound and TorchSharp's no-grad mode and dispose scopes are per thread, so it runs on the
        // caller's thread from start to end. Failures come back in the task, as from any other client.
        try
        {
            var result = Run(Prepare(messages, options), onText: null, cancellationToken);
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, result.Text))
            {
                ResponseId = Guid.NewGuid().ToString("N"),
                ModelId = ModelId,
                CreatedAt = DateTimeOffset.UtcNow,
                FinishReason = result.FinishReason,
                Usage = result.Usage,
            });
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<ChatResponse>(cancellationToken);
        }
        catch (Exception e)
        {
            return Task.FromException<ChatResponse>(e);
        }
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = Prepare(messages, options);
        var (responseId, created) = (Guid.NewGuid().ToString("N"), DateTimeOffset.UtcNow);
        ChatResponseUpdate Update(string text) => new(ChatRole.Assistant, text) { ResponseId = responseId, MessageId = responseId, ModelId = ModelId, CreatedAt = created };

        // The loop runs on its own thread (it must not hop threads between tokens) and hands text over through a channel.
        // Leaving the enumeration early cancels it.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var producer = Task.Factory.StartNew(() =>
        {
            try { return Run(request, text => channel.Writer.TryWrite(text), stop.Token); }
            finally { channel.Writer.TryComplete(); }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);   // always starts, so the channel always completes
        try
        {
            await foreach (var text in channel.Reader.ReadAllAsync(cancellationToken))
            {
                cancellationToken.ThrowIfCancellationRequested();   // text already buffered is not handed out after a cancel
                yield return Update(text);
            }
            var result = await producer.ConfigureAwait(false);
            var last = Update("");
            last.FinishReason = result.FinishReason;
            last.Contents.Add(new UsageContent(result.Usage));
            yield return last;
        }
        finally
        {
            stop.Cancel();
            // Wait for the loop to let go of the model before the caller may start another call.
            // Its outcome, when it matters, was already observed above.
            try { await producer.ConfigureAwait(false); } catch (Exception) { }
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return new ChatClientMetadata(ProviderName, providerUri: null, defaultModelId: ModelId);
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose()
    {
        if (ownsModel) lock (gate) model.Dispose();
    }

    public override string ToString() => $"{ProviderName} chat client for '{ModelId}'";

    private sealed record Request(long[] Prompt, int MaxTokens, double Temperature, int? TopK, long Seed, IReadOnlyList<string> Stops);

    private sealed record Result(string Text, ChatFinishReason FinishReason, UsageDetails Usage);

    /// <summary>Checks the options and tokenises the prompt; every bad option is reported before any computation.</summary>
    private Request Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var prompt = string.Join(MessageSeparator, messages.Select(m => m.Text));
        if (options?.ModelId is { } asked && asked != ModelId)
        {
            throw new ArgumentException($"This client runs the local model '{ModelId}'; the options ask for '{asked}'.", nameof(options));
        }
        if (options?.Tools is { Count: > 0 }) throw new NotSupportedException($"The local model '{ModelId}' cannot call tools.");
        var maxTokens = options?.MaxOutputTokens ?? DefaultMaxOutputTokens;
        if (maxTokens <= 0) throw new ArgumentException($"MaxOutputTokens must be positive; it is {maxTokens}.", nameof(options));
        var temperature = options?.Temperature ?? 0;
        if (temperature < 0 || float.IsNaN(temperature)) throw new ArgumentException($"Temperature must be 0 (greedy) or positive; it is {temperature}.", nameof(options));
        if (options?.TopK is <= 0) throw new ArgumentException($"TopK must be positive; it is {options.TopK}.", nameof(options));
        var stops = options?.StopSequences?.ToArray() ?? [];
        if (stops.Any(string.IsNullOrEmpty)) throw new ArgumentException("Stop sequences must not be empty.", nameof(options));

        var ids = encode(prompt);
        if (ids.Length == 0) throw new ArgumentException("The prompt is empty: the model needs at least one token to continue.", nameof(messages));
        var room = model.MaxPositions - ids.Length;
        if (room <= 0)
        {
            throw new ArgumentException(
                $"The prompt is {ids.Length} tokens; the model '{ModelId}' holds {model.MaxPositions} positions, so no room is left to generate. Shorten the prompt (fewer examples) by at least {1 - room} tokens.",
                nameof(messages));
        }
        return new Request(ids, Math.Min(maxTokens, room), temperature, options?.TopK, options?.Seed ?? 0, stops);
    }

    /// <summary>
    /// The generation loop: one cached forward per token, a cancellation check between tokens, and a stop-sequence check
    /// on the decoded text after each token. <paramref name="onText"/> receives each new piece of text.
    /// </summary>
    private Result Run(Request request, Action<string>? onText, CancellationToken ct)
    {
        lock (gate)
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var device = model.TokenEmbeddings.device;
            using var generator = request.Temperature > 0 ? new Generator((ulong)request.Seed, device: CPU) : null;
            using var cache = new KvCache(model.Layers);
            var generated = new List<long>();
            var text = "";
            var finish = ChatFinishReason.Length;
            for (var step = 0; step < request.MaxTokens; step++)
            {
                ct.ThrowIfCancellationRequested();
                long token;
                using (NewDisposeScope())
                {
                    // The first step reads the whole prompt; later steps only the last token (the cache holds the rest).
                    var input = tensor(step == 0 ? request.Prompt : [generated[^1]], device: device).unsqueeze(0);
                    var logits = model.Forward(input, cache, lastPositions: 1);
                    token = CausalLm.NextToken(logits[.., -1], request.Temperature, request.TopK, generator).cpu().item<long>();
                }
                generated.Add(token);
                var decoded = decode(generated);
                var cut = FirstStopEnd(decoded, request.Stops);
                if (cut >= 0)
                {
                    decoded = decoded[..cut];
                    finish = ChatFinishReason.Stop;
                }
                // Decoded text can change at its end (a multi-byte character completed); only growth is reported.
                if (onText is not null && decoded.Length > text.Length && decoded.StartsWith(text, StringComparison.Ordinal)) onText(decoded[text.Length..]);
                text = decoded;
                if (finish == ChatFinishReason.Stop) break;
            }
            var usage = new UsageDetails
            {
                InputTokenCount = request.Prompt.Length,
                OutputTokenCount = generated.Count,
                TotalTokenCount = request.Prompt.Length + generated.Count,
            };
            return new Result(text, finish, usage);
        }
    }

    /// <summary>Where the text ends when cut right after its earliest stop sequence; -1 when none occurs.</summary>
    private static int FirstStopEnd(string text, IReadOnlyList<string> stops)
    {
        var end = -1;
        foreach (var stop in stops)
        {
            var at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (end < 0 || at + stop.Length < end)) end = at + stop.Length;
        }
        return end;
    }
}
