using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LayerCard.Common;

namespace LayerCard.Bench.Benchmarks;

/// <summary>One benchmark's figures: rows of named values, printed as an aligned table and saved as JSON.</summary>
public sealed class BenchTable(string title, params string[] columns)
{
    private readonly List<object?[]> rows = [];

    /// <summary>The table's heading line.</summary>
    public string Title { get; } = title;
    /// <summary>Column names; the first column is the row label.</summary>
    public IReadOnlyList<string> Columns { get; } = columns;
    /// <summary>The rows added so far, one value per column.</summary>
    public IReadOnlyList<object?[]> Rows => rows;
    /// <summary>How the figures were obtained (formulas, machine load); printed under the table.</summary>
    public List<string> Notes { get; } = [];

    /// <summary>Adds a row; the number of values must match the columns.</summary>
    public void Add(params object?[] values)
    {
        if (values.Length != Columns.Count) throw new ArgumentException($"expected {Columns.Count} values, got {values.Length}");
        rows.Add(values);
    }

    /// <summary>The value in <paramref name="row"/> under <paramref name="column"/>, as a double.</summary>
    public double Number(int row, string column) => Convert.ToDouble(rows[row][IndexOf(column)], CultureInfo.InvariantCulture);

    private int IndexOf(string column)
    {
        for (int i = 0; i < Columns.Count; i++) if (Columns[i] == column) return i;
        throw new ArgumentException($"no column '{column}'");
    }

    /// <summary>Prints the title, the aligned columns (numbers to three decimals below 10, one below 100, none above) and the notes.</summary>
    public void Print(TextWriter output)
    {
        var cells = rows.Select(r => r.Select(Format).ToArray()).ToList();
        var widths = Columns.Select((c, i) => Math.Max(c.Length, cells.Count == 0 ? 0 : cells.Max(r => r[i].Length))).ToArray();
        output.WriteLine(Title);
        output.WriteLine("  " + string.Join("  ", Columns.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))));
        foreach (var r in cells)
            output.WriteLine("  " + string.Join("  ", r.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))));
        foreach (var note in Notes) output.WriteLine("  note: " + note);
        output.WriteLine();
    }

    private static string Format(object? value) => value switch
    {
        null => "-",
        double d when double.IsNaN(d) => "-",
        double d => Math.Abs(d) >= 100 ? d.ToString("F0", CultureInfo.InvariantCulture)
            : Math.Abs(d) >= 10 ? d.ToString("F1", CultureInfo.InvariantCulture) : d.ToString("F3", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>The table as JSON: title, rows as objects keyed by column (NaN and infinities as null), and notes.</summary>
    public JsonObject ToJson()
    {
        var list = new JsonArray();
        foreach (var r in rows)
        {
            var item = new JsonObject();
            for (int i = 0; i < Columns.Count; i++) item[Columns[i]] = r[i] switch
            {
                null => null,
                double d when double.IsNaN(d) || double.IsInfinity(d) => null,
                double d => JsonValue.Create(d),
                long l => JsonValue.Create(l),
                int n => JsonValue.Create(n),
                var v => JsonValue.Create(v.ToString()),
            };
            list.Add(item);
        }
        return new JsonObject { ["title"] = Title, ["rows"] = list, ["notes"] = new JsonArray(Notes.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()) };
    }

    /// <summary>Saves the tables atomically, so an interrupted run never leaves a truncated results file.</summary>
    public static void Save(string path, string benchmark, IEnumerable<BenchTable> tables)
    {
        var root = new JsonObject
        {
            ["benchmark"] = benchmark,
            ["utc"] = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            ["machine"] = Machine.Describe(),
            ["tables"] = new JsonArray(tables.Select(t => (JsonNode?)t.ToJson()).ToArray()),
        };
        AtomicFile.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}

/// <summary>What else ran on the machine: benchmark figures mean little without the load they were taken under.</summary>
public static class Machine
{
    /// <summary>The 1-minute load average, or NaN where /proc/loadavg is missing.</summary>
    public static double LoadAverage()
    {
        try
        {
            var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.Parse(first, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return double.NaN;
        }
    }

    /// <summary>The core count, the 1-minute load average and libtorch's thread count, in one line.</summary>
    public static string Describe() =>
        $"{Environment.ProcessorCount} cores, load average {LoadAverage().ToString("F2", CultureInfo.InvariantCulture)}, " +
        $"torch threads {TorchSharp.torch.get_num_threads()}";
}
