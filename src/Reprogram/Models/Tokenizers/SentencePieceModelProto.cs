using Google.Protobuf;

namespace Reprogram.Models.Tokenizers;

/// <summary>The kind of a SentencePiece piece (sentencepiece_model.proto, ModelProto.SentencePiece.Type).</summary>
public enum SentencePieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>One piece of a SentencePiece vocabulary; its id is its index.</summary>
public sealed record SentencePiece(string Piece, float Score, SentencePieceType Type);

/// <summary>
/// The parts of a SentencePiece model (<c>tokenizer.model</c>, the protobuf of google/sentencepiece's
/// sentencepiece_model.proto) that decide how text is tokenised: the pieces, the model type, byte fallback, the special
/// ids, and the normaliser (its rule name, precompiled character map, dummy prefix, whitespace handling). Read and
/// written with Google.Protobuf's wire format; fields not listed are skipped on reading and not written. Proto2 defaults
/// (add_dummy_prefix, remove_extra_whitespaces and escape_whitespaces true; unk 0, bos 1, eos 2, pad -1) apply to absent fields.
/// </summary>
public sealed record SentencePieceModelProto
{
    public const int Unigram = 1, Bpe = 2, Word = 3, Char = 4;

    public IReadOnlyList<SentencePiece> Pieces { get; init; } = [];
    /// <summary>1 unigram, 2 BPE, 3 word, 4 char (TrainerSpec.model_type).</summary>
    public int ModelType { get; init; } = Unigram;
    public bool ByteFallback { get; init; }
    public bool TreatWhitespaceAsSuffix { get; init; }
    public int UnknownId { get; init; }
    public int BosId { get; init; } = 1;
    public int EosId { get; init; } = 2;
    public int PadId { get; init; } = -1;
    public string UnknownPiece { get; init; } = "<unk>";
    public string BosPiece { get; init; } = "<s>";
    public string EosPiece { get; init; } = "</s>";
    public string PadPiece { get; init; } = "<pad>";
    /// <summary>The text an unknown piece decodes to (" ⁇ " by default).</summary>
    public string UnknownSurface { get; init; } = " \u2047 ";
    /// <summary>The normalisation rule's name ("identity", "nmt_nfkc", ...); null when absent.</summary>
    public string? NormalizerName { get; init; }
    public byte[] PrecompiledCharsmap { get; init; } = [];
    public bool AddDummyPrefix { get; init; } = true;
    public bool RemoveExtraWhitespaces { get; init; } = true;
    public bool EscapeWhitespaces { get; init; } = true;

    public string ModelTypeName => ModelType switch { Unigram => "unigram", Bpe => "bpe", Word => "word", Char => "char", _ => $"type {ModelType}" };

    /// <summary>Whether the normaliser changes characters (a precompiled map such as nmt_nfkc), beyond whitespace.</summary>
    public bool HasCharacterNormalization => PrecompiledCharsmap.Length > 0;

    public static SentencePieceModelProto Read(string path)
    {
        try
        {
            return Parse(File.ReadAllBytes(path));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{path} is not a SentencePiece model (protobuf: {e.Message}).", e);
        }
    }

