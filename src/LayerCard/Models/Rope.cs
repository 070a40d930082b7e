using static TorchSharp.torch;

namespace LayerCard.Models;

/// <summary>
/// Rotary position embeddings in the two layouts in use: Hugging Face rotates the two halves of a head
/// (rotate_half), llama2.c rotates adjacent pairs (2i, 2i+1). Checkpoints are stored for one or the other,
/// so applying the wrong one silently ruins a model.
/// </summary>
public static class Rope
{
    /// <summary>Angles [positions, headDim/2] for positions start..start+count-1.</summary>
    public static Tensor Angles(long start, long count, int headDim, double theta, Device device)
    {
        var exponents = arange(0, headDim, 2, dtype: ScalarType.Float64, device: device) / headDim;
        var inverseFrequencies = pow(theta, exponents).reciprocal();
        var positions = arange(start, start + count, dtype: ScalarType.Float64, device: device);
        return outer(positions, inverseFrequencies).to(ScalarType.Float32);
    }

    /// <summary>Rotates x [batch, heads, positions, headDim] by the angles [positions, headDim/2].</summary>
    public static Tensor Apply(Tensor x, Tensor angles, bool interleaved)
    {
        var cos = angles.cos().to(x.dtype);
        var sin = angles.sin().to(x.dtype);
        if (interleaved)
        {
            var pairs = x.reshape([.. x.shape[..^1], x.shape[^1] / 2, 2]);
            var even = pairs.select(-1, 0);
            var odd = pairs.select(-1, 1);
            var rotated = stack([even * cos - odd * sin, even * sin + odd * cos], -1);
            return rotated.reshape(x.shape);
        }
        var half = x.shape[^1] / 2;
        var first = x.narrow(-1, 0, half);
        var second = x.narrow(-1, half, half);
        return cat([first * cos - second * sin, second * cos + first * sin], -1);
    }
}
