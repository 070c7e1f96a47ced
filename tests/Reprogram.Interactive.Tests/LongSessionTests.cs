using System.Runtime.CompilerServices;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.CSharp;
using Microsoft.DotNet.Interactive.Events;

namespace Reprogram.Interactive.Tests;

/// <summary>
/// Long sessions: a cell rerun under the same variable name must not keep every earlier result alive. (.NET Interactive
/// declares the variable again in a new script submission on every SendValue; the earlier submissions keep theirs.)
/// The whole-session curve, in the real kernel through Jupyter, is FuzzHarnessTests' memory test.
/// </summary>
public class LongSessionTests : KernelTestBase
{
    private const string Icl = "#!icl --model icl-rules --queries 4 --pool 4 --shots 0,1 --seeds 1 --name session";
    private const string Manipulation = "#!manipulation mine --format learnable --location input --operator additive --alignment linear";

    private CSharpKernel CSharp => (CSharpKernel)Kernel.FindKernelByName("csharp")!;

    private int Declarations(string name) => CSharp.ScriptState.Variables.Count(v => v.Name == name);

    [Fact]
    public async Task A_result_rerun_under_the_same_name_replaces_the_previous_one_which_is_then_freed()
    {
        var first = await RunAndTrack(Icl, "session");
        Assert.Equal(1, Declarations("session"));

        var second = await RunAndTrack(Icl, "session");
        Collect();
        Assert.False(first.IsAlive, "the first result is still alive after the rerun replaced it");
        Assert.True(second.IsAlive);
        Assert.Equal(1, Declarations("session"));

        // C# code sees the new result through the same variable.
        var result = await SubmitOk("session.GetType().Name + \" \" + object.ReferenceEquals(session, null)");
        Assert.EndsWith(" False", (string)result.Events.OfType<ReturnValueProduced>().Single().Value);
        Assert.Same(Target(second), CSharp.ScriptState.GetVariable("session").Value);
        await AssertKernelStillUsable();
    }

    [Fact]
    public async Task A_name_the_user_declared_with_another_type_is_declared_again_as_before()
    {
        await SubmitOk("var session = 42;");
        await SubmitOk(Icl);
        Assert.Equal(2, Declarations("session"));
        var result = await SubmitOk("session is int");
        Assert.Equal(false, result.Events.OfType<ReturnValueProduced>().Single().Value);
    }

    [Fact]
    public async Task A_manipulation_defined_again_replaces_the_variable_in_place()
    {
        await SubmitOk(Manipulation);
        await SubmitOk(Manipulation + " --description again");
        Assert.Equal(1, Declarations("mine"));
        var result = await SubmitOk("mine.Description");
        Assert.Equal("again", result.Events.OfType<ReturnValueProduced>().Single().Value);
    }

    // Not inlined, so that no local of the test method keeps the result or the cell's events (which display it) alive.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async Task<WeakReference> RunAndTrack(string cell, string name)
    {
        await SubmitOk(cell);
        return new WeakReference(CSharp.ScriptState.GetVariable(name).Value);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static object? Target(WeakReference reference) => reference.Target;

    private static void Collect()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }
}
