using LayerCard.Common;
using LayerCard.Data;

namespace LayerCard.Tests.Data;

public class TokenizationTests
{
    private const int X = Tokenization.IgnoreLabel;

    private static TaskDataset Examples(params Example[] examples) =>
        new("mem.jsonl", DataFormat.PromptCompletion, examples, null, null, "hash");

    private static int T(char c) => c + FakeTokenizer.Offset;

    [Fact]
    public void LossOnlyOnCompletionAndEos()
    {
        var set = Tokenization.Tokenize(Examples(new Example("ab", "cd")), new FakeTokenizer(), 16);
        var e = set.Examples.Single();
        Assert.Equal([1, T('a'), T('b'), T('c'), T('d'), 2], e.InputIds);
        // Position t predicts token t+1; only c, d and EOS are targets.
        Assert.Equal([X, X, T('c'), T('d'), 2, X], e.Labels);
        Assert.Equal(3, set.TargetTokens);
        Assert.Equal(6, set.TotalTokens);
        Assert.Equal("1 example, 0 truncated, 0 dropped, 6 tokens", set.Summary);
    }

    [Fact]
    public void WithoutBosOrEos()
    {
        var e = Tokenization.Tokenize(Examples(new Example("a", "bc")), new FakeTokenizer(bos: false, eos: false), 16).Examples.Single();
        Assert.Equal([T('a'), T('b'), T('c')], e.InputIds);
        Assert.Equal([T('b'), T('c'), X], e.Labels);
    }

    [Fact]
    public void TextFormatTrainsEveryTokenAfterBos()
    {
        var e = Tokenization.Tokenize(Examples(new Example("", "hi")), new FakeTokenizer(), 16).Examples.Single();
        Assert.Equal([T('h'), T('i'), 2, X], e.Labels);
    }

    [Fact]
    public void TruncatesTheCompletionEndAndDropsLongPrompts()
    {
        var data = Examples(
            new Example("abc", "defgh"),  // 1+3+5+1 = 10 > 6: keeps d, e
            new Example("abcd", "e"),     // 1+4 = 5 < 6: keeps e, loses EOS
            new Example("abcde", "f"),    // prompt with BOS fills 6: dropped
            new Example("abcdefgh", "i"), // dropped
            new Example("a", "b"));       // fits
        var set = Tokenization.Tokenize(data, new FakeTokenizer(), 6);
        Assert.Equal(2, set.Truncated);
        Assert.Equal(2, set.Dropped);
        Assert.Equal([0, 1, 4], set.Examples.Select(e => e.ExampleIndex));
        Assert.Equal([1, T('a'), T('b'), T('c'), T('d'), T('e')], set.Examples[0].InputIds);
        Assert.Equal([X, X, X, T('d'), T('e'), X], set.Examples[0].Labels);
        Assert.Equal([X, X, X, X, T('e'), X], set.Examples[1].Labels);
        Assert.All(set.Examples, e => Assert.True(e.InputIds.Length <= 6));
        Assert.StartsWith("5 examples, 2 truncated, 2 dropped (prompt longer than the maximum length 6)", set.Summary);
    }

    [Fact]
    public void SkipDropsAndCountsLongPromptsAndSaysSo()
    {
        var data = Examples(new Example("abcdefgh", "xy"), new Example("ab", "c"), new Example("abcdefghij", "z"));
        var set = Tokenization.Tokenize(data, new FakeTokenizer(), 8, LongPromptPolicy.Skip);
        Assert.Equal([1], set.Examples.Select(e => e.ExampleIndex));
        Assert.Equal(2, set.Dropped);
        Assert.Equal(0, set.PromptsCut);
        Assert.StartsWith("3 examples, 0 truncated, 2 dropped (prompt longer than the maximum length 8)", set.Summary);
        // Skip is what tokenization does when nothing is said.
        Assert.Equal(set.Summary, Tokenization.Tokenize(data, new FakeTokenizer(), 8).Summary);
    }

    [Fact]
    public void TruncateLeftKeepsBosAndThePromptsLastTokensSoTheWholeCompletionFits()
    {
        var set = Tokenization.Tokenize(Examples(new Example("abcdefgh", "xy")), new FakeTokenizer(), 8, LongPromptPolicy.TruncateLeft);
        var e = set.Examples.Single();
        // 1 + 8 + 2 + EOS = 12 > 8: four prompt tokens go, BOS stays first.
        Assert.Equal([1, T('e'), T('f'), T('g'), T('h'), T('x'), T('y'), 2], e.InputIds);
        // The labels still point at the completion and EOS, from the last kept prompt token on.
        Assert.Equal([X, X, X, X, T('x'), T('y'), 2, X], e.Labels);
        Assert.Equal(4, e.PromptTokensCut);
        Assert.Equal(1, set.PromptsCut);
        Assert.Equal(0, set.Truncated + set.Dropped);
        Assert.Equal("1 example, 1 prompt cut from the left, 0 truncated, 0 dropped, 8 tokens", set.Summary);
    }

    [Fact]
    public void TruncateLeftWithoutBosKeepsThePromptsLastTokens()
    {
        var e = Tokenization.Tokenize(Examples(new Example("abcdef", "gh")), new FakeTokenizer(bos: false, eos: false), 4, LongPromptPolicy.TruncateLeft).Examples.Single();
        Assert.Equal([T('e'), T('f'), T('g'), T('h')], e.InputIds);
        Assert.Equal([X, T('g'), T('h'), X], e.Labels);
    }

