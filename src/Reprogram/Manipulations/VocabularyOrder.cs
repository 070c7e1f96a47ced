using System.Text.Json;

namespace Reprogram.Manipulations;

/// <summary>
/// Whether a tokenizer's ids are in (approximate) frequency order, which decides where Lester et al.'s vocabulary
/// initialisation draws from (<see cref="SoftPromptInit.Vocabulary"/>).
/// </summary>
public enum VocabularyOrder
{
    /// <summary>No frequency order is known: the initialisation draws from the whole vocabulary.</summary>
    Unknown,
    /// <summary>Low ids are frequent tokens: the initialisation draws from the first 5,000.</summary>
    ByFrequency,
}

/// <summary>Which tokenizers give a frequency order, and why.</summary>
public static class VocabularyOrders
{
    /// <summary>
    /// The order of the tokenizer that <c>#!soft-prompt --model</c> names:
    /// <list type="bullet">
    /// <item>a checkpoint folder with a BPE tokenizer (GPT-2's vocab.json + merges.txt, or a tokenizer.json whose
    /// model is BPE, as Llama, Qwen2 and SmolLM): ids follow the merge rank, and BPE merges the most frequent pair
    /// first, so low ids are frequent tokens: <see cref="VocabularyOrder.ByFrequency"/>;</item>
    /// <item>a SentencePiece unigram vocabulary (tokenizer.json model Unigram, or tokenizer.model): pieces are stored
    /// by score (log-probability), most likely first: <see cref="VocabularyOrder.ByFrequency"/>;</item>
    /// <item>WordPiece (BERT, all-MiniLM-L6-v2's vocab.txt) and the zoo's character vocabulary: no documented
    /// frequency order: <see cref="VocabularyOrder.Unknown"/>, the whole vocabulary.</item>
    /// </list>
    /// </summary>
    public static VocabularyOrder Of(string model)
    {
        if (!Directory.Exists(model)) return VocabularyOrder.Unknown;   // minilm (WordPiece) or a zoo model (characters)
        var tokenizerJson = Path.Combine(model, "tokenizer.json");
        if (File.Exists(tokenizerJson))
        {
            try
            {
                using var document = JsonDocument.Parse(File.ReadAllText(tokenizerJson));
                if (document.RootElement.TryGetProperty("model", out var m) && m.TryGetProperty("type", out var type))
                {
                    return type.GetString() is "BPE" or "Unigram" ? VocabularyOrder.ByFrequency : VocabularyOrder.Unknown;
                }
            }
            catch (JsonException)
            {
                return VocabularyOrder.Unknown;   // the tokenizer loader reports a broken file with its own message
            }
        }
        if (File.Exists(Path.Combine(model, "merges.txt")) || File.Exists(Path.Combine(model, "tokenizer.model"))) return VocabularyOrder.ByFrequency;
        return VocabularyOrder.Unknown;
    }
}
