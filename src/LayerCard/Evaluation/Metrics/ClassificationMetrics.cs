namespace LayerCard.Evaluation;

/// <summary>Label-level scores for classification probes, and the baseline they must beat to mean anything.</summary>
public static class ClassificationMetrics
{
    /// <summary>Fraction of positions where the labels agree. Empty or mismatched inputs are a caller bug.</summary>
    public static double Accuracy(IReadOnlyList<int> predicted, IReadOnlyList<int> gold)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(gold);
        if (predicted.Count != gold.Count)
            throw new ArgumentException($"{predicted.Count} predictions but {gold.Count} gold labels.", nameof(gold));
        if (gold.Count == 0)
            throw new ArgumentException("Accuracy of an empty set is undefined.", nameof(gold));
        var correct = 0;
        for (var i = 0; i < gold.Count; i++)
            if (predicted[i] == gold[i]) correct++;
        return (double)correct / gold.Count;
    }

    /// <summary>
    /// Always predicting the most frequent training label, scored on <paramref name="gold"/>. The label comes
    /// from training data only, so the baseline cannot peek at the evaluation set. Ties go to the smallest
    /// label so that the reported baseline is reproducible.
    /// </summary>
    public static (int Label, double Accuracy) MajorityBaseline(IReadOnlyList<int> trainLabels, IReadOnlyList<int> gold)
    {
        ArgumentNullException.ThrowIfNull(trainLabels);
        ArgumentNullException.ThrowIfNull(gold);
        if (trainLabels.Count == 0)
            throw new ArgumentException("No training labels to take a majority from.", nameof(trainLabels));
        if (gold.Count == 0)
            throw new ArgumentException("Accuracy of an empty set is undefined.", nameof(gold));
        var counts = new Dictionary<int, int>();
        foreach (var label in trainLabels) counts[label] = counts.GetValueOrDefault(label) + 1;
        var majority = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key).First().Key;
        var hits = gold.Count(g => g == majority);
        return (majority, (double)hits / gold.Count);
    }
}
