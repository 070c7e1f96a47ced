using Reprogram.Models.Zoo;
using Reprogram.Training;

namespace Reprogram.Tests;

[Collection("zoo")]
public class ZooTests
{
    [Fact]
    public void The_fashion_classifier_trains_deterministically_and_is_reused_from_the_cache()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"rp-zoo-{Guid.NewGuid():N}");
        var reports = new List<TrainingProgress>();
        var (first, card) = SourceClassifiers.FashionCnn(new SyncProgress(reports.Add), cacheFolder: folder);
        Assert.NotEmpty(reports);                                   // trained, with progress
        Assert.True(card.TestAccuracy > 0.75, $"test accuracy {card.TestAccuracy}");
        Assert.Equal(10, card.Classes.Count);
        Assert.True(File.Exists(Path.Combine(folder, "fashion-cnn-v1.json")));

        var again = new List<TrainingProgress>();
        var (second, card2) = SourceClassifiers.FashionCnn(new SyncProgress(again.Add), cacheFolder: folder);
        Assert.Empty(again);                                        // loaded, not trained
        Assert.Equal(card.Checksum, card2.Checksum);
        Assert.Equal(card.Checksum, Frozen.ParameterChecksum.Of(second));

        // Same seed, same data, same machine: the same weights as a fresh training elsewhere.
        var (_, other) = SourceClassifiers.FashionCnn(cacheFolder: folder + "-b");
        Assert.Equal(card.Checksum, other.Checksum);
    }

    [Fact]
    public void A_tampered_cache_entry_is_refused_with_what_to_do()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"rp-zoo-{Guid.NewGuid():N}");
        SourceClassifiers.FashionCnn(cacheFolder: folder);
        var card = Path.Combine(folder, "fashion-cnn-v1.json");
        File.WriteAllText(card, File.ReadAllText(card).Replace("\"Checksum\": \"", "\"Checksum\": \"00"));
        var e = Assert.Throws<InvalidDataException>(() => SourceClassifiers.FashionCnn(cacheFolder: folder));
        Assert.Contains("delete both files to retrain", e.Message);
    }

    private sealed class SyncProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }
}
