using System.Text;

namespace LayerCard.Tokenizers;

/// <summary>
/// GPT-2's byte-to-unicode table: byte-level BPE vocabularies spell every byte as a printable character, so
/// tokens must be mapped back to bytes before they read as text.
/// </summary>
internal static class ByteLevel
{
    private static readonly char[] ByteToChar = BuildTable();
    private static readonly Dictionary<char, byte> CharToByte =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private static char[] BuildTable()
    {
        var table = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }

    /// <summary>The bytes a token spells, or null when it holds characters outside the table.</summary>
    public static byte[]? ToBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (var i = 0; i < token.Length; i++)
        {
            if (!CharToByte.TryGetValue(token[i], out var b)) return null;
            bytes[i] = b;
        }
        return bytes;
    }

    /// <summary>
    /// Readable text of a byte-level token. A token holding part of a multi-byte character shows its bytes as
    /// &lt;0xXX&gt;, since decoding it alone would lose them.
    /// </summary>
    public static string ToText(string token)
    {
        var bytes = ToBytes(token);
        if (bytes == null) return token;
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException) { return string.Concat(bytes.Select(b => $"<0x{b:X2}>")); }
    }
}
