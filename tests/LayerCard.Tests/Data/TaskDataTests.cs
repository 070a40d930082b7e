using LayerCard.Common;
using LayerCard.Data;

namespace LayerCard.Tests.Data;

/// <summary>The run's data plan: parts that never overlap, limits for every format, seeded calibration samples.</summary>
public class TaskDataTests
{
    private static readonly FakeTokenizer Tokenizer = new();

    private static TaskDataset Examples(DataFormat format, int count, Func<int, string?>? group = null) =>
        new("mem", format, Enumerable.Range(0, count).Select(i => new Example($"p{i}:", $" c{i}", format == DataFormat.Classification ? i % 2 : null, group?.Invoke(i))).ToList(),
            null, format == DataFormat.Classification ? ["no", "yes"] : null, "hash");

    private static TaskDataset Text(int lines) =>
        new("mem.txt", DataFormat.PlainText, [], string.Concat(Enumerable.Range(0, lines).Select(i => $"line {i:D4} of the text\n")), null, "hash");

    private static readonly DataPlan ThreeParts = new() { MaxLength = 16, ValidationFraction = 0.1, TestFraction = 0.1 };

    public static TheoryData<DataFormat> ExampleFormats => new(
        DataFormat.Text, DataFormat.PromptCompletion, DataFormat.Alpaca, DataFormat.Gsm8k, DataFormat.Classification, DataFormat.E2e);

    [Theory]
    [MemberData(nameof(ExampleFormats))]
    public void ExamplePartsNeverShareAnExampleOrAGroup(DataFormat format)
    {
        var data = TaskData.Prepare(Examples(format, 200, i => format == DataFormat.E2e ? $"mr{i / 3}" : null), null, null, ThreeParts, Tokenizer);
        var train = data.Train.Raw.Examples;
        var validation = data.Validation!.Raw.Examples;
        var test = data.Test!.Raw.Examples;
        Assert.Equal(200, train.Count + validation.Count + test.Count);
        Assert.InRange(validation.Count, 15, 25);
        Assert.InRange(test.Count, 15, 25);
        Assert.Empty(train.Intersect(validation));
        Assert.Empty(train.Intersect(test));
        Assert.Empty(validation.Intersect(test));
        if (format == DataFormat.E2e)
        {
            var groups = new[] { train, validation, test }.Select(part => part.Select(e => e.Group).ToHashSet()).ToList();
            Assert.Empty(groups[0].Intersect(groups[1]));
            Assert.Empty(groups[0].Intersect(groups[2]));
            Assert.Empty(groups[1].Intersect(groups[2]));
        }
    }

    [Fact]
    public void EveryPartFollowsThePlansLongPromptChoiceAndSaysHowMany()
    {
        // Every fifth prompt is 20 tokens long: no room at a maximum length of 16.
        var data = new TaskDataset("mem", DataFormat.PromptCompletion,
            Enumerable.Range(0, 100).Select(i => new Example(i % 5 == 0 ? new string('p', 19) + ":" : $"p{i}:", $" c{i % 10}")).ToList(), null, null, "hash");
        var skipped = TaskData.Prepare(data, null, null, ThreeParts, Tokenizer);
        var cut = TaskData.Prepare(data, null, null, ThreeParts with { LongPrompts = LongPromptPolicy.TruncateLeft }, Tokenizer);
        foreach (var (skip, truncate) in new[] { (skipped.Train, cut.Train), (skipped.Validation!, cut.Validation!), (skipped.Test!, cut.Test!) })
        {
            int longOnes = truncate.Raw.Examples.Count(e => e.Prompt.Length == 20);
            Assert.True(longOnes > 0, truncate.Name);
            Assert.Equal(skip.Raw.Examples, truncate.Raw.Examples);
            Assert.Equal(longOnes, skip.Tokens.Dropped);
            Assert.Contains($"{longOnes} dropped (prompt longer than the maximum length 16)", skip.Summary);
            Assert.Equal(truncate.Raw.Examples.Count, truncate.Tokens.Examples.Count);
            Assert.Equal(longOnes, truncate.Tokens.PromptsCut);
            Assert.Contains($"{longOnes} prompt{(longOnes == 1 ? "" : "s")} cut from the left", truncate.Summary);
        }
    }

