using System.Diagnostics;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Lora;
using LayerCard.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Card;

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
        if (options.DirectPath && (options.PerModule || options.PerBatch))
            throw new ArgumentException("the direct path takes one direction per layer", nameof(options));
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
                else if (options.PerBatch) (batchSteps, fisher) = FirstSteps(sweep, byLayer, totalTargets, options.Direction, perBatch: true);
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
        double lossSum = 0;
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
            var (h0, moved) = options.DirectPath ? DirectPath(model, ids, index, StepOnDirection)
                : keepInputs ? FromKeptInputs(model, sweep!, b, index, directionLayer, StepOnDirection)
                : stackBranches ? Stacked(model, ids, index, StepOnDirection)
                : OneBranchAtATime(model, ids, index, directionLayer, StepOnDirection);
            return (h0, moved, labels);
        }
        void MeasureBatch(int b)
        {
            using var scope = NewDisposeScope();
            var (h0, moved, labels) = Branches(b);
            // In place: the logit-space differences need the hidden-state differences only.
            using var step = Step.ToScalar();
            foreach (var m in moved) m.sub_(h0).div_(step);
            lossSum += LogitCurvature.Accumulate(h0, labels, moved, model.HeadWeight, slopes, curvature);
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
                // Each part would search along its own best steps: the line search needs the whole sample's.
                if (parts != 1) throw new InvalidOperationException("the line search runs in a pass of one part (no shards)");
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
            // The unmoved loss does not depend on the multiple: read once per batch.
            var baseLosses = new double?[batches.Count];
            for (int m = 0; m < multiples.Length; m++)
            {
                double multiple = multiples[m];
                scaleOf = k => multiple * bestStep[k];
                for (int b = 0; b < batches.Count; b++)
                {
                    using var scope = NewDisposeScope();
                    var (h0, moved, labels) = Branches(b);
                    double baseLoss = baseLosses[b] ??= CompletionLoss.SumAt(h0, labels, model.HeadWeight).item<float>();
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
            LineSearched = options.LineSearch,
            LossSum = lossSum,
        };
    }
}
