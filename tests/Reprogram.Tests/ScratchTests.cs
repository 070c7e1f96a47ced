using Reprogram.Experiments;
using Reprogram.Instruction;
using Reprogram.Models.Causal;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
namespace Reprogram.Tests;
public class ScratchTests(ITestOutputHelper output)
{
    [Fact]
    public void Scratch()
    {
        foreach (var (name, config, demo, query) in new[] {
            ("zoo-shape", new GptConfig(48, 64, 2, 4, 64), 3, 1),
            ("gpt2-small", new GptConfig(50257, 256, 12, 12, 768), 12, 6),
            ("mid", new GptConfig(8192, 256, 6, 8, 512), 12, 6) })
        {
            manual_seed(0);
            var model = new TinyGpt(config); model.eval();
            var g = new Random(0);
            long[] R(int n) => Enumerable.Range(0, n).Select(_ => (long)g.Next(1, config.VocabularySize)).ToArray();
            var prefix = R(16 * demo);
            var requests = Enumerable.Range(0, 200).Select(_ => new ScoringRequest(prefix, R(query), [R(1), R(1), R(1)])).ToArray();
            foreach (var round in new[] { 0, 1 })
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                var (a, ca) = LikelihoodScoring.Score(model, requests, true, 32);
                var tc = sw.Elapsed.TotalSeconds; sw.Restart();
                var (b, cb) = LikelihoodScoring.Score(model, requests, false, 32);
                var tu = sw.Elapsed.TotalSeconds;
                output.WriteLine($"{name}: cached {tc:0.000}s ({ca.Tokens} tok), uncached {tu:0.000}s ({cb.Tokens} tok), ratio {tu / tc:0.0}x, uncached tok/s {cb.Tokens / tu:0}");
            }
        }
    }
}
