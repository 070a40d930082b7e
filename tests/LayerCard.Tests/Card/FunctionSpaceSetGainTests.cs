using LayerCard.Card;

namespace LayerCard.Tests.Card;

/// <summary>How the card reads the function-space signal: set gains of the quadratic model, its level shrink, redundancy and saturation, and their card.json fields.</summary>
public class FunctionSpaceSetGainTests
{
    [Fact]
    public void TheGainOfTwoLayersWithIndependentStepsIsTheSumOfTheirGains()
    {
        // With no curvature between the layers' steps the quadratic model separates.
        var result = new FunctionSpaceResult([-2.0, -1.0], [[4.0, 0.0], [0.0, 1.0]], [0, 0], StepDirection.Sign, 0, 0);
        Assert.Equal(0.5 * 4 / 4 + 0.5 * 1 / 1, result.SetGain([0, 1]), 4);
        // Parallel steps add nothing: the pair gains what the better one does alone.
        var parallel = new FunctionSpaceResult([-2.0, -2.0], [[4.0, 4.0], [4.0, 4.0]], [0, 0], StepDirection.Sign, 0, 0);
        Assert.Equal(0.5, parallel.SetGain([0, 1]), 3);
    }

    [Fact]
    public void ALevelShrinkMovesEachLayersGainTowardsTheMeanAndKeepsOrderAndCorrelations()
    {
        // Alone: ½ s²/M = 0.5, 0.125 and 2.0 (mean 0.875); layers 0 and 1 correlated 0.5, layer 2 independent.
        var first = new FunctionSpaceResult([-2.0, -0.5, -2.0], [[4.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]], [0, 0, 0], StepDirection.Sign, 0, 0);
        var shrunk = first with { LevelShrink = 0.1 };
        var own = first.LayerGains();
        Assert.Equal([0.5, 0.125, 2.0], own.Select(g => Math.Round(g, 5)));
        double mean = own.Average();
        var alone = shrunk.LayerGains();
        for (int l = 0; l < 3; l++) Assert.Equal(mean + 0.1 * (own[l] - mean), alone[l], 5);
        // The order of the layers alone is the first-step model's (the solve's 1e-6 ridge aside).
        Assert.Equal(Enumerable.Range(0, 3).OrderBy(l => own[l]), Enumerable.Range(0, 3).OrderBy(l => alone[l]));
        // An independent layer adds its gain; correlated layers add less than theirs: the curvature is kept.
        Assert.Equal(alone[0] + alone[2], shrunk.SetGain([0, 2]), 5);
        Assert.True(shrunk.SetGain([0, 1]) < alone[0] + alone[1] - 1e-3);
        // ½ s̃'M⁻¹s̃ with each slope rescaled so that its gain alone is the shrunk one (signs kept).
        var s0 = -Math.Sqrt(2 * alone[0] * 4.0);
        var s1 = -Math.Sqrt(2 * alone[1] * 1.0);
        double det = 4.0 * 1.0 - 0.25;
        double expected = 0.5 * (s0 * s0 * 1.0 - 2 * s0 * s1 * 0.5 + s1 * s1 * 4.0) / det;
        Assert.Equal(expected, shrunk.SetGain([0, 1]), 5);
    }

    [Fact]
    public void RedundancyMovesEachPairsCorrelationTowardsOneAndKeepsEachLayerAlone()
    {
        // Two independent layers (each alone 0.5) and a third correlated 0.5 with the first.
        var first = new FunctionSpaceResult([-2.0, -1.0, -1.0], [[4.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]], [0, 0, 0], StepDirection.Sign, 0, 0);
        var redundant = first with { Redundancy = 0.25 };
        for (int l = 0; l < 3; l++) Assert.Equal(first.SetGain([l]), redundant.SetGain([l]), 9);
        // Independent layers now share a quarter: ρ = 0.25, so the pair gains ½ s'M⁻¹s with M01 = 0.25·√(4·1) = 0.5.
        double m01 = 0.25 * Math.Sqrt(4.0 * 1.0);
        double expected = 0.5 * (4.0 * 1.0 - 2 * (-2.0) * (-1.0) * m01 + 1.0 * 4.0) / (4.0 * 1.0 - m01 * m01);
        Assert.Equal(expected, redundant.SetGain([0, 1]), 5);
        Assert.True(redundant.SetGain([0, 1]) < first.SetGain([0, 1]) - 1e-3);
        // ρ = 0.5 becomes 0.625: a correlated pair gains less again, and all three less than before.
        Assert.True(redundant.SetGain([0, 2]) < first.SetGain([0, 2]) - 1e-3);
        Assert.True(redundant.SetGain([0, 1, 2]) < first.SetGain([0, 1, 2]) - 1e-3);
        // Fully redundant, with steps that lower the loss alike: the pair gains what one of them does alone.
        var alike = first with { Redundancy = 1 };
        Assert.Equal(Math.Max(first.SetGain([0]), first.SetGain([1])), alike.SetGain([0, 1]), 4);
    }

