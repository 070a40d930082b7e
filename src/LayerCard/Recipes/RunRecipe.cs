using LayerCard.Card;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Models;
using LayerCard.Placement;
using LayerCard.Training;
using static TorchSharp.torch;

namespace LayerCard.Recipes;

/// <summary>What `layercard run` does, with defaults that finish in minutes on two CPU cores. <see cref="TaskRequest.EvalData"/>, when given, is the test part.</summary>
public sealed record RunRequest : TaskRequest
{
    /// <summary>The model `run` uses when none is named.</summary>
    public const string DefaultModel = "stories260K";
    /// <summary>The data `run` uses when none is named (SST-2 stays at chance on stories260K).</summary>
    public const string DefaultData = "tinyshakespeare";

    /// <summary>Modules to adapt; null: every linear module of each layer, for any family.</summary>
    public IReadOnlyList<string>? Targets { get; init; }
    /// <summary>LoRA rank of the card and of both trained placements.</summary>
    public int Rank { get; init; } = 8;
    /// <summary>LoRA alpha.</summary>
    public double Alpha { get; init; } = 16;
    /// <summary>How the data is cut: training, validation (monitoring, card probes) and test (every reported figure).</summary>
    public DataPlan DataPlan { get; init; } = new() { MaxLength = 64, TrainLimit = 6000, ValidationLimit = 200, TestLimit = 200, TestFraction = DataPlan.DefaultHoldOut };
    /// <summary>The objective the placement is planned for.</summary>
    public PlanRequest Plan { get; init; } = new(PlanObjective.Cost, TargetGain: 0.9);
    /// <summary>Training steps of both placements (and the full fine-tune the card is weighed against).</summary>
    public int Steps { get; init; } = 150;
    /// <summary>Batch size of both placements and the card.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Learning rate of both placements and the card's probes.</summary>
    public double LearningRate { get; init; } = 3e-3;
    /// <summary>No probe runs even when <see cref="ProbeSteps"/> is set.</summary>
    public bool NoProbes { get; init; }
    /// <summary>Steps of the card's optional single-layer probe runs; null (the default): none, the card plans from its signals.</summary>
    public int? ProbeSteps { get; init; }
    /// <summary>The card line-searches each layer's direction (<see cref="CardSettings.LineSearch"/>).</summary>
    public bool LineSearch { get; init; }
    /// <summary>Training examples the card's signal pass reads.</summary>
    public int? CalibrationExamples { get; init; }
    /// <summary>Seed of the calibration sample, the data order and the adapters' initialisation.</summary>
    public long Seed { get; init; }
    /// <summary>Where card.json, plan/, both adapters and report.html go.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>The card this run builds.</summary>
    public CardSettings Card => new()
    {
        Targets = Targets, Rank = Rank, Alpha = Alpha, CalibrationExamples = CalibrationExamples, NoProbes = NoProbes, ProbeSteps = ProbeSteps, LineSearch = LineSearch,
        BatchSize = BatchSize, LearningRate = LearningRate, FullFineTuneSteps = Steps, Seed = Seed,
    };

    /// <summary>Refuses settings no run can use before anything loads, naming the field.</summary>
    public void Validate()
    {
        // Training first: the card's fine-tune steps are the run's steps, and the user set them as --steps.
        Training("unused").Validate();
        DataPlan.Validate();
        Card.Validate();
        Planner.Validate(Plan, layerCount: null);
    }

    /// <summary>The training options both placements share.</summary>
    public TrainingOptions Training(string folder) => new()
    {
        Steps = Steps, BatchSize = BatchSize, LearningRate = LearningRate, WarmupSteps = LearningRateSchedule.DefaultWarmup(Steps),
        Seed = Seed, OutputDirectory = folder, EvalEvery = Steps,
    };
}

/// <summary>One trained placement of a run (or the base model), every figure labelled by the data part it came from.</summary>
public sealed record RunRow(string Placement, IReadOnlyList<int> Layers, long TrainableParameters, EvaluationResult Test, double TestLoss,
    double? ValidationLoss, double TrainSeconds, double MeanStepSeconds, long PeakMemoryBytes);

