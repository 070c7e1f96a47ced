using System.Text.Json;
using Reprogram.Data;
using Reprogram.Frozen;
using Reprogram.Models.Vision;
using Reprogram.Runtime;
using Reprogram.Training;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Reprogram.Models.Zoo;

/// <summary>
/// What a zoo model is: data, size, training, and what it can do. <see cref="BaseModelChecksum"/> is set for a head
/// trained on a frozen pretrained model's features: the checksum of that model, which the head needs unchanged.
/// </summary>
public sealed record ModelCard(
    string Name, string Architecture, string Data, int TrainExamples, int Epochs, int Seed,
    double FinalTrainLoss, double TestAccuracy, int TestExamples, long Parameters, string Checksum, string WhatItDoes,
    IReadOnlyList<string> Classes, string? BaseModelChecksum = null, double? TrainingSeconds = null);

/// <summary>
/// Source classifiers with a real label space, for label mapping: trained here once, deterministically, on a real data
/// set, cached in <see cref="ReprogramPaths.Models"/> with a model card, and frozen when used.
/// </summary>
public static class SourceClassifiers
{
    public const string FashionCnnName = "fashion-cnn";

    /// <summary>
    /// A small CNN trained on 12,000 Fashion-MNIST images (28 px, grey, 10 clothing classes), 2 epochs, seed 0.
    /// Trained on first use (about half a minute on 2 cores, with progress) and loaded from the cache after.
    /// </summary>
    public static (SmallCnn Model, ModelCard Card) FashionCnn(IProgress<TrainingProgress>? progress = null,
                                                            CancellationToken cancellationToken = default, string? cacheFolder = null)
    {
        var classes = DataSets.FashionMnistClasses;
        return ZooCache.GetOrTrain(FashionCnnName, cacheFolder, () => new SmallCnn(1, 28, classes),
            () => TrainFashionCnn(classes, progress, cancellationToken));
    }

    private static (SmallCnn Model, ModelCard Card) TrainFashionCnn(IReadOnlyList<string> classes, IProgress<TrainingProgress>? progress,
                                                                   CancellationToken cancellationToken)
    {
        using var train = DataSets.FashionMnist(train: true);
        using var test = DataSets.FashionMnist(train: false);
        using var trainSet = train.Subset(12_000, seed: 0);
        using var testSet = test.Subset(2_000, seed: 0);
        manual_seed(0);
        var model = new SmallCnn(1, 28, classes);
        var options = new TrainingOptions { Epochs = 2, BatchSize = 64, LearningRate = 2e-3, Seed = 0 };
        var report = Trainer.Train(new SupervisedTask(model, trainSet.Images, trainSet.Labels), options, progress, cancellationToken);
        if (report.Stop != StopReason.Completed)
        {
            throw new OperationCanceledException($"Training the source classifier {FashionCnnName} stopped: {report.Message}. Nothing was cached.");
        }
        model.eval();
        double accuracy;
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            accuracy = model.Forward(testSet.Images).argmax(-1).eq(testSet.Labels).to(ScalarType.Float32).mean().item<float>();
        }
        var trained = new ModelCard(
            FashionCnnName, "SmallCnn: conv 3x3 (16) - pool - conv 3x3 (32) - pool - linear, 1 x 28 x 28 input", "Fashion-MNIST (Xiao et al. 2017), Debian dataset-fashion-mnist",
            12_000, options.Epochs, options.Seed, report.Curve[^1].Loss, accuracy, 2_000, model.parameters().Sum(p => p.numel()),
            ParameterChecksum.Of(model), "classifies 28 x 28 grey images of clothing into 10 classes; a frozen source model whose label space is clothing",
            classes);
        return (model, trained);
    }

    /// <summary>Ordinary supervised training of a whole model: how zoo models are made, before they are frozen.</summary>
    private sealed class SupervisedTask(SmallCnn model, Tensor images, Tensor labels) : ITrainingTask
    {
        public IReadOnlyList<Parameter> TrainableParameters { get; } = model.parameters().ToArray();
        public int ExampleCount => (int)images.shape[0];
        public void BeforeEpoch(int epoch) => model.train();

        public BatchOutput Step(long[] indices)
        {
            using var index = tensor(indices);
            var y = labels.index_select(0, index);
            var logits = model.Forward(images.index_select(0, index));
            var loss = nn.functional.cross_entropy(logits, y);
            return new BatchOutput(loss, logits.argmax(-1).eq(y).sum().item<long>(), indices.Length, 0);
        }
    }
}
