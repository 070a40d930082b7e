using System.Buffers.Binary;
using System.Text;

namespace LayerCard.Bench.Fuzzing;

/// <summary>
/// Builds small, valid SentencePiece precompiled_charsmap blobs (the Precompiled normalizer's rules) so that seeds
/// and tests need no real SentencePiece model: a little-endian u32 trie size, a Darts-style double-array trie, then
/// the replacement strings, each NUL-terminated. Every trie node gets a whole 256-unit block, the simplest layout in
/// which every byte from every node lands inside the array, as in the blocks real charsmaps are built of.
/// </summary>
public static class CharsmapBuilder
{
    /// <summary>The blob for <paramref name="rules"/> (each key, a non-empty string, is replaced by its value when encoding).</summary>
    public static byte[] Build(IReadOnlyDictionary<string, string> rules)
    {
        // Nodes by key prefix (UTF-8 bytes); node i owns units 256*i .. 256*i+255, and the root is node 0 with
        // unit 0 zero, so its offset (to block 0) is 0 and its label 0 never matches a byte.
        var nodes = new Dictionary<string, int>(StringComparer.Ordinal) { [""] = 0 };
        var strings = new List<byte>();
        var values = new Dictionary<int, int>();
        foreach (var (key, replacement) in rules.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            if (key.Length == 0) throw new ArgumentException("a rule's key must not be empty", nameof(rules));
            var bytes = Encoding.UTF8.GetBytes(key);
            for (int length = 1; length <= bytes.Length; length++)
            {
                var prefix = Convert.ToHexString(bytes, 0, length);
                if (!nodes.ContainsKey(prefix)) nodes[prefix] = nodes.Count;
            }
            values[nodes[Convert.ToHexString(bytes)]] = strings.Count;
            strings.AddRange(Encoding.UTF8.GetBytes(replacement));
            strings.Add(0);
        }
        var units = new uint[256 * nodes.Count];
        foreach (var (prefix, node) in nodes)
        {
            if (prefix.Length == 0) continue;
            int parent = nodes[prefix[..^2]], label = Convert.ToInt32(prefix[^2..], 16);
            long at = 256L * parent ^ label, offset = 256L * node ^ at;
            if (offset >= 1 << 21) throw new ArgumentException("too many rules for this simple layout", nameof(rules));
            units[at] = (uint)label | (uint)offset << 10 | (values.ContainsKey(node) ? 0x100u : 0);
            // The value sits at the node's own base (byte 0), with bit 31 set so that it is never taken for a byte.
            if (values.TryGetValue(node, out var value)) units[256 * node] = 0x80000000u | (uint)value;
        }
        var blob = new byte[4 + units.Length * 4 + strings.Count];
        BinaryPrimitives.WriteUInt32LittleEndian(blob, (uint)(units.Length * 4));
        for (int i = 0; i < units.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(4 + i * 4), units[i]);
        strings.CopyTo(blob, 4 + units.Length * 4);
        return blob;
    }

    /// <summary>A few NFKC-like rules (full-width letters, a ligature, a removed zero-width space) for seeds and tests.</summary>
    public static IReadOnlyDictionary<string, string> SampleRules { get; } = new Dictionary<string, string>
    {
        ["\uFF21"] = "A", ["\uFF42"] = "b", ["\uFB01"] = "fi", ["\u2460"] = "1", ["\u200B"] = "",
    };
}
