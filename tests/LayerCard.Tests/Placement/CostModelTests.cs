using LayerCard.Card;
using LayerCard.Placement;

namespace LayerCard.Tests.Placement;

/// <summary>The step-time model a probe-free card fits from three timed sets, and what the planner reads from it.</summary>
public class CostModelTests
{
    private const int Layers = 6;
    private const double Base = 0.04, PerBackward = 0.006, PerAdapted = 0.004;

    private static double Seconds(IReadOnlyCollection<int> set) => Base + PerBackward * (Layers - set.Min()) + PerAdapted * set.Count;

    [Fact]
    public void TheTimedSetsModelRecoversItsTermsAndPredictsSetsItDidNotTime()
    {
        var model = CostModel.FromTimings(Layers, Seconds([Layers - 1]), Seconds([0]), Seconds(Enumerable.Range(0, Layers).ToArray()));

        Assert.Equal(Base, model.TimeBase, 12);
        Assert.Equal(PerBackward, model.TimePerBackwardLayer, 12);
        Assert.Equal(PerAdapted, model.TimePerAdaptedLayer, 12);
        Assert.False(model.MemoryFitted);
        foreach (var set in new[] { new[] { 2, 3 }, [1, 3, 5], [4, 5] })
            Assert.Equal(Seconds(set), model.PredictStepSeconds(set), 12);
    }

    [Fact]
    public void NoisyTimingsThatWouldMakeATermNegativeAreClampedAtZero()
    {
        // The bottom layer alone timed faster than the top one: the backward term would be negative.
        var model = CostModel.FromTimings(Layers, topSeconds: 0.05, bottomSeconds: 0.045, allSeconds: 0.08);

        Assert.Equal(0, model.TimePerBackwardLayer);
        Assert.Equal((0.08 - 0.045) / (Layers - 1), model.TimePerAdaptedLayer, 12);
        Assert.True(model.TimeBase >= 0);
    }

    [Fact]
    public void APlanFromATimeOnlyModelHasMeasuredTimesAndStructuralMemoryFractions()
    {
        var card = CardAndPlanTests.SyntheticCard([1.0, 0.8, 0.6, 0.5, 0.4, 0.3], (i, j) => i == j ? 1 : 0) with
        {
            CostModel = CostModel.FromTimings(Layers, Seconds([Layers - 1]), Seconds([0]), Seconds(Enumerable.Range(0, Layers).ToArray())),
        };
        var cost = new CostPredictor(card);
        var all = Enumerable.Range(0, Layers).ToArray();

        Assert.True(cost.IsMeasured);
        Assert.Equal(Seconds([2, 4]), cost.StepSeconds([2, 4])!.Value, 12);
        Assert.Equal(Seconds([2, 4]) / Seconds(all), cost.TimeFraction([2, 4]), 12);
        Assert.Null(cost.PeakMemoryBytes([2, 4]));
        Assert.Equal((Layers - 2) / (double)Layers, cost.MemoryFraction([2, 4]), 12);
    }
}
