using Reprogram.Instruction;
using Reprogram.Manipulations;
using Reprogram.Taxonomy;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>
/// A frozen model as every experiment sees it: its identity and checksum (taken at load, verified after every run), the
/// interfaces manipulations may act on, and what alignments can read from it: its output [B, S] (class logits, features,
/// or next-token log-probabilities at the answer position), the label words' log-likelihoods [B, C], or generated text.
/// The model never changes; a manipulation that needs an interface the model lacks is refused with the reason.
/// </summary>
public abstract class Backbone : IDisposable
{
    public abstract string Identity { get; }
    /// <summary>"image classifier", "image features", "text encoder", "text decoder", "chat model".</summary>
    public abstract string Kind { get; }
    public abstract TaskModality Modality { get; }
    /// <summary>The interfaces a manipulation may act on (input, embedding, hidden).</summary>
    public abstract IReadOnlyList<Location> Interfaces { get; }
    /// <summary>Whether the model has a language-model head (label-word likelihood and generation).</summary>
    public virtual bool ScoresLabelWords => false;
    public virtual bool Generates => false;
    /// <summary>The size S of the model's output (classes, features, or vocabulary).</summary>
    public abstract int OutputSize { get; }
    /// <summary>What the outputs are: class names, vocabulary tokens, or null for features (which are not classes).</summary>
    public virtual IReadOnlyList<string>? OutputNames => null;
    public abstract long ParameterCount { get; }
    public abstract string ChecksumBefore { get; }
    /// <summary>Throws <see cref="Frozen.FrozenModelChangedException"/> if any weight changed; the checksum after otherwise.</summary>
    public abstract string VerifyUnchanged();
    public abstract Device Device { get; }
    /// <summary>The token model behind the embedding and hidden interfaces, for manipulations that act there; null for others.</summary>
    public virtual Frozen.ITokenModel? TokenModel => null;
    /// <summary>Whether the tokenizer's ids are in frequency order (soft prompts' vocabulary init samples the most frequent).</summary>
    public virtual VocabularyOrder VocabularyOrder => VocabularyOrder.Unknown;
    /// <summary>The channels and side of the images the model sees, for image manipulations; null for text models.</summary>
    public virtual (int Channels, int Size)? ImageInput => null;
    /// <summary>Facts every result of this model states (text normalisation, image size, ...).</summary>
    public virtual IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>();

    /// <summary>The model's output for a batch under the manipulation [B, S]; gradients flow to the manipulation.</summary>
    public abstract Tensor ModelOutputs(IManipulation? manipulation, TaskSplit split, IReadOnlyList<TaskExample> batch);

    /// <summary>Each class's label-word log-likelihood after the prompt [B, C]; -inf outside an example's choices.</summary>
    public virtual Tensor LabelWordScores(IManipulation? manipulation, TaskSplit split, IReadOnlyList<TaskExample> batch) =>
        throw new ArgumentException($"{Identity} is a {Kind}: it has no language-model head to score label words. Use a label mapping or a linear head.");

    /// <summary>The label-word log-probabilities the same prompts give content-free inputs [B, C] (for calibration).</summary>
    public virtual Tensor ContentFreeScores(IManipulation? manipulation, TaskSplit split, IReadOnlyList<TaskExample> batch) =>
        throw new ArgumentException($"{Identity} is a {Kind}: it has no language-model head, so there is nothing to calibrate.");

    /// <summary>Continuations of prompts as they are (a second stage of reading, e.g. an answer-extraction prompt).</summary>
    public virtual IReadOnlyList<string> GenerateText(IReadOnlyList<string> prompts, GenerationSettings settings, CancellationToken cancellationToken) =>
        throw new ArgumentException($"{Identity} is a {Kind}: it cannot generate text.");

    /// <summary>Continuations of each example's prompt (<paramref name="samples"/> per example, in order).</summary>
    public virtual IReadOnlyList<string> Generate(IManipulation? manipulation, TaskSplit split, IReadOnlyList<TaskExample> batch, GenerationSettings settings,
        int samples, CancellationToken cancellationToken) =>
        throw new ArgumentException($"{Identity} is a {Kind}: it cannot generate text. Answer by label words or a learned head.");

    /// <summary>Positions the model reads for one query under the manipulation (virtual tokens included); null where tokens do not apply.</summary>
    public virtual int? PositionsPerQuery(IManipulation? manipulation, TaskSplit split, TaskExample example) => null;

    /// <summary>What the model is shown for an example, as text for the records (learned parts named in brackets).</summary>
    public virtual string PromptText(IManipulation? manipulation, TaskSplit split, TaskExample example) => example.Input;

    /// <summary>Why the manipulation cannot act on this model, or null when it can.</summary>
    public virtual string? Refusal(IManipulation manipulation)
    {
        if (!Interfaces.Contains(manipulation.Location))
        {
            return $"{manipulation.Name} acts at the {TaxonomyNames.Of(manipulation.Location)} interface, which {Identity} ({Kind}) does not expose " +
                   $"(it has: {string.Join(", ", Interfaces.Select(TaxonomyNames.Of))}).";
        }
        return null;
    }

    /// <summary>Token positions run through the model so far (scoring, generation and training reads; 0 for images).</summary>
    public virtual long TokensProcessed => 0;

    /// <summary>Prompts cut so far (from the left, keeping the query's end) to fit the model's context.</summary>
    public virtual long PromptsShortened => 0;

    /// <summary>Frees what a run cached (resized images, encoded prompts).</summary>
    public virtual void ReleaseCaches() { }

    public abstract void Dispose();
}
