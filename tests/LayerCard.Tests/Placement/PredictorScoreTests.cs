using LayerCard.Placement;

namespace LayerCard.Tests.Placement;

/// <summary>A predictor is scored against trained results: rank agreement with single layers, regret of its top pair.</summary>
public class PredictorScoreTests
{
    private static readonly double[] Singles = [0.1, 0.4, 0.2, 0.8];

    private static readonly Dictionary<(int, int), double> Pairs = new()
    {
        [(0, 1)] = 0.45, [(0, 2)] = 0.25, [(0, 3)] = 0.85, [(1, 2)] = 0.5, [(1, 3)] = 1.0, [(2, 3)] = 0.9,
    };

    [Fact]
    public void APredictorThatRanksLikeTheGainsScoresOneAndPicksTheBestPair()
    {
        var score = PredictorScore.Of("oracle", [1.0, 3.0, 2.0, 9.0], Singles, Pairs, 0.01, trainsInside: false);
        Assert.Equal(1.0, score.Spearman, 9);
        Assert.Equal(0.0, score.PairRegret!.Value, 9);
    }

    [Fact]
    public void APredictorThatRanksBackwardsScoresMinusOneAndPaysTheRegretOfItsPair()
    {
        var score = PredictorScore.Of("backwards", [9.0, 2.0, 3.0, 1.0], Singles, Pairs, 0.01, trainsInside: false);
        Assert.Equal(-1.0, score.Spearman, 9);
        // Its top two are layers 0 and 2: the worst pair, 0.75 below the best.
        Assert.Equal(1.0 - 0.25, score.PairRegret!.Value, 9);
    }

    [Fact]
    public void WithoutTrainedPairsThereIsNoRegret()
    {
        Assert.Null(PredictorScore.Of("any", [1.0, 2.0, 3.0, 4.0], Singles, new Dictionary<(int, int), double>(), 0.5, trainsInside: true).PairRegret);
    }
}