    [Fact]
    public void TruncateLeftCutsTheCompletionEndOnlyWhenItAloneDoesNotFit()
    {
        // BOS, the prompt's last token and the completion (7 + EOS) need 10 > 6: the completion keeps d, e, f, g.
        var set = Tokenization.Tokenize(Examples(new Example("abc", "defghij")), new FakeTokenizer(), 6, LongPromptPolicy.TruncateLeft);
        var e = set.Examples.Single();
        Assert.Equal([1, T('c'), T('d'), T('e'), T('f'), T('g')], e.InputIds);
        Assert.Equal([X, T('d'), T('e'), T('f'), T('g'), X], e.Labels);
        Assert.Equal(1, set.PromptsCut);
        Assert.Equal(1, set.Truncated);
        Assert.StartsWith("1 example, 1 prompt cut from the left, 1 truncated, 0 dropped", set.Summary);
    }

    [Fact]
    public void TruncateLeftScoresEveryExampleAndLeavesThoseThatFitAlone()
    {
        var data = Examples(new Example("abcdefgh", "xy"), new Example("ab", "c"), new Example("abcdefghij", "z"), new Example("abc", "efg"));
        var skip = Tokenization.Tokenize(data, new FakeTokenizer(), 8, LongPromptPolicy.Skip);
        var cut = Tokenization.Tokenize(data, new FakeTokenizer(), 8, LongPromptPolicy.TruncateLeft);
        Assert.Equal([0, 1, 2, 3], cut.Examples.Select(e => e.ExampleIndex));
        Assert.Equal(2, cut.PromptsCut);
        Assert.Equal(0, cut.Dropped + cut.Truncated);
        Assert.StartsWith("4 examples, 2 prompts cut from the left, 0 truncated, 0 dropped", cut.Summary);
        // Examples that fit whole are the same either way.
        Assert.Equal(skip.Examples[0].InputIds, cut.Examples[1].InputIds);
        Assert.Equal(skip.Examples[1].InputIds, cut.Examples[3].InputIds);
        Assert.Equal(0, cut.Examples[1].PromptTokensCut);
        // Every label is a completion token or EOS, in order, whatever the cut.
        var completions = new[] { "xy", "c", "z", "efg" };
        foreach (var e in cut.Examples)
        {
            Assert.True(e.InputIds.Length <= 8);
            Assert.Equal(completions[e.ExampleIndex].Select(T).Append(2), e.Labels.Where(l => l != X));
            Assert.Equal(1, e.InputIds[0]);
        }
    }

    [Fact]
    public void AllPromptsTooLongSuggestsTruncateLeft()
    {
        var e = Assert.Throws<BadInputException>(() =>
            Tokenization.Tokenize(Examples(new Example("abcdef", "g")), new FakeTokenizer(), 4, LongPromptPolicy.Skip));
        Assert.EndsWith("raise max_length or set long_prompts truncate-left", e.Message);
        Assert.EndsWith("raise --max-length or set --long-prompts truncate-left", e.MessageNaming(LayerCard.Cli.OptionNames.For));
        Assert.Single(Tokenization.Tokenize(Examples(new Example("abcdef", "g")), new FakeTokenizer(), 4, LongPromptPolicy.TruncateLeft).Examples);
    }

    [Fact]
    public void EveryExampleDroppedIsAnError()
    {
        var message = Assert.Throws<BadInputException>(() =>
            Tokenization.Tokenize(Examples(new Example("abcdef", "g")), new FakeTokenizer(), 4)).Message;
        Assert.StartsWith("mem.jsonl: every example was dropped", message);
        Assert.Contains("dropped at max_length 4", message);
    }

    [Fact]
    public void NothingToPredictIsCountedAsDropped()
    {
        var set = Tokenization.Tokenize(Examples(new Example("", "a"), new Example("a", "b")), new FakeTokenizer(bos: false, eos: false), 8);
        Assert.Equal(1, set.Dropped);
        Assert.Contains("1 dropped (nothing to predict)", set.Summary);
    }

    [Fact]
    public void PlainTextWindowsPredictEveryTokenOnce()
    {
        var data = new TaskDataset("p.txt", DataFormat.PlainText, [], "abcdefghij", null, "h");
        var set = Tokenization.Tokenize(data, new FakeTokenizer(), 4);
        Assert.Equal(3, set.Examples.Count);
        Assert.Equal("abcd".Select(T), set.Examples[0].InputIds);
        Assert.Equal("bcde".Select(T), set.Examples[0].Labels);
        Assert.Equal("efgh".Select(T), set.Examples[1].InputIds);
        Assert.Equal("ij".Select(T), set.Examples[2].InputIds.Concat(set.Examples[2].Labels).Distinct());
        Assert.Equal("bcdefghij".Select(T), set.Examples.SelectMany(e => e.Labels));
        Assert.Equal(0, set.Truncated + set.Dropped);
        Assert.StartsWith("1 text of 10 tokens in 3 windows of up to 4", set.Summary);
    }

    [Fact]
    public void MaxLengthMustLeaveRoomForATarget() =>
        Assert.Throws<BadInputException>(() => Tokenization.Tokenize(Examples(new Example("a", "b")), new FakeTokenizer(), 1));
}
