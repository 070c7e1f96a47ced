using static Reprogram.Interactive.Directives.DirectiveValues;
using System.Globalization;
using Microsoft.AspNetCore.Html;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Directives;
using Microsoft.DotNet.Interactive.Formatting;
using Reprogram.Data;
using Reprogram.Experiments;
using Reprogram.Frozen;
using Reprogram.Interactive.Formatting;
using Reprogram.Runtime;
using Reprogram.Training;

namespace Reprogram.Interactive.Directives;

/// <summary>The bound options of <c>#!reprogram</c> (strings, parsed here so every bad value gets our message).</summary>
public sealed class RunReprogramming : KernelDirectiveCommand
{
    public string? Model { get; set; }
    public string? Dataset { get; set; }
    public string? Train { get; set; }
    public string? Test { get; set; }
    public string? Manipulation { get; set; }
    public string? PadWidth { get; set; }
    public string? PatchSize { get; set; }
    public string? Alignment { get; set; }
    public string? ImageSize { get; set; }
    public string? Epochs { get; set; }
    public string? Batch { get; set; }
    public string? Lr { get; set; }
    public string? Schedule { get; set; }
    public string? Seed { get; set; }
    public string? Device { get; set; }
    public bool Baseline { get; set; }
    public bool FeatureChannelsAsLabels { get; set; }
    public string? Recipe { get; set; }
    public string? Save { get; set; }
    public string? Export { get; set; }
    public string? Name { get; set; }
    // Consistent option names (OptionAliases): --task (older --dataset), --seeds (older --seed); --load (LoadedRuns).
    public string? Task { get; set; }
    public string? Seeds { get; set; }
    public string? Load { get; set; }
    public string? ImageFolder { get; set; }

    /// <summary>The task named by --task, its older name --dataset, or --image-folder (a folder of the user's images); null when none is given.</summary>
    public string? TaskOrFolder()
    {
        var task = OptionAliases.Merge(Task, Dataset, "--task", "--dataset");
        if (ImageFolder is null) return task;
        if (task is not null) throw new ArgumentException($"--image-folder '{ImageFolder}' and --task '{task}' both name the task: give one of them.");
        if (!Directory.Exists(ImageFolder))
        {
            throw new ArgumentException($"--image-folder: there is no folder at {Path.GetFullPath(ImageFolder)} (it needs one sub-folder of images per class).");
        }
        return ImageFolder;
    }

    public ReprogramOptions ToOptions()
    {
        var d = ReprogramOptions.SessionDefaults;
        var options = d with
        {
            Model = Model ?? d.Model,
            Dataset = TaskOrFolder() ?? d.Dataset,
            TrainCount = Int(Train, "--train") ?? d.TrainCount,
            TestCount = Int(Test, "--test") ?? d.TestCount,
            Manipulation = Manipulation?.ToLowerInvariant() ?? d.Manipulation,
            PadWidth = Int(PadWidth, "--pad-width") ?? d.PadWidth,
            PatchSize = Int(PatchSize, "--patch-size") ?? d.PatchSize,
            Alignment = Alignment?.ToLowerInvariant() ?? d.Alignment,
            ImageSize = Int(ImageSize, "--image-size") ?? d.ImageSize,
            Epochs = Int(Epochs, "--epochs") ?? d.Epochs,
            BatchSize = Int(Batch, "--batch") ?? d.BatchSize,
            LearningRate = Number(Lr, "--lr") ?? d.LearningRate,
            Schedule = Schedule ?? d.Schedule,
            Seeds = OptionAliases.Seeds(Seeds, Seed) ?? d.Seeds,
            Seed = d.Seed,
            Device = Device ?? d.Device,
            Baselines = Baseline || d.Baselines,
            FeatureChannelsAsLabels = FeatureChannelsAsLabels || d.FeatureChannelsAsLabels,
            Recipe = Recipe ?? d.Recipe,
        };
        options.Validate();
        _ = VariableName;
        ExportPath(Export);
        SavePath(Save);
        if (Save is not null && options.Manipulation == "none") throw new ArgumentException("--save keeps a learned input manipulation: --manipulation none has none to save.");
        return options;
    }

    public string VariableName => DirectiveValues.VariableName(Name, "reprogramming");

    public override IEnumerable<string> GetValidationErrors(CompositeKernel kernel) =>
        ValidationErrors(() => { if (Load is not null) this.LoadRequest(); else ToOptions(); });
}

