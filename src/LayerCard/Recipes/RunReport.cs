using LayerCard.Card;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Placement;
using LayerCard.Reports;

namespace LayerCard.Recipes;

/// <summary>The run's comparison table (for the console) and report.html; every column names the data part and the measure.</summary>
public static class RunReport
{
    /// <summary>The task metric's name as the table shows it.</summary>
    public static string MetricName(EvaluationResult result) => result.Metric switch
    {
        TaskMetric.Accuracy => "accuracy",
        TaskMetric.ExactMatch => "exact match",
        TaskMetric.Bleu => "BLEU-4",
        _ => "-loss",
    };

    /// <summary>Column headers: which part and which measure each figure is.</summary>
    public static IReadOnlyList<string> TableHeaders(RunRow baseRow) =>
        ["placement", "layers", "trainable params", $"test {MetricName(baseRow.Test)}", "test loss", "validation loss (end of training)", "train s", "step ms", "peak MiB"];

    /// <summary>The base model's row, then one per trained placement.</summary>
    public static IEnumerable<IReadOnlyList<object?>> TableRows(IReadOnlyList<RunRow> rows, RunRow baseRow)
    {
        yield return ["base model", "-", 0, baseRow.Test.Score, baseRow.TestLoss, null, null, null, null];
        foreach (var r in rows)
            yield return [r.Placement, LayerSelection.Format(r.Layers), r.TrainableParameters, r.Test.Score, r.TestLoss, r.ValidationLoss, r.TrainSeconds, r.MeanStepSeconds * 1000, r.PeakMemoryBytes / 1048576.0];
    }

    /// <summary>Writes report.html: the comparison, the plan's check, the economics and the card.</summary>
    public static void Write(string path, CardDocument card, Plan plan, IReadOnlyList<RunRow> rows, RunRow baseRow, string planCheck, RunEconomics economics)
    {
        var report = new HtmlReport($"LayerCard run: {card.Model.Reference} on {card.Dataset.Reference}");
        report.Heading("Card-guided placement against full-layer LoRA");
        report.Paragraph($"Plan ({plan.Objective}): layers {LayerSelection.Format(plan.Layers)}, predicted {plan.PredictedGainFraction:P0} of the full-layer gain at {plan.PredictedTimeFraction:P0} of its step time.");
        report.Paragraph($"Test figures come from the test part ({baseRow.Test.Examples} examples), which neither the card nor training saw; validation loss is what training monitored.");
        report.Table(TableHeaders(baseRow), TableRows(rows, baseRow));
        report.Paragraph(planCheck);
        report.Paragraph(economics.Summary);
        if (baseRow.Test.MajorityBaseline is double majority) report.Paragraph($"Majority-class baseline: {majority:P2} (always '{baseRow.Test.MajorityLabel}').");
        foreach (var reason in plan.Reasons) report.Paragraph($"Layer {reason.Layer}: {reason.Why}");
        report.Heading("The Layer Card");
        CardReport.AddTo(report, card);
        report.Save(path);
    }
}
