using System.Buffers.Binary;
using System.Xml.Linq;
using LayerCard.Reports;

namespace LayerCard.Tests.Reports;

public sealed class ChartsTests
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Width and height from the IHDR chunk, which the PNG format requires to come first.</summary>
    internal static (int Width, int Height) PngSize(byte[] png)
    {
        Assert.True(png.Length > 33, "too short for a PNG");
        Assert.Equal(PngSignature, png[..8]);
        Assert.Equal(13, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(8)));
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
        return (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
    }

    public static TheoryData<string> Kinds => new() { "line", "bar", "heatmap", "scatter" };

    private static byte[] Png(string kind) => kind switch
    {
        "line" => SampleCharts.LinePng(),
        "bar" => SampleCharts.BarPng(),
        "heatmap" => SampleCharts.HeatmapPng(),
        _ => SampleCharts.ScatterPng(),
    };

    private static string Svg(string kind) => kind switch
    {
        "line" => SampleCharts.LineSvg(),
        "bar" => SampleCharts.BarSvg(),
        "heatmap" => SampleCharts.HeatmapSvg(),
        _ => SampleCharts.ScatterSvg(),
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Png_is_valid_with_expected_size(string kind)
    {
        var png = Png(kind);
        var (width, height) = PngSize(png);
        Assert.True(width >= 400 && height >= 300, $"{width}x{height}");
        Assert.True(png.Length > 10_000, $"only {png.Length} bytes: probably blank");
        Assert.Equal("IEND", System.Text.Encoding.ASCII.GetString(png, png.Length - 8, 4));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Svg_is_well_formed_xml(string kind)
    {
        var svg = XDocument.Parse(Svg(kind));
        Assert.Equal("svg", svg.Root!.Name.LocalName);
        Assert.True(svg.Descendants().Count() > 20);
    }

    [Fact]
    public void Svg_keeps_titles_with_markup_characters_well_formed()
    {
        var svg = Charts.LineChartSvg("a < b & \"c\"", "x", "y", [new Series("s<1>", [0, 1], [1, 2])]);
        var doc = XDocument.Parse(svg);
        Assert.Contains("a < b & \"c\"", doc.Root!.Value);
    }

    [Fact]
    public void Empty_and_all_nan_data_still_render()
    {
        PngSize(Charts.LineChart("empty", "x", "y", []));
        PngSize(Charts.LineChart("nan", "x", "y", [new Series("s", [double.NaN, 1], [2, double.NaN])]));
        PngSize(Charts.BarChart("empty", "x", "y", [], []));
        PngSize(Charts.BarChart("nan", "x", "y", ["a"], [new BarSeries("s", [double.NaN])]));
        PngSize(Charts.Heatmap("empty", [], new double[0, 0], 0, 1));
        PngSize(Charts.Heatmap("nan", ["a", "b"], new[,] { { double.NaN, double.NaN }, { double.NaN, double.NaN } }, 0, 1));
        PngSize(Charts.Heatmap("flat", ["a", "b"], new[,] { { 1.0, 1.0 }, { 1.0, 1.0 } }, double.NaN, double.NaN));
        PngSize(Charts.ScatterChart("empty", "x", "y", [], diagonal: true));
        XDocument.Parse(Charts.ScatterChartSvg("one", "x", "y", [new ScatterSeries("s", [1], [1], ["only"])], diagonal: true));
    }

    [Fact]
    public void Mismatched_shapes_are_refused_with_the_series_name()
    {
        var e = Assert.Throws<ArgumentException>(() => Charts.LineChart("t", "x", "y", [new Series("train", [1, 2], [1])]));
        Assert.Contains("train", e.Message);
        e = Assert.Throws<ArgumentException>(() => Charts.BarChart("t", "x", "y", ["a", "b"], [new BarSeries("gain", [1])]));
        Assert.Contains("gain", e.Message);
        Assert.Throws<ArgumentException>(() => Charts.Heatmap("t", ["a"], new double[2, 2], 0, 1));
        Assert.Throws<ArgumentException>(() => Charts.ScatterChart("t", "x", "y", [new ScatterSeries("p", [1], [1], ["a", "b"])]));
    }

    [Fact]
    public void SavePng_writes_the_bytes_atomically_into_new_folders()
    {
        var folder = Path.Combine(Path.GetTempPath(), "layercard-charts-" + Guid.NewGuid().ToString("N"));
        try
        {
            var path = Path.Combine(folder, "sub", "loss.png");
            var png = SampleCharts.LinePng();
            Charts.SavePng(path, png);
            Assert.Equal(png, File.ReadAllBytes(path));
            Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
