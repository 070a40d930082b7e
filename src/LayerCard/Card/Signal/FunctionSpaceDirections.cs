using LayerCard.Common;
using LayerCard.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>The function-space pass's directions: each layer's first step (gradient, sign, Adam's moment ratio or top rank) and the A matrices it moves with.</summary>
public static partial class FunctionSpaceProbe
{
    /// <summary>
    /// Checks that a gradient the residual pass gathered is of the adapters seeded here (same paths, same A) and
    /// returns each layer's adapter paths. The steps themselves are formed from it when a layer is stepped
    /// (<see cref="DescentStep"/>), so they are never all held at once.
    /// </summary>
    private static List<List<string>> GivenPaths(FreshLoraGradient gradient, List<List<LoraAdapter>> byLayer)
    {
        var result = new List<List<string>>(byLayer.Count);
        using var noGrad = no_grad();
        foreach (var adapters in byLayer)
        {
            var paths = adapters.Select(a => a.Target.Path).ToList();
            foreach (var (adapter, path) in adapters.Zip(paths))
                if (!gradient.Covers(path) || !adapter.A.allclose(gradient.A(path), rtol: 0, atol: 0))
                    throw new InvalidOperationException($"the gathered gradient is not of the adapters seeded here (at {path})");
            result.Add(paths);
        }
        return result;
    }

    /// <summary>A descent direction over all of a layer's B together (minus the gradient or its sign), normalised to unit norm.</summary>
    private static List<Tensor> DescentStep(IReadOnlyList<Tensor> gradients, StepDirection kind)
    {
        // Everything but the step is freed here (the function-space pass forms a step per layer and batch).
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var raw = gradients.Select(t => kind == StepDirection.Sign ? t.sign() : t.clone()).ToList();
        var norm = Math.Sqrt(raw.Sum(t => OwnedScalars.Square(t).sum().to_type(ScalarType.Float64).item<double>()));
        // Descent: minus the gradient (or its sign), so a positive step lowers the loss to first order.
        return raw.Select(t => (norm > 0 ? t / -norm : t).DetachFromDisposeScope()).ToList();
    }

    /// <summary>
    /// Per layer, the gradient G of the mean completion loss with respect to each target module's frozen weight
    /// (as [out, in]), down the sweep; its rank-r SVD U S V' gives A = V' and the step −U S, all the layer's B
    /// together normalised to unit norm, so that B A moves the weights along −G_r.
    /// </summary>
    private static (List<List<Tensor>> Steps, List<List<Tensor>> A) TopRankSteps(LayerSweep sweep, List<List<LoraAdapter>> byLayer, long totalTargets)
    {
        var steps = new List<Tensor>[byLayer.Count];
        var aMatrices = new List<Tensor>[byLayer.Count];
        for (int l = byLayer.Count - 1; l >= 0; l--)
        {
            var modules = byLayer[l].Select(a => a.Target).ToList();
            var sums = modules.Select(m => zeros(m.OutFeatures, m.InFeatures, dtype: ScalarType.Float64).DetachFromDisposeScope()).ToList();
            foreach (var m in modules) m.Weight.requires_grad_(true);
            try
            {
                for (int b = 0; b < sweep.Batches.Count; b++)
                {
                    using var scope = NewDisposeScope();
                    var grads = sweep.Backward(b, () => modules.Select(m => (Tensor)m.Weight).ToList());
                    using var noGrad = no_grad();
                    for (int i = 0; i < grads.Count; i++)
                        sums[i].add_((modules[i].FanInFanOut ? grads[i].t() : grads[i]).to_type(ScalarType.Float64) / totalTargets, OwnedScalars.One);
                }
            }
            finally
            {
                foreach (var m in modules) m.Weight.requires_grad_(false);
            }
            using (NewDisposeScope())
            using (no_grad())
            {
                var factors = sums.Select((g, i) =>
                {
                    var (u, sv, vh) = linalg.svd(g, fullMatrices: false);
                    int r = (int)Math.Min(byLayer[l][i].A.shape[0], sv.shape[0]);
                    return (B: (u.narrow(1, 0, r) * sv.narrow(0, 0, r)).neg(), A: vh.narrow(0, 0, r));
                }).ToList();
                var norm = Math.Sqrt(factors.Sum(f => OwnedScalars.Square(f.B).sum().item<double>()));
                steps[l] = factors.Select(f => (norm > 0 ? f.B / norm : f.B).to_type(ScalarType.Float32).DetachFromDisposeScope()).ToList();
                aMatrices[l] = factors.Select(f => f.A.to_type(ScalarType.Float32).DetachFromDisposeScope()).ToList();
            }
            foreach (var t in sums) t.Dispose();
            if (l > 0) sweep.Descend();
        }
        return (steps.ToList(), aMatrices.ToList());
    }

    /// <summary>
    /// Gradient of the mean completion loss with respect to every fresh B, layer by layer down the sweep, and each
    /// layer's empirical Fisher trace (mean over batches of the squared norm of the batch's mean-loss gradient).
    /// Returns each layer's first step, a descent direction over all its B together, normalised to unit norm; with
    /// <paramref name="perBatch"/>, the step each calibration batch's gradient alone gives, layer by layer, batches in order.
    /// </summary>
    private static (List<List<Tensor>> Steps, double[] Fisher) FirstSteps(LayerSweep sweep, List<List<LoraAdapter>> byLayer, long totalTargets, StepDirection kind,
        bool perBatch = false)
    {
        var batches = sweep.Batches;
        var fisher = new double[byLayer.Count];
        var steps = new List<Tensor>[perBatch ? byLayer.Count * batches.Count : byLayer.Count];
        for (int l = byLayer.Count - 1; l >= 0; l--)
        {
            var sums = perBatch ? null : byLayer[l].Select(a => zeros_like(a.B).DetachFromDisposeScope()).ToList();
            var squares = !perBatch && kind == StepDirection.MomentRatio ? byLayer[l].Select(a => zeros_like(a.B).DetachFromDisposeScope()).ToList() : null;
            for (int b = 0; b < batches.Count; b++)
            {
                using var scope = NewDisposeScope();
                var grads = sweep.Backward(b, () => byLayer[l].Select(a => (Tensor)a.B).ToList());
                using var noGrad = no_grad();
                // The sweep differentiates the summed loss; the batch's mean loss is that over its target tokens.
                var means = grads.Select(g => g / batches[b].TargetTokens).ToList();
                fisher[l] += means.Sum(g => OwnedScalars.Square(g).sum().to_type(ScalarType.Float64).item<double>()) / batches.Count;
                if (sums is null)
                {
                    steps[l * batches.Count + b] = DescentStep(means, kind);
                    continue;
                }
                for (int i = 0; i < grads.Count; i++)
                {
                    sums[i].add_(grads[i] / totalTargets, OwnedScalars.One);
                    squares?[i].add_(OwnedScalars.Square(means[i]) / batches.Count, OwnedScalars.One);
                }
            }
            if (sums is not null)
            {
                if (squares is not null)
                {
                    // Adam's m / sqrt(v) at the start point; the gradient's own scale cancels, so the floor only guards 0/0.
                    using var noGrad = no_grad();
                    using var floor = 1e-30.ToScalar();
                    for (int i = 0; i < sums.Count; i++) sums[i].div_(squares[i].sqrt_().clamp_min_(floor));
                    foreach (var t in squares) t.Dispose();
                }
                steps[l] = DescentStep(sums, kind);
                foreach (var t in sums) t.Dispose();
            }
            if (l > 0) sweep.Descend();
        }
        return (steps.ToList(), fisher);
    }
}
