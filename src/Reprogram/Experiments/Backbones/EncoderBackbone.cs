using Reprogram.Frozen;
using Reprogram.Instruction;
using Reprogram.Manipulations;
using Reprogram.Models.Text;
using Reprogram.Taxonomy;
using static TorchSharp.torch;

namespace Reprogram.Experiments;

/// <summary>
/// A frozen text encoder (all-MiniLM-L6-v2, or a BERT / RoBERTa checkpoint folder): its output is the mean of its last hidden states over the real positions
/// [B, D] (features, not classes, so it is read by a learned head). It reads the example's text itself (an encoder has no
/// answer cue to put in a template), or the prompt of a fixed text manipulation.
/// </summary>
public sealed class EncoderBackbone : Backbone
{
    private readonly FrozenModel<BertEncoder> frozen;
    private readonly IEncoderTokenizer tokenizer;
    private readonly int maxLength;

    public EncoderBackbone(BertEncoder model, IEncoderTokenizer tokenizer, string identity, Device device, int maxLength, bool ownsModel)
    {
        frozen = new FrozenModel<BertEncoder>(model, identity, device, ownsModel);
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
    }

    /// <summary>Whether the tokenizer's ids are in frequency order (set by the model registry from the checkpoint folder).</summary>
    public VocabularyOrder Order { get; init; }
    public override VocabularyOrder VocabularyOrder => Order;
    public override string Identity => frozen.Identity;
    public override string Kind => "text encoder";
    public override TaskModality Modality => TaskModality.Text;
    public override IReadOnlyList<Location> Interfaces => [Location.Input, Location.Embedding, Location.Hidden];
    public override int OutputSize => frozen.Model.HiddenSize;
    public override long ParameterCount => frozen.ParameterCount;
    public override string ChecksumBefore => frozen.ChecksumAtFreeze;
    public override string VerifyUnchanged() => frozen.VerifyUnchanged();
    public override Device Device => frozen.Device;
    public override ITokenModel? TokenModel => frozen.Model;
    public IEncoderTokenizer Tokenizer => tokenizer;
    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["encoder input"] = $"the example's text, at most {maxLength} tokens with [CLS] and [SEP]; output: mean of the last hidden states",
    };

    public override Tensor ModelOutputs(IManipulation? manipulation, TaskSplit split, IReadOnlyList<TaskExample> batch)
    {
        var rows = batch.Select(e => tokenizer.EncodeOne(Text(manipulation, split, e), maxLength).Select(i => (long)i).ToArray()).ToArray();
        return TokenReadout.MeanPooled(frozen.Model, manipulation as ITokenManipulation, rows);
    }

    public override int? PositionsPerQuery(IManipulation? manipulation, TaskSplit split, TaskExample example) =>
        tokenizer.EncodeOne(Text(manipulation, split, example), maxLength).Length + ((manipulation as ITokenManipulation)?.PositionsAttended ?? 0);

    public override string PromptText(IManipulation? manipulation, TaskSplit split, TaskExample example) => manipulation switch
    {
        ITokenManipulation tokens => $"[{tokens.Name}{(tokens.PositionsAdded > 0 ? $": {tokens.PositionsAdded} learned positions" : "")}] {example.Input}",
        _ => Text(manipulation, split, example),
    };

    private static string Text(IManipulation? manipulation, TaskSplit split, TaskExample example) => manipulation switch
    {
        null or ITokenManipulation => example.Input,
        ITextManipulation text when split is InstructionTask task => text.Render(task, example).Full,
        _ => throw new ArgumentException($"{manipulation.Name} does not act on a text encoder's text, embeddings or layers."),
    };

    public override void Dispose() => frozen.Dispose();
}