    public static SentencePieceModelProto Parse(byte[] bytes)
    {
        var pieces = new List<SentencePiece>();
        var model = new SentencePieceModelProto();
        var input = new CodedInputStream(bytes);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: pieces.Add(ReadPiece(input.ReadBytes())); break;
                case 2: model = ReadTrainerSpec(input.ReadBytes(), model); break;
                case 3: model = ReadNormalizerSpec(input.ReadBytes(), model); break;
                default: input.SkipLastField(); break;
            }
        }
        if (pieces.Count == 0) throw new InvalidDataException("The SentencePiece model has no pieces.");
        return model with { Pieces = pieces };
    }

    private static SentencePiece ReadPiece(ByteString bytes)
    {
        var input = bytes.CreateCodedInput();
        var (piece, score, type) = ("", 0f, SentencePieceType.Normal);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: piece = input.ReadString(); break;
                case 2: score = input.ReadFloat(); break;
                case 3: type = (SentencePieceType)input.ReadEnum(); break;
                default: input.SkipLastField(); break;
            }
        }
        return new SentencePiece(piece, score, type);
    }

    private static SentencePieceModelProto ReadTrainerSpec(ByteString bytes, SentencePieceModelProto model)
    {
        var input = bytes.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            model = WireFormat.GetTagFieldNumber(tag) switch
            {
                3 => model with { ModelType = input.ReadEnum() },
                24 => model with { TreatWhitespaceAsSuffix = input.ReadBool() },
                35 => model with { ByteFallback = input.ReadBool() },
                40 => model with { UnknownId = input.ReadInt32() },
                41 => model with { BosId = input.ReadInt32() },
                42 => model with { EosId = input.ReadInt32() },
                43 => model with { PadId = input.ReadInt32() },
                44 => model with { UnknownSurface = input.ReadString() },
                45 => model with { UnknownPiece = input.ReadString() },
                46 => model with { BosPiece = input.ReadString() },
                47 => model with { EosPiece = input.ReadString() },
                48 => model with { PadPiece = input.ReadString() },
                _ => Skip(input, model),
            };
        }
        return model;
    }

    private static SentencePieceModelProto ReadNormalizerSpec(ByteString bytes, SentencePieceModelProto model)
    {
        var input = bytes.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            model = WireFormat.GetTagFieldNumber(tag) switch
            {
                1 => model with { NormalizerName = input.ReadString() },
                2 => model with { PrecompiledCharsmap = input.ReadBytes().ToByteArray() },
                3 => model with { AddDummyPrefix = input.ReadBool() },
                4 => model with { RemoveExtraWhitespaces = input.ReadBool() },
                5 => model with { EscapeWhitespaces = input.ReadBool() },
                _ => Skip(input, model),
            };
        }
        return model;
    }

    private static SentencePieceModelProto Skip(CodedInputStream input, SentencePieceModelProto model)
    {
        input.SkipLastField();
        return model;
    }

    /// <summary>The model as protobuf bytes, every field above written explicitly (so no reader's defaults matter).</summary>
    public byte[] ToBytes()
    {
        using var memory = new MemoryStream();
        var output = new CodedOutputStream(memory);
        foreach (var piece in Pieces)
        {
            output.WriteTag(1, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(Message(o =>
            {
                o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteString(piece.Piece);
                o.WriteTag(2, WireFormat.WireType.Fixed32); o.WriteFloat(piece.Score);
                o.WriteTag(3, WireFormat.WireType.Varint); o.WriteEnum((int)piece.Type);
            }));
        }
        output.WriteTag(2, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(Message(o =>
        {
            o.WriteTag(3, WireFormat.WireType.Varint); o.WriteEnum(ModelType);
            o.WriteTag(4, WireFormat.WireType.Varint); o.WriteInt32(Pieces.Count);
            o.WriteTag(24, WireFormat.WireType.Varint); o.WriteBool(TreatWhitespaceAsSuffix);
            o.WriteTag(35, WireFormat.WireType.Varint); o.WriteBool(ByteFallback);
            o.WriteTag(40, WireFormat.WireType.Varint); o.WriteInt32(UnknownId);
            o.WriteTag(41, WireFormat.WireType.Varint); o.WriteInt32(BosId);
            o.WriteTag(42, WireFormat.WireType.Varint); o.WriteInt32(EosId);
            o.WriteTag(43, WireFormat.WireType.Varint); o.WriteInt32(PadId);
            o.WriteTag(44, WireFormat.WireType.LengthDelimited); o.WriteString(UnknownSurface);
            o.WriteTag(45, WireFormat.WireType.LengthDelimited); o.WriteString(UnknownPiece);
            o.WriteTag(46, WireFormat.WireType.LengthDelimited); o.WriteString(BosPiece);
            o.WriteTag(47, WireFormat.WireType.LengthDelimited); o.WriteString(EosPiece);
            o.WriteTag(48, WireFormat.WireType.LengthDelimited); o.WriteString(PadPiece);
        }));
        output.WriteTag(3, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(Message(o =>
        {
            if (NormalizerName is not null) { o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteString(NormalizerName); }
            o.WriteTag(2, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(PrecompiledCharsmap));
            o.WriteTag(3, WireFormat.WireType.Varint); o.WriteBool(AddDummyPrefix);
            o.WriteTag(4, WireFormat.WireType.Varint); o.WriteBool(RemoveExtraWhitespaces);
            o.WriteTag(5, WireFormat.WireType.Varint); o.WriteBool(EscapeWhitespaces);
        }));
        output.Flush();
        return memory.ToArray();
    }

    private static ByteString Message(Action<CodedOutputStream> write)
    {
        using var memory = new MemoryStream();
        var output = new CodedOutputStream(memory);
        write(output);
        output.Flush();
        return ByteString.CopyFrom(memory.ToArray());
    }
}
