using LayerCard.Card;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Tests.Card;

public class ResidualSignalTests
{
    /// <summary>Correlated, uncentred inputs, a frozen W0 and targets: D_t = W0 h_t − y_t is the squared loss's output gradient.</summary>
    private static (Tensor H, Tensor D) SquaredLossProblem(long seed, int n = 300, int dIn = 7, int dOut = 5)
    {
        var g = new torch.Generator((ulong)seed);
        var mixing = randn([dIn, dIn], generator: g, dtype: ScalarType.Float64);
        var h = randn([n, dIn], generator: g, dtype: ScalarType.Float64).matmul(mixing) + 0.5;
        var w0 = randn([dOut, dIn], generator: g, dtype: ScalarType.Float64);
        var y = randn([n, dOut], generator: g, dtype: ScalarType.Float64) + h.matmul(randn([dIn, dOut], generator: g, dtype: ScalarType.Float64));
        return (h, h.matmul(w0.t()) - y);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void HalfResNormSquaredIsTheBestLeastSquaresReduction(long seed)
    {
        using var scope = NewDisposeScope();
        var (h, d) = SquaredLossProblem(seed);
        using var accumulator = new SignalAccumulator(7, 5);
        accumulator.Add(h, d);
        var signal = ResidualSignal.From(accumulator, eps: 0, rank: 8);

        // Independently: min over ΔW of (1/N) Σ ½ ||(W0 + ΔW) h_t − y_t||² = (1/2N) ||D + H ΔW'||², by least squares.
        int n = (int)h.shape[0];
        var (solution, _, _, _) = linalg.lstsq(h, -d);
        double before = d.square().sum().item<double>() / (2.0 * n);
        double after = (d + h.matmul(solution)).square().sum().item<double>() / (2.0 * n);
        double reduction = before - after;

        Assert.True(reduction > 0);
        Assert.Equal(0, signal.Lambda);
        Assert.True(Math.Abs(0.5 * signal.ResNormSquared - reduction) <= 1e-6 * reduction,
            $"½ resnorm² = {0.5 * signal.ResNormSquared}, least squares reduction = {reduction}");
    }

    [Fact]
    public void AccumulatingInBatchesEqualsOneShot()
    {
        using var scope = NewDisposeScope();
        var (h, d) = SquaredLossProblem(4, n: 240);
        using var whole = new SignalAccumulator(7, 5);
        whole.Add(h, d);
        using var parts = new SignalAccumulator(7, 5);
        foreach (var (start, length) in new[] { (0, 17), (17, 100), (117, 1), (118, 122) })
            parts.Add(h.narrow(0, start, length).to_type(ScalarType.Float32).unsqueeze(0), d.narrow(0, start, length).to_type(ScalarType.Float32).unsqueeze(0));
        var a = ResidualSignal.From(whole, 1e-3, 2);
        var b = ResidualSignal.From(parts, 1e-3, 2);
        Assert.Equal(whole.Count, parts.Count);
        Assert.Equal(a.ResNormSquared, b.ResNormSquared, a.ResNormSquared * 1e-5);
        Assert.Equal(a.ResNormSquaredRankR, b.ResNormSquaredRankR, a.ResNormSquaredRankR * 1e-5);
        Assert.Equal(a.GradNormSquared, b.GradNormSquared, a.GradNormSquared * 1e-5);
    }

    [Fact]
    public void RankRIsAtMostFullAndEqualsItFromMinDimOn()
    {
        using var scope = NewDisposeScope();
        var (h, d) = SquaredLossProblem(5);
        using var accumulator = new SignalAccumulator(7, 5);
        accumulator.Add(h, d);
        double previous = 0;
        for (int r = 1; r <= 9; r++)
        {
            var s = ResidualSignal.From(accumulator, 1e-3, r);
            Assert.True(s.ResNormSquaredRankR <= s.ResNormSquared * (1 + 1e-12));
            Assert.True(s.ResNormSquaredRankR >= previous);
            if (r < 5) Assert.True(s.ResNormSquaredRankR < s.ResNormSquared * (1 - 1e-6), $"rank {r} should not reach the full value");
            else Assert.Equal(s.ResNormSquared, s.ResNormSquaredRankR, s.ResNormSquared * 1e-9);
            previous = s.ResNormSquaredRankR;
        }
    }

    [Fact]
    public void RankRMatchesTheSingularValuesOfTheWhitenedGradient()
    {
        using var scope = NewDisposeScope();
        var (h, d) = SquaredLossProblem(6);
        using var accumulator = new SignalAccumulator(7, 5);
        accumulator.Add(h, d);
        var s = ResidualSignal.From(accumulator, 1e-2, 2);
        // G Sigma_λ^{-1/2} through an eigendecomposition, independent of the Cholesky route.
        var g = d.t().matmul(h) / h.shape[0];
        var sigma = h.t().matmul(h) / h.shape[0];
        double lambda = 1e-2 * sigma.trace().item<double>() / 7;
        var (values, vectors) = linalg.eigh(sigma + eye(7, dtype: ScalarType.Float64) * lambda);
        var inverseRoot = vectors.matmul(diag(values.rsqrt())).matmul(vectors.t());
        var singular = linalg.svdvals(g.matmul(inverseRoot));
        double top2 = singular.narrow(0, 0, 2).square().sum().item<double>();
        double all = singular.square().sum().item<double>();
        Assert.Equal(all, s.ResNormSquared, all * 1e-9);
        Assert.Equal(top2, s.ResNormSquaredRankR, top2 * 1e-9);
        Assert.Equal(g.square().sum().item<double>(), s.GradNormSquared, 1e-9);
    }

    [Fact]
    public void OptimalUpdateIsMinusGOverSigma()
    {
        using var scope = NewDisposeScope();
        var (h, d) = SquaredLossProblem(7);
        using var accumulator = new SignalAccumulator(7, 5);
        accumulator.Add(h, d);
        using var ridged = RidgedInput.From(accumulator.Input, 0);
        var update = ResidualSignal.OptimalUpdate(accumulator, ridged);
        var (solution, _, _, _) = linalg.lstsq(h, -d);
        Assert.True(allclose(update, solution.t(), rtol: 1e-7, atol: 1e-9));
        // <G, ΔW*> = −resnorm².
        var signal = ResidualSignal.From(accumulator, ridged, 8);
        double inner = (accumulator.G() * update).sum().item<double>();
        Assert.Equal(-signal.ResNormSquared, inner, signal.ResNormSquared * 1e-9);
    }

    [Fact]
    public void ActivationEnergyOfAKnownCovariance()
    {
        using var scope = NewDisposeScope();
        // Rows ±a e_i give Sigma = diag(a²) exactly.
        var scales = new double[] { 3, 2, 1, 0.5 };
        var rows = new List<Tensor>();
        for (int i = 0; i < 4; i++)
        {
            var e = zeros(4, dtype: ScalarType.Float64);
            e[i] = tensor(scales[i] * 2); // four rows per axis out of 16: mean square scales[i]^2
            rows.Add(e); rows.Add(-e);
        }
        var h = stack(rows.Concat(rows));
        var input = new InputAccumulator(4);
        input.Add(h);
        using var ridged = RidgedInput.From(input, 0.1);
        var energy = ridged.Energy("x");
        double trace = 9 + 4 + 1 + 0.25, lambda = 0.1 * trace / 4;
        Assert.Equal(trace, energy.Trace, 1e-12);
        Assert.Equal(9, energy.MaxEigenvalue, 1e-12);
        Assert.Equal(0.25, energy.MinEigenvalue, 1e-12);
        Assert.Equal((9 + lambda) / (0.25 + lambda), energy.Condition, 1e-9);
        Assert.Equal(trace * trace / (81 + 16 + 1 + 0.0625), energy.EffectiveRank, 1e-9);
        input.Dispose();
    }
}
