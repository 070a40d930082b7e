using System.Text;
using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;

namespace LayerCard.Reports;

/// <summary>
/// Turns a standalone SVG document into markup that can sit inside an HTML page next to other SVGs.
/// Skia names its clip paths and images with a counter (<c>cl_d</c>, <c>img_0</c>), so two charts on one page
/// could pick up each other's clip paths; every id and reference gets a per-chart prefix. The page must stay
/// self-contained and passive, so scripts, event handlers, foreign content and references to anything but the
/// SVG itself or a data URI are dropped. Namespace declarations go too: the HTML parser puts &lt;svg&gt; in the
/// SVG namespace by itself, and the page then holds no URL at all.
/// </summary>
internal static partial class SvgInliner
{
    private static readonly XNamespace Xlink = "http://www.w3.org/1999/xlink";

    /// <summary>The SVG as markup for an HTML page: ids and references prefixed with <paramref name="idPrefix"/>, unsafe content dropped, a viewBox added when missing, and <paramref name="label"/> as its accessible name. Text that is not an SVG document is an <see cref="ArgumentException"/> naming the label.</summary>
    public static string Inline(string svg, string idPrefix, string label)
    {
        XDocument doc;
        try
        {
            doc = XDocument.Parse(svg, LoadOptions.None);
        }
        catch (XmlException e)
        {
            throw new ArgumentException($"Chart '{label}' is neither a PNG nor well-formed SVG: {e.Message}", nameof(svg), e);
        }
        var root = doc.Root!;
        if (root.Name.LocalName != "svg")
            throw new ArgumentException($"Chart '{label}' is XML but its root is <{root.Name.LocalName}>, not <svg>.", nameof(svg));

        // A viewBox lets CSS shrink the chart to the page width while keeping its proportions.
        if (root.Attribute("viewBox") == null
            && double.TryParse((string?)root.Attribute("width"), System.Globalization.CultureInfo.InvariantCulture, out var w)
            && double.TryParse((string?)root.Attribute("height"), System.Globalization.CultureInfo.InvariantCulture, out var h))
        {
            root.SetAttributeValue("viewBox", FormattableString.Invariant($"0 0 {w} {h}"));
        }
        root.SetAttributeValue("role", "img");
        root.SetAttributeValue("aria-label", label);

        var sb = new StringBuilder();
        Write(sb, root, idPrefix);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, XElement element, string prefix)
    {
        var name = element.Name.LocalName;
        if (name is "script" or "foreignObject" || (name == "style" && element.Value.Contains("url(", StringComparison.Ordinal)))
            return;
        sb.Append('<').Append(name);
        foreach (var attribute in element.Attributes())
        {
            if (attribute.IsNamespaceDeclaration) continue;
            var local = attribute.Name.LocalName;
            if (local.StartsWith("on", StringComparison.OrdinalIgnoreCase)) continue;
            var value = attribute.Value;
            string attributeName;
            if (local == "href")
            {
                if (value.StartsWith('#')) value = "#" + prefix + value[1..];
                else if (!value.StartsWith("data:", StringComparison.OrdinalIgnoreCase)) continue;
                attributeName = attribute.Name.Namespace == Xlink ? "xlink:href" : "href";
            }
            else
            {
                if (attribute.Name.Namespace != XNamespace.None) continue;
                attributeName = local;
                if (local == "id") value = prefix + value;
                else value = LocalUrl().Replace(value, m => "url(#" + prefix + m.Groups[1].Value + ")");
            }
            if (value.Contains("url(", StringComparison.OrdinalIgnoreCase) && !value.Contains("url(#", StringComparison.Ordinal))
                continue;
            sb.Append(' ').Append(attributeName).Append("=\"").Append(Html.Attribute(value)).Append('"');
        }
        sb.Append('>');
        foreach (var node in element.Nodes())
        {
            switch (node)
            {
                case XElement child: Write(sb, child, prefix); break;
                case XText text: sb.Append(Html.Text(text.Value)); break;
            }
        }
        sb.Append("</").Append(name).Append('>');
    }

    [GeneratedRegex(@"url\(\s*#([^)\s]+)\s*\)")]
    private static partial Regex LocalUrl();
}
