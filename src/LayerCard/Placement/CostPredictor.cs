using LayerCard.Card;

namespace LayerCard.Placement;

/// <summary>
/// Predicted training cost of a set of layers. With a card's fitted cost model (from its probe runs) the
/// predictions are in seconds per step and bytes of peak memory above resident (a probe-free card's model has the
/// time terms only, from timed steps, and its memory stays structural). Without one, only fractions of
/// the all-layer cost are known, from the structure of a LoRA step: every step runs the forward through all L
/// layers, and the backward (and the activations kept for it) reach down to the lowest adapted layer m.
/// </summary>
public sealed class CostPredictor
{
    private readonly CostModel? measured;
    private readonly int layers;

    /// <summary>The cost predictor of a card: measured when the card has a cost model, structural otherwise.</summary>
    public CostPredictor(CardDocument card)
    {
        measured = card.CostModel;
        layers = card.Layers.Count;
        var all = Enumerable.Range(0, layers).ToList();
        fullTime = RelativeTime(all);
        fullMemory = RelativeMemory(all);
    }

    private readonly double fullTime;
    private readonly double fullMemory;

    /// <summary>Whether predictions come from measured probe runs (seconds, bytes) rather than the step's structure alone.</summary>
    public bool IsMeasured => measured != null;

    /// <summary>Predicted seconds per training step; null without measured costs.</summary>
    public double? StepSeconds(IReadOnlyCollection<int> set) =>
        measured is null || set.Count == 0 ? null : Math.Max(1e-9, measured.PredictStepSeconds(set));

    /// <summary>Predicted peak memory above resident, in bytes; null without measured memory costs.</summary>
    public double? PeakMemoryBytes(IReadOnlyCollection<int> set) =>
        measured is not { MemoryFitted: true } || set.Count == 0 ? null : Math.Max(1, measured.PredictPeakMemoryIncrement(set));

    /// <summary>Step time as a fraction of the all-layer step time.</summary>
    public double TimeFraction(IReadOnlyCollection<int> set) => RelativeTime(set) / fullTime;

    /// <summary>Peak memory above resident as a fraction of the all-layer one.</summary>
    public double MemoryFraction(IReadOnlyCollection<int> set) => RelativeMemory(set) / fullMemory;

    // Structural model: forward over L layers plus backward over L - m, in units of one layer's forward.
    private double RelativeTime(IReadOnlyCollection<int> set) =>
        set.Count == 0 ? 0 : StepSeconds(set) ?? layers + (layers - set.Min());

    // Structural model: activations of the L - m layers the backward passes through.
    private double RelativeMemory(IReadOnlyCollection<int> set) =>
        set.Count == 0 ? 0 : PeakMemoryBytes(set) ?? layers - set.Min();
}
