using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using Reprogram.Instruction.Backends;
using Reprogram.Models.Causal;
using Reprogram.Models.Zoo;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Reprogram.Tests;

public class ChatBackendTests
{
    private const string Prompt = "123+459:";
    private const string KeyVariable = "REPROGRAM_TEST_KEY";
    private static readonly CharTokenizer Tokenizer = new();

    /// <summary>
    /// The character tokenizer's decoding, with the padding token shown as "_" rather than dropped: a random model may
    /// pick it, and the tests count one character per token.
    /// </summary>
    private static string Decode(IEnumerable<long> ids) => string.Concat(ids.Select(id => id == CharTokenizer.PadId ? "_" : Tokenizer.Decode([id])));

    /// <summary>A small random decoder over the zoo's characters (the tokenizer's 48 ids, 64 positions).</summary>
    private static TinyGpt RandomModel(int seed = 7)
    {
        manual_seed(seed);
        var model = new TinyGpt(new GptConfig(VocabularySize: Tokenizer.VocabularySize, MaxPositions: 64, Layers: 2, Heads: 2, HiddenSize: 32));
        model.eval();
        return model;
    }

    private static LocalChatClient Client(TinyGpt model, Func<IEnumerable<long>, string>? decode = null) =>
        new(model, Tokenizer.Encode, decode ?? Decode, "tiny");

    private static string GenerateText(TinyGpt model, string prompt, int tokens, double temperature = 0, int? topK = null, long seed = 0)
    {
        var ids = Tokenizer.Encode(prompt);
        return Decode(CausalLm.Generate(model, ids, tokens, temperature, topK, seed).Skip(ids.Length));
    }

    private static List<ChatMessage> Messages(string text) => [new(ChatRole.User, text)];

    [Fact]
    public async Task ChatBackend_local_greedy_answer_is_CausalLm_Generate_continuation()
    {
        using var model = RandomModel();
        using var client = Client(model);
        var expected = GenerateText(model, Prompt, 20);
        var response = await client.GetResponseAsync(Messages(Prompt), new ChatOptions { MaxOutputTokens = 20 });
        Assert.Equal(expected, response.Text);
        Assert.Equal(ChatRole.Assistant, response.Messages.Single().Role);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal("tiny", response.ModelId);
        Assert.Equal(Prompt.Length, response.Usage!.InputTokenCount);
        Assert.Equal(20, response.Usage.OutputTokenCount);
        Assert.Equal(Prompt.Length + 20, response.Usage.TotalTokenCount);

        // Messages are concatenated in order (system, user, assistant) with the separator.
        var split = new List<ChatMessage> { new(ChatRole.System, "123"), new(ChatRole.User, "+459"), new(ChatRole.Assistant, ":") };
        Assert.Equal(expected, (await client.GetResponseAsync(split, new ChatOptions { MaxOutputTokens = 20 })).Text);
        client.MessageSeparator = "|";
        Assert.Equal(GenerateText(model, "123|+459|:", 20), (await client.GetResponseAsync(split, new ChatOptions { MaxOutputTokens = 20 })).Text);

        var metadata = client.GetService<ChatClientMetadata>()!;
        Assert.Equal("reprogram-local", metadata.ProviderName);
        Assert.Equal("tiny", metadata.DefaultModelId);
    }

    [Fact]
    public async Task ChatBackend_local_max_tokens_default_and_clipping_to_the_models_positions()
    {
        using var model = RandomModel();
        using var client = Client(model);
        Assert.Equal(5, (await client.GetResponseAsync(Messages(Prompt), new ChatOptions { MaxOutputTokens = 5 })).Text.Length);   // one character per token
        client.DefaultMaxOutputTokens = 9;
        Assert.Equal(9, (await client.GetResponseAsync(Messages(Prompt))).Usage!.OutputTokenCount);

        // 60 prompt characters leave 4 of the 64 positions.
        var longPrompt = string.Concat(Enumerable.Repeat("12+34=", 10));
        var clipped = await client.GetResponseAsync(Messages(longPrompt), new ChatOptions { MaxOutputTokens = 30 });
        Assert.Equal(4, clipped.Usage!.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, clipped.FinishReason);
        Assert.Equal(GenerateText(model, longPrompt, 4), clipped.Text);
    }

