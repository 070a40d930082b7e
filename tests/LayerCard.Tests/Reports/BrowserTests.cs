using System.Diagnostics;
using System.Text.RegularExpressions;
using SkiaSharp;

namespace LayerCard.Tests.Reports;

/// <summary>
/// Opens a real report in headless Chromium, the way a person would look at it. Chromium is a hard requirement:
/// CI installs Debian's package, so a missing browser fails loudly instead of skipping a check nobody notices.
/// </summary>
public sealed class BrowserTests : IDisposable
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "layercard-browser-" + Guid.NewGuid().ToString("N"));

    public BrowserTests() => Directory.CreateDirectory(_folder);

    public void Dispose()
    {
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [Fact]
    public void Report_with_every_chart_kind_renders_without_page_errors()
    {
        var report = HtmlReportTests.FullReport();
        var page = Path.Combine(_folder, "report.html");
        report.Save(page);
        var screenshot = Path.Combine(_folder, "report.png");

        var shot = Run(page, "--screenshot=" + screenshot, "--window-size=1200,2000", "--enable-logging=stderr", "--v=0");
        Assert.True(shot.ExitCode == 0, $"chromium exited with {shot.ExitCode}:\n{shot.Stderr}");
        Assert.Empty(PageProblems(shot.Stderr));
        AssertNotBlank(screenshot, 1200, 2000);

        var dump = Run(page, "--dump-dom");
        Assert.True(dump.ExitCode == 0, $"chromium --dump-dom exited with {dump.ExitCode}:\n{dump.Stderr}");
        var dom = dump.Stdout;
        var charts = Regex.Matches(dom, @"<figure>\s*<(svg|img)[\s>]").Count;
        Assert.Equal(report.ChartCount, charts);
        Assert.Equal(report.ChartCount, Regex.Matches(dom, @"<(svg|img)[\s>]").Count);
        foreach (var caption in new[] { "Loss curves", "Per-layer gain", "Coupling matrix", "Predicted vs measured", "Pareto front (PNG)" })
            Assert.Contains($"<figcaption>{caption}</figcaption>", dom);
        // Escaped user text stays text: the DOM has no script element.
        Assert.DoesNotContain("<script", dom);
        Assert.Contains("&lt;script&gt;alert('x')&lt;/script&gt;", dom);
    }

    [Fact]
    public void The_card_report_renders_every_chart_without_page_errors()
    {
        var card = LayerCard.Tests.Placement.CardAndPlanTests.SyntheticCard([0.9, 0.5, 0.7, 0.2], (i, j) => i == j ? 1 : 0.3);
        var report = LayerCard.Reports.CardReport.Html(card);
        var page = Path.Combine(_folder, "card.html");
        report.Save(page);
        var shot = Run(page, "--screenshot=" + Path.Combine(_folder, "card.png"), "--window-size=1200,2000", "--enable-logging=stderr", "--v=0");
        Assert.True(shot.ExitCode == 0, $"chromium exited with {shot.ExitCode}:\n{shot.Stderr}");
        Assert.Empty(PageProblems(shot.Stderr));
        AssertNotBlank(Path.Combine(_folder, "card.png"), 1200, 2000);
        var dump = Run(page, "--dump-dom");
        Assert.Equal(9, report.ChartCount);
        Assert.Equal(report.ChartCount, Regex.Matches(dump.Stdout, @"<figure>\s*<(svg|img)[\s>]").Count);
        foreach (var caption in new[] { "Residual signal per layer", "Predicted and measured gain per layer", "Activation energy per layer", "Coupling between layers", "Peak memory per layer" })
            Assert.Contains($"<figcaption>{caption}</figcaption>", dump.Stdout);
    }

    /// <summary>Guards the check above against passing vacuously when Chromium's log format changes.</summary>
    [Fact]
    public void Page_problem_detection_sees_script_errors_and_blocked_loads()
    {
        var page = Path.Combine(_folder, "broken.html");
        File.WriteAllText(page, """
            <!DOCTYPE html><html><head>
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; img-src data:">
            </head><body><p>broken</p><img src="file:///etc/hostname">
            <script>console.error("report-test-error"); notDefinedAnywhere();</script></body></html>
            """);
        var run = Run(page, "--screenshot=" + Path.Combine(_folder, "broken.png"), "--window-size=400,300",
            "--enable-logging=stderr", "--v=0");
        Assert.True(run.ExitCode == 0, $"chromium exited with {run.ExitCode}:\n{run.Stderr}");
        var problems = PageProblems(run.Stderr);
        Assert.Contains(problems, p => p.Contains("Uncaught ReferenceError"));
        Assert.Contains(problems, p => p.Contains("report-test-error"));
        Assert.Contains(problems, p => p.Contains("Content Security Policy"));
    }

    /// <summary>
    /// Lines Chromium logs about the page itself. The report has no script, so any console message at all (a
    /// script error or a load refused by the page's Content-Security-Policy) is a problem; the many lines about
    /// D-Bus, GPU and sandbox are about the headless machine and are ignored.
    /// </summary>
    private static List<string> PageProblems(string stderr) =>
        stderr.Split('\n')
            .Where(l => l.Contains("CONSOLE", StringComparison.Ordinal) || l.Contains("Uncaught", StringComparison.Ordinal))
            .ToList();

    private static void AssertNotBlank(string png, int width, int height)
    {
        Assert.True(File.Exists(png), $"no screenshot at {png}");
        var bytes = File.ReadAllBytes(png);
        Assert.Equal((width, height), ChartsTests.PngSize(bytes));
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.NotNull(bitmap);
        var colours = new HashSet<uint>();
        long inked = 0;
        for (var y = 0; y < bitmap.Height; y += 2)
        for (var x = 0; x < bitmap.Width; x += 2)
        {
            var c = bitmap.GetPixel(x, y);
            colours.Add((uint)c);
            if (c.Red + c.Green + c.Blue < 600) inked++;
        }
        var sampled = (long)(bitmap.Width / 2) * (bitmap.Height / 2);
        Assert.True(colours.Count > 100, $"only {colours.Count} colours: the page looks blank");
        Assert.True(inked > sampled / 50, $"only {inked} of {sampled} sampled pixels are not near-white");
    }

    private sealed record Result(int ExitCode, string Stdout, string Stderr);

    private Result Run(string page, params string[] extra)
    {
        Assert.True(File.Exists(Chromium),
            $"Chromium is required for the report browser test but {Chromium} does not exist. " +
            "Install it with: apt-get update && apt-get install -y chromium (CI's .ci/run does this).");
        var info = new ProcessStartInfo(Chromium)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // A fresh profile per run: a shared or stale one makes Chromium hand the page to another instance.
        var profile = Path.Combine(_folder, "profile-" + Guid.NewGuid().ToString("N"));
        foreach (var argument in new[]
                 {
                     "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--user-data-dir=" + profile,
                 }.Concat(extra))
        {
            info.ArgumentList.Add(argument);
        }
        info.ArgumentList.Add(new Uri(page).AbsoluteUri);

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"chromium did not finish within {Timeout.TotalSeconds} s and was killed; stderr so far:\n" +
                        (stderr.IsCompleted ? stderr.Result : "(unread)"));
        }
        // Both pipes close when the browser and its helpers have exited; a helper that lingers must not hang the test.
        if (!Task.WaitAll([stdout, stderr], Timeout))
            Assert.Fail("chromium's output did not close after it exited.");
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
