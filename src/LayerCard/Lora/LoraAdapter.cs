using LayerCard.Common;
using LayerCard.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LayerCard.Lora;

/// <summary>
/// A low-rank correction scaling * B A x on one frozen linear module. A is [r, in] with PEFT's Kaiming-uniform
/// (a = sqrt(5)) start, B is [out, r] and starts at zero, so a fresh adapter leaves the model unchanged.
/// </summary>
public sealed class LoraAdapter : ILinearAdapter, IDisposable
{
    /// <summary>Creates an adapter for <paramref name="target"/>: A drawn from <paramref name="generator"/> on the target's device, B zero. It is not attached; the caller sets <see cref="AdaptableLinear.Adapter"/>.</summary>
    /// <param name="scaling">The factor on B A x (alpha / r, or alpha / sqrt(r) with rsLoRA).</param>
    /// <param name="dropout">Probability of zeroing an input element before A, in training only.</param>
    /// <param name="dropoutSource">The shared generator for dropout masks; a private one (seed 0) when null.</param>
    public LoraAdapter(AdaptableLinear target, int rank, double scaling, double dropout, torch.Generator generator, DropoutSource? dropoutSource = null)
    {
        this.dropoutSource = dropoutSource ?? new DropoutSource();
        Target = target;
        Scaling = scaling;
        Dropout = dropout;
        var device = target.Weight.device;
        // kaiming_uniform_(a=sqrt(5)) on a [r, in] weight: gain sqrt(2/(1+5)), bound gain*sqrt(3/in) = 1/sqrt(in).
        var bound = 1.0 / Math.Sqrt(target.InFeatures);
        // A scope of its own: the initialisation's temporaries are freed here, not left to the finalizer.
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            A = (Parameter)new Parameter(OwnedScalars.Plus(torch.rand([rank, target.InFeatures], generator: generator) * (2 * bound), -bound).to(device), requires_grad: true).DetachFromDisposeScope();
            B = (Parameter)new Parameter(torch.zeros([target.OutFeatures, rank], device: device), requires_grad: true).DetachFromDisposeScope();
        }
    }

    /// <summary>The frozen module this adapter corrects.</summary>
    public AdaptableLinear Target { get; }
    /// <summary>The down-projection, [rank, in_features], trainable.</summary>
    public Parameter A { get; }
    /// <summary>The up-projection, [out_features, rank], trainable; zero at the start.</summary>
    public Parameter B { get; }
    /// <summary>The factor applied to B A x.</summary>
    public double Scaling { get; }
    /// <summary>Dropout probability on the adapter's input during training.</summary>
    public double Dropout { get; }
    /// <summary>The adapter's rank r.</summary>
    public int Rank => (int)A.shape[0];
    /// <summary>Trainable parameters in A and B together.</summary>
    public long ParameterCount => A.numel() + B.numel();

    private readonly DropoutSource dropoutSource;

    /// <summary>The correction scaling * B A x for <paramref name="input"/> shaped like the module's output; dropout is applied to the input only when <paramref name="training"/>.</summary>
    public Tensor Delta(Tensor input, bool training)
    {
        var x = Dropout > 0 && training ? ApplyDropout(input) : input;
        using var scaling = Scaling.ToScalar();
        return nn.functional.linear(nn.functional.linear(x, A), B).mul(scaling);
    }

    /// <summary>
    /// Inverted dropout drawn from the LoRA model's own generator rather than libtorch's global one, so a
    /// training run's masks depend only on its seed and step, whatever else runs in the process.
    /// </summary>
    private Tensor ApplyDropout(Tensor input)
    {
        using var dropped = Dropout.ToScalar();
        var keep = torch.rand(input.shape, generator: dropoutSource.Generator, device: input.device).ge(dropped);
        return input * keep / (1 - Dropout);
    }

    /// <summary>scaling * B A in the base weight's storage layout ([out, in], or [in, out] for Conv1D).</summary>
    public Tensor WeightDelta()
    {
        using var scaling = Scaling.ToScalar();
        var delta = B.matmul(A).mul(scaling);
        return Target.FanInFanOut ? delta.t() : delta;
    }

    /// <summary>Frees A and B.</summary>
    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}

/// <summary>The generator every adapter of one LoRA model draws its dropout masks from; the trainer reseeds it each step.</summary>
public sealed class DropoutSource
{
    /// <summary>The generator masks are drawn from; seed 0 until the first <see cref="Reseed"/>.</summary>
    public torch.Generator Generator { get; private set; } = new(0);

    /// <summary>Replaces the generator with a new one seeded with <paramref name="seed"/>.</summary>
    public void Reseed(long seed) => Generator = new torch.Generator((ulong)seed);
}