    [Fact]
    public void PlainTextPartsAreConsecutiveRegionsThatNeverOverlap()
    {
        var text = Text(300);
        var data = TaskData.Prepare(text, null, null, ThreeParts, Tokenizer);
        var joined = data.Train.Raw.PlainText + data.Validation!.Raw.PlainText + data.Test!.Raw.PlainText;
        Assert.Equal(text.PlainText, joined);
        Assert.True(data.Validation.Raw.PlainText!.Length > 0 && data.Test.Raw.PlainText!.Length > 0);
    }

    public static TheoryData<DataFormat> EveryFormat => new(
        DataFormat.Text, DataFormat.PromptCompletion, DataFormat.Alpaca, DataFormat.Gsm8k, DataFormat.Classification, DataFormat.E2e, DataFormat.PlainText);

    [Theory]
    [MemberData(nameof(EveryFormat))]
    public void LimitsHoldForEveryFormatPlainTextIncluded(DataFormat format)
    {
        var raw = format == DataFormat.PlainText ? Text(400) : Examples(format, 300);
        var unlimited = TaskData.Prepare(raw, null, null, ThreeParts, Tokenizer);
        Assert.True(unlimited.Train.Tokens.Examples.Count > 20 && unlimited.Validation!.Tokens.Examples.Count > 7 && unlimited.Test!.Tokens.Examples.Count > 5);
        var limited = TaskData.Prepare(raw, null, null, ThreeParts with { TrainLimit = 20, ValidationLimit = 7, TestLimit = 5 }, Tokenizer);
        Assert.Equal(20, limited.Train.Tokens.Examples.Count);
        Assert.Equal(7, limited.Validation!.Tokens.Examples.Count);
        Assert.Equal(5, limited.Test!.Tokens.Examples.Count);
        Assert.Contains("first 20", limited.Train.Tokens.Summary);
        // A limit keeps the first sequences of the same split: the parts do not move when a limit is set.
        Assert.Equal(unlimited.Test.Tokens.Examples[0].InputIds, limited.Test.Tokens.Examples[0].InputIds);
    }

    [Fact]
    public void TheSplitDoesNotDependOnTheSeedButTheCalibrationSampleDoes()
    {
        var data = TaskData.Prepare(Examples(DataFormat.PromptCompletion, 300), null, null, ThreeParts, Tokenizer);
        var again = TaskData.Prepare(Examples(DataFormat.PromptCompletion, 300), null, null, ThreeParts, Tokenizer);
        Assert.Equal(data.Test!.Raw.Examples, again.Test!.Raw.Examples);
        var seed0 = data.CalibrationSample(32, seed: 0).Examples.Select(e => e.ExampleIndex).ToList();
        var seed1 = data.CalibrationSample(32, seed: 1).Examples.Select(e => e.ExampleIndex).ToList();
        Assert.Equal(seed0, data.CalibrationSample(32, seed: 0).Examples.Select(e => e.ExampleIndex).ToList());
        Assert.NotEqual(seed0, seed1);
        Assert.Equal(32, seed0.Distinct().Count());
        // Calibration comes from the training part only.
        var trainPrompts = data.Train.Raw.Examples.Select(e => e.Prompt).ToHashSet();
        foreach (var index in seed0.Concat(seed1)) Assert.Contains(data.Train.Raw.Examples[index].Prompt, trainPrompts);
        var heldOut = data.Validation!.Raw.Examples.Concat(data.Test.Raw.Examples).Select(e => e.Prompt).ToHashSet();
        Assert.DoesNotContain(seed0.Concat(seed1).Select(i => data.Train.Raw.Examples[i].Prompt), heldOut.Contains);
    }

    [Fact]
    public void AGivenTestFileIsTheTestPartAndNothingIsHeldOutForIt()
    {
        var data = TaskData.Prepare(Examples(DataFormat.PromptCompletion, 100), null, Examples(DataFormat.PromptCompletion, 30), ThreeParts, Tokenizer);
        Assert.Equal(30, data.Test!.Raw.Examples.Count);
        Assert.Equal(100, data.Train.Raw.Examples.Count + data.Validation!.Raw.Examples.Count);
    }

    [Fact]
    public void ALimitBelowOneIsRefusedByItsFieldName()
    {
        var e = Assert.Throws<BadInputException>(() => TaskData.Prepare(Examples(DataFormat.Text, 10), null, null, ThreeParts with { TrainLimit = 0 }, Tokenizer));
        Assert.Equal("limit", e.Field);
        Assert.DoesNotContain("--", e.Message);
    }
}
