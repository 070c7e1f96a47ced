using System.Security.Cryptography;
using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Frozen;

/// <summary>The frozen model's parameters changed during an experiment: the run is invalid.</summary>
public sealed class FrozenModelChangedException(string message) : Exception(message);

/// <summary>
/// The frozen-model contract: the wrapped model is in eval mode, no parameter requires a gradient, it lives on one
/// device, and a checksum of every parameter and buffer is taken when it is frozen so that any experiment can prove
/// afterwards that nothing changed. What a manipulation may hook into is the model's own interface
/// (<see cref="IImageModel"/>, <see cref="ITokenModel"/>).
/// </summary>
public sealed class FrozenModel<TModel> : IDisposable where TModel : nn.Module
{
    public TModel Model { get; }
    /// <summary>A name that identifies the weights, e.g. "resnet18-imagenet (CNTK export)".</summary>
    public string Identity { get; }
    public Device Device { get; }
    public string ChecksumAtFreeze { get; }
    public long ParameterCount { get; }

    private readonly bool ownsModel;

    /// <param name="model">The pretrained model; it is put in eval mode with gradients off.</param>
    /// <param name="identity">A name that identifies the weights.</param>
    /// <param name="device">The one device the model lives on.</param>
    /// <param name="ownsModel">Whether disposing this wrapper disposes the model (false for a model cached and shared across runs).</param>
    public FrozenModel(TModel model, string identity, Device device, bool ownsModel = true)
    {
        this.ownsModel = ownsModel;
        Model = model;
        Identity = identity;
        Device = device;
        // A model shared across runs (the one MiniLM of a process) may be frozen by several runs at once: .to() re-registers
        // parameters even on the device they are on, and a count taken meanwhile missed the embedding tables. One freeze
        // at a time per model, and no move when it is already there.
        lock (model)
        {
            if (model.parameters().Any(p => p.device_type != device.type || (device.index >= 0 && p.device_index != device.index))) model.to(device);
            model.eval();
            // The model outlives any dispose scope it was built in.
            foreach (var p in model.parameters()) { p.requires_grad = false; p.DetachFromDisposeScope(); }
            foreach (var b in model.buffers()) b.DetachFromDisposeScope();
            ParameterCount = model.parameters().Sum(p => p.numel());
            ChecksumAtFreeze = ParameterChecksum.Of(model);
        }
    }

    public string Checksum() => ParameterChecksum.Of(Model);

    /// <summary>Throws when any parameter or buffer differs from the moment of freezing; returns the checksum otherwise.</summary>
    public string VerifyUnchanged()
    {
        var now = Checksum();
        if (now != ChecksumAtFreeze)
        {
            throw new FrozenModelChangedException(
                $"The frozen model '{Identity}' changed: parameter checksum {ParameterChecksum.Short(ChecksumAtFreeze)} at freeze, " +
                $"{ParameterChecksum.Short(now)} now. A manipulation or alignment wrote into the model; the results are not reprogramming results.");
        }
        return now;
    }

    /// <summary>Whether any model parameter requires or holds a gradient (the contract says none may).</summary>
    public IReadOnlyList<string> ParametersWithGradients() =>
        Model.named_parameters().Where(p => p.parameter.requires_grad || p.parameter.grad is not null).Select(p => p.name).ToArray();

    public void Dispose()
    {
        if (ownsModel) Model.Dispose();
    }
}

/// <summary>SHA-256 over every parameter and buffer (name, dtype, shape, bytes), in name order.</summary>
public static class ParameterChecksum
{
    public static string Of(nn.Module module)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var tensors = module.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
            .Concat(module.named_buffers())
            .OrderBy(t => t.Item1, StringComparer.Ordinal);
        foreach (var (name, tensor) in tensors)
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{name}|{tensor.dtype}|{string.Join(",", tensor.shape)}|"));
            using var cpu = tensor.detach().cpu().contiguous();
            sha.AppendData(cpu.bytes);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    public static string Short(string checksum) => checksum.Length > 12 ? checksum[..12] : checksum;
}
