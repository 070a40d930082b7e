using LayerCard.Card;
using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Models;
using LayerCard.Placement;
using LayerCard.Reports;
using LayerCard.Training;
using static TorchSharp.torch;

namespace LayerCard.Recipes;

/// <summary>What `layercard run` does, with defaults that finish in minutes on two CPU cores.</summary>
public sealed record RunRequest
{
    public string Model { get; init; } = "stories260K";
    public string Data { get; init; } = "tinyshakespeare";
    public string? EvalData { get; init; }
    public DataFormat Format { get; init; } = DataFormat.Auto;
    public IReadOnlyList<string>? Labels { get; init; }
    public IReadOnlyList<string>? Targets { get; init; } = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    public int Rank { get; init; } = 8;
    public double Alpha { get; init; } = 16;
    public int MaxLength { get; init; } = 64;
    public int? TrainLimit { get; init; } = 6000;
    public int? EvalLimit { get; init; } = 200;
    public PlanRequest Plan { get; init; } = new(PlanObjective.Cost, TargetGain: 0.9);
    public int Steps { get; init; } = 150;
    public int BatchSize { get; init; } = 16;
    public double LearningRate { get; init; } = 3e-3;
    public bool NoProbes { get; init; }
    public int CalibrationExamples { get; init; } = 64;
    public long Seed { get; init; }
    public required string OutputDirectory { get; init; }
}

public sealed record RunRow(string Placement, IReadOnlyList<int> Layers, long TrainableParameters, double? Metric, string MetricName,
    double? ValidationLoss, double TrainSeconds, double MeanStepSeconds, long PeakMemoryBytes, double? BaseValidationLoss = null);

public sealed record RunResult(CardDocument Card, Plan Plan, IReadOnlyList<RunRow> Rows, EvaluationResult BaseEvaluation, string ReportPath, string PlanCheck);

/// <summary>
/// The main job: card, plan, LoRA on the planned layers and on all layers with the same configuration and
/// budget, evaluation of both (and of the base model), and a comparison table and HTML report.
/// </summary>
public static class EndToEndRun
{
    public static RunResult Execute(RunRequest request, Device device, Action<string> log, ITrainingObserver? observer = null)
    {
        Directory.CreateDirectory(request.OutputDirectory);
        log("1/4 Layer Card");
        var (card, reused) = CardBuilder.Build(new CardRequest
        {
            Model = request.Model, Data = request.Data, Format = request.Format, Labels = request.Labels, Targets = request.Targets,
            Rank = request.Rank, Alpha = request.Alpha, MaxLength = request.MaxLength, CalibrationExamples = request.CalibrationExamples,
            NoProbes = request.NoProbes, BatchSize = request.BatchSize, LearningRate = request.LearningRate, FullFineTuneSteps = request.Steps,
            Seed = request.Seed, ProgressPath = Path.Combine(request.OutputDirectory, "card.json.progress.json"),
            CacheFolder = Path.Combine(Common.Assets.CacheRoot(), "cards"),
        }, device, new Progress(log));
        if (reused) log("   reusing the cached card for this model, data and settings");
        card.Save(Path.Combine(request.OutputDirectory, "card.json"));

        log("2/4 plan");
        var gainModel = new GainModel(card);
        var plan = Planner.Choose(gainModel, request.Plan);
        PlanOutput.Write(Path.Combine(request.OutputDirectory, "plan", "plan.json"), card, plan, Planner.Pareto(gainModel), gainModel);
        log($"   planned layers {LayerSelection.Format(plan.Layers)}: predicted {plan.PredictedGainFraction:P0} of the full-layer gain at {plan.PredictedTimeFraction:P0} of its step time");

        var rows = new List<RunRow>();
        EvaluationResult? baseEvaluation = null;
        foreach (var (name, layers) in new[] { ("card-guided", LayerSelection.Format(plan.Layers)), ("all layers", "all") })
        {
            log($"3/4 LoRA on {name} ({layers})");
            var folder = Path.Combine(request.OutputDirectory, name == "all layers" ? "all-layers" : "card-guided");
            var summary = TrainingRun.Execute(new TrainRequest
            {
                Model = request.Model, Data = request.Data, EvalData = request.EvalData, Format = request.Format, Labels = request.Labels,
                Layers = layers, Targets = card.Lora.Targets, Rank = request.Rank, Alpha = request.Alpha, MaxLength = request.MaxLength,
                Limit = request.TrainLimit, EvalLimit = Math.Min(request.EvalLimit ?? 200, 200),
                CommandLine = "layercard run",
                Training = new TrainingOptions
                {
                    Steps = request.Steps, BatchSize = request.BatchSize, LearningRate = request.LearningRate, WarmupSteps = Math.Min(10, request.Steps / 10),
                    Seed = request.Seed, OutputDirectory = folder, EvalEvery = request.Steps,
                },
            }, device, observer);
            log($"4/4 evaluating {name}");
            var (evaluation, baseResult) = Evaluate(request, folder, device, baseEvaluation is null);
            baseEvaluation ??= baseResult;
            rows.Add(new RunRow(name, summary.Layers, summary.TrainableParameters, evaluation.Score, MetricName(evaluation), summary.FinalValidationLoss,
                summary.WallSeconds, summary.MeanStepSeconds, summary.PeakMemoryBytes, summary.BaseValidationLoss));
        }
        var reportPath = Path.Combine(request.OutputDirectory, "report.html");
        var planCheck = PlanCheck(plan, rows, baseEvaluation!);
        WriteReport(reportPath, card, plan, rows, baseEvaluation!, planCheck);
        return new RunResult(card, plan, rows, baseEvaluation!, reportPath, planCheck);
    }

