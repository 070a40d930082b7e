using LayerCard.Tokenizers;

namespace LayerCard.Tests.Tokenizers;

public class Llama2cTokenizerTests
{
    [Fact]
    public void LoadsTok512FromTheModelFolder()
    {
        var tokenizer = TokenizerAssets.Stories260K;
        Assert.IsType<Llama2cTokenizer>(tokenizer);
        Assert.Equal(512, tokenizer.VocabSize);
        Assert.Equal(1, tokenizer.BosId);
        Assert.Equal(2, tokenizer.EosId);
        Assert.Equal("<0x41>", tokenizer.TokenText(3 + 0x41));
    }

    [Fact]
    public void DecodeReversesEncode()
    {
        var tokenizer = TokenizerAssets.Stories260K;
        var ids = tokenizer.Encode(TokenizerAssets.Varied);
        Assert.Equal(TokenizerAssets.Varied, tokenizer.Decode(ids));
        var withBos = tokenizer.Encode(TokenizerAssets.Varied, addBos: true);
        Assert.Equal(1, withBos[0]);
        Assert.Equal(ids, withBos[1..]);
        Assert.Equal(TokenizerAssets.Varied, tokenizer.Decode(withBos));
    }

    [Fact]
    public void EncodesAsRunC()
    {
        var tokenizer = TokenizerAssets.Stories260K;
        Assert.Empty(tokenizer.Encode(""));
        Assert.Equal([1], tokenizer.Encode("", addBos: true));
        // The dummy prefix space merges with the first word, and "🙂" (absent from the vocabulary) falls back to its four bytes.
        var ids = tokenizer.Encode("the 🙂");
        Assert.Equal(" the", tokenizer.TokenText(ids[0]));
        Assert.Equal([0xF0 + 3, 0x9F + 3, 0x99 + 3, 0x82 + 3], ids[^4..]);
        foreach (var text in new[] { "Once upon a time, there was a little girl named Lily.", TokenizerAssets.Varied, "aaaaaaaa  the the the" })
            Assert.Equal(ReferenceEncode(tokenizer, text), tokenizer.Encode(text));
    }

    /// <summary>run.c's quadratic merge loop, written plainly, to check the heap-based merge against.</summary>
    private static int[] ReferenceEncode(ITokenizer tokenizer, string text)
    {
        var llama = (Llama2cTokenizer)tokenizer;
        var pieces = Enumerable.Range(0, llama.VocabSize).ToDictionary(llama.TokenText, id => id);
        var tokens = new List<int> { pieces[" "] };
        foreach (var rune in text.EnumerateRunes())
        {
            if (pieces.TryGetValue(rune.ToString(), out var id)) tokens.Add(id);
            else tokens.AddRange(System.Text.Encoding.UTF8.GetBytes(rune.ToString()).Select(b => b + 3));
        }
        while (true)
        {
            var (bestScore, bestId, bestIndex) = (-1e10f, -1, -1);
            for (var i = 0; i < tokens.Count - 1; i++)
            {
                if (pieces.TryGetValue(llama.TokenText(tokens[i]) + llama.TokenText(tokens[i + 1]), out var merged) && llama.Score(merged) > bestScore)
                    (bestScore, bestId, bestIndex) = (llama.Score(merged), merged, i);
            }
            if (bestIndex < 0) return tokens.ToArray();
            tokens[bestIndex] = bestId;
            tokens.RemoveAt(bestIndex + 1);
        }
    }
}
