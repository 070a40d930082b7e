using LayerCard.Card;
using LayerCard.Common;

namespace LayerCard.Tests.Card;

/// <summary>The card's settings: defaults that depend on the model, and refusals that name the field.</summary>
public class CardSettingsTests
{
    [Fact]
    public void TheDefaultCalibrationIs32ExamplesOrOneExamplePerLayerOnDeeperModels()
    {
        var defaults = new CardSettings();
        Assert.Equal(32, defaults.CalibrationExamplesFor(5));
        Assert.Equal(32, defaults.CalibrationExamplesFor(32));
        Assert.Equal(36, defaults.CalibrationExamplesFor(36));
        // A value the user gave is used as it is (and refused later if it is below the layer count).
        Assert.Equal(64, (defaults with { CalibrationExamples = 64 }).CalibrationExamplesFor(36));
        Assert.Equal(8, (defaults with { CalibrationExamples = 8 }).CalibrationExamplesFor(36));
    }

    [Fact]
    public void ANonPositiveCalibrationCountIsRefusedByName()
    {
        var e = Assert.Throws<BadInputException>(() => new CardSettings { CalibrationExamples = 0 }.Validate());
        Assert.Equal("calibration_examples", e.Field);
    }
}