    private static (EvaluationResult Adapted, EvaluationResult? Base) Evaluate(RunRequest request, string adapterFolder, Device device, bool withBase)
    {
        using var loaded = ModelLoader.Load(request.Model, null, device);
        var options = new DataOptions(request.Format, request.Labels, request.MaxLength, request.Seed, 0, request.EvalLimit);
        // Without --eval-data the held-out part is the one training validated on (same fraction and seed).
        var data = request.EvalData != null
            ? DatasetLoader.Load(request.EvalData, options)
            : DatasetLoader.Load(request.Data, options with { Limit = request.TrainLimit }).Split(0.1, request.Seed).HeldOut.First(request.EvalLimit);
        var metric = TaskEvaluation.DefaultMetric(data.Format);
        // Scoring uses the model's whole context: test examples may be longer than the training windows.
        var context = metric == TaskMetric.Loss ? request.MaxLength : Math.Max(request.MaxLength, loaded.Config.MaxPositions);
        EvaluationResult? baseline = withBase ? TaskEvaluation.Run(loaded.Model, loaded.RequireTokenizer(), data, metric, context, 16, device) : null;
        using var lora = PeftAdapter.Load(adapterFolder, loaded.Model);
        return (TaskEvaluation.Run(loaded.Model, loaded.RequireTokenizer(), data, metric, context, 16, device), baseline);
    }

    public static string MetricName(EvaluationResult result) => result.Metric switch
    {
        TaskMetric.Accuracy => "accuracy",
        TaskMetric.ExactMatch => "exact match",
        TaskMetric.Bleu => "BLEU-4",
        _ => "-loss",
    };

    public static IReadOnlyList<string> TableHeaders => ["placement", "layers", "trainable params", "metric", "validation loss", "train s", "step ms", "peak MiB"];

    public static IEnumerable<IReadOnlyList<object?>> TableRows(IReadOnlyList<RunRow> rows, EvaluationResult baseline)
    {
        yield return ["base model", "-", 0, $"{MetricName(baseline)} {baseline.Score:F4}", null, null, null, null];
        foreach (var r in rows)
            yield return [r.Placement, LayerSelection.Format(r.Layers), r.TrainableParameters, $"{r.MetricName} {r.Metric:F4}", r.ValidationLoss, r.TrainSeconds, r.MeanStepSeconds * 1000, r.PeakMemoryBytes / 1048576.0];
    }

    /// <summary>The plan's predictions against what the two runs measured (gain in validation loss, step time).</summary>
    private static string PlanCheck(Plan plan, IReadOnlyList<RunRow> rows, EvaluationResult baseline)
    {
        var (guided, all) = (rows[0], rows[1]);
        var text = $"plan check: predicted {plan.PredictedGainFraction:P0} of the full-layer gain";
        if (guided.ValidationLoss is double gv && all.ValidationLoss is double av && all.BaseValidationLoss is double bl && bl - av > 0)
        {
            text += $", measured {(bl - gv) / (bl - av):P0} (validation loss)";
        }
        var measuredTime = all.MeanStepSeconds > 0 ? guided.MeanStepSeconds / all.MeanStepSeconds : double.NaN;
        text += $"; predicted {plan.PredictedTimeFraction:P0} of the full-layer step time, measured {measuredTime:P0}";
        return text;
    }

    private static void WriteReport(string path, CardDocument card, Plan plan, IReadOnlyList<RunRow> rows, EvaluationResult baseline, string planCheck)
    {
        var report = new HtmlReport($"LayerCard run: {card.Model.Reference} on {card.Dataset.Reference}");
        report.Heading("Card-guided placement against full-layer LoRA");
        report.Paragraph($"Plan ({plan.Objective}): layers {LayerSelection.Format(plan.Layers)}, predicted {plan.PredictedGainFraction:P0} of the full-layer gain at {plan.PredictedTimeFraction:P0} of its step time.");
        report.Table(TableHeaders, TableRows(rows, baseline));
        report.Paragraph(planCheck);
        if (baseline.MajorityBaseline is double majority) report.Paragraph($"Majority-class baseline: {majority:P2} (always '{baseline.MajorityLabel}').");
        foreach (var reason in plan.Reasons) report.Paragraph($"Layer {reason.Layer}: {reason.Why}");
        report.Heading("The Layer Card");
        CardReport.AddTo(report, card);
        report.Save(path);
    }

    private sealed class Progress(Action<string> log) : IProgress<string>
    {
        public void Report(string value) => log("   " + value);
    }
}
