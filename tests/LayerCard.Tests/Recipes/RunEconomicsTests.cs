using LayerCard.Card;
using LayerCard.Placement;
using LayerCard.Recipes;

namespace LayerCard.Tests.Recipes;

/// <summary>What `run` says about the planned placement's cost against all layers.</summary>
public class RunEconomicsTests
{
    private static Plan PlanOf(int[] layers, double timeFraction) =>
        new("cost", layers, 1.0, 0.96, null, timeFraction, 0.5, 1000, []);

    [Fact]
    public void APlanPredictedToSaveNoTimeIsReportedAsNoCheaperPlacement()
    {
        // Five of twelve layers with layer 0 among them: the backward still runs the whole model (stories12L, session 7).
        Assert.True(RunEconomics.PredictsNoSaving(PlanOf([0, 2, 4, 8, 11], 1.0), 12));
        Assert.True(RunEconomics.PredictsNoSaving(PlanOf(Enumerable.Range(0, 12).ToArray(), 1.0), 12));
        Assert.False(RunEconomics.PredictsNoSaving(PlanOf([8, 9, 10, 11], 0.6), 12));
        Assert.Contains("no placement cheaper than all layers", new RunEconomics(7, 25, 34, NoCheaperPlacement: true).Summary);
        Assert.DoesNotContain("no placement cheaper", new RunEconomics(5, 21, 44).Summary);
    }

    [Fact]
    public void APlanWhosePredictedSavingIsBelowTheCardsCostIsReportedAsNotPredictedToPay()
    {
        // stories12L at 95 % (session 8): six layers at 96 % of the step time, 29 s of all-layer training, a 4 s card.
        var timing = new CardTiming(3, 0.5, 6, 0, 4, 150, 29.0, 4 / 29.0);
        var saving = RunEconomics.SavingPredictedFor(PlanOf([1, 3, 7, 9, 10, 11], 0.96), timing)!.Value;
        Assert.Equal(0.04 * 29.0, saving, 9);
        var economics = new RunEconomics(4.0, 24.2, 29.3, false, saving);
        Assert.True(economics.CardOutweighsPredictedSaving);
        Assert.Contains("not predicted to pay for itself", economics.Summary);
        // Four top layers at 60 %: 11.6 s predicted saving against a 4 s card.
        var paying = new RunEconomics(4.0, 17, 29.3, false, RunEconomics.SavingPredictedFor(PlanOf([8, 9, 10, 11], 0.6), timing));
        Assert.False(paying.CardOutweighsPredictedSaving);
        Assert.DoesNotContain("not predicted to pay", paying.Summary);
        // Before training, the card predicted (4 + 29 - 11.6) / 29 of all-layer training, and the summary says so beside the measured ratio.
        var predicted = paying with { PredictedAllLayersTrainSeconds = 29.0 };
        Assert.Equal((4.0 + 29.0 * 0.6) / 29.0, predicted.PredictedCardPlusPlannedOverAllLayers!.Value, 9);
        Assert.Contains($"predicted before training: {(4.0 + 29.0 * 0.6) / 29.0:F2}x", predicted.Summary);
        Assert.Null(paying.PredictedCardPlusPlannedOverAllLayers);
        // Without the card's all-layer timing nothing is claimed.
        Assert.Null(RunEconomics.SavingPredictedFor(PlanOf([8, 9, 10, 11], 0.6), timing with { FullFineTuneSeconds = null }));
    }
}
