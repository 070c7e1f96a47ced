namespace Reprogram.Cli.Notebooks;

/// <summary>What happened to one code cell.</summary>
public sealed record CellRun(int Index, string KernelName, string FirstLine, TimeSpan Elapsed, string? Error)
{
    public bool Failed => Error is not null;
}

/// <summary>The outcome of running a notebook: every executed cell, the first failure if any, and the files written.</summary>
public sealed record NotebookRun(
    string Input,
    IReadOnlyList<CellRun> Cells,
    TimeSpan Elapsed,
    string? OutputNotebook,
    string? OutputHtml)
{
    public CellRun? FailedCell => Cells.FirstOrDefault(c => c.Failed);
    public bool Succeeded => FailedCell is null;
}
