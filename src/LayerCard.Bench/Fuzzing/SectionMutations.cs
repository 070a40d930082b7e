using System.Buffers.Binary;
using System.Text.Json.Nodes;

namespace LayerCard.Bench.Fuzzing;

/// <summary>
/// Damage aimed at the tokenizer.json sections the Rust tokenizers library accepts but panics on (which aborts the
/// process): a decoder Strip with odd start/stop counts, a FixedLength pre-tokenizer with odd lengths, and a
/// Precompiled normalizer with a damaged charsmap (bad base64, truncated, flipped bytes, forged sizes and units).
/// Random node damage almost never builds such a section, so these mutations write one, alone or in a Sequence
/// with the section it replaces, so that the fuzzer's encode and decode reach it.
/// </summary>
internal static class SectionMutations
{
    // Rules whose keys are in FuzzChecks' sample text, so that encoding walks the (damaged) trie beyond its root.
    private static readonly Dictionary<string, string> Rules = new(CharsmapBuilder.SampleRules)
    {
        ["\u00F1"] = "n", ["H"] = "h", ["\U0001F642"] = ":)", ["e"] = "e",
    };

    /// <summary>Installs one crafted section in <paramref name="root"/> (a tokenizer.json object); returns what was done.</summary>
    public static string Mutate(JsonObject root, Random rng) => rng.Next(3) switch
    {
        0 => Strip(root, rng),
        1 => FixedLength(root, rng),
        _ => Precompiled(root, rng),
    };

    private static string Strip(JsonObject root, Random rng)
    {
        // Ġ is the byte-level space, a token of its own in the seed's encoding of the sample text.
        string[] contents = ["\u0120", "\u0120", ",", " ", "\u2581", "a", "", "ab"];
        var strip = new JsonObject();
        // Without "type" the library's untagged fallback still builds a Strip from content, start and stop.
        if (rng.Next(5) != 0) strip["type"] = "Strip";
        strip["content"] = contents[rng.Next(contents.Length)];
        // Mostly one odd count at a time: a Strip with two wrong types is rejected before its counts matter.
        strip["start"] = rng.Next(4) == 0 ? Count(rng) : Count(rng, valid: true);
        strip["stop"] = Count(rng);
        var (section, where) = Place(root["decoder"], strip, "decoders", rng, extra: new JsonObject { ["type"] = "Fuse" });
        root["decoder"] = section;
        return $"decoder := {where} Strip {Short(strip)}";
    }

    private static JsonNode? Count(Random rng, bool valid = false) => rng.Next(valid ? 8 : 12) switch
    {
        < 3 => 0,
        3 => 1,
        4 => 2,
        5 => 3,
        6 => 1000,
        7 => ulong.MaxValue,
        8 => -1,
        9 => 1.5,
        10 => "1",
        _ => null,
    };

    private static string FixedLength(JsonObject root, Random rng)
    {
        var fixedLength = new JsonObject { ["type"] = "FixedLength" };
        JsonNode? length = rng.Next(12) switch
        {
            < 3 => 0,
            3 => 1,
            4 => 2,
            5 => 5,
            6 => ulong.MaxValue,
            7 => JsonMutations.Raw("18446744073709551616"),
            8 => -1,
            9 => 2.5,
            10 => "3",
            _ => null,
        };
        if (rng.Next(8) != 0) fixedLength["length"] = length;
        var (section, where) = Place(root["pre_tokenizer"], fixedLength, "pretokenizers", rng, extra: new JsonObject { ["type"] = "Whitespace" });
        root["pre_tokenizer"] = section;
        return $"pre_tokenizer := {where} FixedLength {Short(fixedLength)}";
    }

    private static string Precompiled(JsonObject root, Random rng)
    {
        var (charsmap, damage) = DamagedCharsmap(rng);
        var precompiled = new JsonObject { ["type"] = "Precompiled", ["precompiled_charsmap"] = charsmap };
        var (section, where) = Place(root["normalizer"], precompiled, "normalizers", rng, extra: new JsonObject { ["type"] = "NFC" });
        root["normalizer"] = section;
        return $"normalizer := {where} Precompiled with {damage}";
    }

