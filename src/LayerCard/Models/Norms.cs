using LayerCard.Common;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LayerCard.Models;

/// <summary>RMSNorm as Hugging Face computes it: normalise in fp32, then scale by the weight in the input dtype.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006
    private readonly Parameter weight;
#pragma warning restore IDE1006
    private readonly double epsilon;

    /// <summary>A norm over the last dimension of width <paramref name="size"/>, with its weight set to ones until a checkpoint is loaded.</summary>
    public RmsNorm(string name, int size, double epsilon) : base(name)
    {
        this.epsilon = epsilon;
        weight = new Parameter(torch.ones(size), requires_grad: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        var x = input.dtype == ScalarType.Float32 ? input : input.to(ScalarType.Float32);
        using var eps = epsilon.ToScalar();
        var normalised = x * OwnedScalars.Square(x).mean([-1L], keepdim: true).add_(eps, OwnedScalars.One).rsqrt_();
        return (weight * (input.dtype == ScalarType.Float32 ? normalised : normalised.to(input.dtype))).MoveToOuterDisposeScope();
    }
}
