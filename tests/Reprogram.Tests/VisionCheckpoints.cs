using System.Diagnostics;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace Reprogram.Tests;

/// <summary>
/// The tiny random vision checkpoints (ViT in torchvision's and Hugging Face's layouts, ResNet-50, CLIP) and their
/// reference outputs, written once per test process by an independent PyTorch implementation (reference_vision.py
/// under /usr/bin/python3, with Debian's python3-torch, python3-torchvision and python3-regex), shared by every test
/// class that reads them and deleted when the process exits.
/// </summary>
public sealed class VisionCheckpoints
{
    private static readonly Lazy<VisionCheckpoints> shared = new(() => new VisionCheckpoints());

    public static VisionCheckpoints Shared => shared.Value;

    public string Root { get; }

    private const string Prefix = "reprogram-vision-";

    private VisionCheckpoints()
    {
        RemoveLeftovers();
        Root = Path.Combine(Path.GetTempPath(), $"{Prefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        PythonReference.Script("reference_vision.py", [Root, "2024"], TimeSpan.FromMinutes(5), "python3-torch, python3-torchvision and python3-regex");
    }

    /// <summary>
    /// Folders of earlier test processes that ended without their exit handler (a test host that is killed does not
    /// run it): each holds a 100 MB ResNet-50, so those whose process is gone are deleted.
    /// </summary>
    private static void RemoveLeftovers()
    {
        foreach (var folder in Directory.GetDirectories(Path.GetTempPath(), Prefix + "*"))
        {
            var pid = Path.GetFileName(folder)[Prefix.Length..].Split('-')[0];
            if (!int.TryParse(pid, out var id) || id == Environment.ProcessId) continue;
            bool alive;
            try { using var process = Process.GetProcessById(id); alive = !process.HasExited; }
            catch (ArgumentException) { alive = false; }
            if (alive) continue;
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    public string Folder(string kind) => Path.Combine(Root, kind);

    /// <summary>The reference tensors of a checkpoint (inputs and outputs), by name.</summary>
    public Dictionary<string, Tensor> Reference(string kind) => Safetensors.LoadStateDict(Path.Combine(Folder(kind), "reference.safetensors"));

    /// <summary>Max |a - b| in float64.</summary>
    public static double MaxDifference(Tensor a, Tensor b) => (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();

    /// <summary>Asserts the shapes agree, the reference is not trivially small, and max |a - b| ≤ 1e-4.</summary>
    public static double AssertParity(Tensor actual, Tensor expected, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.std().item<float>() > 0.1, $"{what}: the reference is nearly constant; the comparison would prove little");
        var difference = MaxDifference(actual, expected);
        Assert.True(difference <= 1e-4, $"{what}: max |ours - reference| = {difference:E3}");
        return difference;
    }
}
