using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Common;

/// <summary>
/// TorchSharp calls that take a <see cref="Scalar"/>, with the scalar owned for the length of the call. A number
/// passed where TorchSharp expects a Scalar becomes a Scalar object that nothing references once its handle has been
/// read; a garbage collection during the native call then runs its finalizer, which frees the scalar libtorch is
/// reading ("Unknown scalar type", or an internal assert in c10/core/Scalar.h: seen once in a two-hour study, and at
/// will with a thread that collects in a loop). Product code therefore creates its scalars in <c>using</c>
/// declarations (<c>using var two = 2.ToScalar();</c>) or through these helpers; tests/.../ImplicitScalarTests
/// compiles the sources and names any conversion left.
/// </summary>
public static class OwnedScalars
{
    /// <summary>
    /// The scalar 1, held for the life of the process. TorchSharp's own <c>a + b</c> and <c>add_(b)</c> pass an unowned
    /// alpha of 1 (the same race, inside TorchSharp: dotnet/TorchSharp#1434 is open), so the model's hot
    /// paths add through <see cref="Add"/>.
    /// </summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary><paramref name="a"/> + <paramref name="b"/> with an owned alpha (see <see cref="One"/>).</summary>
    public static Tensor Add(Tensor a, Tensor b) => a.add(b, One);

    /// <summary><paramref name="tensor"/> + <paramref name="value"/> (a new tensor), both scalars owned.</summary>
    public static Tensor Plus(Tensor tensor, double value)
    {
        using var addend = value.ToScalar();
        return tensor.add(addend, One);
    }

    /// <summary>x² element-wise as x·x: TorchSharp's <c>square()</c> is <c>pow(2)</c> with an unowned exponent.</summary>
    public static Tensor Square(Tensor x) => x.mul(x);

    /// <summary><c>torch.arange(start, stop, step)</c>: the integers from <paramref name="start"/> up to, not including, <paramref name="stop"/>.</summary>
    public static Tensor Arange(long start, long stop, long step = 1, ScalarType dtype = ScalarType.Int64, Device? device = null)
    {
        using Scalar first = start.ToScalar(), end = stop.ToScalar(), by = step.ToScalar();
        return arange(first, end, by, dtype: dtype, device: device);
    }

    /// <summary><paramref name="tensor"/> with every element below <paramref name="minimum"/> raised to it (<c>clamp_min</c>, a new tensor).</summary>
    public static Tensor ClampMin(Tensor tensor, double minimum)
    {
        using var floor = minimum.ToScalar();
        return tensor.clamp_min(floor);
    }
}
