namespace LayerCard.Tokenizers;

/// <summary>
/// A text tokenizer. Ids are those of the model's embedding table, so <see cref="VocabSize"/> counts every id in
/// use (the largest id plus one, added and special tokens included), not the number of distinct pieces.
/// </summary>
public interface ITokenizer
{
    /// <summary>Number of ids the model's embedding table needs: the largest id in use plus one.</summary>
    int VocabSize { get; }
    /// <summary>The beginning-of-sequence token's id, or null when the tokenizer has none.</summary>
    int? BosId { get; }
    /// <summary>The end-of-sequence token's id, or null when the tokenizer has none.</summary>
    int? EosId { get; }

    /// <summary>
    /// Encodes <paramref name="text"/>. No special token is added unless <paramref name="addBos"/> is set and the
    /// tokenizer has a BOS id; special tokens written in the text (such as &lt;|im_start|&gt;) are recognised
    /// where the tokenizer format has them.
    /// </summary>
    int[] Encode(string text, bool addBos = false);

    /// <summary>Turns ids back into text, so that Decode(Encode(x)) == x for text the tokenizer can represent.</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>One token as readable text (for reports); ids outside the vocabulary throw.</summary>
    string TokenText(int id);
}
