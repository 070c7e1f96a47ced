namespace Reprogram.Cli;

/// <summary>
/// Floating-point operations of the bench's steps, counted from their shapes: the matrix products only (linear layers,
/// attention's two products, the output head, convolutions), 2 per multiply-add. Element-wise work (norms,
/// activations, softmax, the optimiser) is left out: it is small in operations, though not always in time. A training
/// step through a frozen model computes gradients for its input only, so its backward pass costs one product per
/// linear layer and convolution (as many as the forward pass) and two per attention product.
/// </summary>
public static class BenchFlops
{
    /// <summary>One decoder forward pass over <paramref name="tokens"/> new positions that attend to <paramref name="keys"/> positions each, with logits at <paramref name="headPositions"/> of them.</summary>
    public static double DecoderForward(int layers, int hidden, int vocab, long tokens, long keys, long headPositions) =>
        layers * (Linears(hidden, tokens) + Attention(hidden, tokens, keys)) + 2.0 * headPositions * hidden * vocab;

    /// <summary>qkv (3d^2), output projection (d^2) and the MLP (4d^2 + 4d^2) of one layer, per position.</summary>
    public static double Linears(int hidden, long tokens) => 2.0 * tokens * 12 * hidden * (double)hidden;

    /// <summary>q k^T and the weighted sum of values, over all heads.</summary>
    public static double Attention(int hidden, long tokens, long keys) => 2.0 * 2 * tokens * keys * hidden;

    /// <summary>A soft-prompt training step of one row of <paramref name="length"/> positions (prompt included), logits at every position (as the task computes them).</summary>
    public static double SoftPromptStep(int layers, int hidden, int vocab, int length)
    {
        var linears = layers * Linears(hidden, length);
        var attention = layers * Attention(hidden, length, length);
        var head = 2.0 * length * hidden * vocab;
        return 2 * linears + 2 * head + 3 * attention;
    }

    /// <summary>
    /// One 16-shot evaluation of <paramref name="queries"/> queries with one-token label words. Cached: the prefix runs
    /// once (logits at its last position only), each query's tokens attend to prefix + query. Uncached: every row runs
    /// prefix + query. Logits at each row's last position.
    /// </summary>
    public static double IclEvaluation(int layers, int hidden, int vocab, int prefix, int query, int queries, bool cached)
    {
        if (cached)
        {
            return DecoderForward(layers, hidden, vocab, prefix, prefix, 1) +
                   queries * DecoderForward(layers, hidden, vocab, query, prefix + query, 1);
        }
        var length = prefix + query;
        return queries * DecoderForward(layers, hidden, vocab, length, length, 1);
    }

    /// <summary>
    /// A forward pass of one image through ResNet's stem and basic-block stages (conv 7x7/2, max-pool /2, then stages of
    /// 64, 128, 256, 512 channels, each but the first starting with stride 2 and a 1x1 projection).
    /// </summary>
    public static double ResNetForward(IReadOnlyList<int> blocks, int size)
    {
        static int Out(int s, int kernel, int stride, int pad) => (s + 2 * pad - kernel) / stride + 1;
        static double Conv(int cin, int cout, int kernel, int outSize) => 2.0 * cin * cout * kernel * kernel * outSize * outSize;
        var s = Out(size, 7, 2, 3);
        var flops = Conv(3, 64, 7, s);
        s = Out(s, 3, 2, 1);
        var cin = 64;
        int[] widths = [64, 128, 256, 512];
        for (var stage = 0; stage < blocks.Count; stage++)
        {
            var cout = widths[stage];
            for (var b = 0; b < blocks[stage]; b++)
            {
                var stride = stage > 0 && b == 0 ? 2 : 1;
                var o = Out(s, 3, stride, 1);
                flops += Conv(cin, cout, 3, o) + Conv(cout, cout, 3, o);
                if (stride != 1 || cin != cout) flops += Conv(cin, cout, 1, o);
                (s, cin) = (o, cout);
            }
        }
        return flops;
    }

    /// <summary>A pad-prompt training step per image: the forward pass and the gradient for the input, plus the head.</summary>
    public static double PadPromptStep(IReadOnlyList<int> blocks, int size, int classes) =>
        2 * ResNetForward(blocks, size) + 3 * 2.0 * 512 * classes;
}
