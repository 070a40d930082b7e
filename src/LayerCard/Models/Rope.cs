using LayerCard.Common;
using static TorchSharp.torch;

namespace LayerCard.Models;

/// <summary>
/// Rotary position embeddings in the two layouts in use: Hugging Face rotates the two halves of a head
/// (rotate_half), llama2.c rotates adjacent pairs (2i, 2i+1). Checkpoints are stored for one or the other,
/// so applying the wrong one silently ruins a model. The tables are made once per forward and shared by every
/// layer; applying them costs a handful of tensor operations per layer.
/// </summary>
public sealed class Rope
{
    private readonly Tensor? rotation;
    private readonly Tensor? cos;
    private readonly Tensor? sin;

    private Rope(Tensor? rotation, Tensor? cos, Tensor? sin)
    {
        this.rotation = rotation;
        this.cos = cos;
        this.sin = sin;
    }

    /// <summary>Angles [positions, headDim/2] for positions start..start+count-1.</summary>
    public static Tensor Angles(long start, long count, int headDim, double theta, Device device)
    {
        var exponents = OwnedScalars.Arange(0, headDim, 2, ScalarType.Float64, device) / headDim;
        var inverseFrequencies = pow(theta, exponents).reciprocal();
        var positions = OwnedScalars.Arange(start, start + count, 1, ScalarType.Float64, device);
        return outer(positions, inverseFrequencies);
    }

    /// <summary>
    /// The tables for positions start..start+count-1: for adjacent pairs, unit complex numbers e^{iθ} [positions,
    /// headDim/2] (a pair rotated is a complex product); for halves, cos and sin repeated over both halves [positions, headDim].
    /// </summary>
    public static Rope For(long start, long count, int headDim, double theta, bool interleaved, Device device, ScalarType dtype)
    {
        var angles = Angles(start, count, headDim, theta, device);
        if (interleaved) return new Rope(polar(ones_like(angles), angles).to(ScalarType.ComplexFloat32), null, null);
        return new Rope(null, cat([angles.cos(), angles.cos()], -1).to(dtype), cat([angles.sin(), angles.sin()], -1).to(dtype));
    }

    /// <summary>Rotates x [batch, heads, positions, headDim].</summary>
    public Tensor Apply(Tensor x)
    {
        if (rotation is not null)
        {
            var pairs = view_as_complex(x.reshape([.. x.shape[..^1], x.shape[^1] / 2, 2]).contiguous());
            return view_as_real(pairs * rotation).reshape(x.shape).to(x.dtype);
        }
        var half = x.shape[^1] / 2;
        var rotated = cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
        return OwnedScalars.Add(x * cos!, rotated * sin!);
    }
}