/// <summary>What a run produced: the card, the plan, the rows and where the report went.</summary>
public sealed record RunResult(CardDocument Card, Plan Plan, IReadOnlyList<RunRow> Rows, RunRow Base, string ReportPath, string PlanCheck, RunEconomics Economics);

/// <summary>
/// The main job: load the model and the data once; card, plan, LoRA on the planned layers and on all layers with
/// the same configuration and budget on the one frozen base; evaluation of both and of the base model on the test
/// part; a comparison table and an HTML report.
/// </summary>
public static class RunRecipe
{
    /// <summary>Runs `layercard run`.</summary>
    public static RunResult Execute(RunRequest request, Device device, Action<string> log, ITrainingObserver? observer = null)
    {
        request.Validate();
        using var loaded = ModelLoader.Load(request.Model, request.Tokenizer, device);
        var tokenizer = loaded.RequireTokenizer();
        var data = RecipeData.Load(request, request.DataPlan, tokenizer, evalDataIsTest: true);
        var settings = request.Card with { Targets = LoraTargets.Resolve(request.Targets, loaded.Model, LoraTargets.AllLinear) };
        Planner.Validate(request.Plan, loaded.Config.Layers);
        // Everything the user can get wrong is refused above, before the first line of progress.
        log($"0/4 model {request.Model} loaded once ({loaded.Config.Architecture}, {loaded.Config.Layers} layers); every stage below shares it");
        foreach (var part in new[] { data.Train, data.Validation!, data.Test! }) log($"   {part.Summary}");

        Directory.CreateDirectory(request.OutputDirectory);
        log("1/4 Layer Card (calibration: training part; probes: validation part)");
        var cardClock = System.Diagnostics.Stopwatch.StartNew();
        var (card, reused) = CardRecipe.Build(loaded, request.Model, request.Data, data, settings,
            Path.Combine(Assets.CacheRoot(), "cards"), Path.Combine(request.OutputDirectory, "card.json.progress.json"), device, new Progress(log));
        var cardSeconds = reused ? card.Timing.CardSeconds : cardClock.Elapsed.TotalSeconds;
        if (reused) log($"   reusing the cached card for this model, data and settings (it took {cardSeconds:F1} s to build)");
        card.Save(Path.Combine(request.OutputDirectory, "card.json"));

        log("2/4 plan");
        // The plan is for this run's fine-tune: the card's fractions are read at its step count.
        var gainModel = new GainModel(card, request.Steps);
        var plan = Planner.Choose(gainModel, request.Plan);
        PlanOutput.Write(Path.Combine(request.OutputDirectory, "plan", "plan.json"), card, plan, Planner.Pareto(gainModel), gainModel);
        log($"   planned layers {LayerSelection.Format(plan.Layers)}: predicted {plan.PredictedGainFraction:P0} of the full-layer gain at {plan.PredictedTimeFraction:P0} of its step time");
        var noCheaperPlacement = RunEconomics.PredictsNoSaving(plan, loaded.Config.Layers);
        if (noCheaperPlacement)
            log($"   no placement cheaper than all layers was predicted to reach the target{(request.Plan.TargetGain is double t ? $" ({t:P0} of the full-layer gain)" : "")}: the card cannot save training time here");
        // What the card predicts before any training; the two measured training times are filled in after.
        var predicted = new RunEconomics(cardSeconds, 0, 0, noCheaperPlacement, RunEconomics.SavingPredictedFor(plan, card.Timing), card.Timing.FullFineTuneSeconds);
        if (predicted.CardOutweighsPredictedSaving)
            log($"   the plan is predicted to save {predicted.PredictedSavingSeconds:F1} s of training, less than the card's {cardSeconds:F1} s: card + planned is not predicted to pay for itself here");
        if (predicted.PredictedCardPlusPlannedOverAllLayers is double predictedRatio)
            log($"   predicted: card + planned training = {predictedRatio:F2}x the all-layer training ({card.Timing.FullFineTuneSeconds:F1} s at the card's timed all-layer step)");

        var metric = TaskEvaluation.DefaultMetric(data.Format);
        var baseRow = Evaluate("base model", [], 0, null, loaded, data, metric, request, device);
        if (metric != TaskMetric.Loss && baseRow.Test.DataSummary is string scored) log($"   test part, {RunReport.MetricName(baseRow.Test)}: {scored}");
        var placements = new (string Name, string Layers, string Folder)[] { ("card-guided", LayerSelection.Format(plan.Layers), "card-guided"), ("all layers", "all", "all-layers") };
        var requests = placements.Select(p => new TrainRequest
        {
            Model = request.Model, Data = request.Data, Layers = p.Layers, Targets = card.Lora.Targets, Rank = request.Rank, Alpha = request.Alpha,
            DataPlan = request.DataPlan, CommandLine = "layercard run", Training = request.Training(Path.Combine(request.OutputDirectory, p.Folder)),
        }).ToList();
        log($"3/4 LoRA on card-guided ({placements[0].Layers}) and on all layers, side by side: each run in up to {SideBySideTraining.Pieces} pieces, " +
            "alternating (A B, B A, ...), so that a machine slowing down or speeding up weighs on both alike");
        var summaries = SideBySideTraining.Train(loaded, requests, data, device,
            (piece, run, from, to) => log($"   piece {piece + 1}: {placements[run].Name}, steps {from + 1}-{to}"), observer);
        var rows = new List<RunRow>();
        for (int i = 0; i < placements.Length; i++)
        {
            log($"4/4 evaluating {placements[i].Name} on the test part");
            using var adapter = PeftAdapter.Load(requests[i].Training.OutputDirectory!, loaded.Model);
            rows.Add(Evaluate(placements[i].Name, summaries[i].Layers, summaries[i].TrainableParameters, summaries[i], loaded, data, metric, request, device));
        }
        var economics = predicted with { PlannedTrainSeconds = rows[0].TrainSeconds, AllLayersTrainSeconds = rows[1].TrainSeconds };
        var reportPath = Path.Combine(request.OutputDirectory, "report.html");
        var planCheck = PlanCheck(plan, rows, baseRow);
        RunReport.Write(reportPath, card, plan, rows, baseRow, planCheck, economics);
        return new RunResult(card, plan, rows, baseRow, reportPath, planCheck, economics);
    }

