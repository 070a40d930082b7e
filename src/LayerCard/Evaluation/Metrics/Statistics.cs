namespace LayerCard.Evaluation;

/// <summary>
/// Correlation and summary helpers; the Layer Card relates per-layer quantities with Spearman's ρ, and timings
/// are summarised by their median.
/// </summary>
public static class Statistics
{
    /// <summary>
    /// Spearman's ρ as the Pearson correlation of average ranks, which is the exact definition with ties
    /// (the 1 − 6Σd²/(n(n²−1)) shortcut is only valid without them). NaN if either side is constant or n &lt; 2.
    /// </summary>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        CheckPaired(x, y);
        return Pearson(Ranks(x), Ranks(y));
    }

    /// <summary>Pearson's r. NaN if either side is constant or n &lt; 2, because r is undefined there.</summary>
    public static double Pearson(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        CheckPaired(x, y);
        var n = x.Count;
        if (n < 2) return double.NaN;
        double meanX = 0, meanY = 0;
        for (var i = 0; i < n; i++) { meanX += x[i]; meanY += y[i]; }
        meanX /= n;
        meanY /= n;
        // Centred two-pass sums: the one-pass Σxy − nx̄ȳ form cancels badly for values far from zero.
        double sxy = 0, sxx = 0, syy = 0;
        for (var i = 0; i < n; i++)
        {
            var dx = x[i] - meanX;
            var dy = y[i] - meanY;
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        if (sxx == 0 || syy == 0) return double.NaN;
        // Rounding can push |r| a hair past 1; callers compare against ±1.
        return Math.Clamp(sxy / Math.Sqrt(sxx * syy), -1.0, 1.0);
    }

    /// <summary>
    /// The median of the values that are not NaN (the mean of the two middle ones for an even count); NaN when
    /// none is left. Repeated timings are summarised with it because one slow outlier does not move it.
    /// </summary>
    public static double Median(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        if (sorted.Length == 0) return double.NaN;
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>1-based ranks in ascending order; tied values share the mean of the ranks they span.</summary>
    public static double[] Ranks(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var n = values.Count;
        for (var i = 0; i < n; i++)
            if (double.IsNaN(values[i]))
                throw new ArgumentException($"Value {i} is NaN; NaN has no rank.", nameof(values));
        var order = Enumerable.Range(0, n).OrderBy(i => values[i]).ToArray();
        var ranks = new double[n];
        for (var start = 0; start < n;)
        {
            var end = start;
            while (end + 1 < n && values[order[end + 1]] == values[order[start]]) end++;
            var rank = (start + end) / 2.0 + 1.0;
            for (var k = start; k <= end; k++) ranks[order[k]] = rank;
            start = end + 1;
        }
        return ranks;
    }

    private static void CheckPaired(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count)
            throw new ArgumentException($"Paired samples differ in length: {x.Count} vs {y.Count}.", nameof(y));
    }
}
