using Reprogram.Alignments;
using Reprogram.Experiments;
using Reprogram.Manipulations;
using Reprogram.Models.Vision;
using Reprogram.Training;
using static Reprogram.Tests.EngineFixtures;

namespace Reprogram.Tests;

/// <summary>The published recipes as data (every setting cited), and the trainer's per-epoch evaluation for best-epoch reporting.</summary>
public class RecipeTests
{
    [Fact]
    public void Ilm_vp_and_blm_recipes_carry_the_authors_settings()
    {
        var ilm = Recipes.Find("ILM-VP");
        Assert.Same(Recipes.IlmVp, ilm);
        Assert.Equal((224, 200, 128, 0.01, OptimizerKind.Adam, "ilm"), (ilm.ImageSize, ilm.Epochs, ilm.BatchSize, ilm.LearningRate, ilm.Optimizer, ilm.Alignment));
        Assert.Equal([100, 144], ((MultiStepSchedule)ilm.Schedule).Milestones(ilm.Epochs));
        Assert.Equal(96, ilm.PadWidth(32));       // CIFAR, SVHN, GTSRB: 32 px in the middle of 224
        Assert.Equal(48, ilm.PadWidth(128));      // larger data sets: resized to 128
        Assert.Equal(48, ilm.PadWidth(300));
        Assert.Equal(98, ilm.PadWidth(28));       // Fashion-MNIST at its own 28 px
        Assert.Equal(108, ilm.PadWidth(8));       // the 8 x 8 digits

        var blm = Recipes.Find("blm");
        Assert.Equal((256, "blm", 1.0, 0.15), (blm.BatchSize, blm.Alignment, blm.Laplace, blm.TopKRatio));
        Assert.All(Recipes.All.SelectMany(r => r.Settings), s => Assert.False(string.IsNullOrWhiteSpace(s.Source), $"{s.Name} has no source"));
        Assert.Contains(blm.Settings, s => s.Source.Contains("mapping.py"));
        Assert.NotEmpty(blm.Deviations);
        var e = Assert.Throws<ArgumentException>(() => Recipes.Find("vpt"));
        Assert.Contains("ilm-vp, blm", e.Message);
        Assert.InRange(blm.EstimatedStepMemoryGiB, 7, 9);                  // batch 256 at 224 px fits 16 GiB
        var training = blm.Training(seed: 4);
        Assert.Equal((200, 256, 4), (training.Epochs, training.BatchSize, training.Seed));
    }

    [Fact]
    public void The_trainer_evaluates_after_every_epoch_and_reports_the_best_and_the_final()
    {
        using var backbone = CnnBackbone();
        using var split = ImageSplit(32, 16, seed: 5);
        var task = new MethodTrainingTask(backbone, new WatermarkPrompt(3, 16), new LinearHead(10, FourClasses, 1), split);
        var seen = new List<int>();
        double[] scores = [0.2, 0.6, 0.5, 0.6];
        var report = Trainer.Train(task, new TrainingOptions
        {
            Epochs = 4, BatchSize = 16, LearningRate = 0.05, Seed = 3,
            EvaluateAfterEpoch = epoch => { seen.Add(epoch); return scores[epoch]; },
        });
        Assert.Equal([0, 1, 2, 3], seen);
        Assert.Equal(scores, report.Epochs.Select(x => x.Evaluation!.Value));
        Assert.Equal((0.6, 2), report.BestEvaluation);            // the earliest best epoch (1-based), as "acc > best_acc" keeps it
        Assert.Equal(0.6, report.FinalEvaluation);

        var plain = Trainer.Train(task, new TrainingOptions { Epochs = 1, BatchSize = 16, Seed = 3 });
        Assert.Null(plain.BestEvaluation);
        Assert.Null(plain.Epochs[0].Evaluation);
    }
}
