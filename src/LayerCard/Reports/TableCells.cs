using System.Globalization;

namespace LayerCard.Reports;

/// <summary>
/// Cell formatting shared by the HTML and Markdown tables, so a number reads the same in both and is aligned the
/// same way. Numbers always use the invariant culture: reports are compared across machines.
/// </summary>
internal static class TableCells
{
    /// <summary>A cell's text: whole doubles in full, other doubles to five significant digits, other values in the invariant culture; null is blank.</summary>
    public static string Format(object? value) => value switch
    {
        null => "",
        string s => s,
        double d => FormatDouble(d),
        float f => FormatDouble(f),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>Numeric types, and strings that read as a number (optionally signed, with a trailing %).</summary>
    public static bool IsNumeric(object? value)
    {
        switch (value)
        {
            case null: return false;
            case double or float or decimal or int or long or short or byte or uint or ulong or ushort or sbyte: return true;
            case string s:
                var t = s.Trim();
                if (t.EndsWith('%')) t = t[..^1];
                return t.Length > 0 && double.TryParse(t, NumberStyles.Float | NumberStyles.AllowThousands,
                    CultureInfo.InvariantCulture, out _);
            default: return false;
        }
    }

    /// <summary>A column is numeric when it has at least one number and nothing but numbers and blanks.</summary>
    public static bool[] NumericColumns(int columns, IReadOnlyList<IReadOnlyList<object?>> rows)
    {
        var result = new bool[columns];
        for (var c = 0; c < columns; c++)
        {
            var any = false;
            var all = true;
            foreach (var row in rows)
            {
                var v = row[c];
                if (v is null || v is string { Length: 0 }) continue;
                if (IsNumeric(v)) any = true;
                else all = false;
            }
            result[c] = any && all;
        }
        return result;
    }

    /// <summary>Materialises the rows and checks every row has one cell per header.</summary>
    public static IReadOnlyList<IReadOnlyList<object?>> CheckShape(
        IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<object?>> rows)
    {
        var list = rows.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i].Count != headers.Count)
                throw new ArgumentException($"Table row {i} has {list[i].Count} cells for {headers.Count} headers.", nameof(rows));
        }
        return list;
    }

    private static string FormatDouble(double d)
    {
        // Whole numbers (counts, parameter totals) print in full; measurements get five significant digits.
        if (double.IsFinite(d) && d == Math.Round(d) && Math.Abs(d) < 1e15)
            return d.ToString("0", CultureInfo.InvariantCulture);
        return d.ToString("G5", CultureInfo.InvariantCulture);
    }
}
