namespace LayerCard.Card;

/// <summary>
/// What a short LoRA run on one layer alone measured: its cost (step time, peak memory above the resident
/// size before the run, adapter parameters, added inference latency unmerged) and, with probe steps, its gain
/// (validation-loss reduction).
/// </summary>
public sealed record LayerProbe(
    int Layer, int Steps, double StepSeconds, long PeakMemoryIncrementBytes, long AdapterParameters,
    double InferenceOverheadSeconds, double? ValidationLossAfter, double? Gain);

/// <summary>A measured multi-layer placement, to check the cost model and the additivity prediction against.</summary>
public sealed record SetMeasurement(IReadOnlyList<int> Layers, int Steps, double StepSeconds, long PeakMemoryIncrementBytes, double? ValidationLossAfter, double? Gain);

/// <summary>
/// Cost of adapting a set S of layers out of L: backward runs from the lowest adapted layer up, so
/// cost(S) = base + perBackwardLayer * (L - min S) + perAdaptedLayer * |S|, fitted on single-layer probes and
/// the all-layer run, and checked on other measured sets. A card without probes fits the time terms alone from three
/// timed sets (<see cref="FromTimings"/>); its memory terms are then not fitted (<see cref="MemoryFitted"/> false).
/// </summary>
public sealed record CostModel(
    int Layers, double TimeBase, double TimePerBackwardLayer, double TimePerAdaptedLayer,
    double MemoryBase, double MemoryPerBackwardLayer, double MemoryPerAdaptedLayer,
    double? TimeMeanRelativeError, double? MemoryMeanRelativeError, int CheckedSets, bool MemoryFitted = true)
{
    /// <summary>Predicted seconds per training step when <paramref name="layers"/> are adapted; 0 for no layers.</summary>
    public double PredictStepSeconds(IReadOnlyCollection<int> layers) =>
        layers.Count == 0 ? 0 : TimeBase + TimePerBackwardLayer * (Layers - layers.Min()) + TimePerAdaptedLayer * layers.Count;

    /// <summary>Predicted peak memory above the resident size, in bytes, when <paramref name="layers"/> are adapted; 0 for no layers.</summary>
    public double PredictPeakMemoryIncrement(IReadOnlyCollection<int> layers) =>
        layers.Count == 0 ? 0 : MemoryBase + MemoryPerBackwardLayer * (Layers - layers.Min()) + MemoryPerAdaptedLayer * layers.Count;

    /// <summary>Fits the model: a least-squares line of the single-layer probes' cost against their backward span (L - layer), split into base and per-adapted-layer terms by the all-layer run, every term clamped at 0; the mean relative errors are measured on <paramref name="checks"/>.</summary>
    public static CostModel Fit(int layerCount, IReadOnlyList<LayerProbe> singles, SetMeasurement all, IReadOnlyList<SetMeasurement> checks)
    {
        var span = singles.Select(p => (double)(layerCount - p.Layer)).ToArray();
        var (timeAlpha, timeBeta) = Line(span, singles.Select(p => p.StepSeconds).ToArray());
        var (memAlpha, memBeta) = Line(span, singles.Select(p => (double)p.PeakMemoryIncrementBytes).ToArray());
        // Singles see alpha = base + perAdapted; the all-layer run separates the two.
        double Split(double alpha, double beta, double measuredAll) =>
            layerCount > 1 ? (measuredAll - alpha - beta * layerCount) / (layerCount - 1) : 0;
        // Costs cannot be negative: timing noise can push a fitted term below zero, so each is clamped.
        timeBeta = Math.Max(0, timeBeta);
        memBeta = Math.Max(0, memBeta);
        var timePerAdapted = Math.Clamp(Split(timeAlpha, timeBeta, all.StepSeconds), 0, Math.Max(0, timeAlpha));
        var memPerAdapted = Math.Clamp(Split(memAlpha, memBeta, all.PeakMemoryIncrementBytes), 0, Math.Max(0, memAlpha));
        var model = new CostModel(layerCount, Math.Max(0, timeAlpha - timePerAdapted), timeBeta, timePerAdapted,
            Math.Max(0, memAlpha - memPerAdapted), memBeta, memPerAdapted, null, null, checks.Count);
        if (checks.Count == 0) return model;
        var timeError = checks.Average(c => Math.Abs(model.PredictStepSeconds(c.Layers.ToList()) - c.StepSeconds) / Math.Max(c.StepSeconds, 1e-12));
        var memError = checks.Average(c => Math.Abs(model.PredictPeakMemoryIncrement(c.Layers.ToList()) - c.PeakMemoryIncrementBytes) / Math.Max(c.PeakMemoryIncrementBytes, 1.0));
        return model with { TimeMeanRelativeError = timeError, MemoryMeanRelativeError = memError };
    }

    /// <summary>
    /// The time terms from three timed sets, no probes: the top layer alone (backward span 1, one adapted layer), the
    /// bottom layer alone (span L, one adapted layer) and all L layers (span L, L adapted). Bottom minus top is the
    /// backward through L − 1 more layers; all minus bottom is L − 1 more adapted layers; each term clamped at 0.
    /// Memory is not fitted: these runs follow the card's signal passes, whose heap hides the runs' increments.
    /// </summary>
    public static CostModel FromTimings(int layerCount, double topSeconds, double bottomSeconds, double allSeconds)
    {
        if (layerCount < 2) return new CostModel(layerCount, Math.Max(0, allSeconds), 0, 0, 0, 0, 0, null, null, 0, MemoryFitted: false);
        var perBackward = Math.Max(0, (bottomSeconds - topSeconds) / (layerCount - 1));
        var perAdapted = Math.Max(0, (allSeconds - bottomSeconds) / (layerCount - 1));
        var timeBase = Math.Max(0, topSeconds - perBackward - perAdapted);
        return new CostModel(layerCount, timeBase, perBackward, perAdapted, 0, 0, 0, null, null, 0, MemoryFitted: false);
    }

    /// <summary>Least-squares intercept and slope (the slope is 0 when x does not vary).</summary>
    private static (double Intercept, double Slope) Line(double[] x, double[] y)
    {
        var mx = x.Average();
        var my = y.Average();
        var sxx = x.Sum(v => (v - mx) * (v - mx));
        var slope = sxx > 0 ? x.Zip(y).Sum(p => (p.First - mx) * (p.Second - my)) / sxx : 0;
        return (my - slope * mx, slope);
    }
}
