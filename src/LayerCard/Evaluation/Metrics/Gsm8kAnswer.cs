using System.Text.RegularExpressions;

namespace LayerCard.Evaluation;

/// <summary>
/// Final-answer extraction for GSM8K. References end in "#### 72"; models trained on that format often emit
/// it too, and otherwise the last number they write is their answer.
/// </summary>
public static partial class Gsm8kAnswer
{
    /// <summary>
    /// The normalised number after the first "####" that is followed by one, else the last number in the text,
    /// else null. "$", thousands commas and a trailing full stop are not part of the number.
    /// </summary>
    public static string? Extract(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var marked = AfterMarker().Match(text);
        if (marked.Success) return Normalize(marked.Groups["num"].Value);

        Match? last = null;
        foreach (Match m in Number().Matches(text)) last = m;
        return last is null ? null : Normalize(last.Groups["num"].Value);
    }

    /// <summary>True when both texts yield an answer and the normalised answers are equal.</summary>
    public static bool Matches(string predicted, string reference)
    {
        var p = Extract(predicted);
        var r = Extract(reference);
        return p is not null && r is not null && string.Equals(p, r, StringComparison.Ordinal);
    }

    /// <summary>Canonical decimal text: no commas, no leading zeros, no trailing fractional zeros, no "-0".</summary>
    internal static string Normalize(string number)
    {
        var s = number.Replace(",", "", StringComparison.Ordinal).Replace("$", "", StringComparison.Ordinal);
        var negative = s.StartsWith('-');
        if (negative) s = s[1..];
        var dot = s.IndexOf('.');
        var whole = (dot < 0 ? s : s[..dot]).TrimStart('0');
        var fraction = dot < 0 ? "" : s[(dot + 1)..].TrimEnd('0');
        if (whole.Length == 0) whole = "0";
        var result = fraction.Length == 0 ? whole : whole + "." + fraction;
        return negative && result != "0" ? "-" + result : result;
    }

    // Thousands groups must be exactly three digits, so a list like "1,2,3" is three numbers rather than
    // "123". A minus sign counts only when it cannot be a subtraction ("5-3" ends in 3, not -3). ASCII digits
    // only: .NET's \d would also accept other scripts' digits, which the normaliser cannot canonicalise.
    private const string NumberPattern =
        @"(?<num>(?<![\w.])-?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|(?<![\w.])-?\.[0-9]+)";

    [GeneratedRegex(@"####\s*\$?\s*" + NumberPattern, RegexOptions.CultureInvariant)]
    private static partial Regex AfterMarker();

    [GeneratedRegex(NumberPattern, RegexOptions.CultureInvariant)]
    private static partial Regex Number();
}
