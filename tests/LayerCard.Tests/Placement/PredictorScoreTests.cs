using LayerCard.Placement;

namespace LayerCard.Tests.Placement;

/// <summary>A predictor is scored against trained results: rank agreement with single layers, regret of its best pair, error of its gain fractions.</summary>
public class PredictorScoreTests
{
    private static readonly double[] Singles = [0.1, 0.4, 0.2, 0.8];

    private static readonly (IReadOnlyList<int>, double)[] Pairs =
    [
        ([0, 1], 0.45), ([0, 2], 0.25), ([0, 3], 0.85), ([1, 2], 0.5), ([1, 3], 1.0), ([2, 3], 0.9),
    ];

    private static TrainedGains Truth(bool withPairs = true) => new(Singles, withPairs ? Pairs : [], 1.2);

    [Fact]
    public void APredictorThatRanksLikeTheGainsScoresOneAndPicksTheBestPair()
    {
        var score = PredictorScore.Of("oracle", PredictorScore.Additive([1.0, 3.0, 2.0, 9.0]), Truth(), 0.01, trainsInside: false);
        Assert.Equal(1.0, score.Spearman, 9);
        Assert.Equal(0.0, score.PairRegret!.Value, 9);
    }

    [Fact]
    public void APredictorThatRanksBackwardsScoresMinusOneAndPaysTheRegretOfItsPair()
    {
        var score = PredictorScore.Of("backwards", PredictorScore.Additive([9.0, 2.0, 3.0, 1.0]), Truth(), 0.01, trainsInside: false);
        Assert.Equal(-1.0, score.Spearman, 9);
        // Its best pair is layers 0 and 2: the worst pair, 0.75 below the best.
        Assert.Equal(1.0 - 0.25, score.PairRegret!.Value, 9);
    }

    [Fact]
    public void ASetGainThatIsNotAdditiveChoosesItsPairBySetNotBySingles()
    {
        // Singles rank 3 > 1 > 2 > 0, but this predictor says 3 and 1 overlap completely: its best pair is {2, 3}.
        double Gain(IReadOnlyList<int> set) => set.Contains(3) && set.Contains(1) ? 0.8 : set.Sum(l => Singles[l]);
        var score = PredictorScore.Of("overlap", Gain, Truth(), 0.01, trainsInside: false);
        Assert.Equal(1.0 - 0.9, score.PairRegret!.Value, 9);
    }

    [Fact]
    public void TheGainFractionErrorIsTheMeanGapBetweenPredictedAndMeasuredFractions()
    {
        // Predicting exactly the measured gains (all layers at the measured 1.2) gives no error ...
        double Exact(IReadOnlyList<int> set) => set.Count == 4 ? 1.2 : set.Count == 1 ? Singles[set[0]] : Pairs.Single(p => p.Item1.SequenceEqual(set)).Item2;
        Assert.Equal(0, PredictorScore.Of("exact", Exact, Truth(), 0, false).GainFractionError!.Value, 12);
        // ... and predicting every subset at half its measured fraction misses by half the mean measured fraction.
        double Half(IReadOnlyList<int> set) => set.Count == 4 ? 1.2 : Exact(set) / 2;
        var meanFraction = Singles.Concat(Pairs.Select(p => p.Item2)).Average() / 1.2;
        Assert.Equal(meanFraction / 2, PredictorScore.Of("half", Half, Truth(), 0, false).GainFractionError!.Value, 12);
    }

    [Fact]
    public void WithoutTrainedPairsThereIsNoRegret()
    {
        Assert.Null(PredictorScore.Of("any", PredictorScore.Additive([1.0, 2.0, 3.0, 4.0]), Truth(withPairs: false), 0.5, trainsInside: true).PairRegret);
    }
}
