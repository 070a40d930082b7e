using LayerCard.Common;
using ScottPlot;

namespace LayerCard.Reports;

/// <summary>One line of a <see cref="Charts.LineChart"/>; points whose X or Y is not finite are left out.</summary>
public sealed record Series(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

/// <summary>One group member of a <see cref="Charts.BarChart"/>: a value per category (NaN leaves a gap).</summary>
public sealed record BarSeries(string Name, IReadOnlyList<double> Values);

/// <summary>
/// Points of a <see cref="Charts.ScatterChart"/>. <paramref name="Labels"/>, when given, names each point on the
/// chart; <paramref name="Connect"/> joins the points in the given order (a Pareto front reads better as a line).
/// </summary>
public sealed record ScatterSeries(
    string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y,
    IReadOnlyList<string>? Labels = null, bool Connect = false);

/// <summary>
/// Report charts rendered with ScottPlot. Each chart comes as PNG bytes (for files) and as an SVG string (for
/// embedding in HTML, where text stays sharp and searchable). Non-finite data is skipped rather than rejected,
/// because a diverged run (NaN loss) still deserves a report; a chart with nothing to draw says "No data".
/// </summary>
public static class Charts
{
    /// <summary>Width of line, bar and scatter charts, in pixels.</summary>
    public const int DefaultWidth = 900;
    /// <summary>Height of line, bar and scatter charts, in pixels (heatmaps are drawn about this size square).</summary>
    public const int DefaultHeight = 540;

    /// <summary>Cell values are printed inside heatmap cells up to this many rows; beyond it they are unreadable.</summary>
    public const int HeatmapValueLimit = 16;

    /// <summary>A line chart as PNG bytes; a legend is shown when there are several series or a named one.</summary>
    public static byte[] LineChart(string title, string xLabel, string yLabel, IReadOnlyList<Series> series) =>
        Png(BuildLine(title, xLabel, yLabel, series));

    /// <summary>The line chart of <see cref="LineChart"/> as SVG text.</summary>
    public static string LineChartSvg(string title, string xLabel, string yLabel, IReadOnlyList<Series> series) =>
        Svg(BuildLine(title, xLabel, yLabel, series));

    /// <summary>Grouped bars as PNG bytes: one group per category, one bar per series; every series needs a value per category.</summary>
    public static byte[] BarChart(string title, string xLabel, string yLabel,
        IReadOnlyList<string> categories, IReadOnlyList<BarSeries> series) =>
        Png(BuildBar(title, xLabel, yLabel, categories, series));

    /// <summary>The bar chart of <see cref="BarChart"/> as SVG text.</summary>
    public static string BarChartSvg(string title, string xLabel, string yLabel,
        IReadOnlyList<string> categories, IReadOnlyList<BarSeries> series) =>
        Svg(BuildBar(title, xLabel, yLabel, categories, series));

    /// <summary>A square matrix (row i, column j = values[i, j]) drawn with row 0 at the top, like a printed table.</summary>
    public static byte[] Heatmap(string title, IReadOnlyList<string> labels, double[,] values, double min, double max) =>
        Png(BuildHeatmap(title, labels, values, min, max), square: true);

    /// <summary>The heatmap of <see cref="Heatmap"/> as SVG text. The colour scale runs from <paramref name="min"/> to <paramref name="max"/> (from the data when that range is empty or not finite), diverging around zero when it spans both signs.</summary>
    public static string HeatmapSvg(string title, IReadOnlyList<string> labels, double[,] values, double min, double max) =>
        Svg(BuildHeatmap(title, labels, values, min, max), square: true);

    /// <summary>Points as PNG bytes, each series in its own colour, with the point labels drawn beside their points.</summary>
    /// <param name="diagonal">Draws y = x, which makes predicted-versus-measured charts readable at a glance.</param>
    public static byte[] ScatterChart(string title, string xLabel, string yLabel,
        IReadOnlyList<ScatterSeries> series, bool diagonal = false) =>
        Png(BuildScatter(title, xLabel, yLabel, series, diagonal));

    /// <summary>The scatter chart of <see cref="ScatterChart"/> as SVG text.</summary>
    public static string ScatterChartSvg(string title, string xLabel, string yLabel,
        IReadOnlyList<ScatterSeries> series, bool diagonal = false) =>
        Svg(BuildScatter(title, xLabel, yLabel, series, diagonal));

    /// <summary>Writes PNG bytes to <paramref name="path"/> atomically.</summary>
    public static void SavePng(string path, byte[] png) => AtomicFile.WriteAllBytes(path, png);

    /// <summary>Writes SVG text to <paramref name="path"/> atomically.</summary>
    public static void SaveSvg(string path, string svg) => AtomicFile.WriteAllText(path, svg);

    private static byte[] Png(Plot plot, bool square = false)
    {
        using (plot)
        {
            var (width, height) = Size(square);
            return plot.GetImageBytes(width, height, ImageFormat.Png);
        }
    }

    private static string Svg(Plot plot, bool square = false)
    {
        using (plot)
        {
            var (width, height) = Size(square);
            return plot.GetSvgXml(width, height);
        }
    }

    private static (int Width, int Height) Size(bool square) =>
        square ? (DefaultHeight + 160, DefaultHeight + 60) : (DefaultWidth, DefaultHeight);

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        // DejaVu Sans ships with Debian's fontconfig and covers far more glyphs than Skia's fallback.
        plot.Font.Set("DejaVu Sans");
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        return plot;
    }

    private static Plot BuildLine(string title, string xLabel, string yLabel, IReadOnlyList<Series> series)
    {
        var plot = NewPlot(title, xLabel, yLabel);
        var drawn = 0;
        foreach (var s in series)
        {
            var (xs, ys, _) = FinitePoints(s.Name, s.X, s.Y, null);
            if (xs.Length == 0) continue;
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = s.Name;
            line.LineWidth = 2;
            // Markers help for a handful of validation points but turn a long training curve into a smear.
            line.MarkerSize = xs.Length <= 40 ? 6 : 0;
            drawn++;
        }
        Finish(plot, drawn, series.Count > 1 || series.Any(s => s.Name.Length > 0));
        return plot;
    }

    private static Plot BuildBar(string title, string xLabel, string yLabel,
        IReadOnlyList<string> categories, IReadOnlyList<BarSeries> series)
    {
        foreach (var s in series)
        {
            if (s.Values.Count != categories.Count)
                throw new ArgumentException(
                    $"Bar series '{s.Name}' has {s.Values.Count} values for {categories.Count} categories.", nameof(series));
        }
        var plot = NewPlot(title, xLabel, yLabel);
        const double groupWidth = 0.8;
        var barWidth = groupWidth / Math.Max(1, series.Count);
        var palette = new ScottPlot.Palettes.Category10();
        var drawn = 0;
        var anyNegative = false;
        for (var j = 0; j < series.Count; j++)
        {
            var bars = new List<Bar>();
            for (var i = 0; i < categories.Count; i++)
            {
                var value = series[j].Values[i];
                if (!double.IsFinite(value)) continue;
                anyNegative |= value < 0;
                bars.Add(new Bar
                {
                    Position = i - groupWidth / 2 + barWidth * (j + 0.5),
                    Value = value,
                    Size = barWidth * 0.92,
                    FillColor = palette.GetColor(j),
                    LineWidth = 0,
                });
            }
            if (bars.Count == 0) continue;
            var plottable = plot.Add.Bars(bars);
            plottable.LegendText = series[j].Name;
            drawn++;
        }
        if (categories.Count > 0)
        {
            var positions = Enumerable.Range(0, categories.Count).Select(i => (double)i).ToArray();
            plot.Axes.Bottom.TickGenerator =
                new ScottPlot.TickGenerators.NumericManual(positions, categories.ToArray());
            plot.Axes.Bottom.MajorTickStyle.Length = 0;
            if (categories.Count > 12 || categories.Any(c => c.Length > 8)) SlantBottomLabels(plot, categories);
            plot.HideGrid();
            plot.Grid.YAxisStyle.IsVisible = true;
        }
        if (drawn > 0 && !anyNegative) plot.Axes.Margins(bottom: 0);
        Finish(plot, drawn, series.Count > 1);
        return plot;
    }

    private static Plot BuildHeatmap(string title, IReadOnlyList<string> labels, double[,] values, double min, double max)
    {
        var n = labels.Count;
        if (values.GetLength(0) != n || values.GetLength(1) != n)
            throw new ArgumentException(
                $"Heatmap values are {values.GetLength(0)}x{values.GetLength(1)} but there are {n} labels.", nameof(values));
        var plot = NewPlot(title, "", "");
        var finite = values.Cast<double>().Where(double.IsFinite).ToArray();
        if (n == 0 || finite.Length == 0)
        {
            Finish(plot, 0, false);
            return plot;
        }
        if (!double.IsFinite(min) || !double.IsFinite(max) || min >= max)
        {
            // A degenerate range (all cells equal) still needs a colour scale; widen it around the data.
            min = finite.Min();
            max = finite.Max();
            if (min >= max) { min -= 0.5; max += 0.5; }
        }

        var heatmap = plot.Add.Heatmap(values);
        // Coupling can be signed; a diverging map keeps zero neutral, otherwise Viridis reads well in print.
        IColormap colormap = min < 0 && max > 0 ? new ScottPlot.Colormaps.Balance() : new ScottPlot.Colormaps.Viridis();
        heatmap.Colormap = colormap;
        heatmap.ManualRange = new ScottPlot.Range(min, max);
        heatmap.NaNCellColor = Colors.LightGray;
        // Vector cells: a bitmap heatmap inside an SVG is smoothed by browsers into a blur when scaled.
        heatmap.RenderStrategy = new ScottPlot.Plottables.Heatmap.RenderStrategies.Rectangles();
        heatmap.Rectangle = new CoordinateRect(0, n, 0, n);
        var colorBar = plot.Add.ColorBar(heatmap);
        colorBar.Label = "";

        var centres = Enumerable.Range(0, n).Select(i => i + 0.5).ToArray();
        var labelArray = labels.ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(centres, labelArray);
        // Row 0 is drawn at the top, so the y ticks run in reverse.
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            centres, labelArray.Reverse().ToArray());
        if (n > 12 || labels.Any(l => l.Length > 6)) SlantBottomLabels(plot, labels);
        plot.HideGrid();
        plot.Axes.SetLimits(0, n, 0, n);

        if (n <= HeatmapValueLimit)
        {
            var fontSize = n <= 8 ? 14f : 10f;
            for (var r = 0; r < n; r++)
            for (var c = 0; c < n; c++)
            {
                var v = values[r, c];
                if (!double.IsFinite(v)) continue;
                var text = plot.Add.Text(FormatCell(v), c + 0.5, n - r - 0.5);
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontSize = fontSize;
                var fraction = Math.Clamp((v - min) / (max - min), 0, 1);
                text.LabelFontColor = Luminance(colormap.GetColor(fraction)) > 0.5 ? Colors.Black : Colors.White;
            }
        }
        return plot;
    }

    private static Plot BuildScatter(string title, string xLabel, string yLabel,
        IReadOnlyList<ScatterSeries> series, bool diagonal)
    {
        var plot = NewPlot(title, xLabel, yLabel);
        var drawn = 0;
        var allX = new List<double>();
        var allY = new List<double>();
        var labelled = new List<(double X, double Y, string Label, Color Color)>();
        foreach (var s in series)
        {
            var (xs, ys, labels) = FinitePoints(s.Name, s.X, s.Y, s.Labels);
            if (xs.Length == 0) continue;
            var points = plot.Add.Scatter(xs, ys);
            points.LegendText = s.Name;
            points.MarkerSize = 9;
            points.LineWidth = s.Connect ? 1.5f : 0;
            allX.AddRange(xs);
            allY.AddRange(ys);
            for (var i = 0; i < xs.Length; i++)
            {
                if (labels != null && !string.IsNullOrEmpty(labels[i])) labelled.Add((xs[i], ys[i], labels[i], points.Color));
            }
            drawn++;
        }
        if (diagonal && allX.Count > 0)
        {
            var lo = Math.Min(allX.Min(), allY.Min());
            var hi = Math.Max(allX.Max(), allY.Max());
            if (lo < hi)
            {
                var line = plot.Add.Line(lo, lo, hi, hi);
                line.LineColor = Colors.Gray;
                line.LinePattern = LinePattern.Dashed;
                line.LineWidth = 1;
                line.LegendText = "y = x";
            }
        }
        foreach (var (x, y, label, color) in labelled)
        {
            var text = plot.Add.Text(label, x, y);
            text.LabelAlignment = Alignment.LowerLeft;
            text.LabelOffsetX = 5;
            text.LabelOffsetY = -5;
            text.LabelFontSize = 11;
            text.LabelFontColor = color.Darken(0.3);
        }
        // Room for the labels of the outermost points.
        plot.Axes.Margins(horizontal: 0.12, vertical: 0.1);
        Finish(plot, drawn, series.Count > 1 || diagonal);
        return plot;
    }

    /// <summary>
    /// Slants crowded category labels. ScottPlot does not grow the axis for rotated text, so the axis is sized
    /// here from the longest label; otherwise the labels run into the axis title and off the image.
    /// </summary>
    private static void SlantBottomLabels(Plot plot, IReadOnlyList<string> labels)
    {
        var axis = plot.Axes.Bottom;
        axis.TickLabelStyle.Rotation = 45;
        axis.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        var longest = labels.Count == 0 ? 0 : labels.Max(l => l.Length);
        var charWidth = axis.TickLabelStyle.FontSize * 0.62;
        axis.MinimumSize = (float)(longest * charWidth * Math.Sin(Math.PI / 4) + 8 + 1.6 * axis.Label.FontSize);
    }

    private static void Finish(Plot plot, int drawn, bool legend)
    {
        if (drawn == 0)
        {
            plot.Add.Annotation("No data", Alignment.MiddleCenter);
            return;
        }
        // Outside the data area the legend can never hide a point or a label.
        if (legend) plot.ShowLegend(Edge.Right);
    }

    /// <summary>Keeps only points with finite coordinates, with their labels, so one NaN never hides a series.</summary>
    private static (double[] X, double[] Y, string[]? Labels) FinitePoints(
        string name, IReadOnlyList<double> x, IReadOnlyList<double> y, IReadOnlyList<string>? labels)
    {
        if (x.Count != y.Count)
            throw new ArgumentException($"Series '{name}' has {x.Count} X values but {y.Count} Y values.");
        if (labels != null && labels.Count != x.Count)
            throw new ArgumentException($"Series '{name}' has {labels.Count} labels for {x.Count} points.");
        var xs = new List<double>(x.Count);
        var ys = new List<double>(x.Count);
        var ls = labels == null ? null : new List<string>(x.Count);
        for (var i = 0; i < x.Count; i++)
        {
            if (!double.IsFinite(x[i]) || !double.IsFinite(y[i])) continue;
            xs.Add(x[i]);
            ys.Add(y[i]);
            ls?.Add(labels![i]);
        }
        return (xs.ToArray(), ys.ToArray(), ls?.ToArray());
    }

    private static string FormatCell(double v) =>
        Math.Abs(v) >= 100 ? v.ToString("0", System.Globalization.CultureInfo.InvariantCulture)
        : v.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);

    private static double Luminance(Color c) => (0.299 * c.R + 0.587 * c.G + 0.114 * c.B) / 255.0;
}
