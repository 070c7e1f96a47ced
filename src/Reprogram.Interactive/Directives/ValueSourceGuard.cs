using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Events;
using Microsoft.DotNet.Interactive.Formatting;

namespace Reprogram.Interactive.Directives;

/// <summary>
/// Keeps <c>@</c> value sources in this extension's magic commands from hanging the kernel or binding to nothing.
/// <para>
/// In a magic command, a value that starts with <c>@</c> is a value source: <c>@input:prompt</c> and
/// <c>@password:prompt</c> ask the user, <c>@name</c> and <c>@kernel:name</c> read a variable. .NET Interactive
/// (1.0.0-beta.26120, <c>SubmissionParser.RequestMultipleInputsIfAppropriate</c>) resolves them before any option is
/// validated, and when a command has more than one it sends <see cref="RequestInputs"/>, even when none of them is an
/// input. The <c>dotnet-interactive</c> tool answers that with an HTML form and waits, on a barrier, for the form's
/// script to send the values back; a front end that does not run that script (jupyter_client, nbconvert, a headless
/// client) never does, so the cell never finishes and every later cell queues behind it
/// (<c>#!set --name @csharp:a --value @csharp:b</c> shows it with no extension loaded). The sources that are not
/// inputs are then bound to nothing (null), which would silently mean "the default".
/// </para>
/// <para>
/// For this extension's commands this guard (a kernel middleware) answers such a request itself, without a form, when
/// the command has a bare <c>@</c> (no source named) or mixes several sources of which some are not inputs, and then
/// refuses the command with a message naming the option. A single bare <c>@</c> would otherwise ask the C# kernel for a
/// variable named "" (error DNI202); it gets the same message. Several <c>@input:</c>/<c>@password:</c> sources alone are
/// left to .NET Interactive's form, which a notebook front end with its scripts answers.
/// </para>
/// </summary>
public static class ValueSourceGuard
{
    /// <summary>This extension's commands and the directive each one is bound from.</summary>
    public static readonly IReadOnlyDictionary<Type, string> Directives = new Dictionary<Type, string>
    {
        [typeof(ShowTaxonomy)] = "#!taxonomy",
        [typeof(DeclareManipulation)] = "#!manipulation",
        [typeof(ShowDevice)] = "#!device",
        [typeof(RunReprogramming)] = "#!reprogram",
        [typeof(RunPromptTuning)] = "#!soft-prompt",
        [typeof(RunInContextLearning)] = "#!icl",
        [typeof(RunChainOfThought)] = "#!cot",
        [typeof(RunComparison)] = "#!compare",
    };

    private const string Placeholder = "@";

    public static void Install(Kernel root) =>
        root.AddMiddleware(async (command, context, next) =>
        {
            switch (command)
            {
                case RequestInputs inputs when ProblemIn(Submission(command, context)) is not null:
                    // No form: the command is refused below, once it is bound.
                    context.Publish(new InputsProduced(new Dictionary<string, string>(), inputs));
                    return;
                case RequestValue value when string.IsNullOrEmpty(value.Name) && ProblemIn(Submission(command, context)) is not null:
                    // A bare @ asks for a variable named "": answer with the @ itself, and the command is refused below.
                    context.Publish(new ValueProduced(Placeholder, Placeholder, new FormattedValue(PlainTextFormatter.MimeType, Placeholder), value));
                    return;
                case KernelDirectiveCommand directive when Directives.TryGetValue(directive.GetType(), out var name) &&
                                                           Problem(Submission(command, context), name) is { } problem:
                    context.Fail(directive, message: problem);
                    return;
            }
            await next(command, context);
        }, nameof(ValueSourceGuard));

    /// <summary>The code of the cell a command came from (the root of its parents, or the cell being run).</summary>
    private static string? Submission(KernelCommand command, KernelInvocationContext context)
    {
        for (var c = command; c is not null; c = c.Parent)
        {
            if (c is SubmitCode submit) return submit.Code;
        }
        return (context.Command as SubmitCode)?.Code;
    }

    private static string? ProblemIn(string? code) =>
        code is null ? null : Directives.Values.Select(d => Problem(code, d)).FirstOrDefault(p => p is not null);

    /// <summary>
    /// What is wrong with the value sources of a directive's lines in a cell, or null: a bare <c>@</c>, or several
    /// sources of which some are not inputs.
    /// </summary>
    public static string? Problem(string? code, string directive)
    {
        if (code is null) return null;
        foreach (var line in code.Split('\n'))
        {
            var tokens = Tokens(line.TrimEnd('\r'));
            if (tokens.Count == 0 || tokens[0] != directive) continue;
            var sources = new List<(string Option, string Token)>();
            string option = "(the value)";
            foreach (var token in tokens.Skip(1))
            {
                if (token.StartsWith("--", StringComparison.Ordinal)) option = token;
                else if (token.StartsWith('@')) sources.Add((option, token));
            }
            if (sources.FirstOrDefault(s => SourceKind(s.Token).Length == 0) is { Token: not null } bare)
            {
                return $"{directive} {bare.Option} {bare.Token}: a bare @ is not a value. In a magic command a value that starts with @ is a value source " +
                       "(@input:prompt asks for it, @name or @csharp:name reads a C# variable); write the value itself, or quote it (\"@\") to mean the character.";
            }
            if (sources.Count > 1 && sources.Any(s => SourceKind(s.Token) is not ("input" or "password")))
            {
                return $"{directive} has {sources.Count} value sources ({string.Join(", ", sources.Select(s => $"{s.Option} {s.Token}"))}): .NET Interactive asks for several " +
                       "in one form, which only a front end running its scripts answers (elsewhere the cell never finishes), and binds those that are not " +
                       "@input:/@password: to nothing. Use one value source per magic command, or set the option in C# (the options' SessionDefaults).";
            }
        }
        return null;
    }

    /// <summary>The kind of a value source token, as .NET Interactive reads it: "input" for @input:x, "csharp" for @csharp:x, "" for a bare @.</summary>
    internal static string SourceKind(string token)
    {
        var body = token[1..];
        var colon = body.IndexOf(':');
        // @name (no colon) reads the variable "name" from the default kernel.
        return colon < 0 ? body : body[..colon];
    }

    /// <summary>
    /// A magic command line split as .NET Interactive's parser splits it: at white space, except inside a quoted
    /// string or a JSON object or array.
    /// </summary>
    internal static IReadOnlyList<string> Tokens(string line)
    {
        var tokens = new List<string>();
        var i = 0;
        while (i < line.Length)
        {
            while (i < line.Length && char.IsWhiteSpace(line[i])) i++;
            if (i >= line.Length) break;
            var start = i;
            if (line[i] == '"')
            {
                i++;
                while (i < line.Length && !(line[i] == '"' && line[i - 1] != '\\')) i++;
                i = Math.Min(line.Length, i + 1);
            }
            else if (line[i] is '{' or '[')
            {
                var depth = 0;
                for (; i < line.Length; i++)
                {
                    if (line[i] is '{' or '[') depth++;
                    else if (line[i] is '}' or ']') depth--;
                    if (depth <= 0) { i++; break; }
                }
            }
            else
            {
                while (i < line.Length && !char.IsWhiteSpace(line[i])) i++;
            }
            tokens.Add(line[start..i]);
        }
        return tokens;
    }
}