    private static RunRow Evaluate(string name, IReadOnlyList<int> layers, long parameters, RunSummary? trained, LoadedModel loaded, TaskData data,
        TaskMetric metric, RunRequest request, Device device)
    {
        var test = data.Test!;
        var loss = LossEvaluation.MeanLoss(loaded.Model, test.Tokens, EvaluationDefaults.BatchSize, device).MeanLoss;
        // Scoring uses the model's whole context: test examples may be longer than the training windows.
        var evaluation = metric == TaskMetric.Loss
            ? new EvaluationResult(TaskMetric.Loss, test.Tokens.Examples.Count, loss, Math.Exp(loss),
                Skipped: test.Tokens.Dropped, PromptsCut: test.Tokens.PromptsCut, DataSummary: test.Tokens.Summary)
            : TaskEvaluation.Run(loaded.Model, loaded.RequireTokenizer(), test.Raw, metric, Math.Max(request.DataPlan.MaxLength, loaded.Config.MaxPositions),
                EvaluationDefaults.BatchSize, device, EvaluationDefaults.MaxNewTokens, request.DataPlan.LongPrompts);
        return new RunRow(name, layers, parameters, evaluation, loss, trained?.FinalValidationLoss ?? trained?.BaseValidationLoss,
            trained?.WallSeconds ?? 0, trained?.MeanStepSeconds ?? 0, trained?.PeakMemoryBytes ?? 0);
    }

    /// <summary>The plan's predictions against what the two runs measured (gain in test loss, step time).</summary>
    private static string PlanCheck(Plan plan, IReadOnlyList<RunRow> rows, RunRow baseRow)
    {
        var (guided, all) = (rows[0], rows[1]);
        var text = $"plan check: predicted {plan.PredictedGainFraction:P0} of the full-layer gain";
        if (baseRow.TestLoss - all.TestLoss > 0)
            text += $", measured {(baseRow.TestLoss - guided.TestLoss) / (baseRow.TestLoss - all.TestLoss):P0} (test loss)";
        var measuredTime = all.MeanStepSeconds > 0 ? guided.MeanStepSeconds / all.MeanStepSeconds : double.NaN;
        text += $"; predicted {plan.PredictedTimeFraction:P0} of the full-layer step time, measured {measuredTime:P0}";
        return text;
    }

