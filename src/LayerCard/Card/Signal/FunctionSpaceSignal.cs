using System.Diagnostics;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Lora;
using LayerCard.Models;
using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>Which way a fresh adapter's first step points.</summary>
public enum StepDirection
{
    /// <summary>The gradient of the loss with respect to B (plain gradient descent).</summary>
    Gradient,
    /// <summary>The sign of that gradient: the first step of Adam, whose first update is lr * sign(g).</summary>
    Sign,
    /// <summary>
    /// The best rank-r approximation of the gradient of each target module's full weight, as a LoRA (A its top r right
    /// singular vectors, B minus the left ones times the singular values), as LoRA-GA initialises: the steepest
    /// direction a rank-r adapter whose A has aligned with the gradient can take. Needs its own sweep.
    /// </summary>
    TopRank,
    /// <summary>
    /// Adam's update once its moments have settled at the start: the mean gradient over the calibration batches divided
    /// by the root of its mean square over them (per coordinate), so coordinates whose gradient changes sign from batch
    /// to batch move less than sign(g) would move them. With calibration batches the size of training's, the mean
    /// square estimates Adam's second moment at the start. Needs its own sweep (per-batch squares).
    /// </summary>
    MomentRatio,
}

/// <summary>Settings of the function-space pass: the LoRA whose first step it measures, and how.</summary>
/// <param name="Rank">Rank of the fresh adapters (the card's LoRA rank).</param>
/// <param name="Alpha">LoRA alpha (only scales the directions, so it cancels in every gain).</param>
/// <param name="BatchSize">Calibration examples per forward pass.</param>
/// <param name="Seed">Seeds the fresh A matrices.</param>
/// <param name="Direction">Gradient or Adam's sign step.</param>
/// <param name="KeepInputs">
/// Whether the finite differences start from layer inputs recorded by the gradient pass (layers × positions ×
/// hidden floats held throughout) or recompute them with one more forward per batch (memory that does not grow with
/// depth, L more layer forwards against the L(L+1)/2 of the differences). Default: kept for narrow layers,
/// recomputed for wide ones (<see cref="LayerSweep.BoundedMemory"/>).
/// </param>
/// <param name="StackBranches">
/// Without kept inputs: whether all layers' branches run through each layer in one call with the unperturbed stream
/// (faster for narrow layers; holds (L + 1) × positions × hidden floats at once) or one branch at a time. Default:
/// stacked for narrow layers.
/// </param>
/// <param name="PerModule">
/// One direction per adapted module instead of one per layer: each module's part of its layer's first step, so the
/// quadratic model may weigh a layer's modules against each other (slopes and curvature then run over the modules,
/// layer by layer in path order: <see cref="FunctionSpaceResult.Directions"/>). The differences cost one branch per
/// module; always one branch at a time.
/// </param>
/// <param name="PerBatch">
/// One direction per layer and calibration batch: the first step each batch alone would take (as Adam's steps on
/// different minibatches go different ways), so a layer's gain is that of the best step in the span of its batches'
/// steps. Needs its own sweep; exclusive with <paramref name="PerModule"/>; always one branch at a time.
/// </param>
/// <param name="LineSearch">
/// After the quadratic model, measure the real loss along each direction at 1, 2 and 4 times the model's best step
/// (forwards only, no training) and give each direction the curvature that makes its gain the best loss drop found,
/// keeping the correlations between directions: a secant instead of the tangent curvature, for directions whose loss
/// keeps falling past where the quadratic model says it stops. Standalone passes only (one part, no gathered gradient).
/// </param>
public sealed record FunctionSpaceOptions(int Rank, double Alpha, int BatchSize, long Seed, StepDirection Direction = StepDirection.Sign, bool? KeepInputs = null,
    bool? StackBranches = null, bool PerModule = false, bool PerBatch = false, bool LineSearch = false);

