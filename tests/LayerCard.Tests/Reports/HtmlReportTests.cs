using System.Text.RegularExpressions;
using LayerCard.Reports;

namespace LayerCard.Tests.Reports;

public sealed class HtmlReportTests
{
    /// <summary>A report with every block and every chart kind, both as SVG and as PNG.</summary>
    internal static HtmlReport FullReport(string title = "Layer Card: tiny-gpt2 on <E2E>")
    {
        return new HtmlReport(title)
            .Heading("Run")
            .Paragraph("Fine-tuned layers 1-3 with rank 8.\n\nUser note: <script>alert('x')</script> & \"quotes\"")
            .Code("layercard train --layers 1,2,3 --rank 8 <model>")
            .Heading("Per-layer results")
            .Table(["layer", "gain", "params", "note"],
            [
                ["L0", 0.8123456, 12288, "baseline"],
                ["L1", "1.40", 12288L, "<b>not bold</b>"],
                ["L2", double.NaN, 12288, ""],
            ])
            .Chart("Loss curves", SampleCharts.LineSvg())
            .Chart("Per-layer gain", SampleCharts.BarSvg())
            .Chart("Coupling matrix", SampleCharts.HeatmapSvg())
            .Chart("Predicted vs measured", SampleCharts.ScatterSvg())
            .Chart("Pareto front (PNG)", SampleCharts.ScatterPng())
            .Chart("Loss curves (PNG)", SampleCharts.LinePng());
    }

    [Fact]
    public void User_text_is_escaped_everywhere()
    {
        var html = FullReport().ToHtml();
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; \"quotes\"", html);
        Assert.Contains("&lt;b&gt;not bold&lt;/b&gt;", html);
        Assert.Contains("<title>Layer Card: tiny-gpt2 on &lt;E2E&gt;</title>", html);
        Assert.Contains("&lt;model&gt;", html);
    }

    [Fact]
    public void Report_references_no_external_resource()
    {
        var html = FullReport().ToHtml();
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
        var references = Regex.Matches(html, @"(?:src|href)\s*=\s*[""']?([^""'\s>]*)", RegexOptions.IgnoreCase)
            .Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(references);
        Assert.All(references, r => Assert.True(r.StartsWith("data:") || r.StartsWith('#'), r));
        Assert.DoesNotContain("<link", html);
        Assert.Single(Regex.Matches(html, "<style>"));
    }

    [Fact]
    public void Each_chart_is_one_figure_and_svg_ids_do_not_collide()
    {
        var report = FullReport();
        var html = report.ToHtml();
        Assert.Equal(6, report.ChartCount);
        Assert.Equal(6, Regex.Matches(html, "<figure>").Count);
        Assert.Equal(4, Regex.Matches(html, "<svg[ >]").Count);
        Assert.Equal(2, Regex.Matches(html, "<img ").Count);
        var ids = Regex.Matches(html, @"\sid=""([^""]+)""").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        // Every local reference points at an id that exists on the page.
        var targets = Regex.Matches(html, @"url\(#([^)]+)\)|href=""#([^""]+)""")
            .Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value).ToList();
        Assert.NotEmpty(targets);
        Assert.All(targets, t => Assert.Contains(t, ids));
    }

    [Fact]
    public void Numbers_are_right_aligned_and_formatted_invariantly()
    {
        var html = new HtmlReport("t").Table(["name", "value"], [["a", 1.5], ["b", "2,000"], ["c", 1e-7]]).ToHtml();
        Assert.Contains("<th>name</th><th class=\"num\">value</th>", html);
        Assert.Contains("<td>a</td><td class=\"num\">1.5</td>", html);
        Assert.Contains("<td class=\"num\">2,000</td>", html);
        Assert.Contains("<td class=\"num\">1E-07</td>", html);
    }

    [Fact]
    public void Svg_scripts_handlers_and_external_links_are_dropped()
    {
        const string hostile = """
            <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10">
              <script>alert(1)</script>
              <rect id="r" onclick="alert(2)" width="10" height="10" fill="url(#g)"/>
              <image xlink:href="https://example.invalid/x.png"/>
              <use href="#r"/>
            </svg>
            """;
        var html = new HtmlReport("t").Chart("c", hostile).ToHtml();
        Assert.DoesNotContain("alert", html);
        Assert.DoesNotContain("example.invalid", html);
        Assert.Contains("id=\"c0-r\"", html);
        Assert.Contains("url(#c0-g)", html);
        Assert.Contains("href=\"#c0-r\"", html);
        Assert.Contains("viewBox=\"0 0 10 10\"", html);
    }

    [Fact]
    public void Bytes_that_are_neither_png_nor_svg_are_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => new HtmlReport("t").Chart("broken chart", [1, 2, 3]));
        Assert.Contains("broken chart", e.Message);
        Assert.Throws<ArgumentException>(() => new HtmlReport("t").Chart("html", "<html></html>"));
        Assert.Throws<ArgumentException>(() => new HtmlReport("t").Table(["a", "b"], [["only one"]]));
    }

    [Fact]
    public void Svg_bytes_are_accepted_like_svg_text()
    {
        var html = new HtmlReport("t").Chart("bar", System.Text.Encoding.UTF8.GetBytes(SampleCharts.BarSvg())).ToHtml();
        Assert.Single(Regex.Matches(html, "<svg[ >]"));
    }

    [Fact]
    public void Save_writes_the_page_atomically()
    {
        var folder = Path.Combine(Path.GetTempPath(), "layercard-html-" + Guid.NewGuid().ToString("N"));
        try
        {
            var path = Path.Combine(folder, "card.html");
            var report = new HtmlReport("t").Paragraph("p");
            report.Save(path);
            Assert.Equal(report.ToHtml(), File.ReadAllText(path));
            Assert.Single(Directory.GetFiles(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
