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
}