    private sealed class Progress(Action<string> log) : IProgress<string>
    {
        /// <summary>Logs a card progress line, indented under its stage.</summary>
        public void Report(string value) => log("   " + value);
    }
}

/// <summary>What the card and the planned placement cost against simply training all layers, the two trainings measured side by side in the same run (<see cref="SideBySideTraining"/>).</summary>
/// <param name="CardSeconds">Building the card (or, when it came from the cache, what building it took then).</param>
/// <param name="NoCheaperPlacement">No placement predicted cheaper than all layers reached the target (<see cref="PredictsNoSaving"/>).</param>
/// <param name="PredictedSavingSeconds">Training time the plan was predicted to save against all layers (<see cref="SavingPredictedFor"/>); null when the card has no all-layer timing.</param>
/// <param name="PredictedAllLayersTrainSeconds">The all-layer training time the card predicted (the run's steps at its measured all-layer step); null when it has none.</param>
public sealed record RunEconomics(double CardSeconds, double PlannedTrainSeconds, double AllLayersTrainSeconds, bool NoCheaperPlacement = false, double? PredictedSavingSeconds = null,
    double? PredictedAllLayersTrainSeconds = null)
{
    /// <summary>
    /// The training time the plan is predicted to save: (1 − its predicted step-time fraction) times the card's
    /// all-layer fine-tune estimate (the run's steps at the card's measured all-layer step time).
    /// </summary>
    public static double? SavingPredictedFor(Plan plan, CardTiming timing)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(timing);
        return timing.FullFineTuneSeconds is double full ? Math.Max(0, 1 - plan.PredictedTimeFraction) * full : null;
    }

    /// <summary>Whether a placement predicted cheaper was predicted to save less training time than the card took: card + planned then was not predicted to pay.</summary>
    public bool CardOutweighsPredictedSaving => !NoCheaperPlacement && PredictedSavingSeconds is double saving && saving <= CardSeconds;

    /// <summary>
    /// Whether the plan is predicted to cost a step as long as all layers': all of them, or a set whose backward still
    /// runs through the whole model (its lowest layer is the first). Such a plan saves no predicted time, so the run
    /// says so instead of presenting it as a cheaper placement.
    /// </summary>
    public static bool PredictsNoSaving(Plan plan, int layers)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return plan.Layers.Count == layers || plan.PredictedTimeFraction >= 1 - 1e-9;
    }

    /// <summary>(card + planned training) / all-layer training: below 1 the card paid for itself.</summary>
    public double CardPlusPlannedOverAllLayers => AllLayersTrainSeconds > 0 ? (CardSeconds + PlannedTrainSeconds) / AllLayersTrainSeconds : double.NaN;

    /// <summary>What the card predicted (card + planned training) / all-layer training to be before any training ran; null without its all-layer timing.</summary>
    public double? PredictedCardPlusPlannedOverAllLayers =>
        PredictedAllLayersTrainSeconds is double full && full > 0 && PredictedSavingSeconds is double saving ? (CardSeconds + full - saving) / full : null;

    /// <summary>One line for logs and reports.</summary>
    public string Summary => $"economics: card {CardSeconds:F1} s + planned training {PlannedTrainSeconds:F1} s against all-layer training {AllLayersTrainSeconds:F1} s " +
                             $"(trained side by side in alternating pieces): card + planned = {CardPlusPlannedOverAllLayers:F2}x all layers" +
                             (PredictedCardPlusPlannedOverAllLayers is double predicted ? $" (predicted before training: {predicted:F2}x)" : "") +
                             (NoCheaperPlacement ? "; no placement cheaper than all layers was predicted to reach the target, so the card could not save time here" : "") +
                             (CardOutweighsPredictedSaving ? $"; the plan was predicted to save {PredictedSavingSeconds:F1} s of training, less than the card took, so card + planned was not predicted to pay for itself" : "");
}