/// <summary>
/// What the function-space pass measured on the calibration sample, per layer: the slope s (derivative of the mean
/// completion loss along the layer's first LoRA step, all its adapted modules moving together as one optimizer step
/// moves them) and the Gauss-Newton curvature M between layers (Σ_t Δz_i'(diag p − pp')Δz_j over target tokens, per
/// token). The quadratic model L(a) = L0 + a's + ½a'Ma gives any set of layers a predicted loss reduction
/// ½ s_S'M_S⁻¹s_S with no fitted constant. Also the empirical Fisher trace of the fresh B matrices per layer (the
/// score FIM-LoRA allocates ranks by) over the calibration batches.
/// </summary>
/// <param name="Slopes">Per layer: d(mean loss)/d(step) along its unit-norm first step (negative: the step lowers the loss).</param>
/// <param name="Curvature">Per pair of layers: the Gauss-Newton curvature between their steps, per target token.</param>
/// <param name="FisherTrace">Per layer: mean over calibration batches of the squared norm of the fresh B gradients.</param>
/// <param name="Direction">Which first step was measured.</param>
/// <param name="GradientSeconds">Time of the gradient pass alone (all FIM-LoRA needs).</param>
/// <param name="Seconds">Time of the whole pass.</param>
public sealed record FunctionSpaceResult(IReadOnlyList<double> Slopes, IReadOnlyList<IReadOnlyList<double>> Curvature, IReadOnlyList<double> FisherTrace,
    StepDirection Direction, double GradientSeconds, double Seconds)
{
    /// <summary>The layer of each direction when the pass measured several per layer (<see cref="FunctionSpaceOptions.PerModule"/>, <see cref="FunctionSpaceOptions.PerBatch"/>); null: one per layer.</summary>
    public IReadOnlyList<int>? DirectionLayers { get; init; }

    /// <summary>Predicted gain of adapting <paramref name="layers"/> with every direction they hold (one per layer, or each of their modules').</summary>
    public double LayerSetGain(IEnumerable<int> layers)
    {
        if (DirectionLayers is null) return SetGain(layers);
        var chosen = layers.ToHashSet();
        return SetGain(Enumerable.Range(0, DirectionLayers.Count).Where(k => chosen.Contains(DirectionLayers[k])));
    }

    /// <summary>Relative ridge on M_S (of its mean diagonal), so that nearly parallel steps do not blow up the solve.</summary>
    public const double Ridge = 1e-6;

    /// <summary>Predicted loss reduction (units of the mean completion loss) of adapting <paramref name="layers"/>: ½ s_S'M_S⁻¹s_S.</summary>
    public double SetGain(IEnumerable<int> layers)
    {
        var index = layers.Distinct().Order().ToArray();
        if (index.Length == 0) return 0;
        var n = index.Length;
        var m = new double[n, n];
        var s = new double[n];
        double meanDiagonal = index.Average(i => Curvature[i][i]);
        for (int a = 0; a < n; a++)
        {
            s[a] = Slopes[index[a]];
            for (int b = 0; b < n; b++) m[a, b] = Curvature[index[a]][index[b]];
            m[a, a] += Ridge * meanDiagonal + 1e-300;
        }
        return 0.5 * QuadraticForm.InverseForm(m, s);
    }

    /// <summary>Predicted gain of each layer alone.</summary>
    public IReadOnlyList<double> LayerGains() => Enumerable.Range(0, Slopes.Count).Select(l => SetGain([l])).ToList();
}

