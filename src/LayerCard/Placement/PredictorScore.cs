using LayerCard.Evaluation;

namespace LayerCard.Placement;

/// <summary>
/// How well one per-layer score predicts trained results it never saw: its Spearman correlation with the measured
/// single-layer gains, and the regret of the pair it ranks highest against the best pair actually trained.
/// </summary>
/// <param name="Predictor">The score's name (a card column, or the card's probe runs).</param>
/// <param name="Spearman">Rank correlation of the score with the measured single-layer gains (1 is perfect).</param>
/// <param name="PairRegret">Best trained pair's gain minus the gain of the pair of the score's two highest layers (0 is best); null without pairs.</param>
/// <param name="CostOverAllLayerRun">What computing the score took, over one all-layer training run of the same study.</param>
/// <param name="TrainsInside">Whether the score needs LoRA training of its own (the probes do; the signal columns do not).</param>
public sealed record PredictorScore(string Predictor, double Spearman, double? PairRegret, double CostOverAllLayerRun, bool TrainsInside)
{
    /// <summary>
    /// Scores <paramref name="values"/> (one per layer, higher meaning "adapt this layer") against
    /// <paramref name="singleGains"/> (measured, one per layer) and <paramref name="pairGains"/> (measured, by the
    /// pair's two layers in ascending order).
    /// </summary>
    public static PredictorScore Of(string predictor, IReadOnlyList<double> values, IReadOnlyList<double> singleGains,
        IReadOnlyDictionary<(int, int), double> pairGains, double costOverAllLayerRun, bool trainsInside)
    {
        if (values.Count != singleGains.Count) throw new ArgumentException("one value per layer", nameof(values));
        var spearman = Statistics.Spearman(values, singleGains);
        double? regret = null;
        if (pairGains.Count > 0 && values.Count >= 2)
        {
            var top = values.Select((v, layer) => (v, layer)).OrderByDescending(p => p.v).ThenBy(p => p.layer).Take(2).Select(p => p.layer).Order().ToArray();
            if (pairGains.TryGetValue((top[0], top[1]), out var chosen)) regret = pairGains.Values.Max() - chosen;
        }
        return new PredictorScore(predictor, spearman, regret, costOverAllLayerRun, trainsInside);
    }
}
