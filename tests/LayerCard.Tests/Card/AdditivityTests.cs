using LayerCard.Card;

namespace LayerCard.Tests.Card;

public class AdditivityTests
{
    private static double[,] Identity(int n)
    {
        var r = new double[n, n];
        for (int i = 0; i < n; i++) r[i, i] = 1;
        return r;
    }

    [Fact]
    public void IdentityCorrelationAddsTheGains()
    {
        var gains = new[] { 0.3, 0.1, 0.05, 0.2 };
        double joint = Additivity.PredictedJointGain([0, 2, 3], gains, Identity(4));
        Assert.Equal(0.55, joint, 1e-5);
        Assert.Equal(0, Additivity.PredictedJointGain([], gains, Identity(4)));
    }

    [Fact]
    public void TwoIdenticalLayersAreWorthOne()
    {
        var gains = new[] { 0.4, 0.4, 0.1 };
        var r = Identity(3);
        r[0, 1] = r[1, 0] = 1;
        Assert.Equal(0.4, Additivity.PredictedJointGain([0, 1], gains, r), 1e-5);
        Assert.Equal(0.5, Additivity.PredictedJointGain([0, 1, 2], gains, r), 1e-5);
    }

    [Fact]
    public void AddingALayerNeverLowersThePrediction()
    {
        var random = new Random(11);
        for (int trial = 0; trial < 50; trial++)
        {
            int n = 6;
            // A correlation matrix from random unit vectors (signed, PSD, diagonal 1).
            var vectors = new double[n][];
            for (int i = 0; i < n; i++)
            {
                vectors[i] = Enumerable.Range(0, 3).Select(_ => random.NextDouble() * 2 - 1).ToArray();
                var norm = Math.Sqrt(vectors[i].Sum(x => x * x));
                for (int k = 0; k < 3; k++) vectors[i][k] /= norm;
            }
            var r = new double[n, n];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) r[i, j] = vectors[i].Zip(vectors[j], (a, b) => a * b).Sum();
            var gains = Enumerable.Range(0, n).Select(_ => random.NextDouble()).ToArray();
            var order = Enumerable.Range(0, n).OrderBy(_ => random.Next()).ToList();
            double previous = 0;
            for (int k = 1; k <= n; k++)
            {
                double joint = Additivity.PredictedJointGain(order.Take(k).ToList(), gains, r);
                Assert.True(joint >= previous - 1e-9 * Math.Max(1, previous), $"trial {trial}: {joint} < {previous} after adding layer {order[k - 1]}");
                Assert.True(joint >= gains[order[0]] * (1 - 1e-5));
                previous = joint;
            }
        }
    }
}
