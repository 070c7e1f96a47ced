using Reprogram.Taxonomy;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Manipulations;

/// <summary>
/// An input manipulation I_{lambda,tau,l} of the survey's formulation: it declares its own format, location and
/// operator (the output alignment declares the fourth coordinate) and how many parameters it trains.
/// </summary>
public interface IManipulation
{
    /// <summary>A short name, e.g. "padding prompt (ILM-VP)".</summary>
    string Name { get; }
    Format Format { get; }
    Location Location { get; }
    Operator Operator { get; }
    long TrainableParameters { get; }
}

/// <summary>A learnable manipulation: a TorchSharp module whose parameters are the only thing an experiment trains.</summary>
public abstract class LearnableManipulation : nn.Module, IManipulation
{
    protected LearnableManipulation(string name) : base(name) => Name = name;

    public string Name { get; }
    public Format Format => Format.Learnable;
    public abstract Location Location { get; }
    public abstract Operator Operator { get; }
    public long TrainableParameters => parameters().Where(p => p.requires_grad).Sum(p => p.numel());

    /// <summary>Shape and size facts written into saved files and result tables.</summary>
    public virtual IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>();
}

/// <summary>A learnable manipulation of the raw input: images [B, C, H, W] in, images out.</summary>
public abstract class InputManipulation : LearnableManipulation
{
    protected InputManipulation(string name) : base(name) { }
    public override Location Location => Location.Input;
    /// <summary>The image size the manipulation expects in.</summary>
    public abstract int InputSize { get; }
    /// <summary>The image size it gives the frozen model.</summary>
    public abstract int OutputSize { get; }
    public abstract Tensor Apply(Tensor images);

    protected void CheckInput(Tensor images, int channels)
    {
        if (images.dim() != 4 || images.shape[1] != channels || images.shape[2] != InputSize || images.shape[3] != InputSize)
        {
            throw new ArgumentException(
                $"{Name} expects images [batch, {channels}, {InputSize}, {InputSize}], got [{string.Join(", ", images.shape)}].");
        }
    }
}