/// <summary>
/// The function-space pass over one part of the calibration batches, as sums (not yet divided by the target tokens),
/// so that parts measured by separate jobs add up to the pass over every batch.
/// </summary>
/// <param name="Part">Which part (0-based).</param>
/// <param name="Parts">How many parts the batches were dealt into.</param>
/// <param name="SlopeSums">Per layer: Σ over the part's target tokens of the summed loss's derivative along the layer's step.</param>
/// <param name="CurvatureSums">Per pair of layers: Σ over the part's target tokens of the Gauss-Newton curvature.</param>
/// <param name="TargetTokens">Target tokens in the part.</param>
/// <param name="FisherTrace">Per layer: the FIM-LoRA score over every batch (the same in every part).</param>
/// <param name="Direction">Which first step was measured.</param>
/// <param name="GradientSeconds">Time of the gradient pass (over every batch).</param>
/// <param name="Seconds">Time of this part's whole pass.</param>
public sealed record FunctionSpacePart(int Part, int Parts, double[] SlopeSums, double[][] CurvatureSums, long TargetTokens, IReadOnlyList<double> FisherTrace,
    StepDirection Direction, double GradientSeconds, double Seconds)
{
    /// <summary>The layer of each direction when measured per module; null: one direction per layer.</summary>
    public IReadOnlyList<int>? DirectionLayers { get; init; }

    /// <summary>The pass over every batch from all of its parts: sums added, divided by the target tokens; seconds added (the compute spent).</summary>
    public static FunctionSpaceResult Combine(IReadOnlyList<FunctionSpacePart> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0) throw new ArgumentException("no parts to combine", nameof(parts));
        int layers = parts[0].SlopeSums.Length; // directions: layers, or modules when measured per module
        long targets = parts.Sum(p => p.TargetTokens);
        if (targets == 0) throw new InvalidOperationException("the parts hold no target tokens");
        var slopes = Enumerable.Range(0, layers).Select(l => parts.Sum(p => p.SlopeSums[l]) / targets).ToList();
        var curvature = Enumerable.Range(0, layers)
            .Select(i => (IReadOnlyList<double>)Enumerable.Range(0, layers).Select(j => parts.Sum(p => p.CurvatureSums[i][j]) / targets).ToList()).ToList();
        return new FunctionSpaceResult(slopes, curvature, parts[0].FisherTrace, parts[0].Direction, parts.Sum(p => p.GradientSeconds), parts.Sum(p => p.Seconds))
        {
            DirectionLayers = parts[0].DirectionLayers,
        };
    }
}

/// <summary>
/// The function-space signal: where a rank-r LoRA's first step moves the model's outputs, measured with the real
/// curvature of the cross-entropy. Fresh adapters (A seeded, B zero) go on every target module of every layer; a
/// layer sweep gives each B's gradient (or the residual-signal pass gathers it, <see cref="FreshLoraGradient"/>);
/// each layer's first step (all its B moving by the gradient or by Adam's sign step) is pushed through the layers
/// from its own up by a forward finite difference, with that layer's adapters alone, and the logit change Δz at
/// every target token gives the slopes and the curvature between layers. After the gradient: per calibration batch
/// L partial forwards (from layer l up, about (L + 1)/2 layers' worth each) and, unless the inputs were kept, one
/// forward that recomputes them; no backward.
/// </summary>
public static partial class FunctionSpaceProbe
{
    /// <summary>Length of the finite-difference step along each layer's unit-norm first step (in B's parameter space).</summary>
    public const double Step = 1e-2;

    /// <summary>Bytes the centred logit changes of one chunk of positions may take (every layer's, float64): 64 MiB.</summary>
    public const long ChunkBytes = 64L << 20;

    /// <summary>
    /// An empty fresh-adapter gradient for the residual-signal pass to gather (<see cref="SignalProbe.Run"/>), so that
    /// <see cref="MeasurePart"/> over the same calibration set and options needs no gradient sweep of its own.
    /// </summary>
    public static FreshLoraGradient GradientToGather(CausalLM model, TokenizedSet calibration, IReadOnlyList<string> targets, FunctionSpaceOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(options);
        return FreshLoraGradient.For(model, FreshAdapters(model, targets, options), options.Seed, BatchSampler.Batches(calibration, options.BatchSize).ToList());
    }

    /// <summary>The fresh adapters the pass measures: the options' rank and alpha on every target module of every layer, no dropout.</summary>
    private static LoraConfig FreshAdapters(CausalLM model, IReadOnlyList<string> targets, FunctionSpaceOptions options) =>
        new(options.Rank, options.Alpha, 0, false, targets, Enumerable.Range(0, model.Config.Layers).ToList());

    /// <summary>Measures the signal of every layer on <paramref name="calibration"/> with adapters on <paramref name="targets"/>.</summary>
    public static FunctionSpaceResult Measure(CausalLM model, TokenizedSet calibration, IReadOnlyList<string> targets, FunctionSpaceOptions options, Device device) =>
        FunctionSpacePart.Combine([MeasurePart(model, calibration, targets, options, device, 0, 1)]);

