namespace LayerCard.Tokenizers;

public interface ITokenizer
{
    /// <summary>Largest id + 1, counting added and special tokens.</summary>
    int VocabSize { get; }
    int? BosId { get; }
    int? EosId { get; }
    int[] Encode(string text, bool addBos = false);
    string Decode(IEnumerable<int> ids);
    string TokenText(int id);
}