    [Fact]
    public void TheCardRecordsItsRedundancyAndCardsWithoutItKeepTheFirstStepCorrelations()
    {
        var result = new FunctionSpaceResult([-2.0, -0.5], [[4.0, 0.5], [0.5, 1.0]], [0, 0], StepDirection.Sign, 0, 0).ForCard();
        Assert.Equal(FunctionSpaceResult.CardRedundancy, result.Redundancy);
        Assert.Equal(0, (result with { LineSearched = true }).ForCard().Redundancy);
        var old = RoundTripWithout(result, $"\"redundancy\": {FunctionSpaceResult.CardRedundancy}");
        Assert.Equal(0, old.Redundancy);
        Assert.Equal((result with { Redundancy = 0 }).SetGain([0, 1]), old.ToResult().SetGain([0, 1]), 12);
    }

    [Fact]
    public void SaturationKeepsEverySetBelowTheBaseLossAndTheOrderOfSets()
    {
        // Layer 0 alone is worth 8 nats per token to the quadratic model: more than the 5 there are to remove.
        var raw = new FunctionSpaceResult([-4.0, -3.0, -1.0], [[1.0, 0.2, 0.0], [0.2, 1.0, 0.1], [0.0, 0.1, 1.0]], [0, 0, 0], StepDirection.Sign, 0, 0) { BaseLoss = 5.0 };
        var saturated = raw with { Saturating = true };
        int[][] sets = [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]];
        Assert.True(raw.SetGain([0]) > 5.0);
        foreach (var set in sets)
        {
            double g = raw.SetGain(set);
            Assert.Equal(g / (1 + g / 5.0), saturated.SetGain(set), 12);
            Assert.True(saturated.SetGain(set) < 5.0);
        }
        // A monotone map: the sets rank as before, and a small set's share of the all-layer gain rises.
        Assert.Equal(sets.OrderBy(raw.SetGain).ToList(), sets.OrderBy(saturated.SetGain).ToList());
        Assert.True(saturated.SetGain([2]) / saturated.SetGain([0, 1, 2]) > raw.SetGain([2]) / raw.SetGain([0, 1, 2]) + 0.05);
        // Without a measured base loss nothing saturates.
        Assert.Equal(raw.SetGain([0, 1, 2]), (raw with { BaseLoss = null, Saturating = true }).SetGain([0, 1, 2]), 12);
    }

    [Fact]
    public void TheCardSaturatesAtTheMeasuredBaseLossAndCardsWithoutItDoNot()
    {
        var result = new FunctionSpaceResult([-2.0, -0.5], [[4.0, 0.5], [0.5, 1.0]], [0, 0], StepDirection.Sign, 0, 0) { BaseLoss = 0.4 };
        var card = result.ForCard();
        Assert.True(card.Saturating);
        Assert.False((result with { LineSearched = true }).ForCard().Saturating);
        Assert.False((result with { BaseLoss = null }).ForCard().Saturating);
        var old = RoundTripWithout(card, "\"saturation\": true");
        Assert.False(old.Saturation);
        Assert.Equal((card with { Saturating = false }).SetGain([0, 1]), old.ToResult().SetGain([0, 1]), 12);
    }

    [Fact]
    public void TheCardRecordsItsLevelShrinkAndCardsWithoutItReadTheFirstStepModel()
    {
        var result = new FunctionSpaceResult([-2.0, -0.5], [[4.0, 0.5], [0.5, 1.0]], [0, 0], StepDirection.Sign, 0, 0) { LevelShrink = FunctionSpaceResult.CardLevelShrink };
        Assert.Equal(FunctionSpaceResult.CardLevelShrink, CardFunctionSpace.From(result).LevelShrink);
        var old = RoundTripWithout(result, "\"level_shrink\": 0.1");
        Assert.Equal(1, old.LevelShrink);
        Assert.Equal((result with { LevelShrink = 1 }).SetGain([0, 1]), old.ToResult().SetGain([0, 1]), 12);
    }

    /// <summary>
    /// Writes <paramref name="result"/> as card.json's function_space (checking it reads back with the same set gains and
    /// holds <paramref name="field"/>), then reads it back as a card written before that field existed.
    /// </summary>
    private static CardFunctionSpace RoundTripWithout(FunctionSpaceResult result, string field)
    {
        var card = CardFunctionSpace.From(result);
        Assert.Equal(result.SetGain([0, 1]), card.ToResult().SetGain([0, 1]), 12);
        var json = System.Text.Json.JsonSerializer.Serialize(card, CardDocument.Json);
        Assert.Contains(field, json);
        var name = field[..field.IndexOf(':')].TrimEnd('"');
        return System.Text.Json.JsonSerializer.Deserialize<CardFunctionSpace>(json.Replace(field, $"{name}_removed\": 0"), CardDocument.Json)!;
    }
}
