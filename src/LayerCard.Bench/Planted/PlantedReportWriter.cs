using System.Globalization;
using System.Text;
using System.Text.Json;
using LayerCard.Common;

namespace LayerCard.Bench.Planted;

/// <summary>The benchmark's recovery table (text) and its full record (JSON).</summary>
public static class PlantedReportWriter
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>
    /// One row per (model, |P|): every column's recovery count over the seeds with, in brackets, the mean rank of the
    /// planted layers (1 is best, (|P|+1)/2 is perfect). "chance" is a random ranking's recovery probability, 1 / C(L, |P|).
    /// </summary>
    public static string Table(PlantedReport report)
    {
        var header = new List<string> { "model", "L", "|P|", "flips" };
        header.AddRange(PlantedColumns.All);
        header.Add("chance");
        var rows = new List<List<string>> { header };
        foreach (var g in report.Groups)
        {
            var row = new List<string> { g.Model, g.Layers.ToString(Invariant), g.Size.ToString(Invariant), g.MeanTeacherFlips.ToString("P0", Invariant) };
            row.AddRange(g.Columns.Select(c => $"{c.Recovered}/{c.Cases} ({c.MeanPlantedRank.ToString("0.0", Invariant)})"));
            row.Add(g.ChanceRecovery.ToString("P1", Invariant));
            rows.Add(row);
        }
        var widths = Enumerable.Range(0, header.Count).Select(i => rows.Max(r => r[i].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in rows)
            text.AppendLine(string.Join("  ", row.Select((cell, i) => i < 3 ? cell.PadRight(widths[i]) : cell.PadLeft(widths[i]))).TrimEnd());
        var o = report.Options;
        text.AppendLine($"recovered/cases (mean rank of the planted layers, 1 = top); targets {string.Join(",", o.Targets)}, " +
            $"plant rank {o.PlantRank} in {string.Join(",", o.PlantTargets ?? o.Targets)} flipping {o.PlantFlips:P0} of greedy predictions per layer, {o.Labels} teacher labels; " +
            $"probe: LoRA r={o.ProbeRank} alpha={o.ProbeAlpha.ToString(Invariant)}, {o.ProbeSteps} steps at lr {o.ProbeLearningRate.ToString(Invariant)}, batch {o.BatchSize}; " +
            $"{o.TrainExamples} train (first {o.CalibrationExamples} for the signal pass) + {o.ValidationExamples} validation sequences of {o.Length} tokens; {report.WallSeconds:F0} s");
        return text.ToString();
    }

    /// <summary>Writes the whole report as indented snake_case JSON, atomically.</summary>
    public static void WriteJson(PlantedReport report, string path) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(report, new JsonSerializerOptions
        {
            WriteIndented = true,
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        }));
}
