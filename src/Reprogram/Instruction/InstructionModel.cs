using Microsoft.Extensions.AI;
using Reprogram.Frozen;
using Reprogram.Models.Causal;
using Reprogram.Models.Zoo;
using Reprogram.Runtime;
using Reprogram.Training;
using static TorchSharp.torch;

namespace Reprogram.Instruction;

/// <summary>
/// The frozen model a prompt-instruction run asks: a local decoder (a zoo model or a Hugging Face checkpoint folder),
/// which can score label words and generate, held frozen with its checksum; or a remote chat model, which can only
/// generate and whose weights cannot be checked from here.
/// </summary>
public sealed class InstructionModel : IDisposable
{
    private readonly FrozenModel<nn.Module>? frozen;
    private readonly ICausalLm? local;
    private readonly ITextGenerator generator;
    private IDisposable? client;
    // The bf16 copy for forward passes (made at the first UsePrecision(Bf16)), its checksum and its generator.
    private ICausalLm? bf16;
    private string? bf16Checksum;
    private ITextGenerator? bf16Generator;

    private InstructionModel(string identity, ICausalLm? local, FrozenModel<nn.Module>? frozen, Func<string, long[]>? encode,
        ITextGenerator generator, string device, Func<IEnumerable<long>, string>? decode = null)
    {
        Identity = identity;
        this.local = local;
        this.frozen = frozen;
        Encoder = encode;
        Decoder = decode;
        this.generator = generator;
        Device = device;
    }

    /// <summary>Token ids back to text (local models).</summary>
    public Func<IEnumerable<long>, string>? Decoder { get; }
    /// <summary>How text is changed before tokenisation, for every paradigm alike (null: not at all).</summary>
    public string? TextNormalisation { get; private set; }
    /// <summary>The frozen-model wrapper of a local model (null for a remote one).</summary>
    public FrozenModel<nn.Module>? Frozen => frozen;

    public string Identity { get; }
    /// <summary>The local decoder the forward passes use (the bf16 copy under <see cref="Precision.Bf16"/>), or null for a remote chat model.</summary>
    public ICausalLm? Local => Precision == Precision.Bf16 ? bf16 : local;
    public Func<string, long[]>? Encoder { get; }
    public ITextGenerator Generator => Precision == Precision.Bf16 ? bf16Generator! : generator;
    /// <summary>The number format of the forward passes (fp32 unless <see cref="UsePrecision"/> chose bf16).</summary>
    public Precision Precision { get; private set; } = Precision.Fp32;

    /// <summary>
    /// Runs later forward passes in <paramref name="precision"/>. bf16 uses a separate bf16 copy of the frozen decoder
    /// (made once, checksummed on its own): the fp32 weights are never cast, so the model's checksum keeps meaning
    /// "the fp32 weights did not change", and <see cref="VerifyUnchanged"/> checks the copy too. Refused, with the
    /// reason, where the hardware has no native bf16 (<see cref="PrecisionSupport"/>) and for remote models.
    /// </summary>
    public void UsePrecision(Precision precision)
    {
        if (precision == Precision.Fp32 || precision == Precision) { Precision = precision; return; }
        if (local is null || frozen is null || Encoder is null || Decoder is null)
        {
            throw new ArgumentException($"{Identity} is a remote chat model: the server chooses its number format. Use --precision fp32.");
        }
        PrecisionSupport.Check(precision, frozen.Device);
        if (bf16 is null)
        {
            bf16 = CausalLmCopy.As(local, ScalarType.BFloat16, frozen.Device);
            bf16Checksum = ParameterChecksum.Of(bf16.Module);
            bf16Generator = new LocalTextGenerator(bf16, text => Encoder(Format.Render(text)), Decoder, Identity + " (bf16)", endTokens: Format.EndTokenIds(Encoder));
        }
        Precision = precision;
    }

    /// <summary>"fp32", or what bf16 means here: the copy and its checksum.</summary>
    public string PrecisionNote => Precision == Precision.Fp32 ? "fp32"
        : $"bf16 (forward passes on a bf16 copy of the frozen weights, copy checksum {ParameterChecksum.Short(bf16Checksum!)}; the model's checksum is of its fp32 weights)";
    public string Device { get; }
    /// <summary>How a local checkpoint reads its prompts (plain, after a BOS, or a chat template); <see cref="PromptFormat.Plain"/> otherwise.</summary>
    public PromptFormat Format { get; private init; } = PromptFormat.Plain;
    /// <summary>The exact text the model reads for a prompt (the prompt in <see cref="Format"/>).</summary>
    public string RenderPrompt(string prompt) => Format.Render(prompt);
    public bool CanScore => Local is not null;
    public long Parameters => frozen?.ParameterCount ?? 0;
    /// <summary>The checksum of every parameter at load, or a note for a remote model.</summary>
    public string ChecksumBefore => frozen?.ChecksumAtFreeze ?? RemoteChecksum;
    public const string RemoteChecksum = "remote model (weights not visible)";

    public long[] Encode(string text, string what)
    {
        if (Encoder is null) throw new InvalidOperationException($"{Identity} is a remote chat model: it cannot score label words; use generation.");
        try { return Encoder(text); }
        catch (ArgumentException e) { throw new ArgumentException($"{Identity} cannot read {what}: {e.Message}"); }
    }

