using System.Globalization;
using LayerCard.Card;

namespace LayerCard.Reports;

/// <summary>The card as a self-contained HTML page (and PNG charts): every column per layer and the coupling heat map.</summary>
public static class CardReport
{
    /// <summary>A new report titled after the card's model and data, holding the card (see <see cref="AddTo"/>).</summary>
    public static HtmlReport Html(CardDocument card) => AddTo(new HtmlReport($"Layer Card: {card.Model.Reference} on {card.Dataset.Reference}"), card);

    /// <summary>Appends the card to <paramref name="report"/>: a one-paragraph description, the per-layer table (times in ms, memory in MiB), the charts as PNGs, and the summary lines of <see cref="CardSummary.ToMarkdown"/>.</summary>
    public static HtmlReport AddTo(HtmlReport report, CardDocument card)
    {
        report.Paragraph($"{card.Model.Architecture}, {card.Model.Layers} layers, hidden {card.Model.Hidden}, model sha256 {card.Model.ContentSha256[..Math.Min(16, card.Model.ContentSha256.Length)]}…; " +
                         $"data {card.Dataset.Reference} ({card.Dataset.Format}, {card.Dataset.TrainExamples} training examples); " +
                         $"LoRA r={card.Lora.Rank}, alpha={card.Lora.Alpha} on {string.Join(", ", card.Lora.Targets)}.");
        report.Heading("Per-layer columns");
        var headers = new[] { "layer", "resnorm", "rank-r resnorm", "grad norm", "resnorm gain", "FIM-LoRA", "predicted gain (function space)", "energy trace", "condition", "effective rank", "adapter params", "step ms", "peak MiB", "inference ms", "measured gain" };
        report.Table(headers, card.Layers.Select(r => (IReadOnlyList<object?>)new object?[]
        {
            r.Layer, r.ResNorm, r.ResNormRankR, r.GradNorm, r.ResNormGain, r.FisherTrace, r.PredictedGain, r.EnergyTrace, r.EnergyCondition, r.EnergyEffectiveRank,
            r.AdapterParameters, r.StepSeconds * 1000, r.PeakMemoryIncrementBytes / 1048576.0, r.InferenceOverheadSeconds * 1000, r.MeasuredGain,
        }));
        foreach (var (caption, png) in ChartsOf(card)) report.Chart(caption, png);
        report.Heading("Summary");
        foreach (var line in CardSummary.ToMarkdown(card).Split('\n').Skip(3).Where(l => l.Length > 0 && !l.StartsWith('|')))
            report.Paragraph(line);
        return report;
    }

    /// <summary>Writes card PNGs next to <paramref name="basePath"/> (basePath-signal.png, ...) and returns their paths.</summary>
    public static IReadOnlyList<string> SavePngs(CardDocument card, string basePath)
    {
        var paths = new List<string>();
        var index = 0;
        foreach (var (caption, png) in ChartsOf(card))
        {
            var path = $"{basePath}-{index++}-{Slug(caption)}.png";
            Charts.SavePng(path, png);
            paths.Add(path);
        }
        return paths;
    }

    private static IEnumerable<(string Caption, byte[] Png)> ChartsOf(CardDocument card)
    {
        var layers = card.Layers.Select(r => r.Layer.ToString(CultureInfo.InvariantCulture)).ToList();
        BarSeries Column(string name, Func<CardLayerRow, double?> value) => new(name, card.Layers.Select(r => value(r) ?? double.NaN).ToList());
        yield return ("Residual signal per layer", Charts.BarChart("Residual signal", "layer", "value", layers,
            [Column("resnorm", r => r.ResNorm), Column("rank-r resnorm", r => r.ResNormRankR), Column("gradient norm", r => r.GradNorm)]));
        yield return ("Predicted and measured gain per layer", Charts.BarChart("Gain (validation-loss reduction)", "layer", "loss reduction", layers,
            [Column("predicted (function space)", r => r.PredictedGain), Column("resnorm gain", r => r.ResNormGain), Column("measured (probe run)", r => r.MeasuredGain)]));
        yield return ("Activation energy per layer", Charts.BarChart("Activation energy", "layer", "value", layers,
            [Column("trace", r => r.EnergyTrace), Column("effective rank", r => r.EnergyEffectiveRank)]));
        yield return ("Condition number per layer", Charts.BarChart("Input covariance conditioning", "layer", "condition number", layers,
            [Column("condition", r => r.EnergyCondition)]));
        yield return ("Training cost per layer (adapting that layer alone)", Charts.BarChart("Cost of adapting one layer", "layer", "step time (ms)", layers,
            [Column("step ms", r => r.StepSeconds * 1000)]));
        yield return ("Peak memory per layer", Charts.BarChart("Peak memory above resident", "layer", "MiB", layers,
            [Column("peak MiB", r => r.PeakMemoryIncrementBytes / 1048576.0)]));
        yield return ("Inference overhead per unmerged adapted layer", Charts.BarChart("Inference overhead", "layer", "ms per batch", layers,
            [Column("inference ms", r => r.InferenceOverheadSeconds * 1000)]));
        yield return ("Adapter parameters per layer", Charts.BarChart("Adapter parameters", "layer", "parameters", layers,
            [Column("parameters", r => r.AdapterParameters)]));
        yield return ("Coupling between layers", Charts.Heatmap("Coupling ρ", layers, CardDocument.Square(card.Coupling), 0, 1));
    }

    private static string Slug(string caption) =>
        new string(caption.ToLowerInvariant().Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray()).Trim('-').Replace("--", "-");
}