    /// <summary>
    /// The pass with its finite differences on part <paramref name="part"/> of <paramref name="parts"/> of the
    /// calibration batches (every parts-th batch from the part-th): the first steps still come from the gradient over
    /// every batch, so every part measures along the same directions, and the parts' sums add up to the whole pass.
    /// </summary>
    /// <remarks>
    /// With <paramref name="gradient"/> (gathered by the residual-signal pass over the same batches, fresh adapters
    /// of the same seed, rank and targets) the pass runs no gradient sweep of its own: only the finite differences.
    /// </remarks>
    public static FunctionSpacePart MeasurePart(CausalLM model, TokenizedSet calibration, IReadOnlyList<string> targets, FunctionSpaceOptions options, Device device, int part, int parts,
        FreshLoraGradient? gradient = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parts, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(part);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(part, parts);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(calibration);
        var clock = Stopwatch.StartNew();
        // Layer by layer only bounds the memory if freed blocks really leave the process.
        using var boundedMemory = LayerSweep.BoundedMemory(model);
        int layerCount = model.Config.Layers;
        var config = FreshAdapters(model, targets, options);
        var lora = LoraModel.Inject(model, config, options.Seed);
        var byLayer = Enumerable.Range(0, layerCount)
            .Select(l => lora.Adapters.Where(a => a.Key.StartsWith(model.LayerPrefix(l), StringComparison.Ordinal)).OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => a.Value).ToList())
            .ToList();
        var batches = BatchSampler.Batches(calibration, options.BatchSize).Where(b => b.TargetTokens > 0).ToList();
        long totalTargets = batches.Sum(b => (long)b.TargetTokens);
        if (totalTargets == 0) throw BadInputException.InFile(calibration.Source, "the calibration examples have no target tokens");

