using LayerCard.Evaluation;

namespace LayerCard.Placement;

/// <summary>Gains measured by training: every single layer, the pairs and any other subsets trained, and all layers.</summary>
/// <param name="Singles">Gain of each layer trained alone, by layer.</param>
/// <param name="Subsets">Every other trained subset (pairs and larger, not all layers) with its gain.</param>
/// <param name="AllLayers">Gain of the all-layer run.</param>
public sealed record TrainedGains(IReadOnlyList<double> Singles, IReadOnlyList<(IReadOnlyList<int> Layers, double Gain)> Subsets, double AllLayers)
{
    /// <summary>The trained pairs by their two layers in ascending order.</summary>
    public IReadOnlyDictionary<(int, int), double> Pairs =>
        Subsets.Where(s => s.Layers.Count == 2).ToDictionary(s => (s.Layers.Min(), s.Layers.Max()), s => s.Gain);
}

/// <summary>
/// How well one predictor predicts trained results it never saw: its Spearman correlation with the measured
/// single-layer gains, the regret of the pair it predicts best against the best pair actually trained, and the mean
/// absolute error of its predicted gain fraction (set gain over all-layer gain) over every trained subset.
/// </summary>
/// <param name="Predictor">The predictor's name (a card column, a signal, or probe runs).</param>
/// <param name="Spearman">Rank correlation of its single-layer predictions with the measured single-layer gains (1 is perfect).</param>
/// <param name="PairRegret">Best trained pair's gain minus the gain of the pair it predicts best (0 is best); null without pairs.</param>
/// <param name="GainFractionError">Mean |predicted − measured| fraction of the all-layer gain over the trained subsets other than all layers.</param>
/// <param name="CostOverAllLayerRun">What computing it took, over one all-layer training run of the same study.</param>
/// <param name="TrainsInside">Whether it needs LoRA training of its own (probes do; signals do not).</param>
public sealed record PredictorScore(string Predictor, double Spearman, double? PairRegret, double? GainFractionError, double CostOverAllLayerRun, bool TrainsInside)
{
    /// <summary>
    /// Scores a predictor given as a set-gain function (predicted loss reduction of adapting a set of layers)
    /// against <paramref name="truth"/>. Its single-layer predictions are the sets of one layer.
    /// </summary>
    public static PredictorScore Of(string predictor, Func<IReadOnlyList<int>, double> setGain, TrainedGains truth, double costOverAllLayerRun, bool trainsInside)
    {
        ArgumentNullException.ThrowIfNull(setGain);
        ArgumentNullException.ThrowIfNull(truth);
        int layers = truth.Singles.Count;
        var singles = Enumerable.Range(0, layers).Select(l => setGain([l])).ToList();
        var spearman = Statistics.Spearman(singles, truth.Singles);
        double? regret = null;
        var pairs = truth.Pairs;
        if (pairs.Count > 0)
        {
            var best = pairs.Keys.OrderByDescending(p => setGain([p.Item1, p.Item2])).ThenBy(p => p.Item1).ThenBy(p => p.Item2).First();
            regret = pairs.Values.Max() - pairs[best];
        }
        double? error = null;
        var all = setGain(Enumerable.Range(0, layers).ToList());
        if (truth.AllLayers != 0 && all != 0 && double.IsFinite(all))
        {
            var subsets = Enumerable.Range(0, layers).Select(l => ((IReadOnlyList<int>)[l], truth.Singles[l])).Concat(truth.Subsets).ToList();
            error = subsets.Average(s => Math.Abs(setGain(s.Item1) / all - s.Item2 / truth.AllLayers));
        }
        return new PredictorScore(predictor, spearman, regret, error, costOverAllLayerRun, trainsInside);
    }

    /// <summary>A per-layer score read as additive gains: a set's gain is the sum of its layers' values.</summary>
    public static Func<IReadOnlyList<int>, double> Additive(IReadOnlyList<double> values) => set => set.Sum(l => values[l]);
}