    /// <summary>A valid charsmap damaged in one way (one time in eight not at all); returns it and what was done.</summary>
    private static (JsonNode? Charsmap, string Damage) DamagedCharsmap(Random rng)
    {
        var blob = CharsmapBuilder.Build(Rules);
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(blob);
        int units = (int)(size / 4);
        string damage;
        switch (rng.Next(9))
        {
            case 0: return (Convert.ToBase64String(blob), "a valid charsmap");
            case 1:
                int keep = rng.Next(blob.Length);
                blob = blob[..keep];
                damage = $"the charsmap cut to {keep} bytes";
                break;
            case 2:
                int flips = 1 + rng.Next(4);
                var at = new List<int>();
                for (int i = 0; i < flips; i++)
                {
                    // Mostly in the root block, where every character's first byte is looked up.
                    int o = rng.Next(2) == 0 ? 4 + rng.Next(256 * 4) : rng.Next(blob.Length);
                    blob[o] ^= (byte)(1 << rng.Next(8));
                    at.Add(o);
                }
                damage = $"bits flipped at bytes {string.Join(",", at)}";
                break;
            case 3:
                uint[] sizes = [0, 1, 3, 4, size - 4, size - 1, size + 1, size + 4, size * 2, (uint)blob.Length - 4, (uint)blob.Length, uint.MaxValue, (uint)rng.Next()];
                uint forged = sizes[rng.Next(sizes.Length)];
                BinaryPrimitives.WriteUInt32LittleEndian(blob, forged);
                damage = $"trie size {size} forged to {forged}";
                break;
            case 4:
                int unit = rng.Next(2) == 0 ? rng.Next(256) : rng.Next(units);
                uint[] values = [0, uint.MaxValue, 0x80000000u | (uint)rng.Next(), (uint)rng.Next(), 0x100u | (uint)rng.Next(256) | (uint)rng.Next(1 << 21) << 10, 0x2FFu];
                uint value = values[rng.Next(values.Length)];
                BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(4 + unit * 4), value);
                damage = $"trie unit {unit} forged to 0x{value:X8}";
                break;
            case 5:
                byte[][] tails = [[0xFF], [0xC3], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xC0, 0xAF]];
                var tail = tails[rng.Next(tails.Length)];
                blob = [.. blob, .. tail];
                damage = $"strings followed by bytes {Convert.ToHexString(tail)}";
                break;
            case 6:
                blob = blob[..(4 + units * 4 + rng.Next(blob.Length - 4 - units * 4))];
                damage = $"strings cut to {blob.Length - 4 - units * 4} bytes";
                break;
            default:
                var text = Convert.ToBase64String(blob);
                string[] spellings =
                [
                    "", "!" + text, text[..^1], text + "==", text.Replace('+', '-').Replace('/', '_'), text.Insert(text.Length / 2, " "),
                    text.Insert(4, "\n"), text.TrimEnd('='), text.TrimEnd('=') + "=", "AAAA", "AAAAAA==",
                ];
                int pick = rng.Next(spellings.Length + 3);
                if (pick >= spellings.Length) return (pick switch { 11 => null, 12 => JsonValue.Create(42), _ => new JsonArray(1, 2) }, "a charsmap that is not a string");
                return (spellings[pick], $"base64 spelling {pick}");
        }
        return (Convert.ToBase64String(blob), damage);
    }

    /// <summary>The section alone, or in a Sequence before or after what it replaces (or a harmless extra one).</summary>
    private static (JsonNode Section, string Where) Place(JsonNode? original, JsonObject crafted, string listName, Random rng, JsonObject extra)
    {
        var other = original?.DeepClone() ?? extra;
        return rng.Next(3) switch
        {
            0 => (crafted, "alone,"),
            1 => (new JsonObject { ["type"] = "Sequence", [listName] = new JsonArray(crafted, other) }, "Sequence, first"),
            _ => (new JsonObject { ["type"] = "Sequence", [listName] = new JsonArray(other, crafted) }, "Sequence, last"),
        };
    }

    private static string Short(JsonNode node)
    {
        var text = JsonMutations.Serialize(node);
        return text.Length <= 80 ? text : text[..80] + "...";
    }
}
