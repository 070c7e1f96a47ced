using System.Buffers.Binary;
using System.Text;

namespace Reprogram.Tests;

/// <summary>
/// Bad safetensors files, written byte by byte (no library that would refuse to write them): each case is the file's
/// bytes and a phrase its refusal must contain.
/// </summary>
public static class HostileFiles
{
    /// <summary>8-byte little-endian header length (or <paramref name="claimedLength"/>), the header bytes, the data.</summary>
    public static byte[] Safetensors(byte[] header, byte[] data, ulong? claimedLength = null)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, claimedLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    public static byte[] Safetensors(string header, int dataBytes, ulong? claimedLength = null) =>
        Safetensors(Encoding.UTF8.GetBytes(header), new byte[dataBytes], claimedLength);

    /// <summary>A valid file: one F32 tensor "w" of shape [2, 2] holding 1, 2, 3, 4.</summary>
    public static byte[] ValidSafetensors()
    {
        var data = new byte[16];
        for (var i = 0; i < 4; i++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4 * i), i + 1);
        return Safetensors(Encoding.UTF8.GetBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}"), data);
    }

    /// <summary>A header of about <paramref name="megabytes"/> MB: that many thousand tensors, all at data bytes 0..4 (they overlap).</summary>
    public static byte[] SeveralMegabyteHeader(int megabytes = 6)
    {
        var builder = new StringBuilder("{");
        var i = 0;
        while (builder.Length < megabytes * 1_000_000)
        {
            builder.Append(i == 0 ? "" : ",").Append($"\"layer.{i}.weight\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
            i++;
        }
        return Safetensors(builder.Append('}').ToString(), 4);
    }

    /// <summary>Every kind of bad safetensors file, with a phrase its refusal contains.</summary>
    public static IReadOnlyList<(string Case, byte[] Bytes, string Expected)> SafetensorsCases { get; } =
    [
        ("header length beyond the file", Safetensors("{}", 0, claimedLength: 1000), "only 2 follow"),
        ("header length of 2^63", Safetensors("{}", 0, claimedLength: 1UL << 63), "over the format's limit"),
        ("fewer than 8 bytes", [1, 2, 3], "it has 3 bytes"),
        ("overlapping offsets", Safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24), "overlap"),
        ("offsets beyond the data", Safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8), "the file holds 8 bytes of data"),
        ("unknown dtype", Safetensors("{\"a\":{\"dtype\":\"F33\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16), "'F33', which is not a safetensors dtype"),
        ("dtype of the format this library cannot read", Safetensors("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4), "F8_E4M3, which this library cannot read"),
        ("shape whose size disagrees with its offsets", Safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16), "needs 12 bytes"),
        ("shape of 10^12 x 10^12 elements", Safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[1000000000000,1000000000000],\"data_offsets\":[0,4]}}", 4), "more bytes than a file can hold"),
        ("negative shape", Safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4), "non-negative integers"),
        ("a header of several MB", SeveralMegabyteHeader(), "overlap"),
        ("non-UTF-8 header", Safetensors([.. "{\"a"u8, 0xFF, .. "\":{}}"u8], []), "not UTF-8"),
        ("invalid JSON header", Safetensors("{\"a\": {\"dtype\": ", 0), "not valid JSON"),
        ("header that is not an object", Safetensors("[1, 2]", 0), "does not start with '{'"),
        ("deeply nested header", Safetensors("{\"a\":" + new string('[', 5000) + new string(']', 5000) + "}", 0), "not valid JSON"),
        ("a name twice", Safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "names 'a' twice"),
        ("a gap between tensors", Safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12), "belong to no tensor"),
        ("data before the first tensor", Safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "data bytes 0..4"),
        ("metadata that is not strings", Safetensors("{\"__metadata__\":{\"format\":7}}", 0), "not a string"),
    ];

    /// <summary>The cases every reader of safetensors in the library is tested with (the others are tested on the core reader).</summary>
    public static IReadOnlyList<(string Case, byte[] Bytes, string Expected)> ReaderCases { get; } =
        SafetensorsCases.Where(c => c.Case is "header length beyond the file" or "overlapping offsets" or "offsets beyond the data" or "unknown dtype"
                                         or "shape whose size disagrees with its offsets" or "a header of several MB" or "non-UTF-8 header" or "invalid JSON header").ToList();
}
