using LayerCard.Common;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LayerCard.Training;

/// <summary>
/// AdamW (decoupled weight decay) written out over tensors rather than TorchSharp's optimizer, so that its
/// whole state (both moments per parameter and the step) is ours to checkpoint and restore bit for bit:
/// a resumed run must end with the same adapter as an uninterrupted one.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly IReadOnlyList<Parameter> parameters;
    private readonly Tensor[] firstMoments;
    private readonly Tensor[] secondMoments;

    /// <summary>Zeroed moments for <paramref name="parameters"/> (the LoRA weights), with PyTorch's AdamW defaults.</summary>
    public AdamW(IReadOnlyList<Parameter> parameters, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0.01)
    {
        this.parameters = parameters;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        firstMoments = parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        secondMoments = parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
    }

    /// <summary>Decay of the first moment (mean of gradients).</summary>
    public double Beta1 { get; }
    /// <summary>Decay of the second moment (mean of squared gradients).</summary>
    public double Beta2 { get; }
    /// <summary>Added to the denominator so a zero second moment does not divide by zero.</summary>
    public double Epsilon { get; }
    /// <summary>Decoupled weight decay: each step multiplies the weights by 1 - rate x decay.</summary>
    public double WeightDecay { get; }
    /// <summary>Optimizer steps taken (the bias corrections depend on it; restored from checkpoints).</summary>
    public long Steps { get; private set; }

    /// <summary>One AdamW update of every parameter that has a gradient, at <paramref name="learningRate"/>.</summary>
    public void Step(double learningRate)
    {
        Steps++;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var correction1 = 1 - Math.Pow(Beta1, Steps);
        var correction2 = 1 - Math.Pow(Beta2, Steps);
        using Scalar decay = (1 - learningRate * WeightDecay).ToScalar(), beta1 = Beta1.ToScalar(), beta2 = Beta2.ToScalar(),
            gradientShare = (1 - Beta1).ToScalar(), squareShare = (1 - Beta2).ToScalar(), epsilon = Epsilon.ToScalar(),
            correctedRate = (-learningRate / correction1).ToScalar(), rate = (-learningRate).ToScalar();
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            var g = p.grad;
            if (g is null) continue;
            p.mul_(decay);
            firstMoments[i].mul_(beta1).add_(g, alpha: gradientShare);
            secondMoments[i].mul_(beta2).addcmul_(g, g, value: squareShare);
            var denominator = (secondMoments[i] / correction2).sqrt_().add_(epsilon, OwnedScalars.One);
            // libtorch refuses a float32 scalar it cannot hold (early steps divide by a small correction):
            // apply the correction to the moment instead, so a huge rate gives huge weights (and a NaN loss), not a crash.
            if (learningRate / correction1 <= float.MaxValue) p.addcdiv_(firstMoments[i], denominator, value: correctedRate);
            else p.addcdiv_(firstMoments[i] / correction1, denominator, value: rate);
        }
    }

    /// <summary>Sets every parameter's gradient to zero before the next accumulation.</summary>
    public void ZeroGrad()
    {
        foreach (var p in parameters) p.grad?.zero_();
    }

    /// <summary>The moments by parameter index, for checkpoints.</summary>
    public IReadOnlyDictionary<string, Tensor> State()
    {
        var state = new Dictionary<string, Tensor>();
        for (int i = 0; i < parameters.Count; i++)
        {
            state[$"exp_avg.{i}"] = firstMoments[i];
            state[$"exp_avg_sq.{i}"] = secondMoments[i];
        }
        return state;
    }

    /// <summary>Copies checkpointed moments (read by their <see cref="State"/> names) and the step count back in.</summary>
    public void Restore(Func<string, Tensor> read, long steps)
    {
        using var noGrad = no_grad();
        for (int i = 0; i < parameters.Count; i++)
        {
            using var scope = NewDisposeScope();
            firstMoments[i].copy_(read($"exp_avg.{i}"));
            secondMoments[i].copy_(read($"exp_avg_sq.{i}"));
        }
        Steps = steps;
    }

    /// <summary>Frees the moment tensors.</summary>
    public void Dispose()
    {
        foreach (var t in firstMoments.Concat(secondMoments)) t.Dispose();
    }
}
