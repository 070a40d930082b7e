using LayerCard.Common;
using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>
/// One module input's statistics kept as its token rows H [N, d_in] instead of the d_in × d_in sum H'H, for when
/// there are fewer token positions than input features (a wide model, a modest calibration sample). By the
/// push-through identity (H'H/N + λI)⁻¹H' = H'(HH'/N + λI)⁻¹, every residual-signal quantity of a module with
/// output gradients D [N, d_out] is an N × N one: with K = HH' and P = K(K/N + λI)⁻¹,
/// resnorm² = tr(P DD')/N², ||G||² = tr(K DD')/N², the rank-r part is the top r eigenvalues of P^½ DD' P^½/N², and
/// the first-order loss change of ΔW* = −G Sigma_λ⁻¹ at token t is −(DD'P)_tt/N. Exact, not an approximation: the
/// results equal the d_in × d_in form (<see cref="RidgedInput"/>) to rounding, at O(N² d + N³) instead of O(d³) work
/// and N × d instead of d × d memory, and the signal pass needs no second pass for the coupling.
/// </summary>
public sealed class TokenKernel : IDisposable
{
    private readonly Tensor gram;
    private readonly Tensor projector;
    private readonly Tensor rootProjector;

    private TokenKernel(Tensor gram, Tensor projector, Tensor rootProjector, double trace, double lambda, int dim, ActivationEnergy energy)
    {
        this.gram = gram;
        this.projector = projector;
        this.rootProjector = rootProjector;
        Trace = trace;
        Lambda = lambda;
        Dim = dim;
        Energy = energy;
    }

    /// <summary>tr Sigma (Sigma = H'H/N), the input's mean squared norm per token.</summary>
    public double Trace { get; }
    /// <summary>The ridge λ = eps · tr(Sigma) / d_in, as <see cref="RidgedInput"/> sets it.</summary>
    public double Lambda { get; }
    /// <summary>The input width d_in.</summary>
    public int Dim { get; }
    /// <summary>Token positions N.</summary>
    public long Count => gram.shape[0];
    /// <summary>The activation energy of the input (eigenvalues of Sigma are those of HH'/N, and d_in − N zeros).</summary>
    public ActivationEnergy Energy { get; }

    /// <summary>The kernel of token rows <paramref name="rows"/> [N, d_in] with ridge eps · tr(Sigma) / d_in; <paramref name="name"/> names the input in its energy.</summary>
    public static TokenKernel From(Tensor rows, double eps, string name)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (!(eps >= 0) || double.IsInfinity(eps)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "the ridge eps must be a finite number >= 0");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var h = rows.to_type(ScalarType.Float64);
        long n = h.shape[0];
        int d = (int)h.shape[1];
        if (n == 0) throw new InvalidOperationException("no token positions were added");
        var k = h.matmul(h.t());
        k = OwnedScalars.Add(k, k.t()) / 2;
        var (mu, basis) = linalg.eigh(k / (double)n);
        mu = OwnedScalars.ClampMin(mu, 0);
        double trace = mu.sum().item<double>();
        double scale = trace > 0 ? trace / d : 1.0;
        // A positive ridge always: with eps = 0 the d × d form grows λ from 1e-12 · scale until it can factor.
        double lambda = eps > 0 ? eps * scale : 1e-12 * scale;
        var weights = mu * n / OwnedScalars.Plus(mu, lambda);
        var projector = basis.matmul((basis * weights.unsqueeze(0)).t());
        var root = basis * weights.sqrt().unsqueeze(0);
        double max = mu[^1].item<double>();
        double min = n < d ? 0 : mu[0].item<double>();
        double frobenius2 = OwnedScalars.Square(mu).sum().item<double>();
        var energy = new ActivationEnergy(name, d, trace, max, min, (max + lambda) / (min + lambda), frobenius2 > 0 ? trace * trace / frobenius2 : 0);
        return new TokenKernel(k.DetachFromDisposeScope(), (OwnedScalars.Add(projector, projector.t()) / 2).DetachFromDisposeScope(), root.DetachFromDisposeScope(), trace, lambda, d, energy);
    }

    /// <summary>The residual signal of a module reading this input, from its output gradients <paramref name="gradients"/> [N, d_out] at the same positions.</summary>
    public ResidualSignal Signal(Tensor gradients, int rank)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        ArgumentOutOfRangeException.ThrowIfLessThan(rank, 1);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var e = OuterGram(gradients);
        double n2 = (double)Count * Count;
        double full = (projector * e).sum().item<double>() / n2;
        double gradient = (gram * e).sum().item<double>() / n2;
        var c = rootProjector.t().matmul(e).matmul(rootProjector) / n2;
        var squared = OwnedScalars.ClampMin(linalg.eigvalsh(OwnedScalars.Add(c, c.t()) / 2), 0).flip(0);
        int keep = (int)Math.Min(rank, squared.shape[0]);
        double top = squared.narrow(0, 0, keep).sum().item<double>();
        return new ResidualSignal(full, Math.Min(top, full), gradient, rank, Lambda, Count);
    }

    /// <summary>Per token t, the first-order change of the summed loss when the module moves by ΔW* = −G Sigma_λ⁻¹: −(DD'P)_tt / N (float64, [N]).</summary>
    public Tensor FirstOrderChanges(Tensor gradients)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return ((OuterGram(gradients) * projector).sum(1) / -(double)Count).MoveToOuterDisposeScope();
    }

    private Tensor OuterGram(Tensor gradients)
    {
        if (gradients.shape[0] != Count) throw new ArgumentException($"{gradients.shape[0]} gradient rows but {Count} input rows", nameof(gradients));
        var d = gradients.to_type(ScalarType.Float64);
        var e = d.matmul(d.t());
        return OwnedScalars.Add(e, e.t()) / 2;
    }

    /// <summary>Frees the N × N matrices.</summary>
    public void Dispose()
    {
        gram.Dispose();
        projector.Dispose();
        rootProjector.Dispose();
    }
}
