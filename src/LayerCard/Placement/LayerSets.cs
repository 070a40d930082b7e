namespace LayerCard.Placement;

/// <summary>Layer sets as the planner and the study enumerate them.</summary>
public static class LayerSets
{
    /// <summary>Every non-empty subset of 0..layers-1 in bitmask order, each ascending (2^layers - 1 sets: small models only).</summary>
    public static IEnumerable<int[]> All(int layers)
    {
        if (layers is < 0 or > 30) throw new ArgumentOutOfRangeException(nameof(layers), "enumerating every subset needs 0 to 30 layers");
        for (int mask = 1; mask < 1 << layers; mask++)
            yield return Enumerable.Range(0, layers).Where(l => (mask & (1 << l)) != 0).ToArray();
    }
}
