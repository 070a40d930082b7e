using LayerCard.Reports;

namespace LayerCard.Tests.Reports;

/// <summary>Realistic-looking data for every chart kind, shared by the chart, HTML and browser tests.</summary>
internal static class SampleCharts
{
    public static readonly string[] Layers = Enumerable.Range(0, 6).Select(i => $"L{i}").ToArray();

    public static IReadOnlyList<Series> LossCurves()
    {
        var steps = Enumerable.Range(0, 200).Select(i => (double)i).ToArray();
        var train = steps.Select(s => 2.5 * Math.Exp(-s / 60) + 0.6 + 0.05 * Math.Sin(s)).ToArray();
        train[17] = double.NaN; // a skipped logging step must not break the curve
        var validationSteps = Enumerable.Range(0, 9).Select(i => i * 25.0).ToArray();
        var validation = validationSteps.Select(s => 2.5 * Math.Exp(-s / 70) + 0.75).ToArray();
        return [new Series("train", steps, train), new Series("validation", validationSteps, validation)];
    }

    public static IReadOnlyList<BarSeries> PerLayer() =>
    [
        new BarSeries("measured gain", [0.8, 1.4, 2.1, 1.7, double.NaN, 0.3]),
        new BarSeries("predicted gain", [0.9, 1.2, 2.4, 1.5, 0.6, -0.2]),
    ];

    public static double[,] Coupling()
    {
        var n = Layers.Length;
        var m = new double[n, n];
        for (var i = 0; i < n; i++)
        for (var j = 0; j < n; j++)
            m[i, j] = i == j ? 1 : ((i + j) % 2 == 0 ? 1 : -1) * Math.Round(0.9 * Math.Exp(-Math.Abs(i - j) / 1.5), 2);
        m[0, 5] = double.NaN;
        return m;
    }

    public static IReadOnlyList<ScatterSeries> Pareto() =>
    [
        new ScatterSeries("candidates", [1, 2, 2, 3, 4, 5, 6], [0.5, 1.1, 0.7, 1.9, 1.6, 2.3, 2.2],
            ["L0", "L1", "L5", "L1+L2", "L3+L4", "L1+L2+L3", "all"]),
        new ScatterSeries("Pareto front", [1, 2, 3, 5], [0.5, 1.1, 1.9, 2.3], Connect: true),
    ];

    public static IReadOnlyList<ScatterSeries> PredictedVsMeasured() =>
    [
        new ScatterSeries("layers", [0.9, 1.2, 2.4, 1.5, 0.6, double.NaN], [0.8, 1.4, 2.1, 1.7, 0.5, 0.3],
            Layers),
    ];

    public static byte[] LinePng() => Charts.LineChart("Loss", "step", "loss", LossCurves());
    public static string LineSvg() => Charts.LineChartSvg("Loss", "step", "loss", LossCurves());
    public static byte[] BarPng() => Charts.BarChart("Per-layer gain", "layer", "gain (points)", Layers, PerLayer());
    public static string BarSvg() => Charts.BarChartSvg("Per-layer gain", "layer", "gain (points)", Layers, PerLayer());
    public static byte[] HeatmapPng() => Charts.Heatmap("Layer coupling", Layers, Coupling(), -1, 1);
    public static string HeatmapSvg() => Charts.HeatmapSvg("Layer coupling", Layers, Coupling(), -1, 1);
    public static byte[] ScatterPng() => Charts.ScatterChart("Pareto front", "cost (trainable params, M)", "predicted gain", Pareto());
    public static string ScatterSvg() => Charts.ScatterChartSvg("Predicted vs measured", "predicted", "measured", PredictedVsMeasured(), diagonal: true);
}