    [Fact]
    public async Task ChatBackend_local_stop_sequence_cuts_right_after_its_first_occurrence_and_stops_generating()
    {
        using var model = RandomModel();
        using var client = Client(model);
        var greedy = GenerateText(model, Prompt, 30);
        var stop = greedy[greedy.Length / 2].ToString();
        var expected = greedy[..(greedy.IndexOf(stop, StringComparison.Ordinal) + 1)];
        var response = await client.GetResponseAsync(Messages(Prompt), new ChatOptions { MaxOutputTokens = 30, StopSequences = [stop] });
        Assert.Equal(expected, response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(expected.Length, response.Usage!.OutputTokenCount);   // one character per token: nothing generated past the stop

        // A two-character stop sequence spanning tokens, next to one that never occurs.
        var pair = greedy.Substring(greedy.Length / 2, 2);
        var pairExpected = greedy[..(greedy.IndexOf(pair, StringComparison.Ordinal) + 2)];
        var both = await client.GetResponseAsync(Messages(Prompt), new ChatOptions { MaxOutputTokens = 30, StopSequences = ["never", pair] });
        Assert.Equal(pairExpected, both.Text);
    }

    [Fact]
    public async Task ChatBackend_local_seeded_sampling_repeats_per_seed_and_matches_Generate()
    {
        using var model = RandomModel();
        using var client = Client(model);
        ChatOptions Sampling(long seed) => new() { MaxOutputTokens = 24, Temperature = 1.5f, Seed = seed };
        var first = (await client.GetResponseAsync(Messages(Prompt), Sampling(1))).Text;
        var again = (await client.GetResponseAsync(Messages(Prompt), Sampling(1))).Text;
        var other = (await client.GetResponseAsync(Messages(Prompt), Sampling(2))).Text;
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.Equal(GenerateText(model, Prompt, 24, temperature: 1.5, seed: 1), first);
        var topK = await client.GetResponseAsync(Messages(Prompt), new ChatOptions { MaxOutputTokens = 24, Temperature = 1.5f, TopK = 3, Seed = 5 });
        Assert.Equal(GenerateText(model, Prompt, 24, temperature: 1.5, topK: 3, seed: 5), topK.Text);
    }

    [Fact]
    public async Task ChatBackend_local_streaming_yields_the_same_text_token_by_token()
    {
        using var model = RandomModel();
        using var client = Client(model);
        var options = new ChatOptions { MaxOutputTokens = 12 };
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(Messages(Prompt), options)) updates.Add(update);
        Assert.Equal(13, updates.Count);   // 12 one-character tokens and a closing update with the finish reason and usage
        var response = updates.ToChatResponse();
        Assert.Equal(GenerateText(model, Prompt, 12), response.Text);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(12, response.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task ChatBackend_local_bad_options_and_too_long_prompts_give_clear_errors()
    {
        using var model = RandomModel();
        using var client = Client(model);
        var tooLong = new string('1', 64);
        var error = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Messages(tooLong)));
        Assert.Contains("64 tokens", error.Message);
        Assert.Contains("64 positions", error.Message);
        Assert.Contains("MaxOutputTokens", (await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Messages(Prompt), new ChatOptions { MaxOutputTokens = 0 }))).Message);
        Assert.Contains("'other'", (await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Messages(Prompt), new ChatOptions { ModelId = "other" }))).Message);
        Assert.Contains("empty", (await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Messages("")))).Message);
        Assert.Contains("not in the vocabulary", (await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Messages("ABC")))).Message);
    }

    [Fact]
    public async Task ChatBackend_local_cancellation_stops_between_tokens_and_leaks_no_tensors()
    {
        using var model = RandomModel();
        using var cancel = new CancellationTokenSource();
        var decoded = 0;
        // Cancel from inside the loop after the third token: no fourth token may be generated.
        using var client = Client(model, ids => { if (++decoded == 3) cancel.Cancel(); return Decode(ids); });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetResponseAsync(Messages(Prompt), new ChatOptions { MaxOutputTokens = 20 }, cancel.Token));
        Assert.Equal(3, decoded);

        decoded = 0;
        using var streamCancel = new CancellationTokenSource();
        using var streaming = Client(model, ids => { if (++decoded == 3) streamCancel.Cancel(); return Decode(ids); });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in streaming.GetStreamingResponseAsync(Messages(Prompt), new ChatOptions { MaxOutputTokens = 20 }, streamCancel.Token)) { }
        });
        Assert.Equal(3, decoded);

        // The model is free again, and a full call leaves no live tensors behind on this thread.
        using var plain = Client(model);
        await plain.GetResponseAsync(Messages(Prompt), new ChatOptions { MaxOutputTokens = 4 });   // warm-up
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        await plain.GetResponseAsync(Messages(Prompt), new ChatOptions { MaxOutputTokens = 10, Temperature = 1, Seed = 3 });
        await plain.GetResponseAsync(Messages(Prompt), new ChatOptions { MaxOutputTokens = 10, StopSequences = ["x"] });
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public async Task ChatBackend_openai_provider_round_trips_through_a_local_openai_compatible_server()
    {
        using var model = RandomModel();
        using var local = new LocalChatClient(model, Tokenizer.Encode, Decode, "zoo");
        using var server = new FakeChatServer(local);
        const string key = "sk-test-0123456789-secret";
        Environment.SetEnvironmentVariable(KeyVariable, key);
        try
        {
            using var remote = RemoteChat.Create(new RemoteChatOptions
            {
                Provider = "openai", Endpoint = $"{server.Address}v1", Model = "zoo", ApiKeyVariable = KeyVariable, MaxRetries = 0,
            });
            Assert.DoesNotContain(key, remote.ToString()!);

            var options = new ChatOptions { MaxOutputTokens = 15 };
            var direct = await local.GetResponseAsync(Messages(Prompt), options);
            var answer = await remote.GetResponseAsync(Messages(Prompt), options);
            Assert.Equal(direct.Text, answer.Text);
            Assert.Equal(GenerateText(model, Prompt, 15), answer.Text);
            Assert.Equal($"Bearer {key}", server.LastAuthorization);
            Assert.Equal("/v1/chat/completions", server.LastPath);
            Assert.Equal(15, server.LastOptions!.MaxOutputTokens);
            Assert.Equal(Prompt.Length, answer.Usage!.InputTokenCount);
            Assert.Equal(15, answer.Usage.OutputTokenCount);
            Assert.Equal(ChatFinishReason.Length, answer.FinishReason);

            // Sampling and stop options travel to the server and give what the local client gives for them.
            var greedy = direct.Text;
            var stop = greedy[greedy.Length / 2].ToString();
            var sampling = new ChatOptions { MaxOutputTokens = 12, Temperature = 1.5f, Seed = 4, StopSequences = [stop] };
            var sampled = await remote.GetResponseAsync(Messages(Prompt), sampling);
            Assert.Equal((await local.GetResponseAsync(Messages(Prompt), sampling)).Text, sampled.Text);
            Assert.Equal(12, server.LastOptions.MaxOutputTokens);
            Assert.Equal(1.5f, server.LastOptions.Temperature);
            Assert.Equal(4, server.LastOptions.Seed);
            Assert.Equal([stop], server.LastOptions.StopSequences!);
        }
        finally
        {
            Environment.SetEnvironmentVariable(KeyVariable, null);
        }
    }

    [Fact]
    public async Task ChatBackend_ollama_provider_round_trips_through_a_local_ollama_compatible_server()
    {
        using var model = RandomModel();
        using var local = new LocalChatClient(model, Tokenizer.Encode, Decode, "zoo");
        using var server = new FakeChatServer(local);
        using var remote = RemoteChat.Create(new RemoteChatOptions { Provider = "ollama", Endpoint = server.Address.ToString(), Model = "zoo" });
        var options = new ChatOptions { MaxOutputTokens = 15, Temperature = 0 };
        var answer = await remote.GetResponseAsync(Messages(Prompt), options);
        Assert.Equal((await local.GetResponseAsync(Messages(Prompt), options)).Text, answer.Text);
        Assert.Equal("/api/chat", server.LastPath);
        Assert.Equal(15, server.LastOptions!.MaxOutputTokens);
        Assert.Null(server.LastAuthorization);   // no key for Ollama unless a variable is named

        var streamed = new StringBuilder();
        await foreach (var update in remote.GetStreamingResponseAsync(Messages(Prompt), options)) streamed.Append(update.Text);
        Assert.Equal(answer.Text, streamed.ToString());
    }

    [Fact]
    public async Task ChatBackend_unreachable_endpoint_fails_quickly_with_the_endpoint_and_cause()
    {
        var port = FreePort();   // nothing listens there
        const string key = "sk-unreachable-secret-42";
        Environment.SetEnvironmentVariable(KeyVariable, key);
        try
        {
            foreach (var provider in RemoteChat.Providers)
            {
                var endpoint = provider == "openai" ? $"http://127.0.0.1:{port}/v1" : $"http://127.0.0.1:{port}";
                using var client = RemoteChat.Create(new RemoteChatOptions
                {
                    Provider = provider, Endpoint = endpoint, Model = "zoo", ApiKeyVariable = KeyVariable, Timeout = TimeSpan.FromSeconds(5), MaxRetries = 0,
                });
                var watch = Stopwatch.StartNew();
                var error = await Assert.ThrowsAsync<ChatBackendException>(() => client.GetResponseAsync(Messages(Prompt)));
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"{provider} took {watch.Elapsed}");
                Assert.Contains($"127.0.0.1:{port}", error.Message);
                Assert.Contains("connection refused", error.Message);
                Assert.DoesNotContain(key, error.ToString());
            }

            // A client for a server that answers works afterwards.
            using var model = RandomModel();
            using var local = new LocalChatClient(model, Tokenizer.Encode, Decode, "zoo");
            using var server = new FakeChatServer(local);
            using var good = RemoteChat.Create(new RemoteChatOptions { Provider = "openai", Endpoint = $"{server.Address}v1", Model = "zoo", ApiKeyVariable = KeyVariable });
            Assert.Equal(GenerateText(model, Prompt, 6), (await good.GetResponseAsync(Messages(Prompt), new ChatOptions { MaxOutputTokens = 6 })).Text);
        }
        finally
        {
            Environment.SetEnvironmentVariable(KeyVariable, null);
        }
    }

    [Fact]
    public async Task ChatBackend_slow_server_times_out_and_refused_key_is_named_without_the_key()
    {
        const string key = "sk-refused-secret-7";
        Environment.SetEnvironmentVariable(KeyVariable, key);
        try
        {
            using var model = RandomModel();
            using var local = new LocalChatClient(model, Tokenizer.Encode, Decode, "zoo");
            using var server = new FakeChatServer(local) { Delay = TimeSpan.FromSeconds(3) };
            using var slow = RemoteChat.Create(new RemoteChatOptions
            {
                Provider = "openai", Endpoint = $"{server.Address}v1", Model = "zoo", ApiKeyVariable = KeyVariable, Timeout = TimeSpan.FromSeconds(0.5), MaxRetries = 0,
            });
            var timeout = await Assert.ThrowsAsync<ChatBackendException>(() => slow.GetResponseAsync(Messages(Prompt)));
            Assert.Contains("did not answer within 0.5 s", timeout.Message);

            server.Delay = TimeSpan.Zero;
            server.RequiredKey = "sk-something-else";
            using var refused = RemoteChat.Create(new RemoteChatOptions { Provider = "openai", Endpoint = $"{server.Address}v1", Model = "zoo", ApiKeyVariable = KeyVariable, MaxRetries = 0 });
            var error = await Assert.ThrowsAsync<ChatBackendException>(() => refused.GetResponseAsync(Messages(Prompt)));
            Assert.Contains("HTTP 401", error.Message);
            Assert.Contains(KeyVariable, error.Message);
            Assert.DoesNotContain(key, error.ToString());   // the fake server echoes the key it got, as OpenAI does (masked)
        }
        finally
        {
            Environment.SetEnvironmentVariable(KeyVariable, null);
        }
    }

    [Fact]
    public void ChatBackend_bad_remote_options_give_clear_errors()
    {
        var unknown = Assert.Throws<ArgumentException>(() => RemoteChat.Create(new RemoteChatOptions { Provider = "anthropic", Endpoint = "http://localhost:1", Model = "m" }));
        Assert.Contains("'anthropic'", unknown.Message);
        Assert.Contains("openai, ollama", unknown.Message);

        var malformed = Assert.Throws<ArgumentException>(() => RemoteChat.Create(new RemoteChatOptions { Provider = "ollama", Endpoint = "localhost:11434", Model = "m" }));
        Assert.Contains("'localhost:11434'", malformed.Message);
        Assert.Contains("http://localhost:11434", malformed.Message);
        Assert.Throws<ArgumentException>(() => RemoteChat.Create(new RemoteChatOptions { Endpoint = "not a uri", Model = "m", ApiKeyVariable = "" }));
        Assert.Contains("Model", Assert.Throws<ArgumentException>(() => RemoteChat.Create(new RemoteChatOptions { Endpoint = "http://localhost:1/v1", ApiKeyVariable = "" })).Message);

        const string missing = "REPROGRAM_TEST_KEY_THAT_IS_NOT_SET";
        Environment.SetEnvironmentVariable(missing, null);
        var noKey = Assert.Throws<InvalidOperationException>(() => RemoteChat.Create(new RemoteChatOptions { Endpoint = "https://api.example.com/v1", Model = "m", ApiKeyVariable = missing }));
        Assert.Contains(missing, noKey.Message);
        Assert.Contains("OPENAI_API_KEY", new RemoteChatOptions { Endpoint = "https://api.example.com/v1", Model = "m" }.ToString());

        // Without a variable Ollama needs no key, and an empty name means no key for openai too.
        using var ollama = RemoteChat.Create(new RemoteChatOptions { Provider = "Ollama", Endpoint = "http://localhost:11434", Model = "m" });
        using var keyless = RemoteChat.Create(new RemoteChatOptions { Endpoint = "http://localhost:8000/v1", Model = "m", ApiKeyVariable = "" });
        Assert.Equal("ollama model 'm' at http://localhost:11434/", ollama.ToString());
    }

    // Trains the arith-cot zoo model on first use into the shared cache (PromptInstructionTests use the same model).
    [Fact]
    public async Task ChatBackend_zoo_arith_cot_writes_its_scratchpad_through_the_chat_client()
    {
        using var client = LocalChatClient.ForZoo("arith-cot");
        var response = await client.GetResponseAsync(Messages("123+459:"), new ChatOptions { MaxOutputTokens = 40, StopSequences = ["."] });
        Assert.Equal("3+9+0=12,2+5+1=08,1+4+0=05;0582.", response.Text);
    }

    internal static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>
    /// An OpenAI- and Ollama-compatible chat server on 127.0.0.1 whose answers come from a real chat client (the local
    /// adapter): POST /v1/chat/completions and /chat/completions (OpenAI) and POST /api/chat (Ollama, streamed as
    /// newline-delimited JSON unless "stream": false). It records the last request's path, Authorization header and options.
    /// </summary>
    internal sealed class FakeChatServer : IDisposable
    {
        private readonly HttpListener listener = new();
        private readonly IChatClient backend;
        private readonly Task loop;

        public FakeChatServer(IChatClient backend)
        {
            this.backend = backend;
            var port = FreePort();
            Address = new Uri($"http://127.0.0.1:{port}/");
            listener.Prefixes.Add(Address.ToString());
            listener.Start();
            loop = Task.Run(Serve);
        }

        public Uri Address { get; }
        public string? LastPath { get; private set; }
        public string? LastAuthorization { get; private set; }
        public ChatOptions? LastOptions { get; private set; }
        public TimeSpan Delay { get; set; }
        /// <summary>When set, requests with another bearer key get a 401 that echoes the key they sent.</summary>
        public string? RequiredKey { get; set; }

        private async Task Serve()
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await listener.GetContextAsync(); }
                catch (Exception) when (!listener.IsListening) { return; }
                catch (HttpListenerException) { return; }
                // Each request on its own task, so a slow answer does not hold up the next request.
                _ = Task.Run(() => HandleOrReport(context));
            }
        }

        private async Task HandleOrReport(HttpListenerContext context)
        {
            try { await Handle(context); }
            catch (Exception e)
            {
                try { await Write(context.Response, 500, new JsonObject { ["error"] = new JsonObject { ["message"] = e.Message } }); } catch (Exception) { }
            }
        }

        private async Task Handle(HttpListenerContext context)
        {
            var (request, response) = (context.Request, context.Response);
            LastPath = request.Url!.AbsolutePath;
            LastAuthorization = request.Headers["Authorization"];
            if (Delay > TimeSpan.Zero) await Task.Delay(Delay);
            if (RequiredKey is not null && LastAuthorization != $"Bearer {RequiredKey}")
            {
                var sent = LastAuthorization?.Replace("Bearer ", "") ?? "";
                await Write(response, 401, new JsonObject { ["error"] = new JsonObject { ["message"] = $"Incorrect API key provided: {sent}.", ["type"] = "invalid_request_error", ["code"] = "invalid_api_key" } });
                return;
            }
            using var reader = new StreamReader(request.InputStream, Encoding.UTF8);
            var body = JsonNode.Parse(await reader.ReadToEndAsync())!.AsObject();
            var messages = body["messages"]!.AsArray().Select(m => new ChatMessage(new ChatRole((string)m!["role"]!), ContentText(m["content"]))).ToList();
            switch (LastPath)
            {
                case "/v1/chat/completions" or "/chat/completions" when request.HttpMethod == "POST":
                    await OpenAiAnswer(response, body, messages);
                    break;
                case "/api/chat" when request.HttpMethod == "POST":
                    await OllamaAnswer(response, body, messages);
                    break;
                default:
                    await Write(response, 404, new JsonObject { ["error"] = $"no route {request.HttpMethod} {LastPath}" });
                    break;
            }
        }

        /// <summary>OpenAI message content: a string or an array of {type: "text", text} parts.</summary>
        private static string ContentText(JsonNode? content) => content switch
        {
            JsonValue value => (string)value!,
            JsonArray parts => string.Concat(parts.Select(p => (string?)p!["text"] ?? "")),
            _ => "",
        };

        private async Task OpenAiAnswer(HttpListenerResponse response, JsonObject body, List<ChatMessage> messages)
        {
            var options = new ChatOptions
            {
                ModelId = (string?)body["model"],
                MaxOutputTokens = (int?)(body["max_completion_tokens"] ?? body["max_tokens"]),
                Temperature = (float?)body["temperature"],
                Seed = (long?)body["seed"],
                StopSequences = body["stop"] switch
                {
                    JsonArray stops => stops.Select(s => (string)s!).ToList(),
                    JsonValue stop => [(string)stop!],
                    _ => null,
                },
            };
            LastOptions = options;
            var answer = await backend.GetResponseAsync(messages, options);
            await Write(response, 200, new JsonObject
            {
                ["id"] = "chatcmpl-" + answer.ResponseId,
                ["object"] = "chat.completion",
                ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
                ["model"] = answer.ModelId,
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0,
                    ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = answer.Text },
                    ["finish_reason"] = answer.FinishReason == ChatFinishReason.Stop ? "stop" : "length",
                }),
                ["usage"] = new JsonObject
                {
                    ["prompt_tokens"] = answer.Usage!.InputTokenCount,
                    ["completion_tokens"] = answer.Usage.OutputTokenCount,
                    ["total_tokens"] = answer.Usage.TotalTokenCount,
                },
            });
        }

        private async Task OllamaAnswer(HttpListenerResponse response, JsonObject body, List<ChatMessage> messages)
        {
            var settings = body["options"] as JsonObject;
            var options = new ChatOptions
            {
                ModelId = (string?)body["model"],
                MaxOutputTokens = (int?)settings?["num_predict"],
                Temperature = (float?)settings?["temperature"],
                TopK = (int?)settings?["top_k"],
                Seed = (long?)settings?["seed"],
                StopSequences = (settings?["stop"] as JsonArray)?.Select(s => (string)s!).ToList(),
            };
            LastOptions = options;
            var model = (string?)body["model"];
            JsonObject Chunk(string text, bool done) => new()
            {
                ["model"] = model,
                ["created_at"] = DateTimeOffset.UtcNow.ToString("O"),
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = text },
                ["done"] = done,
            };
            JsonObject Final(JsonObject chunk, ChatResponse answer)
            {
                chunk["done_reason"] = answer.FinishReason == ChatFinishReason.Stop ? "stop" : "length";
                chunk["prompt_eval_count"] = answer.Usage!.InputTokenCount;
                chunk["eval_count"] = answer.Usage.OutputTokenCount;
                return chunk;
            }
            // Ollama streams unless the request says "stream": false.
            if (body["stream"] is JsonValue stream && !(bool)stream)
            {
                var answer = await backend.GetResponseAsync(messages, options);
                await Write(response, 200, Final(Chunk(answer.Text, done: true), answer));
                return;
            }
            response.StatusCode = 200;
            response.ContentType = "application/x-ndjson";
            response.SendChunked = true;
            var updates = new List<ChatResponseUpdate>();
            await using (var writer = new StreamWriter(response.OutputStream, new UTF8Encoding(false)))
            {
                await foreach (var update in backend.GetStreamingResponseAsync(messages, options))
                {
                    updates.Add(update);
                    if (update.Text.Length > 0) await writer.WriteAsync(Chunk(update.Text, done: false).ToJsonString() + "\n");
                    await writer.FlushAsync();
                }
                await writer.WriteAsync(Final(Chunk("", done: true), updates.ToChatResponse()).ToJsonString() + "\n");
            }
            response.Close();
        }

        private static async Task Write(HttpListenerResponse response, int status, JsonObject json)
        {
            var bytes = Encoding.UTF8.GetBytes(json.ToJsonString());
            response.StatusCode = status;
            response.ContentType = "application/json";
            response.ContentLength64 = bytes.Length;
            await response.OutputStream.WriteAsync(bytes);
            response.Close();
        }

        public void Dispose()
        {
            listener.Stop();
            listener.Close();
            try { loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        }
    }
}
