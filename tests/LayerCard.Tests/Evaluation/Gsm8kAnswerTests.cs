using LayerCard.Evaluation;

namespace LayerCard.Tests.Evaluation;

public class Gsm8kAnswerTests
{
    [Theory]
    [InlineData("She pays 3 * 4 = 12 dollars.\n#### 1,234", "1234")]
    [InlineData("The answer is $5.00.", "5")]
    [InlineData("no number here", null)]
    [InlineData("#### $72.", "72")]
    [InlineData("First 10, then 20 apples... #### 7 and later 99", "7")]
    [InlineData("Costs went from 3 to 1,000", "1000")]
    [InlineData("0.50 of it", "0.5")]
    [InlineData("He lost -3 points", "-3")]
    [InlineData("5-3 = 2, so 5-3", "3")]
    [InlineData("values 1,2,3", "3")]
    [InlineData("#### no number after marker, but 42 before? no: 17", "17")]
    [InlineData("007 agents", "7")]
    [InlineData("-0.0", "0")]
    public void Extracts(string text, string? expected)
    {
        Assert.Equal(expected, Gsm8kAnswer.Extract(text));
    }

    [Fact]
    public void MatchesComparesNormalisedAnswers()
    {
        Assert.True(Gsm8kAnswer.Matches("so the total is $1,000.00.", "Janet has 10 ... #### 1000"));
        Assert.False(Gsm8kAnswer.Matches("the total is 999", "#### 1000"));
        Assert.False(Gsm8kAnswer.Matches("I don't know", "#### 1000"));
    }
}
