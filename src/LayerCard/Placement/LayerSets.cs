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

    /// <summary>Every subset of at most <paramref name="maxSize"/> layers, smallest first, each ascending.</summary>
    public static IEnumerable<int[]> UpTo(int layers, int maxSize)
    {
        IEnumerable<int[]> Extend(int[] prefix, int size) => size == 0 ? [prefix]
            : Enumerable.Range(prefix.Length == 0 ? 0 : prefix[^1] + 1, layers - (prefix.Length == 0 ? 0 : prefix[^1] + 1)).SelectMany(l => Extend([.. prefix, l], size - 1));
        return Enumerable.Range(1, Math.Min(maxSize, layers)).SelectMany(size => Extend([], size));
    }

    /// <summary><paramref name="count"/> distinct subsets of <paramref name="size"/> layers drawn uniformly with <paramref name="seed"/>, each ascending.</summary>
    public static IEnumerable<int[]> Sample(int layers, int size, int count, int seed)
    {
        var random = new Random(seed);
        var seen = new HashSet<string>();
        for (int attempt = 0; attempt < count * 50 && seen.Count < count; attempt++)
        {
            var set = Enumerable.Range(0, layers).OrderBy(_ => random.Next()).Take(size).Order().ToArray();
            if (seen.Add(string.Join(",", set))) yield return set;
        }
    }
}
