using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace LayerCard.Bench.Fuzzing;

/// <summary>
/// Byte-level damage: generic (bit flips, overwrites, truncation, garbage) and format-aware (the safetensors
/// length prefix and header, llama2.c header fields, tokenizer.bin records), because random bytes alone rarely
/// reach the size fields that make a reader allocate or loop.
/// </summary>
internal static class BinaryMutations
{
    private static readonly byte[] Interesting = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE, (byte)'"', (byte)'{', (byte)'[', (byte)'\\', (byte)'\n'];

    /// <summary>Any file: returns what was done, relative to the file name.</summary>
    public static string Generic(string path, Random rng)
    {
        var name = Path.GetFileName(path);
        var data = File.ReadAllBytes(path);
        // Header bytes matter most for every format here, so offsets favour the first 64 bytes.
        int Offset() => data.Length == 0 ? 0 : rng.Next(3) == 0 ? rng.Next(Math.Min(64, data.Length)) : rng.Next(data.Length);
        switch (rng.Next(10))
        {
            case 0:
            case 1:
            {
                int flips = 1 + rng.Next(8);
                if (data.Length == 0) return $"{name}: bit flip skipped (empty)";
                var at = new List<string>();
                for (int i = 0; i < flips; i++)
                {
                    int o = Offset(), bit = rng.Next(8);
                    data[o] ^= (byte)(1 << bit);
                    at.Add($"{o}.{bit}");
                }
                File.WriteAllBytes(path, data);
                return $"{name}: flip bits {string.Join(",", at)}";
            }
            case 2:
            {
                if (data.Length == 0) return $"{name}: overwrite skipped (empty)";
                int o = Offset(), count = 1 + rng.Next(Math.Min(8, data.Length - o));
                for (int i = 0; i < count; i++) data[o + i] = rng.Next(2) == 0 ? Interesting[rng.Next(Interesting.Length)] : (byte)rng.Next(256);
                File.WriteAllBytes(path, data);
                return $"{name}: overwrite {count} bytes at {o}";
            }
            case 3:
            case 4:
            {
                int length = data.Length == 0 ? 0 : Offset();
                File.WriteAllBytes(path, data[..length]);
                return $"{name}: truncate to {length} of {data.Length} bytes";
            }
            case 5:
            {
                int count = rng.Next(4) == 0 ? 1 + rng.Next(8) : 1 + rng.Next(4096);
                int style = rng.Next(3);
                var garbage = new byte[count];
                if (style == 0) rng.NextBytes(garbage);
                else if (style == 1) Array.Fill(garbage, (byte)0xFF);
                File.WriteAllBytes(path, [.. data, .. garbage]);
                return $"{name}: append {count} {(style == 0 ? "random" : style == 1 ? "0xFF" : "zero")} bytes";
            }
            case 6:
            {
                int o = Offset(), count = 1 + rng.Next(64);
                var garbage = new byte[count];
                rng.NextBytes(garbage);
                File.WriteAllBytes(path, [.. data[..o], .. garbage, .. data[o..]]);
                return $"{name}: insert {count} random bytes at {o}";
            }
            case 7:
            {
                if (data.Length == 0) return $"{name}: delete skipped (empty)";
                int o = Offset(), count = 1 + rng.Next(Math.Min(64, data.Length - o));
                File.WriteAllBytes(path, [.. data[..o], .. data[(o + count)..]]);
                return $"{name}: delete {count} bytes at {o}";
            }
            case 8:
                File.WriteAllBytes(path, []);
                return $"{name}: empty the file";
            default:
                File.Delete(path);
                return $"{name}: delete the file";
        }
    }

    /// <summary>safetensors: forge the u64 header length, or rewrite the JSON header (keeping the data section).</summary>
    public static string Safetensors(string path, Random rng)
    {
        var name = Path.GetFileName(path);
        var data = File.ReadAllBytes(path);
        if (data.Length < 8) return Generic(path, rng);
        ulong actual = BinaryPrimitives.ReadUInt64LittleEndian(data);
        if (rng.Next(3) == 0)
        {
            ulong[] lengths = [1UL << 60, ulong.MaxValue, 0, 1, 7, actual - 1, actual + 1, actual + 8, (ulong)data.Length - 8, (ulong)data.Length,
                (1UL << 32) + actual, 100UL * 1024 * 1024 + 1, 1UL << 63, (ulong)rng.NextInt64()];
            ulong forged = lengths[rng.Next(lengths.Length)];
            BinaryPrimitives.WriteUInt64LittleEndian(data, forged);
            File.WriteAllBytes(path, data);
            return $"{name}: header length {actual} := {forged}";
        }
        if (actual > (ulong)data.Length - 8) return Generic(path, rng);
        var headerBytes = data.AsSpan(8, (int)actual).ToArray();
        var body = data[(8 + (int)actual)..];
        if (!JsonMutations.TryParse(headerBytes, out var parsed) || parsed is not JsonObject header) return Generic(path, rng);
        var tensors = header.Where(p => p.Key != "__metadata__" && p.Value is JsonObject).Select(p => p.Key).ToList();
        string description;
        if (tensors.Count == 0 || rng.Next(4) == 0)
        {
            var (text, what) = JsonMutations.MutateDocument(header, rng, SafetensorsHints);
            headerBytes = Encoding.UTF8.GetBytes(text);
            description = what;
        }
        else
        {
            var tensor = tensors[rng.Next(tensors.Count)];
            var entry = (JsonObject)header[tensor]!;
            description = $"'{tensor}' " + EditEntry(tensor, entry, header, tensors, body.LongLength, rng);
            headerBytes = Encoding.UTF8.GetBytes(JsonMutations.Serialize(header));
        }
        var prefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)headerBytes.Length);
        File.WriteAllBytes(path, [.. prefix, .. headerBytes, .. body]);
        return $"{name}: header {description}";
    }

    private static readonly JsonMutations.Hints SafetensorsHints = new(
        ["dtype", "shape", "data_offsets", "__metadata__", "format"], ["F32", "F16", "BF16", "F64", "I8", "U8", "BOOL", "U64", "F8_E4M3", "f32", "Q4_K", ""]);

    private static long AsLong(JsonNode? node) => node is JsonValue v && v.TryGetValue<long>(out var l) ? l : 0;

    private static string EditEntry(string tensor, JsonObject entry, JsonObject header, List<string> tensors, long dataLength, Random rng)
    {
        long[] Offsets(string t) => header[t]?["data_offsets"] is JsonArray { Count: 2 } a ? [AsLong(a[0]), AsLong(a[1])] : [0, 0];
        var own = Offsets(tensor);
        switch (rng.Next(4))
        {
            case 0:
            {
                var other = Offsets(tensors[rng.Next(tensors.Count)]);
                long size = own[1] - own[0];
                (long, long)[] choices =
                [
                    (other[0], other[0] + size), (other[0] + 1, other[0] + 1 + size), (own[0] + 4, own[1] + 4), (own[1], own[0]),
                    (-4, size - 4), (dataLength - size + 1, dataLength + 1), (1L << 62, (1L << 62) + size), (long.MaxValue - 1, long.MaxValue),
                    (own[0], own[1] - 1), (own[0], own[0]), (0, dataLength),
                ];
                var (b, e) = choices[rng.Next(choices.Length)];
                entry["data_offsets"] = new JsonArray(b, e);
                return $"data_offsets [{own[0]}, {own[1]}] := [{b}, {e}]";
            }
            case 1:
            {
                var shape = entry["shape"] is JsonArray s ? s.Select(AsLong).ToList() : [];
                int kind = rng.Next(5);
                var before = string.Join(",", shape);
                if (kind == 0 || shape.Count == 0) shape.Add(1 + rng.Next(3));
                else if (kind == 1) shape.RemoveAt(rng.Next(shape.Count));
                else if (kind == 2) shape.Reverse();
                else
                {
                    long[] dims = [0, -1, 1, 2, shape[0] + 1, shape[0] - 1, shape[0] * 2, int.MaxValue, 1L << 31, 1L << 40, 1L << 62, long.MaxValue];
                    shape[rng.Next(shape.Count)] = dims[rng.Next(dims.Length)];
                }
                entry["shape"] = new JsonArray(shape.Select(x => (JsonNode)x).ToArray());
                return $"shape [{before}] := [{string.Join(",", shape)}]";
            }
            case 2:
            {
                var dtype = SafetensorsHints.Strings[rng.Next(SafetensorsHints.Strings.Count)];
                var before = entry["dtype"]?.ToJsonString();
                entry["dtype"] = dtype;
                return $"dtype {before} := \"{dtype}\"";
            }
            default:
            {
                var (_, what) = JsonMutations.MutateNode(entry, rng, SafetensorsHints);
                return what;
            }
        }
    }

    private static readonly string[] Llama2cFields = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"];

    /// <summary>llama2.c checkpoint: one of the seven int32 header fields, or the version magic.</summary>
    public static string Llama2cHeader(string path, Random rng)
    {
        var data = File.ReadAllBytes(path);
        if (data.Length < 28) return Generic(path, rng);
        int field = rng.Next(8);
        if (field == 7)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(data, 0x616b3432);
            File.WriteAllBytes(path, data);
            return $"{Path.GetFileName(path)}: version magic ak42";
        }
        int v = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(field * 4));
        int[] values = [int.MaxValue, int.MinValue, 0, -1, 1, 2, v + 1, v - 1, v * 2, v / 2, -v, 999, 1000, 999_999, 1_000_000, 65536, rng.Next()];
        int forged = values[rng.Next(values.Length)];
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(field * 4), forged);
        File.WriteAllBytes(path, data);
        return $"{Path.GetFileName(path)}: header {Llama2cFields[field]} {v} := {forged}";
    }

    /// <summary>llama2.c tokenizer: max_token_length, or one token's score, length or bytes.</summary>
    public static string TokenizerBin(string path, Random rng)
    {
        var name = Path.GetFileName(path);
        var data = File.ReadAllBytes(path);
        var records = new List<int>();
        for (int offset = 4; offset + 8 <= data.Length;)
        {
            int length = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(offset + 4));
            if (length < 0 || length > data.Length - offset - 8) break;
            records.Add(offset);
            offset += 8 + length;
        }
        if (data.Length < 4 || records.Count == 0) return Generic(path, rng);
        int choice = rng.Next(5);
        if (choice == 0)
        {
            int[] values = [int.MaxValue, 0, -1, 1, 5, int.MinValue];
            int forged = values[rng.Next(values.Length)];
            BinaryPrimitives.WriteInt32LittleEndian(data, forged);
            File.WriteAllBytes(path, data);
            return $"{name}: max_token_length := {forged}";
        }
        // Byte tokens (3..258) are what the reader validates by content, so pick them a third of the time.
        int index = rng.Next(3) == 0 ? Math.Min(records.Count - 1, 3 + rng.Next(256)) : rng.Next(records.Count);
        int at = records[index];
        int len = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(at + 4));
        switch (choice)
        {
            case 1:
            {
                int[] values = [int.MaxValue, int.MinValue, -1, len + 1, len - 1, 0, 1 << 20, 1 << 30];
                int forged = values[rng.Next(values.Length)];
                BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(at + 4), forged);
                File.WriteAllBytes(path, data);
                return $"{name}: token {index} length {len} := {forged}";
            }
            case 2:
            {
                float[] values = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -1e10f, -1e11f, 1e30f, float.MaxValue, float.Epsilon];
                float forged = values[rng.Next(values.Length)];
                BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(at), forged);
                File.WriteAllBytes(path, data);
                return $"{name}: token {index} score := {forged}";
            }
            case 3:
            {
                if (len == 0) return $"{name}: token {index} bytes unchanged (empty)";
                int o = at + 8 + rng.Next(len);
                byte forged = rng.Next(2) == 0 ? Interesting[rng.Next(Interesting.Length)] : (byte)rng.Next(256);
                data[o] = forged;
                File.WriteAllBytes(path, data);
                return $"{name}: token {index} byte {o - at - 8} := 0x{forged:X2}";
            }
            default:
            {
                int end = at + 8 + len;
                bool duplicate = rng.Next(2) == 0;
                File.WriteAllBytes(path, duplicate ? [.. data[..end], .. data[at..end], .. data[end..]] : [.. data[..at], .. data[end..]]);
                return $"{name}: {(duplicate ? "duplicate" : "remove")} token {index}";
            }
        }
    }
}
