using LayerCard.Common;
using LayerCard.Lora;
using LayerCard.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>
/// The gradient of the mean completion loss with respect to fresh LoRA B matrices (A seeded, B zero) on every target
/// module, gathered while the residual-signal pass already has each module's input rows h and output gradient rows
/// d: with B zero the adapters do not change the forward, and ∂L/∂B = scaling · d'(h A'). The function-space pass
/// then needs no gradient sweep of its own. Also FIM-LoRA's score: per layer, the mean over batches of the squared
/// norm of the batch's mean-loss gradient.
/// </summary>
public sealed class FreshLoraGradient : IDisposable
{
    private readonly Dictionary<string, (int Layer, Tensor A, double Scaling, Tensor Sum)> modules;
    private readonly long totalTargets;
    private readonly int batchesWithTargets;
    private readonly double[] fisher;

    private FreshLoraGradient(Dictionary<string, (int, Tensor, double, Tensor)> modules, int layers, long totalTargets, int batchesWithTargets)
    {
        this.modules = modules;
        this.totalTargets = totalTargets;
        this.batchesWithTargets = batchesWithTargets;
        fisher = new double[layers];
    }

    /// <summary>
    /// Seeds fresh adapters exactly as <see cref="LoraModel.Inject"/> does for <paramref name="config"/> and
    /// <paramref name="seed"/>, keeps a copy of their A matrices and takes them out again, so the model stays frozen.
    /// <paramref name="batches"/> are the calibration batches the pass will meet (the gradient is of their mean loss).
    /// </summary>
    public static FreshLoraGradient For(CausalLM model, LoraConfig config, long seed, IReadOnlyList<Data.Batch> batches)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batches);
        var modules = new Dictionary<string, (int, Tensor, double, Tensor)>(StringComparer.Ordinal);
        using (var lora = LoraModel.Inject(model, config, seed))
        {
            foreach (var (path, adapter) in lora.Adapters)
            {
                int layer = Enumerable.Range(0, model.Config.Layers).First(l => path.StartsWith(model.LayerPrefix(l), StringComparison.Ordinal));
                modules[path] = (layer, adapter.A.detach().clone().DetachFromDisposeScope(), adapter.Scaling, zeros_like(adapter.B).DetachFromDisposeScope());
            }
        }
        long targets = batches.Sum(b => (long)b.TargetTokens);
        return new FreshLoraGradient(modules, model.Config.Layers, targets, batches.Count(b => b.TargetTokens > 0));
    }

    /// <summary>Whether the module at <paramref name="path"/> has a fresh adapter.</summary>
    public bool Covers(string path) => modules.ContainsKey(path);

    /// <summary>
    /// Adds one batch of one module: <paramref name="inputRows"/> [n, in] and <paramref name="outputGradientRows"/>
    /// [n, out] of the summed completion loss at the same n positions, and that batch's target tokens.
    /// </summary>
    public void Add(string path, Tensor inputRows, Tensor outputGradientRows, long batchTargets)
    {
        if (batchTargets == 0) return;
        var (layer, a, scaling, sum) = modules[path];
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using Scalar scale = scaling.ToScalar(), perBatchTarget = batchTargets.ToScalar(), perTarget = (1.0 / totalTargets).ToScalar();
        var gradient = outputGradientRows.t().matmul(inputRows.matmul(a.t())).mul_(scale);
        fisher[layer] += OwnedScalars.Square(gradient.div(perBatchTarget)).sum().to_type(ScalarType.Float64).item<double>() / batchesWithTargets;
        sum.add_(gradient, alpha: perTarget);
    }

    /// <summary>The gradient of the mean completion loss with respect to the fresh B at <paramref name="path"/>.</summary>
    public Tensor Gradient(string path) => modules[path].Sum;

    /// <summary>The fresh A at <paramref name="path"/> (to check that a later injection seeded the same).</summary>
    public Tensor A(string path) => modules[path].A;

    /// <summary>Per layer: FIM-LoRA's score over the batches added.</summary>
    public IReadOnlyList<double> FisherTrace => fisher;

    /// <summary>Frees the copies and sums.</summary>
    public void Dispose()
    {
        foreach (var (_, a, _, sum) in modules.Values)
        {
            a.Dispose();
            sum.Dispose();
        }
        modules.Clear();
    }
}
