namespace Reprogram.Models.Vision;

/// <summary>
/// The 1000 ImageNet-1k (ILSVRC 2012) class names in the order of torchvision's classifiers' outputs, so that the
/// logits of a torchvision ResNet or ViT with its ImageNet head have names (label mappings and results show them).
/// Source: torchvision 0.14, torchvision/models/_meta.py, <c>_IMAGENET_CATEGORIES</c> (BSD-3-Clause), copied verbatim
/// into the embedded resource Models/Vision/Data/imagenet_classes.txt, one name per line.
/// </summary>
public static class ImageNetClasses
{
    private static readonly Lazy<string[]> names = new(Read);

    /// <summary>The 1000 names; index i is the class of output i.</summary>
    public static IReadOnlyList<string> Names => names.Value;

    private static string[] Read()
    {
        using var stream = typeof(ImageNetClasses).Assembly.GetManifestResourceStream("Reprogram.imagenet_classes.txt")
            ?? throw new InvalidOperationException("The embedded ImageNet class names (Reprogram.imagenet_classes.txt) are missing from the assembly.");
        using var reader = new StreamReader(stream);
        var lines = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length != 1000) throw new InvalidDataException($"The embedded ImageNet class names have {lines.Length} lines, not 1000.");
        return lines;
    }
}
