using System.Buffers.Binary;

namespace LayerCard.Tokenizers;

/// <summary>
/// Validates the precompiled_charsmap of a Precompiled normalizer (SentencePiece's normalization rules) the way
/// spm_precompiled 0.1.4, inside tokenizers 0.22.2, reads it. The blob is base64 of: a little-endian u32 trie size
/// in bytes; size / 4 little-endian u32 units of a Darts double-array trie; then the rest, the normalized strings
/// (UTF-8, each NUL-terminated), which leaf units point into by byte offset. The library unwraps the parse at load
/// (bad base64, a size past the end, non-UTF-8 strings) and indexes the trie and the strings without bounds checks
/// when encoding; each of those is a panic that aborts the process, so the whole structure is checked here.
/// </summary>
internal static class PrecompiledCharsmap
{
    /// <summary>Null when the library can load <paramref name="base64"/> and use it on any text; otherwise what is wrong, as a phrase following "precompiled_charsmap".</summary>
    public static string? Check(string base64)
    {
        var blob = DecodeBase64(base64, out var problem);
        return blob == null ? problem : CheckBlob(blob);
    }

    /// <summary>Checks a decoded charsmap; see <see cref="Check"/>.</summary>
    public static string? CheckBlob(ReadOnlySpan<byte> blob)
    {
        if (blob.Length < 4) return $"decodes to {blob.Length} bytes, too few for its 4-byte trie size";
        uint trieBytes = BinaryPrimitives.ReadUInt32LittleEndian(blob);
        // The parser reads size / 4 units and leaves any remainder of the size to the strings, as done here.
        long units = trieBytes / 4;
        if (4 + units * 4 > blob.Length) return $"declares a trie of {trieBytes} bytes but only {blob.Length - 4} follow its size";
        var trie = blob.Slice(4, (int)units * 4);
        var normalized = blob[(4 + (int)units * 4)..];
        if (!System.Text.Unicode.Utf8.IsValid(normalized)) return "holds normalized strings that are not valid UTF-8";
        // The first lookup of any text reads unit 0.
        if (units == 0) return "has an empty trie";
        return CheckTrie(trie, (int)units, normalized);
    }

    /// <summary>
    /// Follows the trie from the root over every byte 1..255 at every depth, as a lookup would for any key: each
    /// step must land inside the array, and each leaf's value must be an offset inside the strings at a character
    /// boundary (the library slices the strings there). Real keys are UTF-8 graphemes of under 6 bytes, a subset,
    /// so this may refuse a blob that real text could never break, but it accepts real SentencePiece charsmaps,
    /// whose double arrays are built in whole 256-unit blocks. Each node is expanded once: at most 255 steps a unit.
    /// </summary>
    private static string? CheckTrie(ReadOnlySpan<byte> trie, int units, ReadOnlySpan<byte> normalized)
    {
        long root = Offset(Unit(trie, 0));
        var seen = new HashSet<long> { root };
        var pending = new Stack<long>([root]);
        while (pending.TryPop(out var node))
        {
            for (uint c = 1; c <= 255; c++)
            {
                long at = node ^ c;
                if (at >= units) return $"has a trie whose byte 0x{c:X2} from node {node} leads to unit {at}, past its {units} units";
                uint unit = Unit(trie, at);
                // Leaf units have bit 31 in their label, so they never match a byte and end the walk.
                if ((unit & 0x800000FFu) != c) continue;
                long next = at ^ Offset(unit);
                if ((unit & 0x100) != 0)
                {
                    if (next >= units) return $"has a trie whose unit {at} keeps its value at unit {next}, past its {units} units";
                    long offset = Unit(trie, next) & 0x7FFFFFFFu;
                    if (offset > normalized.Length)
                        return $"has a trie whose unit {next} points at byte {offset} of {normalized.Length} bytes of normalized strings";
                    if (offset < normalized.Length && (normalized[(int)offset] & 0xC0) == 0x80)
                        return $"has a trie whose unit {next} points at byte {offset} of the normalized strings, inside a character";
                }
                if (seen.Add(next)) pending.Push(next);
            }
        }
        return null;
    }

    private static uint Unit(ReadOnlySpan<byte> trie, long index) => BinaryPrimitives.ReadUInt32LittleEndian(trie.Slice((int)index * 4, 4));

    /// <summary>A unit's offset to its children: bits 10..30, shifted left by 8 more when bit 9 is set (Darts' layout).</summary>
    private static long Offset(uint unit) => (long)(unit >> 10) << (int)((unit & (1u << 9)) >> 6);

    /// <summary>
    /// Decodes the standard alphabet only, with the canonical padding or none, and zero bits past the data: base64
    /// 0.13 in the library refuses other spellings (whitespace, extra '=', stray bits, URL-safe letters) by a panic,
    /// and .NET's decoder would accept some of them.
    /// </summary>
    private static byte[]? DecodeBase64(string text, out string? problem)
    {
        problem = null;
        int end = text.Length, pad = 0;
        while (end > 0 && text[end - 1] == '=' && pad < 2) { end--; pad++; }
        for (int i = 0; i < end; i++)
        {
            if (Sextet(text[i]) < 0)
            {
                problem = $"is not base64: character U+{(int)text[i]:X4} at {i}";
                return null;
            }
        }
        int remainder = end % 4;
        if (remainder == 1 || (pad > 0 && (end + pad) % 4 != 0))
        {
            problem = $"is not base64: {end} characters and {pad} '=' do not make whole bytes";
            return null;
        }
        if (remainder != 0 && (Sextet(text[end - 1]) & (remainder == 2 ? 0x0F : 0x03)) != 0)
        {
            problem = "is not base64: its last character has bits set past the data";
            return null;
        }
        return Convert.FromBase64String(text[..end] + new string('=', (4 - remainder) % 4));
    }

    private static int Sextet(char c) => c switch
    {
        >= 'A' and <= 'Z' => c - 'A',
        >= 'a' and <= 'z' => c - 'a' + 26,
        >= '0' and <= '9' => c - '0' + 52,
        '+' => 62,
        '/' => 63,
        _ => -1,
    };
}