/// <summary>
/// <c>#!reprogram</c>: model reprogramming of a frozen vision model in one cell: live progress, then the results table
/// (with baselines), training curves, the learned prompt and the label mapping. The result becomes a C# variable.
/// </summary>
internal static class ReprogramDirective
{
    public static KernelActionDirective Create() => new("#!reprogram")
    {
        Description = "Reprograms a frozen vision model for a new task: a learned input manipulation (padding, watermark or patch prompt, " +
                      "or a learned transform) plus an output alignment (label mapping or a linear head), with the model's weights unchanged. " +
                      "Defaults finish in about a minute on a 2-core CPU. Example: #!reprogram --model resnet18 --task fashion-mnist --manipulation pad --baseline; " +
                      "#!reprogram --load saved.safetensors applies a saved one to new inputs.",
        Parameters =
        {
            new KernelDirectiveParameter("--model", "resnet18 (ImageNet, CNTK export, features), fashion-cnn (a Fashion-MNIST classifier trained here), resnet18-fashion (the ImageNet ResNet-18's frozen features with a Fashion-MNIST linear head trained here: real classes for label mapping), or a torchvision ResNet-18 .safetensors/.pt file. Default resnet18.")
                .AddCompletions(() => ReprogramOptions.Models),
            new KernelDirectiveParameter("--task", "fashion-mnist, digits, or a folder with one sub-folder per class (the older name --dataset still works). Default fashion-mnist.")
                .AddCompletions(() => Registries.Tasks.Entries.Where(e => e.Modality == TaskModality.Image && !e.IsPattern).Select(e => e.Name)),
            new KernelDirectiveParameter("--image-folder", "Your own images: a folder with one sub-folder per class (.png, .jpg, .bmp, ...); the same as --task FOLDER."),
                        OptionAliases.Parameter("--dataset", "--task").AddCompletions(() => Registries.Tasks.Entries.Where(e => e.Modality == TaskModality.Image && !e.IsPattern).Select(e => e.Name)),
            new KernelDirectiveParameter("--train", "Training examples (a class-balanced subset chosen by the seed). Default 1000 (every default: ReprogramOptions.SessionDefaults).") { TypeHint = "number" },
            new KernelDirectiveParameter("--test", "Test examples. Default 500.") { TypeHint = "number" },
            new KernelDirectiveParameter("--manipulation", "pad (ILM-VP frame), watermark (full image), patch, parametric (learned 1x1 transform) or none. Default pad.")
                .AddCompletions(() => ReprogramOptions.Manipulations),
            new KernelDirectiveParameter("--pad-width", "Frame width in pixels for pad (default: an eighth of the image size).") { TypeHint = "number" },
            new KernelDirectiveParameter("--patch-size", "Patch size in pixels for patch. Default 16.") { TypeHint = "number" },
            new KernelDirectiveParameter("--alignment", "rlm, flm, ilm, blm, blm+ (label mappings) or linear (a learned head). Default: linear for feature models, ilm for classifiers.")
                .AddCompletions(() => ReprogramOptions.Alignments),
            new KernelDirectiveParameter("--image-size", "The size of the images the frozen model sees. Default 112 for ResNet-18.") { TypeHint = "number" },
            new KernelDirectiveParameter("--epochs", "Epochs. Default 3.") { TypeHint = "number" },
            new KernelDirectiveParameter("--batch", "Batch size. Default 32.") { TypeHint = "number" },
            new KernelDirectiveParameter("--lr", "Learning rate (Adam). Default 0.01.") { TypeHint = "number" },
            new KernelDirectiveParameter("--schedule", "constant, multistep (x0.1 at 50% and 72% of the epochs, as ILM-VP) or cosine. Default multistep.")
                .AddCompletions(() => ["constant", "multistep", "cosine"]),
            new KernelDirectiveParameter("--seeds", "Seeds: a count (3 = 0,1,2), a list (0,4,7) or a range (0-4); each draws its subset, data order and initialisation, and the table shows the mean and spread (the older name --seed still works: --seed N is the one seed N). Default 0."),
            OptionAliases.Parameter("--seed", "--seeds (--seed N is the one seed N)", "number"),
            new KernelDirectiveParameter("--device", "auto, cpu, cuda or cuda:N. Default: the session's (#!device).").AddCompletions(() => ["auto", "cpu", "cuda"]),
            new KernelDirectiveParameter("--baseline", "Also run the baselines: no input manipulation (same alignment), and the untrained prompt.") { Flag = true },
            new KernelDirectiveParameter("--feature-channels-as-labels", "Allow label mapping over a features-only model, treating feature channels as source labels (they are not classes).") { Flag = true },
            new KernelDirectiveParameter("--recipe", "A published method's settings: ilm-vp (Chen et al. 2023) or blm (Cai et al. 2024): 224 px, the paper's frame, epochs, batch, " +
                                                      "learning rate and schedule; reports the best epoch's test accuracy beside the final one. Slow on a CPU (200 epochs at 224 px).")
                .AddCompletions(() => Training.Recipes.All.Select(r => r.Name)),
            new KernelDirectiveParameter("--save", "Save the learned manipulation and alignment (the first seed's) to this .safetensors file, to apply later with --load."),
            LoadedRuns.Parameter("manipulation and alignment (a .safetensors file from --save)", "--task"),
            new KernelDirectiveParameter("--export", "Write the results table (the run and its baselines) to a .csv file, or everything (options, spec, test ids, every prediction, provenance) to a .json file that Results.Load reads back."),
            new KernelDirectiveParameter("--name", "The C# variable that holds the result. Default reprogramming."),
        },
    };

    public static Task Handle(RunReprogramming command, KernelInvocationContext context) => command.Load is not null
        ? LoadedRuns.HandleAsync(command, context, command.LoadRequest)
        : RunExperimentAsync(command, context, command.ToOptions,
            (ReprogramOptions options, LiveProgress live, CancellationToken token) => VisualReprogramming.Run(options, live.Report, token),
            command.Save, (result, path) => result.Save(path), "the learned manipulation and alignment",
            command.VariableName, result => result.Main.Name,
            command.Export?.Trim(), (result, path) => result.Export(path));
}
