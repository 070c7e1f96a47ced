using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;

namespace Reprogram.Interactive.Directives;

/// <summary>
/// The last line of defence for this extension's magic commands: an exception that no handler turned into a message
/// (a bug) is shown as one line naming the command and the error, never as a stack trace, and kept in
/// <see cref="Last"/> for whoever investigates. Expected failures (bad values, missing files, cancellation) get their
/// own messages in the handlers and never reach this.
/// </summary>
public static class DirectiveErrors
{
    /// <summary>The last unexpected exception a magic command of this extension stopped on (with its stack trace).</summary>
    public static Exception? Last { get; private set; }

    /// <summary>The words every such message starts its explanation with (the fuzz harness counts them as defects).</summary>
    public const string Marker = "stopped on an unexpected error";

    public static void Install(Kernel root) =>
        root.AddMiddleware(async (command, context, next) =>
        {
            if (command is not KernelDirectiveCommand directive || !ValueSourceGuard.Directives.TryGetValue(directive.GetType(), out var name))
            {
                await next(command, context);
                return;
            }
            try
            {
                await next(command, context);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Last = e;
                context.Fail(command, message: Message(name, e));
            }
        }, nameof(DirectiveErrors));

    public static string Message(string directive, Exception e)
    {
        var inner = e is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerExceptions[0] : e;
        return $"{directive} {Marker} ({inner.GetType().Name}: {inner.Message.Split('\n')[0].Trim()}). This is a bug in Reprogram.Interactive; " +
               "the whole error is in Reprogram.Interactive.Directives.DirectiveErrors.Last.";
    }
}
