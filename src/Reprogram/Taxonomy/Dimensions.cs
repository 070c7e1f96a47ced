namespace Reprogram.Taxonomy;

// The four dimensions of the survey's formulation  y_hat = O_omega( f( I_{lambda,tau,l}(x, c) ) )
// (Ye et al., arXiv 2506.04650). Each enum value is one coordinate value of that dimension.

/// <summary>Format (lambda): whether the manipulation is hand-written or optimised.</summary>
public enum Format
{
    /// <summary>Hand-written: a template, demonstrations, a rationale.</summary>
    Fixed,
    /// <summary>Optimised parameters: a perturbation, soft tokens, prefixes.</summary>
    Learnable,
}

/// <summary>Location (l): the interface of the frozen model where the manipulation acts.</summary>
public enum Location
{
    /// <summary>The raw input space X_S (pixels, text).</summary>
    Input,
    /// <summary>The token or patch embedding space.</summary>
    Embedding,
    /// <summary>Intermediate layers (per-layer prompts, prefix key/values).</summary>
    Hidden,
}

/// <summary>Operator (tau): how the manipulation is combined with the input.</summary>
public enum Operator
{
    /// <summary>x + delta.</summary>
    Additive,
    /// <summary>[p ; x].</summary>
    Concatenative,
    /// <summary>A learned transform g(x).</summary>
    Parametric,
}

/// <summary>Output alignment (omega): how the frozen model's outputs are mapped to the target task.</summary>
public enum OutputAlignment
{
    /// <summary>No mapping needed: the output already is the answer.</summary>
    Identity,
    /// <summary>A fixed rule: verbalizer, answer parsing, class names. (Another summary of the survey calls it "structural".)</summary>
    RuleBased,
    /// <summary>A mapping estimated by counting: frequency, iterative or Bayesian label mapping, calibration.</summary>
    Statistical,
    /// <summary>A learned linear head.</summary>
    Linear,
}

/// <summary>The three fields the survey unifies.</summary>
public enum Paradigm
{
    /// <summary>Learned input perturbations plus output label mapping.</summary>
    ModelReprogramming,
    /// <summary>Learned soft tokens or prefixes.</summary>
    PromptTuning,
    /// <summary>Fixed demonstrations, instructions and chain-of-thought.</summary>
    PromptInstruction,
}

/// <summary>The data the frozen model is repurposed for.</summary>
public enum Modality
{
    Image,
    Text,
    TimeSeries,
    Protein,
    VisionLanguage,
    Multimodal,
}

/// <summary>The taxonomy's dimensions as a value, for filtering, grouping and charts.</summary>
public enum Dimension
{
    Paradigm,
    Format,
    Location,
    Operator,
    Alignment,
    Modality,
}
