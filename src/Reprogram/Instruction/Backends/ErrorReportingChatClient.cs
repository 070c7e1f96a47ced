using System.ClientModel;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Reprogram.Instruction.Backends;

/// <summary>A chat backend failed: the endpoint could not be reached, did not answer in time, or refused the request.</summary>
public sealed class ChatBackendException : Exception
{
    public ChatBackendException(string message, string endpoint, Exception? innerException = null) : base(message, innerException) => Endpoint = endpoint;

    /// <summary>The endpoint the request went to.</summary>
    public string Endpoint { get; }
}

/// <summary>
/// Wraps a remote chat client so that transport failures (connection refused, unknown host, timeouts, HTTP error
/// statuses) surface as one <see cref="ChatBackendException"/> that names the endpoint and the cause, whichever library
/// threw them. The API key is replaced by *** in every message, and an inner exception whose text shows the key is
/// left out. The caller's own cancellation passes through unchanged.
/// </summary>
public sealed class ErrorReportingChatClient : DelegatingChatClient
{
    private readonly string description, endpoint;
    private readonly TimeSpan timeout;
    private readonly string? keyVariable, secret;
    private readonly IDisposable? resources;

    /// <param name="inner">The backend's own client.</param>
    /// <param name="description">What the client talks to, for <see cref="ToString"/> (e.g. "openai model 'x' at https://...").</param>
    /// <param name="endpoint">The endpoint named in error messages.</param>
    /// <param name="timeout">The request timeout, named when a request runs out of time.</param>
    /// <param name="keyVariable">The environment variable holding the key, named when the key is refused.</param>
    /// <param name="secret">The key, only to keep it out of messages.</param>
    /// <param name="resources">Disposed with the client (an HttpClient the inner client does not own).</param>
    public ErrorReportingChatClient(IChatClient inner, string description, string endpoint, TimeSpan timeout, string? keyVariable = null,
        string? secret = null, IDisposable? resources = null) : base(inner)
    {
        this.description = description;
        this.endpoint = endpoint;
        this.timeout = timeout;
        this.keyVariable = keyVariable;
        this.secret = string.IsNullOrEmpty(secret) ? null : secret;
        this.resources = resources;
    }

    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        try
        {
            return await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (Explain(e, cancellationToken) is { } error)
        {
            throw error;
        }
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // C# allows no yield inside a try with a catch, so each step is awaited inside one and the update yielded outside.
        IAsyncEnumerator<ChatResponseUpdate> updates;
        try
        {
            updates = base.GetStreamingResponseAsync(messages, options, cancellationToken).GetAsyncEnumerator(cancellationToken);
        }
        catch (Exception e) when (Explain(e, cancellationToken) is { } error)
        {
            throw error;
        }
        await using (updates.ConfigureAwait(false))
        {
            while (true)
            {
                try
                {
                    if (!await updates.MoveNextAsync().ConfigureAwait(false)) yield break;
                }
                catch (Exception e) when (Explain(e, cancellationToken) is { } error)
                {
                    throw error;
                }
                yield return updates.Current;
            }
        }
    }

    public override string ToString() => description;

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) resources?.Dispose();
    }

    /// <summary>The exception to throw instead of <paramref name="e"/>; null to let it pass (not a transport failure, or the caller cancelled).</summary>
    private ChatBackendException? Explain(Exception e, CancellationToken cancellationToken)
    {
        if (e is ChatBackendException) return null;
        if (e is OperationCanceledException && cancellationToken.IsCancellationRequested) return null;
        string? message = null;
        if (e is OperationCanceledException || Find<TimeoutException>(e) is not null)
        {
            message = $"{endpoint} did not answer within {timeout.TotalSeconds:0.#} s. Is the server running and the model loaded? (A longer Timeout helps a slow model.)";
        }
        else if (Find<SocketException>(e) is { } socket)
        {
            message = $"Could not reach {endpoint} ({SocketCause(socket)}). Is the server running?";
        }
        else if (Status(e) is { } status)
        {
            var hint = status switch
            {
                401 or 403 => keyVariable is null ? " The server wants an API key: name the variable that holds it with ApiKeyVariable." : $" Check the key in ${keyVariable}.",
                404 => " Check the endpoint's path (OpenAI-compatible servers usually end in /v1) and the model name.",
                429 => " The server is rate limiting; wait and retry.",
                _ => "",
            };
            message = $"{endpoint} refused the request (HTTP {status}: {FirstLine(e.Message)}).{hint}";
        }
        else if (Find<HttpRequestException>(e) is { } http)
        {
            message = $"Could not reach {endpoint} ({FirstLine(http.Message)}). Is the server running?";
        }
        if (message is null) return null;
        var inner = secret is not null && e.ToString().Contains(secret, StringComparison.Ordinal) ? null : e;
        return new ChatBackendException(Redact(message), endpoint, inner);
    }

    private string Redact(string text) => secret is null ? text : text.Replace(secret, "***", StringComparison.Ordinal);

    private static int? Status(Exception e) =>
        Find<ClientResultException>(e) is { Status: > 0 } result ? result.Status
        : Find<HttpRequestException>(e) is { StatusCode: { } code } ? (int)code
        : null;

    private static string SocketCause(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => "connection refused",
        SocketError.HostNotFound or SocketError.NoData => "host not found",
        SocketError.TimedOut => "connection timed out",
        SocketError.NetworkUnreachable or SocketError.HostUnreachable => "network unreachable",
        _ => e.Message,
    };

    private static T? Find<T>(Exception? e) where T : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is T found) return found;
            if (e is AggregateException { InnerExceptions.Count: 1 } aggregate && Find<T>(aggregate.InnerExceptions[0]) is { } inAggregate) return inAggregate;
        }
        return null;
    }

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();
}
