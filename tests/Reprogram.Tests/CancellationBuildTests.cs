using Reprogram.Models.Vision;
using Reprogram.Runtime;

namespace Reprogram.Tests;

/// <summary>
/// Building a model's layers stops at a cancel (a large model's random initialisation takes seconds) and frees what it
/// built; a forward pass through an image model stops between blocks (a batch through a deep one takes seconds on a CPU).
/// </summary>
public class CancellationBuildTests
{
    private sealed class Part(int index, List<int> disposed) : IDisposable
    {
        public int Index { get; } = index;
        public void Dispose() => disposed.Add(Index);
    }

    [Fact]
    public void Parts_are_built_in_order_when_nothing_is_cancelled()
    {
        var disposed = new List<int>();
        var parts = Cancellation.Build(4, i => new Part(i, disposed));
        Assert.Equal([0, 1, 2, 3], parts.Select(p => p.Index));
        Assert.Empty(disposed);
    }

    [Fact]
    public void A_cancel_stops_the_build_and_disposes_the_parts_built()
    {
        using var cts = new CancellationTokenSource();
        using var scope = Cancellation.Use(cts.Token);
        var disposed = new List<int>();
        var built = 0;
        Assert.Throws<OperationCanceledException>(() => Cancellation.Build(10, i =>
        {
            if (++built == 3) cts.Cancel();   // cancelled while the third part is built
            return new Part(i, disposed);
        }));
        Assert.Equal(3, built);                // no fourth part was started
        Assert.Equal([0, 1, 2], disposed.Order());
    }

    [Fact]
    public void A_part_that_fails_disposes_the_parts_before_it()
    {
        var disposed = new List<int>();
        Assert.Throws<InvalidOperationException>(() => Cancellation.Build(5, i => i == 2 ? throw new InvalidOperationException("bad layer") : new Part(i, disposed)));
        Assert.Equal([0, 1], disposed.Order());
    }

    [Fact]
    public void A_cancelled_load_does_not_build_a_resnet()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        using var scope = Cancellation.Use(cts.Token);
        // ResNet-152: built whole, its blocks' initialisation takes seconds; a cancelled load stops at the first block.
        Assert.Throws<OperationCanceledException>(() => new ResNet([3, 8, 36, 3], 1000, bottleneck: true));
    }

    [Fact]
    public void A_cancelled_forward_pass_of_an_image_model_or_encoder_stops_between_blocks()
    {
        using var bert = new Reprogram.Models.Text.BertEncoder(new Reprogram.Models.Text.BertConfig(VocabularySize: 10, HiddenSize: 8, Layers: 2, Heads: 2, IntermediateSize: 16, MaxPositions: 8));
        using var ids = TorchSharp.torch.tensor(new long[] { 1, 2, 3, 4 }).view(1, 4);
        using var mask = TorchSharp.torch.ones(1, 4, dtype: TorchSharp.torch.ScalarType.Int64);
        using var resnet = new ResNet([2, 2, 2, 2], 10);
        using var vit = new VisionTransformer(new ViTConfig(ImageSize: 16, PatchSize: 8, Layers: 2, Heads: 2, HiddenSize: 8, MlpSize: 16), [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f]);
        using var noGrad = TorchSharp.torch.no_grad();
        using var images = TorchSharp.torch.rand(2, 3, 16, 16);
        using (resnet.Forward(images)) { }   // not cancelled: runs
        using (vit.Forward(images)) { }
        using (bert.Forward(ids, mask)) { }
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        using var scope = Cancellation.Use(cts.Token);
        Assert.Throws<OperationCanceledException>(() => resnet.Forward(images));
        Assert.Throws<OperationCanceledException>(() => vit.Forward(images));
        Assert.Throws<OperationCanceledException>(() => bert.Forward(ids, mask));
    }
}
