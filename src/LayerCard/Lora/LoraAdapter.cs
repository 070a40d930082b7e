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
    public LoraAdapter(AdaptableLinear target, int rank, double scaling, double dropout, torch.Generator generator, DropoutSource? dropoutSource = null)
    {
        this.dropoutSource = dropoutSource ?? new DropoutSource();
        Target = target;
        Scaling = scaling;
        Dropout = dropout;
        var device = target.Weight.device;
        // kaiming_uniform_(a=sqrt(5)) on a [r, in] weight: gain sqrt(2/(1+5)), bound gain*sqrt(3/in) = 1/sqrt(in).
        var bound = 1.0 / Math.Sqrt(target.InFeatures);
        using (torch.no_grad())
        {
            A = (Parameter)new Parameter((torch.rand([rank, target.InFeatures], generator: generator) * (2 * bound) - bound).to(device), requires_grad: true).DetachFromDisposeScope();
            B = (Parameter)new Parameter(torch.zeros([target.OutFeatures, rank], device: device), requires_grad: true).DetachFromDisposeScope();
        }
    }

    public AdaptableLinear Target { get; }
    public Parameter A { get; }
    public Parameter B { get; }
    public double Scaling { get; }
    public double Dropout { get; }
    public int Rank => (int)A.shape[0];
    public long ParameterCount => A.numel() + B.numel();

    private readonly DropoutSource dropoutSource;

    public Tensor Delta(Tensor input, bool training)
    {
        var x = Dropout > 0 && training ? ApplyDropout(input) : input;
        return nn.functional.linear(nn.functional.linear(x, A), B) * Scaling;
    }

    /// <summary>
    /// Inverted dropout drawn from the LoRA model's own generator rather than libtorch's global one, so a
    /// training run's masks depend only on its seed and step, whatever else runs in the process.
    /// </summary>
    private Tensor ApplyDropout(Tensor input)
    {
        var keep = torch.rand(input.shape, generator: dropoutSource.Generator, device: input.device) >= Dropout;
        return input * keep / (1 - Dropout);
    }

    /// <summary>scaling * B A in the base weight's storage layout ([out, in], or [in, out] for Conv1D).</summary>
    public Tensor WeightDelta()
    {
        var delta = B.matmul(A) * Scaling;
        return Target.FanInFanOut ? delta.t() : delta;
    }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}

/// <summary>The generator every adapter of one LoRA model draws its dropout masks from; the trainer reseeds it each step.</summary>
public sealed class DropoutSource
{
    public torch.Generator Generator { get; private set; } = new(0);

    public void Reseed(long seed) => Generator = new torch.Generator((ulong)seed);
}
