using TorchSharp;
using static TorchSharp.torch;

namespace Reprogram.Models.Causal;

/// <summary>
/// A second, independent instance of a decoder with the same weights in another number format (e.g. a bf16 copy
/// for forward passes). The source is only read: its weights, their format and their checksum stay as they were.
/// </summary>
public static class CausalLmCopy
{
    /// <summary>A frozen copy of <paramref name="source"/> (eval mode, no gradients) with its weights cast to <paramref name="dtype"/>, on <paramref name="device"/>.</summary>
    public static ICausalLm As(ICausalLm source, ScalarType dtype, Device device)
    {
        ICausalLm copy = source switch
        {
            TinyGpt tiny => new TinyGpt(tiny.Config),
            Gpt2 gpt2 => new Gpt2(gpt2.Config),
            Llama llama => new Llama(llama.Config),
            _ => throw new NotSupportedException($"A {source.GetType().Name} cannot be copied into another precision (supported: TinyGpt, Gpt2, Llama)."),
        };
        try
        {
            // Cast first (floating parameters and buffers only), then copy the source's values in: copy_ converts.
            copy.Module.to(dtype).to(device);
            var from = source.Module.state_dict();
            var to = copy.Module.state_dict();
            if (!from.Keys.Order(StringComparer.Ordinal).SequenceEqual(to.Keys.Order(StringComparer.Ordinal)))
            {
                throw new InvalidOperationException($"The copy of {source.GetType().Name} does not have the source's tensors.");
            }
            using (no_grad())
            {
                foreach (var (name, tensor) in to) tensor.copy_(from[name]);
            }
            copy.Module.eval();
            foreach (var p in copy.Module.parameters()) p.requires_grad = false;
            return copy;
        }
        catch
        {
            copy.Dispose();
            throw;
        }
    }
}
