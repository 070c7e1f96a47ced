using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Reprogram.Runtime;

/// <summary>
/// The library's own long-lived thread for tensor work. glibc's mallopt settings only keep freed memory for blocks of
/// its main arena; a notebook cell's thread (or any thread pool thread) usually has an arena of its own whose large
/// blocks are mapped and unmapped at every step. This thread is picked for allocating from the main arena, so
/// experiments that run on it do not page-fault after their first step. With jemalloc, or the tuning switched off
/// (<see cref="NativeAllocator.Enabled"/>), work runs on the caller's thread as before.
/// Work keeps the caller's execution context (async-locals such as the notebook's invocation context flow);
/// TorchSharp's dispose scopes are per thread, so tensors the work returns are not in a scope the caller opened.
/// </summary>
public static class ComputeThread
{
    // glibc hands a new thread an existing arena round-robin once the arena limit is reached; creating at most this
    // many candidates visits every arena (the limit is 8 per core) including the main one.
    private const int MaxCandidates = 96;

    private static readonly object Gate = new();
    private static Worker? _worker;
    private static bool _searched;
    private static int _running;

    /// <summary>
    /// Work started through <see cref="Run{T}(Func{T})"/> or <see cref="RunAsync{T}(Func{T})"/> from another thread and
    /// not yet finished. After a cell is cancelled the kernel answers at once, while the work stops at its next
    /// cancellation check: this says when it has (0).
    /// </summary>
    public static int Running => Volatile.Read(ref _running);

    /// <summary>Waits until no work is <see cref="Running"/>, up to <paramref name="timeout"/>; false when it is still running.</summary>
    public static async Task<bool> WaitUntilIdleAsync(TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Running > 0)
        {
            if (clock.Elapsed >= timeout) return false;
            await Task.Delay(5);
        }
        return true;
    }

    /// <summary>Whether the calling thread is the compute thread.</summary>
    public static bool IsCurrent => _worker is { } w && Environment.CurrentManagedThreadId == w.ThreadId;

    /// <summary>Whether a compute thread on glibc's main arena exists (it is looked for at the first use).</summary>
    public static bool Available => GetWorker() is not null;

    /// <summary>Runs <paramref name="work"/> on the compute thread and waits for it; exceptions come back as thrown.</summary>
    public static T Run<T>(Func<T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (IsCurrent) return work();
        Interlocked.Increment(ref _running);
        try
        {
            return RunOutside(work);
        }
        finally
        {
            Interlocked.Decrement(ref _running);
        }
    }

    private static T RunOutside<T>(Func<T> work)
    {
        if (!NativeAllocator.Enabled || NativeAllocator.Mode != AllocatorMode.GlibcTuned || GetWorker() is not { } worker)
        {
            return work();
        }
        var item = new WorkItem<T>(work, ExecutionContext.Capture());
        worker.Post(item.Execute);
        item.Done.Wait();
        item.Done.Dispose();
        if (item.Error is { } error) error.Throw();
        return item.Result!;
    }

    public static void Run(Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        Run(() => { work(); return true; });
    }

    /// <summary>Runs <paramref name="work"/> on the compute thread without blocking the caller.</summary>
    public static Task<T> RunAsync<T>(Func<T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (!NativeAllocator.Enabled || NativeAllocator.Mode != AllocatorMode.GlibcTuned || GetWorker() is null)
        {
            return Task.Run(() => Run(work));
        }
        // A pool thread only waits; the work itself runs on the compute thread.
        return Task.Factory.StartNew(() => Run(work), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    private static Worker? GetWorker()
    {
        if (_searched) return _worker;
        lock (Gate)
        {
            if (_searched) return _worker;
            NativeAllocator.Apply();
            if (NativeAllocator.Mode == AllocatorMode.GlibcTuned) _worker = FindMainArenaWorker();
            _searched = true;
            return _worker;
        }
    }

    private static Worker? FindMainArenaWorker()
    {
        // Rejected candidates stay alive until the search ends: an exiting thread's arena would go to the next one.
        var rejected = new List<Worker>();
        try
        {
            for (var i = 0; i < MaxCandidates; i++)
            {
                var candidate = new Worker($"Reprogram compute {i}");
                if (candidate.OnMainArena) return candidate;
                rejected.Add(candidate);
            }
            return null;
        }
        finally
        {
            foreach (var w in rejected) w.Stop();
        }
    }

    private sealed class WorkItem<T>(Func<T> work, ExecutionContext? context)
    {
        public ManualResetEventSlim Done { get; } = new();
        public T? Result { get; private set; }
        public ExceptionDispatchInfo? Error { get; private set; }

        public void Execute()
        {
            try
            {
                if (context is null) Result = work();
                else ExecutionContext.Run(context, _ => Result = work(), null);
            }
            catch (Exception e)
            {
                Error = ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                Done.Set();
            }
        }
    }

    private sealed class Worker
    {
        private readonly BlockingCollection<Action> _queue = new();
        private readonly Thread _thread;

        public Worker(string name)
        {
            using var probed = new ManualResetEventSlim();
            _thread = new Thread(() =>
            {
                OnMainArena = NativeAllocator.OnMainArena();
                probed.Set();
                foreach (var action in _queue.GetConsumingEnumerable()) action();
            }, maxStackSize: 16 * 1024 * 1024) { IsBackground = true, Name = name };
            _thread.Start();
            probed.Wait();
            ThreadId = _thread.ManagedThreadId;
        }

        public bool OnMainArena { get; private set; }
        public int ThreadId { get; }

        public void Post(Action action) => _queue.Add(action);

        public void Stop() => _queue.CompleteAdding();
    }
}
