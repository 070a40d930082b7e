using System.Text;
using LayerCard.Tokenizers;

namespace LayerCard.Tests.Data;

/// <summary>One token per UTF-8 byte (id = byte + 3), BOS = 1 and EOS = 2 when enabled: token counts equal byte counts.</summary>
public sealed class FakeTokenizer(bool bos = true, bool eos = true) : ITokenizer
{
    public const int Offset = 3;
    public int VocabSize => 256 + Offset;
    public int? BosId => bos ? 1 : null;
    public int? EosId => eos ? 2 : null;

    public int[] Encode(string text, bool addBos = false)
    {
        var ids = Encoding.UTF8.GetBytes(text).Select(b => b + Offset);
        return (addBos && bos ? ids.Prepend(1) : ids).ToArray();
    }

    public string Decode(IEnumerable<int> ids) =>
        Encoding.UTF8.GetString(ids.Where(i => i >= Offset).Select(i => (byte)(i - Offset)).ToArray());

    public string TokenText(int id) => id switch { 1 => "<s>", 2 => "</s>", _ => Decode([id]) };
}
