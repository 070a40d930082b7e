using System.Text;
using LayerCard.Common;

namespace LayerCard.Reports;

/// <summary>
/// Builds a single self-contained HTML page: inline CSS, charts embedded as inline SVG or PNG data URIs, no
/// scripts and no external resources, so the file can be mailed, archived or opened offline and looks the same.
/// A Content-Security-Policy forbids everything else, which also makes any accidental external reference show
/// up as a console error in a browser test. All text given to the builder is HTML-escaped.
/// </summary>
public sealed class HtmlReport
{
    private readonly string _title;
    private readonly StringBuilder _body = new();
    private int _charts;

    /// <summary>An empty report; <paramref name="title"/> becomes the page title and its only level-1 heading.</summary>
    public HtmlReport(string title) => _title = title;

    /// <summary>Charts added so far (one &lt;figure&gt; with one &lt;img&gt; or &lt;svg&gt; each).</summary>
    public int ChartCount => _charts;

    /// <summary>Adds a heading.</summary>
    /// <param name="level">2 to 6; the report title is the only level-1 heading.</param>
    public HtmlReport Heading(string text, int level = 2)
    {
        level = Math.Clamp(level, 2, 6);
        _body.Append($"<h{level}>").Append(Html.Text(text)).Append($"</h{level}>\n");
        return this;
    }

    /// <summary>A paragraph; blank lines in the text start new paragraphs, single line breaks are kept.</summary>
    public HtmlReport Paragraph(string text)
    {
        var parts = text.Replace("\r\n", "\n").Split("\n\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var part in parts)
            _body.Append("<p>").Append(Html.Text(part).Replace("\n", "<br>")).Append("</p>\n");
        return this;
    }

    /// <summary>
    /// A table; cells may be strings or numbers. Numbers (and strings that read as numbers) are right-aligned
    /// in tabular figures so that digits line up down a column.
    /// </summary>
    public HtmlReport Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<object?>> rows)
    {
        var checkedRows = TableCells.CheckShape(headers, rows);
        var numeric = TableCells.NumericColumns(headers.Count, checkedRows);
        _body.Append("<div class=\"table\"><table>\n<thead><tr>");
        for (var c = 0; c < headers.Count; c++)
            _body.Append(numeric[c] ? "<th class=\"num\">" : "<th>").Append(Html.Text(headers[c])).Append("</th>");
        _body.Append("</tr></thead>\n<tbody>\n");
        foreach (var row in checkedRows)
        {
            _body.Append("<tr>");
            foreach (var cell in row)
            {
                _body.Append(TableCells.IsNumeric(cell) ? "<td class=\"num\">" : "<td>")
                    .Append(Html.Text(TableCells.Format(cell))).Append("</td>");
            }
            _body.Append("</tr>\n");
        }
        _body.Append("</tbody></table></div>\n");
        return this;
    }

    /// <summary>A chart from PNG bytes (embedded as a data URI) or from the UTF-8 bytes of an SVG document.</summary>
    public HtmlReport Chart(string caption, byte[] image)
    {
        if (image.AsSpan().StartsWith(PngSignature))
        {
            _charts++;
            _body.Append("<figure><img alt=\"").Append(Html.Attribute(caption)).Append("\" src=\"data:image/png;base64,")
                .Append(Convert.ToBase64String(image)).Append("\">");
            AppendCaption(caption);
            return this;
        }
        return Chart(caption, Encoding.UTF8.GetString(image));
    }

    /// <summary>A chart from an SVG document, inlined so its text stays sharp and searchable.</summary>
    public HtmlReport Chart(string caption, string svg)
    {
        var inline = SvgInliner.Inline(svg.TrimStart('\uFEFF'), $"c{_charts}-", caption);
        _charts++;
        _body.Append("<figure>").Append(inline);
        AppendCaption(caption);
        return this;
    }

    /// <summary>Preformatted text such as a command line or a configuration file.</summary>
    public HtmlReport Code(string text)
    {
        _body.Append("<pre><code>").Append(Html.Text(text)).Append("</code></pre>\n");
        return this;
    }

    /// <summary>The complete page: inline CSS, a strict Content-Security-Policy, the title and everything added so far.</summary>
    public string ToHtml()
    {
        var sb = new StringBuilder(_body.Length + 4096);
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append("<title>").Append(Html.Text(_title)).Append("</title>\n")
            .Append("<style>").Append(Css).Append("</style>\n</head>\n<body>\n<main>\n")
            .Append("<h1>").Append(Html.Text(_title)).Append("</h1>\n")
            .Append(_body)
            .Append("</main>\n</body>\n</html>\n");
        return sb.ToString();
    }

    public override string ToString() => ToHtml();

    /// <summary>Writes the page atomically, so a reader never sees half a report.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToHtml());

    private void AppendCaption(string caption)
    {
        if (caption.Length > 0) _body.Append("<figcaption>").Append(Html.Text(caption)).Append("</figcaption>");
        _body.Append("</figure>\n");
    }

    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private const string Css = """
        body { margin: 0; background: #f6f7f9; color: #1d232b; font: 15px/1.5 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
        main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
        h1 { font-size: 1.8em; margin: 0.2em 0 0.6em; border-bottom: 2px solid #1f77b4; padding-bottom: 0.2em; }
        h2 { font-size: 1.35em; margin: 1.6em 0 0.5em; }
        h3, h4, h5, h6 { font-size: 1.1em; margin: 1.2em 0 0.4em; }
        .table { overflow-x: auto; }
        table { border-collapse: collapse; margin: 0.6em 0 1.2em; }
        th, td { border: 1px solid #d5d9de; padding: 4px 10px; text-align: left; vertical-align: top; }
        th { background: #eef1f4; }
        tbody tr:nth-child(even) { background: #f8f9fb; }
        .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        figure { margin: 1em 0 1.6em; }
        figure img, figure svg { display: block; max-width: 100%; height: auto; border: 1px solid #e3e6ea; }
        figcaption { color: #4a5561; font-size: 0.92em; margin-top: 0.3em; }
        pre { background: #f3f4f6; border: 1px solid #e3e6ea; padding: 10px 12px; overflow-x: auto; }
        code { font: 13px/1.45 "DejaVu Sans Mono", "Liberation Mono", monospace; }
        """;
}

/// <summary>HTML escaping for text content and quoted attribute values.</summary>
internal static class Html
{
    /// <summary>Escapes &amp;, &lt; and &gt; for text inside an element.</summary>
    public static string Text(string text) =>
        text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");

    /// <summary>Escapes text for an attribute value (quotes included).</summary>
    public static string Attribute(string text) =>
        Text(text).Replace("\"", "&quot;").Replace("'", "&#39;");
}
