using LayerCard.Card;
using LayerCard.Common;
using LayerCard.Data;

namespace LayerCard.Tests.Card;

/// <summary>The card's settings: defaults that depend on the model, and refusals that name the field.</summary>
public class CardSettingsTests
{
    [Fact]
    public void TheDefaultCalibrationIs16ExamplesOrOneExamplePerLayerOnDeeperModels()
    {
        var defaults = new CardSettings();
        Assert.Equal(16, defaults.CalibrationExamplesFor(5));
        Assert.Equal(16, defaults.CalibrationExamplesFor(12));
        Assert.Equal(32, defaults.CalibrationExamplesFor(32));
        Assert.Equal(36, defaults.CalibrationExamplesFor(36));
        // A value the user gave is used as it is (and refused later if it is below the layer count).
        Assert.Equal(64, (defaults with { CalibrationExamples = 64 }).CalibrationExamplesFor(36));
        Assert.Equal(8, (defaults with { CalibrationExamples = 8 }).CalibrationExamplesFor(36));
    }

    [Fact]
    public void TheCacheKeyNamesTheCalibrationCountTheCardReads()
    {
        var text = new TaskDataset("mem.txt", DataFormat.PlainText, [], string.Concat(Enumerable.Range(0, 200).Select(i => $"line {i:D4} of the text\n")), null, "hash");
        var data = TaskData.Prepare(text, null, null, new DataPlan { MaxLength = 16, ValidationFraction = 0.1 }, new LayerCard.Tests.Data.FakeTokenizer());
        string[] targets = ["q_proj"];
        string Key(int layers, int? examples) => CardBuilder.CacheKey("model", layers, data, new CardSettings { CalibrationExamples = examples }, targets);
        // The default and the same count given explicitly are one card; another count, or the default on a model deep enough to raise it, is another.
        Assert.Equal(Key(5, null), Key(5, CardSettings.DefaultCalibrationExamples));
        Assert.NotEqual(Key(5, null), Key(5, CardSettings.DefaultCalibrationExamples * 2));
        Assert.Equal(Key(40, null), Key(40, 40));
        Assert.NotEqual(Key(40, null), Key(40, CardSettings.DefaultCalibrationExamples));
    }

    [Fact]
    public void ANonPositiveCalibrationCountIsRefusedByName()
    {
        var e = Assert.Throws<BadInputException>(() => new CardSettings { CalibrationExamples = 0 }.Validate());
        Assert.Equal("calibration_examples", e.Field);
    }
}
