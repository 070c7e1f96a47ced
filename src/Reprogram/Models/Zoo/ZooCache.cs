using System.Text.Json;
using Reprogram.Frozen;
using Reprogram.Runtime;
using TorchSharp;
using TorchSharp.PyBridge;

namespace Reprogram.Models.Zoo;

/// <summary>
/// How every zoo model is kept: trained once, saved as <c>{name}-v1.safetensors</c> with a <c>{name}-v1.json</c> model
/// card in <see cref="ReprogramPaths.Models"/>, and on later uses loaded and checked against the card's checksum.
/// </summary>
internal static class ZooCache
{
    public static (TModel Model, ModelCard Card) GetOrTrain<TModel>(string name, string? cacheFolder, Func<TModel> create,
                                                                   Func<(TModel Model, ModelCard Card)> train) where TModel : torch.nn.Module
    {
        var folder = cacheFolder ?? ReprogramPaths.Models;
        var weights = Path.Combine(folder, $"{name}-v1.safetensors");
        var cardPath = Path.Combine(folder, $"{name}-v1.json");
        if (File.Exists(weights) && File.Exists(cardPath))
        {
            ModelCard card;
            try
            {
                card = JsonSerializer.Deserialize<ModelCard>(File.ReadAllText(cardPath))
                       ?? throw new InvalidDataException($"The model card {cardPath} is empty; delete it and {weights} to retrain.");
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"The model card {cardPath} is not valid JSON ({e.Message}); delete it and {weights} to retrain.", e);
            }
            var cached = create();
            try
            {
                // Every check of the format first (a cache file can be truncated by a full disk or damaged), then the load.
                Files.SafetensorsFile.ReadHeader(weights);
                cached.load_safetensors(weights);
            }
            catch (Exception e)
            {
                cached.Dispose();
                throw new InvalidDataException($"The cached model {weights} cannot be read ({e.Message.TrimEnd('.')}); delete it to retrain.", e);
            }
            if (ParameterChecksum.Of(cached) != card.Checksum)
            {
                throw new InvalidDataException($"The cached model {weights} does not match its model card's checksum; delete both files to retrain.");
            }
            cached.eval();
            return (cached, card);
        }

        var (model, trained) = train();
        Directory.CreateDirectory(folder);
        // Several processes (a notebook and a test run) may train the same model at once: each writes its own temporary
        // files and moves them into place, so a reader never sees half a file. Training is deterministic, so the last
        // move wins with the same bytes.
        var unique = $".{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        model.save_safetensors(weights + unique);
        File.WriteAllText(cardPath + unique, JsonSerializer.Serialize(trained, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(weights + unique, weights, overwrite: true);
        File.Move(cardPath + unique, cardPath, overwrite: true);
        return (model, trained);
    }
}
