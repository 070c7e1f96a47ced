using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net.Http.Headers;
using Microsoft.Extensions.AI;
using OllamaSharp;
using OpenAI;
using OpenAI.Chat;

namespace Reprogram.Instruction.Backends;

/// <summary>
/// Where a remote chat model lives. The API key itself is never part of the options: <see cref="ApiKeyVariable"/> names
/// the environment variable that holds it, so notebooks and their outputs only ever show the variable's name.
/// </summary>
public sealed class RemoteChatOptions
{
    /// <summary>"openai" (any OpenAI-compatible chat-completions endpoint) or "ollama".</summary>
    public string Provider { get; init; } = "openai";
    /// <summary>The base URI, e.g. https://api.openai.com/v1 or http://localhost:11434.</summary>
    public string Endpoint { get; init; } = "";
    /// <summary>The model name the server knows, e.g. gpt-4o-mini or llama3.2.</summary>
    public string Model { get; init; } = "";
    /// <summary>
    /// The name of the environment variable holding the API key. Null: OPENAI_API_KEY for openai, no key for ollama.
    /// Empty: no key (local OpenAI-compatible servers that need none).
    /// </summary>
    public string? ApiKeyVariable { get; init; }
    /// <summary>How long one request may take before it fails.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Retries after a failed request (openai only: its client retries with backoff; Ollama's does not retry).</summary>
    public int MaxRetries { get; init; } = 2;

    public override string ToString() =>
        $"{Provider} model '{Model}' at {Endpoint}" + (KeyVariable is { } v ? $" (key from ${v})" : "") + $", timeout {Timeout.TotalSeconds:0.#} s";

    /// <summary>The variable the key is read from, after defaults; null when no key is sent.</summary>
    internal string? KeyVariable => ApiKeyVariable switch
    {
        null => Provider.Trim().ToLowerInvariant() == RemoteChat.OpenAi ? "OPENAI_API_KEY" : null,
        "" => null,
        var name => name,
    };
}

/// <summary>
/// Chat clients for remote models through Microsoft.Extensions.AI: OpenAI-compatible endpoints (OpenAI, vLLM, LM Studio,
/// llama.cpp's server) and Ollama. Every client reports transport failures as <see cref="ChatBackendException"/> naming
/// the endpoint and the cause, never the key.
/// </summary>
public static class RemoteChat
{
    public const string OpenAi = "openai";
    public const string Ollama = "ollama";
    public static IReadOnlyList<string> Providers { get; } = [OpenAi, Ollama];

    /// <summary>
    /// A client for <paramref name="options"/>. Bad options (unknown provider, malformed endpoint, no model, a key variable
    /// that is not set) fail here; an unreachable endpoint fails at the first call.
    /// </summary>
    public static IChatClient Create(RemoteChatOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var provider = options.Provider?.Trim().ToLowerInvariant() ?? "";
        if (!Providers.Contains(provider))
        {
            throw new ArgumentException($"Unknown chat provider '{options.Provider}'. Use one of: {string.Join(", ", Providers)}.", nameof(options));
        }
        if (!Uri.TryCreate(options.Endpoint, UriKind.Absolute, out var endpoint) || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
        {
            var example = provider == OpenAi ? "https://api.openai.com/v1" : "http://localhost:11434";
            throw new ArgumentException($"The endpoint '{options.Endpoint}' is not an absolute http(s) URI (for example {example}).", nameof(options));
        }
        if (string.IsNullOrWhiteSpace(options.Model)) throw new ArgumentException($"Name the {provider} model to use (RemoteChatOptions.Model).", nameof(options));
        if (options.Timeout <= TimeSpan.Zero) throw new ArgumentException($"The timeout must be positive; it is {options.Timeout}.", nameof(options));
        if (options.MaxRetries < 0) throw new ArgumentException($"MaxRetries must be 0 or more; it is {options.MaxRetries}.", nameof(options));

        var key = ReadKey(options.KeyVariable, endpoint);
        var description = $"{provider} model '{options.Model}' at {endpoint}";
        if (provider == OpenAi)
        {
            return new ErrorReportingChatClient(OpenAiClient(options, endpoint, key), description, endpoint.ToString(), options.Timeout, options.KeyVariable, key);
        }
        var http = OllamaHttp(options, endpoint, key);
        return new ErrorReportingChatClient(new OllamaApiClient(http, options.Model), description, endpoint.ToString(), options.Timeout, options.KeyVariable, key, resources: http);
    }

    private static string? ReadKey(string? variable, Uri endpoint)
    {
        if (variable is null) return null;
        var key = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(key))
        {
            throw new InvalidOperationException(
                $"The environment variable {variable}, which should hold the API key for {endpoint}, is not set. Set it in the environment the kernel " +
                "starts from (not in the notebook), or name another variable with ApiKeyVariable (\"\" for a server that needs no key).");
        }
        return key.Trim();
    }

    private static IChatClient OpenAiClient(RemoteChatOptions options, Uri endpoint, string? key)
    {
        var clientOptions = new OpenAIClientOptions
        {
            Endpoint = endpoint,
            NetworkTimeout = options.Timeout,
            RetryPolicy = new ClientRetryPolicy(options.MaxRetries),
        };
        // The OpenAI client insists on a credential; a server without keys ignores the placeholder.
        return new ChatClient(options.Model, new ApiKeyCredential(key ?? "no-key"), clientOptions).AsIChatClient();
    }

    private static HttpClient OllamaHttp(RemoteChatOptions options, Uri endpoint, string? key)
    {
        var http = new HttpClient { BaseAddress = endpoint, Timeout = options.Timeout };
        // Ollama itself takes no key; a proxy in front of it (or Ollama's cloud) takes a bearer token.
        if (key is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }
}
