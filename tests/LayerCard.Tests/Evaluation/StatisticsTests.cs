using LayerCard.Evaluation;

namespace LayerCard.Tests.Evaluation;

public class StatisticsTests
{
    [Fact]
    public void RanksAverageTies()
    {
        Assert.Equal([3.0, 1.0, 3.0, 3.0, 5.0], Statistics.Ranks([2.0, 1.0, 2.0, 2.0, 7.0]));
    }

    [Fact]
    public void SpearmanWithTiesMatchesHandComputation()
    {
        // x = [1,2,2,3,5] -> ranks [1, 2.5, 2.5, 4, 5]; y = [2,1,4,4,6] -> ranks [2, 1, 3.5, 3.5, 5].
        // Rank means are 3. Deviations dx = [-2,-.5,-.5,1,2], dy = [-1,-2,.5,.5,2].
        // Σdx·dy = 2 + 1 − .25 + .5 + 4 = 7.25; Σdx² = Σdy² = 9.5; ρ = 7.25/9.5 = 29/38 ≈ 0.763158.
        var rho = Statistics.Spearman([1, 2, 2, 3, 5], [2, 1, 4, 4, 6]);
        Assert.Equal(29.0 / 38, rho, 12);
    }

    [Fact]
    public void SpearmanOfMonotoneSequences()
    {
        Assert.Equal(1.0, Statistics.Spearman([1, 2, 3, 4, 5], [1, 10, 100, 1000, 1e6]), 12);
        Assert.Equal(-1.0, Statistics.Spearman([1, 2, 3, 4, 5], [9, 7, 4, 0, -3]), 12);
    }

    [Fact]
    public void SpearmanIsNaNForConstantSide()
    {
        Assert.True(double.IsNaN(Statistics.Spearman([1, 2, 3], [5, 5, 5])));
        Assert.True(double.IsNaN(Statistics.Spearman([4, 4], [1, 2])));
        Assert.True(double.IsNaN(Statistics.Spearman([1], [2])));
    }

    [Fact]
    public void PearsonMatchesHandComputation()
    {
        // Means 2.5 and 5; Σdxdy = 11, Σdx² = 5, Σdy² = 26; r = 11/√130.
        Assert.Equal(11 / Math.Sqrt(130), Statistics.Pearson([1, 2, 3, 4], [2, 4, 5, 9]), 12);
        Assert.Throws<ArgumentException>(() => Statistics.Pearson([1, 2], [1]));
    }

    [Fact]
    public void MedianTakesTheMiddleOrTheMeanOfTheTwoMiddleValuesAndSkipsNaN()
    {
        Assert.Equal(3.0, Statistics.Median([5, 1, 3]));
        Assert.Equal(2.5, Statistics.Median([4, 1, 3, 2]));
        Assert.Equal(2.0, Statistics.Median([double.NaN, 2, double.NaN]));
        Assert.True(double.IsNaN(Statistics.Median([])));
        Assert.True(double.IsNaN(Statistics.Median([double.NaN])));
    }
}
