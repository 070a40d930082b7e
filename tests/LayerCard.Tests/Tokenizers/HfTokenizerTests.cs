using LayerCard.Tokenizers;

namespace LayerCard.Tests.Tokenizers;

public class HfTokenizerTests
{
    [Fact]
    public void Gpt2GivesTheKnownIds()
    {
        Assert.Equal([15496, 995, 11, 1752, 2402, 257, 640], TokenizerAssets.Gpt2.Encode(TokenizerAssets.Sample));
    }

    [Fact]
    public void Qwen3GivesTheKnownIds()
    {
        Assert.Equal([9707, 1879, 11, 3055, 5193, 264, 882], TokenizerAssets.Qwen3.Encode(TokenizerAssets.Sample));
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("qwen3")]
    public void DecodeReversesEncode(string name)
    {
        var tokenizer = name == "gpt2" ? TokenizerAssets.Gpt2 : TokenizerAssets.Qwen3;
        var ids = tokenizer.Encode(TokenizerAssets.Varied);
        Assert.Equal(TokenizerAssets.Varied, tokenizer.Decode(ids));
        Assert.Equal("", tokenizer.Decode(tokenizer.Encode("")));
        Assert.Empty(tokenizer.Encode(""));
    }

    [Fact]
    public void Qwen3SpecialTokensAreSingleIdsAndDecodeBack()
    {
        var qwen = TokenizerAssets.Qwen3;
        Assert.Equal([151644], qwen.Encode("<|im_start|>"));
        Assert.Equal([151643], qwen.Encode("<|endoftext|>"));
        Assert.Equal([151645], qwen.Encode("<|im_end|>"));
        var chat = "<|im_start|>user\nHi there<|im_end|>\n<|endoftext|>";
        var ids = qwen.Encode(chat);
        Assert.Equal(151644, ids[0]);
        Assert.Contains(151645, ids);
        Assert.Equal(151643, ids[^1]);
        Assert.Equal(chat, qwen.Decode(ids));
    }

    [Fact]
    public void Qwen3TakesBosEosAndVocabSizeFromItsFiles()
    {
        var qwen = TokenizerAssets.Qwen3;
        Assert.Null(qwen.BosId);
        Assert.Equal(151645, qwen.EosId);
        Assert.True(qwen.VocabSize > 151645);
        Assert.Equal(qwen.Encode(TokenizerAssets.Sample), qwen.Encode(TokenizerAssets.Sample, addBos: true));
        Assert.Equal("<|im_start|>", qwen.TokenText(151644));
        Assert.Equal(" world", qwen.TokenText(1879));
    }

    [Fact]
    public void Gpt2HasEndOfTextAsBosAndEos()
    {
        var gpt2 = TokenizerAssets.Gpt2;
        Assert.Equal(50257, gpt2.VocabSize);
        Assert.Equal(50256, gpt2.BosId);
        Assert.Equal(50256, gpt2.EosId);
        Assert.Equal([50256, 15496], gpt2.Encode("Hello", addBos: true));
        Assert.Equal([50256], gpt2.Encode("<|endoftext|>"));
        Assert.Equal(" world", gpt2.TokenText(995));
        Assert.Equal("Hello<|endoftext|>", gpt2.Decode([15496, 50256]));
    }

    [Fact]
    public void IdsOutsideTheVocabularyThrow()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenizerAssets.Gpt2.Decode([15496, 50257]));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenizerAssets.Qwen3.TokenText(-1));
    }
}
