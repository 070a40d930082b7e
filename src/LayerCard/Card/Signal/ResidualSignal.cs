using LayerCard.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>
/// Sigma of one module input with its ridge, Sigma_λ = Sigma + λ I, λ = eps · tr(Sigma) / d_in, factored once
/// (Cholesky, Sigma_λ = L L') for every module that reads this input. Nothing is ever inverted.
/// </summary>
public sealed class RidgedInput : IDisposable
{
    private RidgedInput(Tensor sigma, Tensor cholesky, double trace, double lambda, long count)
    {
        Sigma = sigma;
        Cholesky = cholesky;
        Trace = trace;
        Lambda = lambda;
        Count = count;
    }

    /// <summary>Sigma = H'H / N, float64, no ridge.</summary>
    public Tensor Sigma { get; }
    /// <summary>Lower-triangular L with L L' = Sigma + λ I.</summary>
    public Tensor Cholesky { get; }
    /// <summary>tr Sigma, the input's mean squared norm per token.</summary>
    public double Trace { get; }
    /// <summary>The ridge actually used (larger than eps · tr / d only if Sigma + λ I was not numerically positive definite).</summary>
    public double Lambda { get; }
    /// <summary>Token positions Sigma was averaged over (N).</summary>
    public long Count { get; }
    /// <summary>The input width d_in.</summary>
    public int Dim => (int)Sigma.shape[0];

    /// <summary>Forms Sigma from <paramref name="input"/>, adds the ridge λ = <paramref name="eps"/> · tr(Sigma) / d_in and factors it, growing λ tenfold (up to 12 times) while the factorisation fails.</summary>
    public static RidgedInput From(InputAccumulator input, double eps)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!(eps >= 0) || double.IsInfinity(eps)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "the ridge eps must be a finite number >= 0");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var sigma = input.Sigma();
        sigma = OwnedScalars.Add(sigma, sigma.t()) / 2; // exactly symmetric
        int d = input.Dim;
        double trace = sigma.trace().item<double>();
        double scale = trace > 0 ? trace / d : 1.0;
        double lambda = eps * scale;
        var eye = torch.eye(d, dtype: ScalarType.Float64, device: sigma.device);
        // With eps = 0 (or a rank-deficient Sigma and a tiny eps) the factorisation can fail; grow the ridge until it holds.
        for (int attempt = 0; ; attempt++)
        {
            var (factor, info) = torch.linalg.cholesky_ex(OwnedScalars.Add(sigma, eye * lambda));
            if (info.item<int>() == 0 && factor.isfinite().all().item<bool>())
                return new RidgedInput(sigma.DetachFromDisposeScope(), factor.DetachFromDisposeScope(), trace, lambda, input.Count);
            if (attempt >= 12) throw new InvalidOperationException($"Sigma (dim {d}, trace {trace}) is not positive definite even with ridge {lambda}");
            lambda = lambda == 0 ? 1e-12 * scale : lambda * 10;
        }
    }

    /// <summary>G Sigma_λ^{-1/2} up to an orthogonal factor on the right: K = G L^{-T}, which has the same singular values.</summary>
    public Tensor Whiten(Tensor g)
    {
        ArgumentNullException.ThrowIfNull(g);
        return torch.linalg.solve_triangular(Cholesky, g.t(), upper: false).t();
    }

    /// <summary>G Sigma_λ⁻¹ by two triangular solves.</summary>
    public Tensor Solve(Tensor g)
    {
        ArgumentNullException.ThrowIfNull(g);
        return torch.cholesky_solve(g.t(), Cholesky, upper: false).t();
    }

    /// <summary>Trace, extreme eigenvalues (of Sigma, no ridge), condition number of Sigma_λ and effective rank.</summary>
    public ActivationEnergy Energy(string name)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var eigenvalues = torch.linalg.eigvalsh(Sigma);
        double min = Math.Max(0, eigenvalues[0].item<double>());
        double max = Math.Max(0, eigenvalues[^1].item<double>());
        double frobenius2 = OwnedScalars.Square(Sigma).sum().item<double>();
        double condition = min + Lambda > 0 ? (max + Lambda) / (min + Lambda) : double.PositiveInfinity;
        double effectiveRank = frobenius2 > 0 ? Trace * Trace / frobenius2 : 0;
        return new ActivationEnergy(name, Dim, Trace, max, min, condition, effectiveRank);
    }

    /// <summary>Frees Sigma and its factor.</summary>
    public void Dispose()
    {
        Sigma.Dispose();
        Cholesky.Dispose();
    }
}

/// <summary>
/// The residual signal of one module: resnorm² = tr(G Sigma_λ⁻¹ G'), the same restricted to the best rank-r
/// update (the r largest squared singular values of G Sigma_λ^{-1/2}), and the plain gradient norm ||G||_F².
/// ½ resnorm² is the first-order (Gauss-Newton in the module's output) reduction of the mean loss per token that
/// the best full-rank linear correction of the module achieves.
/// </summary>
public sealed record ResidualSignal(double ResNormSquared, double ResNormSquaredRankR, double GradNormSquared, int Rank, double Lambda, long Count)
{
    /// <summary>resnorm = sqrt(tr(G Sigma_λ⁻¹ G')).</summary>
    public double ResNorm => Math.Sqrt(ResNormSquared);
    /// <summary>The resnorm of the best rank-r correction.</summary>
    public double ResNormRankR => Math.Sqrt(ResNormSquaredRankR);
    /// <summary>||G||_F, the plain gradient norm.</summary>
    public double GradNorm => Math.Sqrt(GradNormSquared);

    /// <summary>The signal of a module that owns its input statistics (or whose shared input is complete).</summary>
    public static ResidualSignal From(SignalAccumulator accumulator, double eps, int rank)
    {
        ArgumentNullException.ThrowIfNull(accumulator);
        using var ridged = RidgedInput.From(accumulator.Input, eps);
        return From(accumulator, ridged, rank);
    }

    /// <summary>The signal with an already-factored input (shared by the modules that read it).</summary>
    public static ResidualSignal From(SignalAccumulator accumulator, RidgedInput ridged, int rank)
    {
        ArgumentNullException.ThrowIfNull(accumulator);
        ArgumentNullException.ThrowIfNull(ridged);
        ArgumentOutOfRangeException.ThrowIfLessThan(rank, 1);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var g = accumulator.G();
        var k = ridged.Whiten(g);
        // Squared singular values of K are the eigenvalues of the smaller Gram matrix, K K' or K' K.
        var gram = k.shape[0] <= k.shape[1] ? k.matmul(k.t()) : k.t().matmul(k);
        var squared = OwnedScalars.ClampMin(torch.linalg.eigvalsh(OwnedScalars.Add(gram, gram.t()) / 2), 0).flip(0);
        double full = OwnedScalars.Square(k).sum().item<double>();
        int keep = (int)Math.Min(rank, squared.shape[0]);
        double top = keep == squared.shape[0] ? full : squared.narrow(0, 0, keep).sum().item<double>();
        return new ResidualSignal(full, Math.Min(top, full), OwnedScalars.Square(g).sum().item<double>(), rank, ridged.Lambda, accumulator.Count);
    }

    /// <summary>The best correction of the module under the quadratic model, ΔW* = −G Sigma_λ⁻¹ ([d_out, d_in], float64).</summary>
    public static Tensor OptimalUpdate(SignalAccumulator accumulator, RidgedInput ridged)
    {
        ArgumentNullException.ThrowIfNull(accumulator);
        ArgumentNullException.ThrowIfNull(ridged);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        return ridged.Solve(accumulator.G()).neg().MoveToOuterDisposeScope();
    }
}
