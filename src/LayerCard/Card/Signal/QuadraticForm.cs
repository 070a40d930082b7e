namespace LayerCard.Card;

/// <summary>Small dense solves in double precision for the quadratic models of the card.</summary>
public static class QuadraticForm
{
    /// <summary>s'M⁻¹s for a symmetric positive definite M (Cholesky); NaN when M is not positive definite.</summary>
    public static double InverseForm(double[,] m, double[] s)
    {
        int n = s.Length;
        var l = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                double sum = m[i, j];
                for (int k = 0; k < j; k++) sum -= l[i, k] * l[j, k];
                if (i == j)
                {
                    if (!(sum > 0)) return double.NaN;
                    l[i, i] = Math.Sqrt(sum);
                }
                else l[i, j] = sum / l[j, j];
            }
        }
        // Solve L y = s; then s'M⁻¹s = |y|².
        var y = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            double sum = s[i];
            for (int k = 0; k < i; k++) sum -= l[i, k] * y[k];
            y[i] = sum / l[i, i];
            total += y[i] * y[i];
        }
        return total;
    }
}
