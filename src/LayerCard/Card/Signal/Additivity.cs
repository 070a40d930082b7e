namespace LayerCard.Card;

/// <summary>
/// Joint gain of adapting a set of layers under the empirical-Fisher quadratic model: each layer moves only
/// along its own optimal direction with a free scale, so the gain of a set S is c_S' R_S⁻¹ c_S with
/// c_l = sqrt(gain_l) and R the signed correlation of the layers' per-example loss changes. With R = I the gains
/// add up; two perfectly correlated layers are worth one.
/// </summary>
public static class Additivity
{
    /// <summary>Added to R_S's diagonal so that (nearly) singular correlations stay solvable.</summary>
    public const double Regularisation = 1e-6;

    /// <summary>The predicted loss reduction of adapting the layers in <paramref name="set"/> together: c_S' (R_S + 1e-6 I)⁻¹ c_S. Duplicates in the set count once; the empty set gains 0.</summary>
    /// <param name="singleGains">Each layer's gain alone, indexed by layer; negative gains count as 0.</param>
    /// <param name="signedCorrelation">R, the L x L signed correlation of the layers' per-example loss changes.</param>
    public static double PredictedJointGain(IReadOnlyList<int> set, IReadOnlyList<double> singleGains, double[,] signedCorrelation)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(singleGains);
        ArgumentNullException.ThrowIfNull(signedCorrelation);
        int layers = singleGains.Count;
        if (signedCorrelation.GetLength(0) != layers || signedCorrelation.GetLength(1) != layers)
            throw new ArgumentException($"the correlation is {signedCorrelation.GetLength(0)}x{signedCorrelation.GetLength(1)} but there are {layers} gains");
        var members = set.Distinct().ToArray();
        foreach (var l in members)
            if (l < 0 || l >= layers) throw new ArgumentOutOfRangeException(nameof(set), l, $"layer {l} is not in 0-{layers - 1}");
        int n = members.Length;
        if (n == 0) return 0;

        var c = new double[n];
        var r = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            c[i] = Math.Sqrt(Math.Max(0, singleGains[members[i]]));
            for (int j = 0; j < n; j++) r[i, j] = signedCorrelation[members[i], members[j]];
            r[i, i] += Regularisation;
        }
        var total = QuadraticForm.InverseForm(r, c);
        if (double.IsNaN(total)) throw new ArgumentException("the correlation matrix is not positive semidefinite", nameof(signedCorrelation));
        return total;
    }
}
