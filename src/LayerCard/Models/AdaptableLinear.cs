using LayerCard.Common;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LayerCard.Models;

/// <summary>Something added to a linear module's output: a LoRA adapter.</summary>
public interface ILinearAdapter
{
    /// <summary>The correction to add to the frozen module's output for input <paramref name="input"/>.</summary>
    Tensor Delta(Tensor input, bool training);
}

/// <summary>Observes a linear module's input and output during a forward pass (the Layer Card's probe pass).</summary>
public interface ILinearProbe
{
    /// <summary>Sees the input and the output; returns the output to use (for example output + a zero tensor whose gradient is wanted).</summary>
    Tensor Observe(AdaptableLinear module, Tensor input, Tensor output);
}

/// <summary>
/// A frozen linear map that LoRA can wrap. TorchSharp's Linear is sealed, so every model projection is one of
/// these: HF parameter names (<c>weight</c>, <c>bias</c>), and GPT-2's Conv1D layout (weight stored [in, out])
/// as a flag rather than a second class, so that adapters and probes treat both alike.
/// </summary>
public sealed class AdaptableLinear : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the Hugging Face parameter names
    private readonly Parameter weight;
    private readonly Parameter? bias;
#pragma warning restore IDE1006

    /// <summary>Input width.</summary>
    public int InFeatures { get; }
    /// <summary>Output width.</summary>
    public int OutFeatures { get; }
    /// <summary>True for GPT-2's Conv1D, whose weight is stored [in, out] (PEFT's fan_in_fan_out).</summary>
    public bool FanInFanOut { get; }
    /// <summary>The module's path in the Hugging Face model, e.g. "model.layers.3.self_attn.q_proj".</summary>
    public string Path { get; }

    /// <summary>The LoRA adapter whose output is added to this module's, or null.</summary>
    public ILinearAdapter? Adapter { get; set; }
    /// <summary>The probe that sees this module's input and output during the Layer Card pass, or null.</summary>
    public ILinearProbe? Probe { get; set; }

    /// <summary>A module with an uninitialised weight (filled by the weight loader) and a zero bias when <paramref name="hasBias"/>; neither requires gradients.</summary>
    /// <param name="path">The module's Hugging Face path; its last part is the module's name.</param>
    /// <param name="fanInFanOut">Store the weight [in, out], as GPT-2's Conv1D does.</param>
    public AdaptableLinear(string path, int inFeatures, int outFeatures, bool hasBias, bool fanInFanOut = false)
        : base(path.Split('.').Last())
    {
        Path = path;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        FanInFanOut = fanInFanOut;
        var shape = fanInFanOut ? new long[] { inFeatures, outFeatures } : new long[] { outFeatures, inFeatures };
        weight = new Parameter(torch.empty(shape), requires_grad: false);
        bias = hasBias ? new Parameter(torch.zeros(outFeatures), requires_grad: false) : null;
        RegisterComponents();
    }

    /// <summary>The frozen weight in its storage layout: [out, in], or [in, out] when <see cref="FanInFanOut"/>.</summary>
    public Parameter Weight => weight;
    /// <summary>The frozen bias [out], or null.</summary>
    public Parameter? Bias => bias;

    /// <summary>The weight as the usual [out, in] matrix, whatever the storage layout.</summary>
    public Tensor WeightOutIn() => FanInFanOut ? weight.t() : weight;

    public override Tensor forward(Tensor input)
    {
        var output = FanInFanOut
            ? (bias is null ? input.matmul(weight) : torch.addmm(bias, input.reshape(-1, InFeatures), weight, 1, 1).reshape(OutputShape(input)))
            : nn.functional.linear(input, weight, bias);
        if (Adapter != null) output = OwnedScalars.Add(output, Adapter.Delta(input, training));
        if (Probe != null) output = Probe.Observe(this, input, output);
        return output;
    }

    private long[] OutputShape(Tensor input)
    {
        var shape = input.shape.ToArray();
        shape[^1] = OutFeatures;
        return shape;
    }
}
