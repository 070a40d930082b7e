using System.Text.RegularExpressions;

namespace LayerCard.Evaluation;

/// <summary>
/// The tokenisation the E2E NLG challenge's scripts apply before BLEU: the "NormalizeText" step of NIST's
/// mteval-v13a.pl (which E2E runs case-insensitively), reproduced by E2E's pymteval.py. Scores are only
/// comparable with published E2E numbers if tokens are split exactly this way, so the rules are kept
/// literal rather than "improved".
/// </summary>
/// <remarks>
/// Exact steps, in order, on one segment:
/// <list type="number">
/// <item>Remove "&lt;skipped&gt;"; join end-of-line hyphenation ("-\n" → ""); newlines → spaces;
///   unescape &amp;quot; &amp;amp; &amp;lt; &amp;gt;.</item>
/// <item>Lowercase (invariant culture; pymteval lowercases every token, mteval without -c does the same for ASCII).</item>
/// <item>Put spaces around every ASCII punctuation/symbol character except apostrophe, hyphen, period and comma:
///   <c>{ | } ~ [ \ ] ^ _ ` ! " # $ % &amp; ( ) * + : ; &lt; = &gt; ? @ /</c>.
///   Keeping the apostrophe means "don't" stays one token; keeping the hyphen keeps "family-friendly".</item>
/// <item>Split a period or comma off unless it sits between digits: first when not preceded by a digit,
///   then when not followed by a digit. So "1,000.50" stays whole, while "5." at a sentence end becomes "5 .".</item>
/// <item>Split a hyphen that follows a digit, so "£20-25" becomes "£20 - 25".</item>
/// <item>Collapse whitespace, trim, split on single spaces.</item>
/// </list>
/// This is mteval's default (non-"international") tokenisation, which is what E2E actually uses: the
/// international variant splits on Unicode punctuation classes and is not what produced the published scores.
/// </remarks>
public static partial class MtevalTokenizer
{
    /// <summary>Splits one segment into tokens by the steps above; empty text gives no tokens.</summary>
    public static string[] Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Replace("<skipped>", "", StringComparison.Ordinal)
            .Replace("-\n", "", StringComparison.Ordinal)
            .Replace("\n", " ", StringComparison.Ordinal)
            .Replace("&quot;", "\"", StringComparison.Ordinal)
            .Replace("&amp;", "&", StringComparison.Ordinal)
            .Replace("&lt;", "<", StringComparison.Ordinal)
            .Replace("&gt;", ">", StringComparison.Ordinal);
        s = " " + s.ToLowerInvariant() + " ";
        s = Punctuation().Replace(s, " $1 ");
        s = PeriodCommaAfterNonDigit().Replace(s, "$1 $2 ");
        s = PeriodCommaBeforeNonDigit().Replace(s, " $1 $2");
        s = DashAfterDigit().Replace(s, "$1 $2 ");
        s = Whitespace().Replace(s, " ").Trim();
        return s.Length == 0 ? [] : s.Split(' ');
    }

    // Character ranges copied from mteval-v13a: {-~, [-`, space-&, (-+, :-@, and '/'.
    [GeneratedRegex(@"([\{-\~\[-\` -\&\(-\+\:-\@\/])", RegexOptions.CultureInvariant)]
    private static partial Regex Punctuation();

    [GeneratedRegex(@"([^0-9])([\.,])", RegexOptions.CultureInvariant)]
    private static partial Regex PeriodCommaAfterNonDigit();

    [GeneratedRegex(@"([\.,])([^0-9])", RegexOptions.CultureInvariant)]
    private static partial Regex PeriodCommaBeforeNonDigit();

    [GeneratedRegex(@"([0-9])(-)", RegexOptions.CultureInvariant)]
    private static partial Regex DashAfterDigit();

    [GeneratedRegex(@"\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Whitespace();
}