        // With inputs kept, the finite differences start from the layer inputs the gradient pass recorded;
        // otherwise each batch's forward is run again, branching off at every layer.
        // A gradient from the residual pass leaves no recorded inputs to start from.
        bool keepInputs = gradient is null && (options.KeepInputs ?? !LayerSweep.IsWide(model));
        using var sweep = gradient is null ? LayerSweep.Record(model, batches, device, keepInputs) : null;
        // Each layer's unit first step; null when formed from the gathered gradient as each layer is stepped.
        List<List<Tensor>>? steps = null;
        // Per batch: every layer's steps, one per batch, layer by layer (the directions' own steps).
        List<List<Tensor>>? batchSteps = null;
        if (options.PerBatch && (options.PerModule || options.Direction == StepDirection.TopRank))
            throw new ArgumentException("per-batch directions take the gradient or sign step, one direction per layer and batch", nameof(options));
        List<List<string>>? givenPaths = null;
        List<List<Tensor>> aMatrices;
        double[] fisher;
        try
        {
            if (options.Direction == StepDirection.TopRank)
            {
                if (sweep is null) throw new InvalidOperationException("the top-rank direction needs the weights' gradient: measure it with its own sweep, not a gathered B gradient");
                (steps, aMatrices) = TopRankSteps(sweep, byLayer, totalTargets);
                fisher = new double[layerCount];
            }
            else
            {
                if (sweep is null)
                {
                    if (options.Direction == StepDirection.MomentRatio)
                        throw new InvalidOperationException("the moment-ratio direction needs each batch's gradient: measure it with its own sweep, not a gathered B gradient");
                    givenPaths = GivenPaths(gradient!, byLayer);
                    fisher = gradient!.FisherTrace.ToArray();
                }
                else if (options.PerBatch) (batchSteps, fisher) = BatchSteps(sweep, byLayer, options.Direction);
                else (steps, fisher) = FirstSteps(sweep, byLayer, totalTargets, options.Direction);
                // A gathered gradient already holds the A matrices (checked equal above); otherwise keep copies.
                aMatrices = byLayer.Select(adapters => adapters.Select(a => gradient?.A(a.Target.Path) ?? a.A.detach().clone().DetachFromDisposeScope()).ToList()).ToList();
            }
        }
        finally
        {
            // The differences move one layer at a time: adapters on every layer would only add zero branches above it.
            lora.Dispose();
        }
        var gradientSeconds = clock.Elapsed.TotalSeconds;
        LayerSweep.ReleaseFreed(model);
        // One direction per layer, or per module (layer by layer, modules in path order).
        var directionLayer = options.PerModule ? byLayer.SelectMany((adapters, l) => adapters.Select(_ => l)).ToArray()
            : options.PerBatch ? Enumerable.Range(0, layerCount).SelectMany(l => Enumerable.Repeat(l, batches.Count)).ToArray()
            : Enumerable.Range(0, layerCount).ToArray();
        var directionModule = options.PerModule
            ? byLayer.SelectMany(adapters => adapters.Select((_, m) => m)).ToArray()
            : Enumerable.Repeat(-1, directionLayer.Length).ToArray();
        int directionCount = directionLayer.Length;
        var slopes = new double[directionCount];
        var curvature = new double[directionCount, directionCount];
        long partTargets = 0;
        // Stacked, every branch runs through a layer in one call with the unperturbed stream: far fewer, larger
        // products for narrow layers, at the price of holding all L branches' streams at once.
        bool wide = LayerSweep.IsWide(model);
        bool stackBranches = !keepInputs && directionLayer.Length == layerCount && (options.StackBranches ?? !wide);
        // The branches move B by Step along each direction; the line search moves them by its own multiples.
        Func<int, double> scaleOf = _ => Step;
        LoraModel StepOnDirection(int k)
        {
            int l = directionLayer[k], module = directionModule[k];
            if (batchSteps is not null) return StepOn(model, config, options.Seed, l, aMatrices[l], batchSteps[k], scaleOf(k));
            // The adapters copy the step: a step formed here, and the zeros of a module's part, are freed at once.
            var step = steps is not null ? steps[l] : DescentStep(givenPaths![l].Select(gradient!.Gradient).ToList(), options.Direction);
            // Per module: that module's part of the layer's step, every other module still.
            var part = module < 0 ? step : step.Select((t, i) => i == module ? t : zeros_like(t)).ToList();
            try
            {
                return StepOn(model, config, options.Seed, l, aMatrices[l], part, scaleOf(k));
            }
            finally
            {
                if (module >= 0)
                    for (int i = 0; i < part.Count; i++)
                        if (i != module) part[i].Dispose();
                if (steps is null) foreach (var t in step) t.Dispose();
            }
        }
        // Batch b's final hidden states at its targets, unmoved and moved along each direction, and the targets' labels.
        (Tensor H0, List<Tensor> Moved, Tensor Labels) Branches(int b)
        {
            var batch = batches[b];
            var positions = CompletionLoss.LabelledPositions(batch);
            var index = tensor(positions, device: device);
            var labels = tensor(positions.Select(p => batch.Labels[p]).ToArray(), device: device);
            var ids = tensor(batch.InputIds, [batch.BatchSize, batch.Length], device: device);
            var (h0, moved) = keepInputs ? FromKeptInputs(model, sweep!, b, index, directionLayer, StepOnDirection)
                : stackBranches ? Stacked(model, ids, index, StepOnDirection)
                : OneBranchAtATime(model, ids, index, directionLayer, StepOnDirection);
            return (h0, moved, labels);
        }
        void MeasureBatch(int b)
        {
            using var scope = NewDisposeScope();
            var (h0, moved, labels) = Branches(b);
            // In place: the logit-space differences need the hidden-state differences only.
            foreach (var m in moved) m.sub_(h0).div_(Step);
            Accumulate(h0, labels, moved, model.HeadWeight, slopes, curvature);
        }
        try
        {
            using var noGrad = no_grad();
            for (int b = part; b < batches.Count; b += parts)
            {
                partTargets += batches[b].TargetTokens;
                MeasureBatch(b);
                // On wide layers each batch starts from what is live: the last batch's leftovers go back at once.
                if (wide) NativeMemory.CollectAndReturnFreeMemory();
            }
            if (options.LineSearch)
            {
                if (parts != 1 || gradient is not null) throw new InvalidOperationException("the line search runs in a standalone pass of one part");
                SecantCurvature();
            }
        }
        finally
        {
            foreach (var t in steps?.SelectMany(x => x) ?? []) t.Dispose();
            foreach (var t in batchSteps?.SelectMany(x => x) ?? []) t.Dispose();
            if (gradient is null)
                foreach (var t in aMatrices.SelectMany(x => x)) t.Dispose();
        }
        // Per direction: the loss drop at 1, 2 and 4 times the quadratic model's best step, and the curvature rescaled
        // so that the model's gain along it is the best drop found (correlations between directions kept).
        void SecantCurvature()
        {
            var bestStep = Enumerable.Range(0, directionCount).Select(k => curvature[k, k] > 0 ? -slopes[k] / curvature[k, k] : 0).ToArray();
            double[] multiples = [1, 2, 4];
            var drops = new double[directionCount, multiples.Length];
            for (int m = 0; m < multiples.Length; m++)
            {
                double multiple = multiples[m];
                scaleOf = k => multiple * bestStep[k];
                for (int b = 0; b < batches.Count; b++)
                {
                    using var scope = NewDisposeScope();
                    var (h0, moved, labels) = Branches(b);
                    double baseLoss = CompletionLoss.SumAt(h0, labels, model.HeadWeight).item<float>();
                    for (int k = 0; k < directionCount; k++)
                        drops[k, m] += baseLoss - CompletionLoss.SumAt(moved[k], labels, model.HeadWeight).item<float>();
                }
            }
            scaleOf = _ => Step;
            var factor = new double[directionCount];
            for (int k = 0; k < directionCount; k++)
            {
                // Per token, like the slopes and the curvature after Combine: the best drop found, and the quadratic gain.
                double best = Enumerable.Range(0, multiples.Length).Max(m => drops[k, m]) / partTargets;
                double quadratic = curvature[k, k] > 0 ? 0.5 * slopes[k] * slopes[k] / curvature[k, k] / partTargets : 0;
                factor[k] = best > 0 && quadratic > 0 ? Math.Sqrt(quadratic / best) : 1;
            }
            for (int i = 0; i < directionCount; i++)
                for (int j = 0; j < directionCount; j++) curvature[i, j] *= factor[i] * factor[j];
        }
        var rows = Enumerable.Range(0, directionCount).Select(i => Enumerable.Range(0, directionCount).Select(j => curvature[i, j]).ToArray()).ToArray();
        return new FunctionSpacePart(part, parts, slopes, rows, partTargets, fisher, options.Direction, gradientSeconds, clock.Elapsed.TotalSeconds)
        {
            DirectionLayers = directionLayer.Length == layerCount ? null : directionLayer,
        };
    }

    /// <summary>
    /// Adds one batch: with p the softmax at each target token and c_i = Δz_i − p'Δz_i (the logit change centred
    /// under p), the curvature is Σ_t Σ_v p_v c_iv c_jv and the slope of the summed loss is −Σ_t c_i[y_t].
    /// Logits are formed a chunk of positions at a time, few enough that every layer's centred logit changes of a
    /// chunk (layers × positions × vocabulary, float64) stay within <see cref="ChunkBytes"/>.
    /// </summary>
    private static void Accumulate(Tensor h0, Tensor labels, IReadOnlyList<Tensor> deltas, Tensor head, double[] slopes, double[,] curvature)
    {
        int d = deltas.Count;
        var n = h0.shape[0];
        long chunk = Math.Clamp(ChunkBytes / (8L * d * head.shape[0]), 1, CompletionLoss.ChunkPositions);
        for (long start = 0; start < n; start += chunk)
        {
            using var scope = NewDisposeScope();
            var length = Math.Min(chunk, n - start);
            var p = nn.functional.linear(h0.narrow(0, start, length), head).softmax(1).to_type(ScalarType.Float64);
            var y = labels.narrow(0, start, length).unsqueeze(1);
            var rootP = p.sqrt();
            var rows = new List<Tensor>(d);
            for (int i = 0; i < d; i++)
            {
                var dz = nn.functional.linear(deltas[i].narrow(0, start, length), head).to_type(ScalarType.Float64);
                var centred = dz - (p * dz).sum(1, keepdim: true);
                slopes[i] -= centred.gather(1, y).sum().item<double>();
                rows.Add((centred * rootP).reshape(-1));
            }
            var x = stack(rows);
            var m = x.matmul(x.t()).data<double>().ToArray();
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) curvature[i, j] += m[i * d + j];
        }
    }
}
