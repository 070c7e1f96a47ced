using System.Reflection;
using Microsoft.DotNet.Interactive;

namespace Reprogram.Interactive.Directives;

/// <summary>
/// Results shared with the C# kernel under a name that already holds one: the variable is assigned in place.
/// <para>
/// .NET Interactive's C# kernel handles every <c>SendValue</c> by compiling a new script submission that declares the
/// variable again (<c>T name = default;</c>), and every earlier submission keeps its own declaration, so its value, alive
/// for the rest of the session. A notebook that reruns <c>#!icl</c> (the variable <c>icl</c>) a hundred times kept a
/// hundred results and a hundred compiled submissions: the long-session memory harness measured about 0.5 to 0.9 MB
/// more live managed memory per rerun, growing with the session. Assigning the existing variable (Roslyn's
/// <c>ScriptVariable.Value</c>, when its declared type takes the new result) lets the previous result go and compiles nothing.
/// </para>
/// The C# kernel's script state is read by reflection (its public <c>ScriptState</c> property, and Roslyn's public
/// <c>ScriptState.GetVariable</c> and <c>ScriptVariable</c>), so that the extension need not reference the C# kernel's
/// package; where any of it is missing or refuses, the caller falls back to <c>SendValue</c>.
/// </summary>
internal static class SharedVariables
{
    /// <summary>True when <paramref name="name"/> already exists in the C# kernel with a type that takes <paramref name="value"/>, and now holds it.</summary>
    public static bool TryAssignInPlace(Kernel csharp, string name, object value)
    {
        try
        {
            var state = csharp.GetType().GetProperty("ScriptState", BindingFlags.Public | BindingFlags.Instance)?.GetValue(csharp);
            var variable = state?.GetType().GetMethod("GetVariable", [typeof(string)])?.Invoke(state, [name]);
            if (variable is null) return false;
            var type = variable.GetType();
            if (type.GetProperty("Type")?.GetValue(variable) is not Type declared || !declared.IsInstanceOfType(value)) return false;
            if (type.GetProperty("IsReadOnly")?.GetValue(variable) is not false) return false;
            type.GetProperty("Value")!.SetValue(variable, value);
            return true;
        }
        catch (Exception e) when (e is TargetInvocationException or ArgumentException or InvalidOperationException or AmbiguousMatchException)
        {
            return false;
        }
    }
}
