using LayerCard.Evaluation;

namespace LayerCard.Tests.Evaluation;

public class TokenizerTests
{
    [Theory]
    [InlineData("The Eagle is a coffee shop, rated 5 out of 5.", "the|eagle|is|a|coffee|shop|,|rated|5|out|of|5|.")]
    [InlineData("Prices are £20-25.", "prices|are|£20|-|25|.")]
    [InlineData("It costs 1,000.50 (roughly)!", "it|costs|1,000.50|(|roughly|)|!")]
    [InlineData("It's family-friendly; don't worry", "it's|family-friendly|;|don't|worry")]
    [InlineData("a&amp;b &quot;x&quot;", "a|&|b|\"|x|\"")]
    [InlineData("  spaced\tout \n text ", "spaced|out|text")]
    [InlineData("", "")]
    public void MatchesMtevalV13a(string text, string expected)
    {
        var want = expected.Length == 0 ? [] : expected.Split('|');
        Assert.Equal(want, MtevalTokenizer.Tokenize(text));
    }

    [Fact]
    public void RougeDropsCocoPunctuation()
    {
        Assert.Equal(["the", "eagle", "£20", "25"], RougeL.Tokenize("The Eagle, £20-25."));
    }
}
