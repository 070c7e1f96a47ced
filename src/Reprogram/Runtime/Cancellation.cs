namespace Reprogram.Runtime;

/// <summary>
/// The cancellation of the run in progress, for the loops deep inside it that take no token of their own (estimating a
/// label mapping, embedding demonstrations for KATE, decoding an image folder, reading weight files, scoring batches).
/// Every entry point that takes a <see cref="CancellationToken"/> (an experiment, the trainer, in-context learning,
/// a zoo model's first-use training, a notebook cell) makes it current for the work it runs, on whatever thread that
/// work runs (it flows with the execution context, to <see cref="ComputeThread"/> too), so a cancelled cell stops at
/// the next batch instead of at the end of the phase.
/// </summary>
public static class Cancellation
{
    private static readonly AsyncLocal<CancellationToken> current = new();

    /// <summary>The token of the run in progress on this logical thread (none outside a run).</summary>
    public static CancellationToken Current => current.Value;

    /// <summary>
    /// Makes <paramref name="token"/> current until the result is disposed. A token that cannot be cancelled leaves an
    /// enclosing run's token current (a library call without a token inside a cancellable cell stays cancellable).
    /// </summary>
    public static Scope Use(CancellationToken token)
    {
        var previous = current.Value;
        if (token.CanBeCanceled) current.Value = token;
        return new Scope(previous);
    }

    /// <summary>Throws <see cref="OperationCanceledException"/> when the current run was cancelled.</summary>
    public static void ThrowIfRequested() => current.Value.ThrowIfCancellationRequested();

    /// <summary>
    /// Builds <paramref name="count"/> parts (a model's layers) in order, checking for a cancel before each: building a
    /// deep model runs every layer's random initialisation, which takes seconds for a large one, before its weights are
    /// read. On a cancel (or any failure) the parts built so far are disposed.
    /// </summary>
    public static T[] Build<T>(int count, Func<int, T> part) where T : IDisposable
    {
        var parts = new List<T>(count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                ThrowIfRequested();
                parts.Add(part(i));
            }
            return parts.ToArray();
        }
        catch
        {
            foreach (var p in parts) p.Dispose();
            throw;
        }
    }

    /// <summary>Restores the token that was current before <see cref="Use"/>.</summary>
    public readonly struct Scope(CancellationToken previous) : IDisposable
    {
        public void Dispose() => current.Value = previous;
    }
}