    /// <summary>Proves the local model (and its bf16 copy, if made) unchanged (throws if not) and returns the fp32 weights' checksum after the run.</summary>
    public string VerifyUnchanged()
    {
        var after = frozen?.VerifyUnchanged() ?? RemoteChecksum;
        if (bf16 is not null && ParameterChecksum.Of(bf16.Module) is var now && now != bf16Checksum)
        {
            throw new FrozenModelChangedException($"The bf16 copy of '{Identity}' changed: checksum {ParameterChecksum.Short(bf16Checksum!)} when made, " +
                                                  $"{ParameterChecksum.Short(now)} now. Something wrote into the frozen model's copy; the results are invalid.");
        }
        return after;
    }

    /// <summary>The zoo names, "openai:MODEL" / "ollama:MODEL" for remote chat models, or a checkpoint folder.</summary>
    public static IReadOnlyList<string> KnownModels { get; } = [LanguageZoo.IclRulesName, LanguageZoo.ArithCotName, "openai:<model>", "ollama:<model>"];

    /// <summary>
    /// Loads <paramref name="spec"/>: a zoo model (trained on first use, with progress), a Hugging Face checkpoint folder,
    /// or a remote chat model through <paramref name="remote"/> (which makes the client from "provider:model").
    /// </summary>
    public static InstructionModel Load(string spec, Device device, Func<string, string, IChatClient>? remote = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, string? chat = null)
    {
        if (chat is not null and not "off" && !Directory.Exists(spec))
        {
            throw new ArgumentException($"--chat {chat} applies to Hugging Face checkpoint folders; '{spec}' is a zoo model (no chat template) or a remote chat model (its server applies its own).");
        }
        if (LanguageZoo.Names.Contains(spec))
        {
            var (model, tokenizer, card) = LanguageZoo.Load(spec, progress, cancellationToken);
            var identity = $"{card.Name} (zoo, {card.Parameters:N0} parameters)";
            // The zoo's vocabulary is lower-case letters, digits and a little punctuation: every paradigm reads text the same way.
            var zoo = FromLocal(model, identity, text => tokenizer.Encode(CharTokenizer.Normalise(text)), ids => tokenizer.Decode(ids), device);
            zoo.TextNormalisation = CharTokenizer.NormalisationNote;
            return zoo;
        }
        var colon = spec.IndexOf(':');
        if (colon > 0 && !Directory.Exists(spec) && spec[..colon] is var provider && provider.All(char.IsLetter))
        {
            if (remote is null) throw new ArgumentException($"'{spec}' names a remote chat model, but no remote backend is configured.");
            var name = spec[(colon + 1)..];
            if (name.Length == 0) throw new ArgumentException($"'{spec}' has no model name after '{provider}:'.");
            var client = remote(provider.ToLowerInvariant(), name);
            return new InstructionModel($"{name} ({provider}, remote)", null, null, null, new ChatTextGenerator(client, spec), "remote") { client = client };
        }
        if (Directory.Exists(spec))
        {
            if (!File.Exists(Path.Combine(spec, "config.json")))
            {
                throw new ArgumentException($"The folder {Path.GetFullPath(spec)} has no config.json: it is not a Hugging Face checkpoint.");
            }
            var lm = CheckpointLoader.Load(spec);
            Microsoft.ML.Tokenizers.Tokenizer tokenizer;
            try { tokenizer = HfTokenizer.Load(spec); }
            catch { lm.Dispose(); throw; }
            var identity = $"{Path.GetFileName(Path.GetFullPath(spec).TrimEnd('/'))} ({lm.Config.ModelType}, checkpoint)";
            long[] Encode(string text) => tokenizer.EncodeToIds(text).Select(i => (long)i).ToArray();
            try { return FromLocal(lm, identity, Encode, ids => tokenizer.Decode(ids.Select(i => (int)i)) ?? "", device, PromptFormat.ForCheckpoint(spec, chat)); }
            catch { lm.Dispose(); throw; }
        }
        throw new ArgumentException($"'{spec}' is not a model. Allowed: {LanguageZoo.IclRulesName}, {LanguageZoo.ArithCotName} (zoo), " +
                                    "a Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer files), or openai:MODEL / ollama:MODEL with an endpoint.");
    }

    /// <summary>
    /// A local decoder of one's own (the C# API): frozen on <paramref name="device"/>, checksummed; the model is owned from
    /// here on. Generation writes each prompt in <paramref name="format"/> and stops at its end tokens.
    /// </summary>
    public static InstructionModel FromLocal(ICausalLm model, string identity, Func<string, long[]> encode, Func<IEnumerable<long>, string> decode, Device device,
        PromptFormat? format = null)
    {
        format ??= PromptFormat.Plain;
        var ends = format.EndTokenIds(encode);
        var frozen = new FrozenModel<nn.Module>(model.Module, identity, device, ownsModel: true);
        var generator = new LocalTextGenerator(model, text => encode(format.Render(text)), decode, identity, endTokens: ends);
        return new InstructionModel(identity, model, frozen, encode, generator, frozen.Device.ToString(), decode) { Format = format };
    }

    /// <summary>
    /// A chat model behind any <see cref="IChatClient"/> (a remote client of one's own, or a local model behind an adapter):
    /// generation only, weights not visible. The client is disposed with this model.
    /// </summary>
    public static InstructionModel FromChatClient(IChatClient client, string identity) =>
        new(identity + " (chat client)", null, null, null, new ChatTextGenerator(client, identity), "remote") { client = client };

    public void Dispose()
    {
        bf16?.Dispose();
        frozen?.Dispose();
        client?.Dispose();
    }
}
