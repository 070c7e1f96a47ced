namespace Reprogram.Runtime;

/// <summary>REPROGRAM_MKL_AMD: auto (the default), off, or force (load the shim whatever the CPU, for experiments).</summary>
public enum MklAmdMode { Auto, Off, Force }

/// <summary>Whether the shim should be loaded on this CPU, which MKL code path that unlocks, and why.</summary>
public sealed record MklAmdDecision(bool Load, string CodePath, string Reason);

/// <summary>What <c>#!device</c>, <c>reprogram doctor</c> and <c>reprogram bench</c> say about MKL on AMD.</summary>
/// <param name="Mode">What REPROGRAM_MKL_AMD asks for.</param>
/// <param name="InEffect">The shim is loaded and <c>mkl_serv_intel_cpu_true</c> resolves to it in the process's global scope.</param>
/// <param name="Summary">One sentence: in effect or not, and why.</param>
/// <param name="Advice">What to do where it could not be applied ("" where nothing is to be done).</param>
/// <param name="ShimPath">The shim's file, once written.</param>
/// <param name="ResolvedTo">The library <c>dlsym(RTLD_DEFAULT, "mkl_serv_intel_cpu_true")</c> resolves to (null: not in the global scope).</param>
/// <param name="MklBranch">MKL's own answer once libtorch is loaded: the instruction-set branch it dispatches (mkl_serv_cbwr_get_auto_branch).</param>
public sealed record MklAmdStatus(MklAmdMode Mode, bool InEffect, string Summary, string Advice, string? ShimPath, string? ResolvedTo, string? MklBranch);
