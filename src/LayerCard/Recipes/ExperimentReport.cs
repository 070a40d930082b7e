using System.Globalization;
using System.Text;
using System.Text.Json;
using LayerCard.Common;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Reports;

namespace LayerCard.Recipes;

/// <summary>Writes a study's results: results.json, results.md (tables per task) and PNG plots.</summary>
public static class ExperimentReport
{
    /// <summary>Writes results.json, results.md and the plots into <paramref name="folder"/>; returns the path of results.md.</summary>
    public static string Write(ExperimentResults results, string folder)
    {
        Directory.CreateDirectory(folder);
        AtomicFile.WriteAllText(Path.Combine(folder, "results.json"), JsonSerializer.Serialize(new
        {
            results.Command, results.Seconds, results.Config, results.Baselines, results.Methods, results.Subsets, results.Predictors,
            Cards = results.Cards.Select(c => new { c.CacheKey, c.Dataset.Reference, c.Layers, c.Coupling, c.FunctionSpace, c.CostModel, c.Predictiveness, c.Timing }),
        }, ExperimentConfig.Json));
        var md = new StringBuilder();
        md.AppendLine($"# {results.Config.Name}: {results.Config.Model}");
        md.AppendLine();
        md.AppendLine($"Produced by `{results.Command}` in {results.Seconds / 60:F1} min. Every placement: LoRA r={results.Config.Rank}, alpha={results.Config.Alpha}, " +
                      $"{results.Config.Steps} steps, batch {results.Config.BatchSize}, lr {results.Config.LearningRate}, the same data order per seed; K = {results.Config.K}.");
        md.AppendLine("Gain is the test-loss reduction over the base model on the test part (which the cards never saw); regret is the best same-size subset's value minus the method's (0 is best; exact, from training every subset).");
        foreach (var task in results.Baselines)
        {
            md.AppendLine();
            md.AppendLine($"## {task.Task}");
            md.AppendLine();
            md.AppendLine($"Base model on the test part: loss {F(task.BaseTestLoss)}, {task.MetricName} {F(task.BaseMetric)}" + (task.MajorityBaseline is double m ? $", majority class {F(m)}." : "."));
            md.AppendLine();
            var rows = ExperimentRunner.Methods.Select(method =>
            {
                var runs = results.Methods.Where(r => r.Task == task.Task && r.Method == method).ToList();
                return (IReadOnlyList<object?>)new object?[]
                {
                    method, string.Join(" / ", runs.Select(r => LayerSelection.Format(r.Layers))), MeanSd(runs.Select(r => r.Metric)), MeanSd(runs.Select(r => r.Gain)),
                    MeanSd(runs.Select(r => r.RegretGain ?? double.NaN)), MeanSd(runs.Select(r => r.RegretMetric ?? double.NaN)),
                    MeanSd(runs.Select(r => r.MeasuredTimeFraction)), MeanSd(runs.Select(r => r.StepSeconds * 1000)), MeanSd(runs.Select(r => r.PeakMemoryIncrementBytes / 1048576.0)),
                    Predictions(runs),
                };
            });
            md.AppendLine(Markdown.Table(["method", "layers (per seed)", task.MetricName, "gain", "regret (gain)", $"regret ({task.MetricName})", "time vs all", "step ms", "peak MiB", "predicted vs measured gain fraction"], rows));
            var scored = results.Predictors.Where(p => p.Task == task.Task).GroupBy(p => p.Score.Predictor).ToList();
            if (scored.Count > 0)
            {
                md.AppendLine();
                md.AppendLine("Each predictor scored against the trained subsets it never saw (mean ± sd over seeds): Spearman with the single-layer gains, regret of the pair it predicts best, " +
                              "mean absolute error of its predicted fraction of the all-layer gain over every trained subset, and its cost over one all-layer training run.");
                md.AppendLine();
                md.AppendLine(Markdown.Table(["predictor", "trains LoRA itself", "Spearman with single-layer gains", "regret of its best pair", "gain-fraction MAE", "cost / all-layer run"],
                    scored.Select(g => (IReadOnlyList<object?>)new object?[]
                    {
                        g.Key, g.First().Score.TrainsInside ? "yes" : "no", MeanSd(g.Select(p => p.Score.Spearman)),
                        MeanSd(g.Select(p => p.Score.PairRegret ?? double.NaN)), MeanSd(g.Select(p => p.Score.GainFractionError ?? double.NaN)), MeanSd(g.Select(p => p.Score.CostOverAllLayerRun)),
                    })));
            }
            var png = Path.Combine(folder, $"{Slug(task.Task)}-regret.png");
            Charts.SavePng(png, Charts.BarChart($"{task.Task}: regret against the best subset of the same size", "method", "regret (validation-loss gain)",
                ExperimentRunner.Methods.ToList(), [new BarSeries("mean regret", ExperimentRunner.Methods.Select(m => Mean(results.Methods.Where(r => r.Task == task.Task && r.Method == m).Select(r => r.RegretGain ?? double.NaN))).ToList())]));
            md.AppendLine();
            md.AppendLine($"![regret]({Path.GetFileName(png)})");
            var predicted = results.Methods.Where(r => r.Task == task.Task && r.PredictedGainFraction.HasValue).ToList();
            if (predicted.Count > 0)
            {
                var scatter = Path.Combine(folder, $"{Slug(task.Task)}-predicted-vs-measured.png");
                Charts.SavePng(scatter, Charts.ScatterChart($"{task.Task}: card's predicted vs measured gain fraction", "predicted fraction of full-layer gain", "measured fraction",
                    [new ScatterSeries("placements", predicted.Select(r => r.PredictedGainFraction!.Value).ToList(), predicted.Select(r => r.MeasuredGainFraction).ToList(), predicted.Select(r => $"{r.Method} {LayerSelection.Format(r.Layers)}").ToList())], diagonal: true));
                md.AppendLine($"![predicted vs measured]({Path.GetFileName(scatter)})");
            }
            ExperimentHeadline.Append(md, results, task.Task, folder);
        }
        var path = Path.Combine(folder, "results.md");
        AtomicFile.WriteAllText(path, md.ToString());
        return path;
    }

    private static string Predictions(IReadOnlyList<MethodResult> runs)
    {
        var withPrediction = runs.Where(r => r.PredictedGainFraction.HasValue).ToList();
        if (withPrediction.Count == 0) return "-";
        var error = withPrediction.Average(r => Math.Abs(r.PredictedGainFraction!.Value - r.MeasuredGainFraction));
        return $"{F(withPrediction.Average(r => r.PredictedGainFraction!.Value))} vs {F(withPrediction.Average(r => r.MeasuredGainFraction))} (mean abs error {F(error)})";
    }

    private static double Mean(IEnumerable<double> values)
    {
        var list = values.Where(v => !double.IsNaN(v)).ToList();
        return list.Count == 0 ? double.NaN : list.Average();
    }

    private static string MeanSd(IEnumerable<double> values)
    {
        var list = values.Where(v => !double.IsNaN(v)).ToList();
        if (list.Count == 0) return "-";
        var mean = list.Average();
        var sd = list.Count > 1 ? Math.Sqrt(list.Sum(v => (v - mean) * (v - mean)) / (list.Count - 1)) : 0;
        return $"{F(mean)} ± {F(sd)}";
    }

    private static string F(double v) => double.IsNaN(v) ? "n/a" : v.ToString(Math.Abs(v) >= 100 ? "0.0" : "0.000", CultureInfo.InvariantCulture);

    private static string Slug(string text) => new(text.ToLowerInvariant().Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());
}
