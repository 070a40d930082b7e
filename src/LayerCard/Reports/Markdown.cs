using System.Text;

namespace LayerCard.Reports;

/// <summary>GitHub-flavoured Markdown helpers for the text parts of a Layer Card.</summary>
public static class Markdown
{
    /// <summary>
    /// A pipe table whose columns are padded to a common width, so it also reads well as plain text.
    /// Numeric columns are right-aligned (<c>---:</c>). Cells may be strings or numbers; numbers are formatted
    /// with the invariant culture.
    /// </summary>
    public static string Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<object?>> rows)
    {
        var checkedRows = TableCells.CheckShape(headers, rows);
        var numeric = TableCells.NumericColumns(headers.Count, checkedRows);
        var header = headers.Select(Escape).ToArray();
        var cells = checkedRows.Select(r => r.Select(v => Escape(TableCells.Format(v))).ToArray()).ToList();
        var widths = new int[headers.Count];
        for (var c = 0; c < headers.Count; c++)
        {
            widths[c] = Math.Max(3, header[c].Length);
            foreach (var row in cells) widths[c] = Math.Max(widths[c], row[c].Length);
        }

        var sb = new StringBuilder();
        AppendRow(sb, header, widths, numeric);
        sb.Append('|');
        for (var c = 0; c < headers.Count; c++)
        {
            sb.Append(' ').Append(numeric[c] ? new string('-', widths[c] - 1) + ":" : new string('-', widths[c])).Append(" |");
        }
        sb.Append('\n');
        foreach (var row in cells) AppendRow(sb, row, widths, numeric);
        return sb.ToString();
    }

    private static void AppendRow(StringBuilder sb, string[] cells, int[] widths, bool[] numeric)
    {
        sb.Append('|');
        for (var c = 0; c < cells.Length; c++)
        {
            sb.Append(' ').Append(numeric[c] ? cells[c].PadLeft(widths[c]) : cells[c].PadRight(widths[c])).Append(" |");
        }
        sb.Append('\n');
    }

    /// <summary>A pipe or a line break inside a cell would end the cell or the row.</summary>
    private static string Escape(string text) =>
        text.Replace("\\", "\\\\").Replace("|", "\\|").Replace("\r\n", " ").Replace('\n', ' ').Replace('\r', ' ');
}
