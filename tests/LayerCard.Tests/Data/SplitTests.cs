using LayerCard.Common;
using LayerCard.Data;

namespace LayerCard.Tests.Data;

public class SplitTests
{
    private static TaskDataset Numbered(int count, Func<int, string?>? group = null) =>
        new("mem", DataFormat.E2e, Enumerable.Range(0, count).Select(i => new Example($"p{i}", $"c{i}", null, group?.Invoke(i))).ToList(),
            null, null, "hash");

    [Fact]
    public void SeededSubsetInFileOrder()
    {
        var data = Numbered(50);
        var (train, heldOut) = data.Split(0.2, seed: 5);
        Assert.Equal(10, heldOut.Examples.Count);
        Assert.Equal(40, train.Examples.Count);
        Assert.Equal(data.Examples.OrderBy(e => e.Prompt), train.Examples.Concat(heldOut.Examples).OrderBy(e => e.Prompt));
        Assert.Equal(heldOut.Examples, heldOut.Examples.OrderBy(e => int.Parse(e.Prompt[1..])));
        Assert.Equal(heldOut.Examples, data.Split(0.2, seed: 5).HeldOut.Examples);
        Assert.NotEqual(heldOut.Examples, data.Split(0.2, seed: 6).HeldOut.Examples);
        Assert.Equal("hash", heldOut.ContentHash);
    }

    [Fact]
    public void GroupsStayTogether()
    {
        var data = Numbered(60, i => $"mr{i / 4 + (i % 3 == 0 ? 100 : 0)}");
        var (train, heldOut) = data.Split(0.25, seed: 9);
        Assert.NotEmpty(heldOut.Examples);
        Assert.Empty(train.Examples.Select(e => e.Group).Intersect(heldOut.Examples.Select(e => e.Group)));
        Assert.Equal(60, train.Examples.Count + heldOut.Examples.Count);
    }

    [Fact]
    public void SmallDataStillKeepsBothSides()
    {
        var (train, heldOut) = Numbered(3).Split(0.01, 0);
        Assert.Single(heldOut.Examples);
        Assert.Equal(2, train.Examples.Count);
        var message = Assert.Throws<BadInputException>(() => Numbered(2, _ => "same").Split(0.5, 0)).Message;
        Assert.Equal("mem: cannot hold out 50%: the data has only one group of examples", message);
        Assert.Throws<BadInputException>(() => Numbered(5).Split(1.0, 0));
        Assert.Empty(Numbered(5).Split(0, 0).HeldOut.Examples);
    }

    [Fact]
    public void PlainTextHoldsOutTheTailAtALineBreak()
    {
        var text = string.Concat(Enumerable.Range(0, 10).Select(i => $"line {i}\n"));
        var data = new TaskDataset("p.txt", DataFormat.PlainText, [], text, null, "h");
        var (train, heldOut) = data.Split(0.2, seed: 1);
        Assert.Equal(text, train.PlainText + heldOut.PlainText);
        Assert.StartsWith("line ", heldOut.PlainText);
        Assert.True(heldOut.PlainText!.Length >= text.Length * 0.2);
        Assert.Equal(heldOut.PlainText, data.Split(0.2, seed: 2).HeldOut.PlainText);
    }
}
