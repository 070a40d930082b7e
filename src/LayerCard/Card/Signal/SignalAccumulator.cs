using LayerCard.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>
/// The running second moment of one module input: Σ_t h_t h_t' over the token positions seen, so Sigma = H'H / N
/// without keeping any token. Each batch's product is formed in the input's precision (float32 for the model,
/// float64 for float64 input) and added to a float64 running sum, so error does not grow with the number of
/// batches. Modules that read the same input tensor (q/k/v, gate/up) share one.
/// </summary>
public sealed class InputAccumulator : IDisposable
{
    private Tensor? sum;

    /// <summary>An empty accumulator for inputs of width <paramref name="dim"/>.</summary>
    public InputAccumulator(int dim)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dim, 1);
        Dim = dim;
    }

    /// <summary>The input width d_in.</summary>
    public int Dim { get; }
    /// <summary>Token positions added so far (N).</summary>
    public long Count { get; private set; }

    /// <summary>Adds the rows of <paramref name="h"/> (any leading shape, last dimension <see cref="Dim"/>).</summary>
    public void Add(Tensor h)
    {
        ArgumentNullException.ThrowIfNull(h);
        if (h.shape[^1] != Dim) throw new ArgumentException($"input has {h.shape[^1]} features, expected {Dim}", nameof(h));
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var rows = h.detach().reshape(-1, Dim);
        if (rows.shape[0] == 0) return;
        var gram = rows.t().matmul(rows).to_type(ScalarType.Float64);
        if (sum is null) sum = gram.DetachFromDisposeScope();
        else sum.add_(gram, OwnedScalars.One);
        Count += rows.shape[0];
    }

    /// <summary>Sigma = H'H / N (float64, [Dim, Dim]); the caller disposes it.</summary>
    public Tensor Sigma()
    {
        if (sum is null || Count == 0) throw new InvalidOperationException("no token positions were added");
        return sum / (double)Count;
    }

    /// <summary>Frees the running sum (idempotent).</summary>
    public void Dispose()
    {
        sum?.Dispose();
        sum = null;
    }
}

/// <summary>
/// The running statistics of one linear module for the residual signal: its input's <see cref="InputAccumulator"/>
/// (own or shared) and Σ_t d_t h_t' (per-batch product in the inputs' precision, running sum in float64), so
/// G = D'H / N, where d_t is the gradient of the summed loss with respect to the module's output at position t.
/// </summary>
public sealed class SignalAccumulator : IDisposable
{
    private readonly bool ownsInput;
    private Tensor? sum;

    /// <summary>A module with its own input statistics (for plain H, D use; <see cref="Add"/> updates both).</summary>
    public SignalAccumulator(int inFeatures, int outFeatures)
        : this(new InputAccumulator(inFeatures), outFeatures, owns: true) { }

    /// <summary>A module whose input statistics are shared with other modules and updated by the caller.</summary>
    public SignalAccumulator(InputAccumulator sharedInput, int outFeatures)
        : this(sharedInput, outFeatures, owns: false) { }

    private SignalAccumulator(InputAccumulator input, int outFeatures, bool owns)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentOutOfRangeException.ThrowIfLessThan(outFeatures, 1);
        Input = input;
        OutFeatures = outFeatures;
        ownsInput = owns;
    }

    /// <summary>The input statistics this module's G is divided by: its own, or shared with the other modules that read the same input.</summary>
    public InputAccumulator Input { get; }
    /// <summary>The module's input width d_in.</summary>
    public int InFeatures => Input.Dim;
    /// <summary>The module's output width d_out.</summary>
    public int OutFeatures { get; }
    /// <summary>Token positions whose gradient was added; equals Input.Count once every batch is in.</summary>
    public long Count { get; private set; }

    /// <summary>Adds inputs <paramref name="h"/> [..., d_in] and output gradients <paramref name="d"/> [..., d_out] of the same positions.</summary>
    public void Add(Tensor h, Tensor d)
    {
        if (!ownsInput) throw new InvalidOperationException("the input statistics are shared: add the input once to the shared accumulator, then call AddGradient");
        Input.Add(h);
        AddGradient(h, d);
    }

    /// <summary>Adds D'H only (the shared input statistics are updated separately, once per batch).</summary>
    public void AddGradient(Tensor h, Tensor d)
    {
        ArgumentNullException.ThrowIfNull(h);
        ArgumentNullException.ThrowIfNull(d);
        if (h.shape[^1] != InFeatures) throw new ArgumentException($"input has {h.shape[^1]} features, expected {InFeatures}", nameof(h));
        if (d.shape[^1] != OutFeatures) throw new ArgumentException($"gradient has {d.shape[^1]} features, expected {OutFeatures}", nameof(d));
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var hs = h.detach().reshape(-1, InFeatures);
        var ds = d.detach().reshape(-1, OutFeatures);
        if (hs.shape[0] != ds.shape[0]) throw new ArgumentException($"{hs.shape[0]} input rows but {ds.shape[0]} gradient rows");
        if (hs.shape[0] == 0) return;
        if (ds.dtype != hs.dtype) ds = ds.to_type(hs.dtype);
        var cross = ds.t().matmul(hs).to_type(ScalarType.Float64);
        if (sum is null) sum = cross.DetachFromDisposeScope();
        else sum.add_(cross, OwnedScalars.One);
        Count += hs.shape[0];
    }

    /// <summary>G = D'H / N (float64, [d_out, d_in]); the caller disposes it.</summary>
    public Tensor G()
    {
        if (sum is null || Count == 0) throw new InvalidOperationException("no token positions were added");
        if (Count != Input.Count)
            throw new InvalidOperationException($"the gradient saw {Count} positions but the input {Input.Count}");
        return sum / (double)Count;
    }

    /// <summary>Frees the sums (idempotent).</summary>
    public void Dispose()
    {
        sum?.Dispose();
        sum = null;
        if (ownsInput) Input.Dispose();
    }
}
