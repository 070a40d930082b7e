using System.Diagnostics;
using LayerCard.Card;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Models;
using LayerCard.Placement;
using LayerCard.Tokenizers;
using LayerCard.Training;
using static TorchSharp.torch;

namespace LayerCard.Recipes;

/// <summary>One trained placement: what it cost and what it achieved.</summary>
public sealed record SubsetResult(string Task, long Seed, IReadOnlyList<int> Layers, double ValidationLoss, double Gain, double Metric,
    double StepSeconds, long PeakMemoryIncrementBytes, long TrainableParameters, double TrainSeconds);

/// <summary>A placement method's choice on one task and seed, with the card's predictions for it.</summary>
public sealed record MethodResult(string Task, long Seed, string Method, IReadOnlyList<int> Layers, double Gain, double Metric,
    double StepSeconds, long PeakMemoryIncrementBytes, double? PredictedGainFraction, double? PredictedTimeFraction,
    double MeasuredGainFraction, double MeasuredTimeFraction, double? RegretGain, double? RegretMetric);

public sealed record TaskBaseline(string Task, string MetricName, double BaseValidationLoss, double BaseMetric, double? MajorityBaseline);

public sealed record ExperimentResults(ExperimentConfig Config, string Command, IReadOnlyList<TaskBaseline> Baselines,
    IReadOnlyList<SubsetResult> Subsets, IReadOnlyList<MethodResult> Methods, IReadOnlyList<CardDocument> Cards, double Seconds);

/// <summary>
/// The study: for each task and seed, a card and its plans, the baseline placements, and (exhaustively on
/// small models) every non-empty subset of layers, each trained with the same LoRA configuration, steps and
/// data order, so that methods differ only in the layers they pick.
/// </summary>
public static class ExperimentRunner
{
    public static readonly IReadOnlyList<string> Methods = ["card-guided", "card-cost", "resnorm-top", "random", "even", "top", "bottom", "all"];

    /// <param name="onTaskDone">Sees the results so far after each task, so a long study leaves its finished tasks behind.</param>
    public static ExperimentResults Run(ExperimentConfig config, string command, Device device, Action<string> log, Action<ExperimentResults>? onTaskDone = null)
    {
        var clock = Stopwatch.StartNew();
        var subsets = new List<SubsetResult>();
        var methods = new List<MethodResult>();
        var baselines = new List<TaskBaseline>();
        var cards = new List<CardDocument>();
        foreach (var task in config.Tasks)
        {
            using var loaded = ModelLoader.Load(config.Model, null, device);
            var layerCount = loaded.Config.Layers;
            if (config.K > layerCount) throw new BadInputException($"k {config.K}: the model has {layerCount} layers");
            var targets = config.Targets ?? LoraConfig.DefaultTargets(loaded.Config.Family);
            var tokenizer = loaded.RequireTokenizer();
            var (trainSet, validationSet, metricData) = PrepareData(task, tokenizer, config.Seeds[0]);
            var metric = TaskEvaluation.DefaultMetric(metricData.Format);
            var baseLoss = LossEvaluation.MeanLoss(loaded.Model, validationSet, 16, device).MeanLoss;
            var context = Math.Max(task.MaxLength, loaded.Config.MaxPositions);
            var baseEval = TaskEvaluation.Run(loaded.Model, tokenizer, metricData, metric, context, 16, device, 40);
            baselines.Add(new TaskBaseline(task.Name, EndToEndRun.MetricName(baseEval), baseLoss, baseEval.Score, baseEval.MajorityBaseline));
            log($"[{task.Name}] base: validation loss {baseLoss:F4}, {EndToEndRun.MetricName(baseEval)} {baseEval.Score:F4}");

            foreach (var seed in config.Seeds)
            {
                var (card, _) = CardBuilder.Build(new CardRequest
                {
                    Model = config.Model, Data = task.Data, EvalData = null, Format = DataOptionsFor(task, seed).Format, Labels = task.Labels,
                    Targets = targets, Rank = config.Rank, Alpha = config.Alpha, MaxLength = task.MaxLength, CalibrationExamples = config.CalibrationExamples,
                    ProbeSteps = config.CardProbeSteps, BatchSize = config.BatchSize, LearningRate = config.LearningRate, FullFineTuneSteps = config.Steps,
                    Seed = seed, CacheFolder = Path.Combine(Assets.CacheRoot(), "cards"),
                }, device);
                cards.Add(card);
                var gainModel = new GainModel(card);
                var chosen = Methods.ToDictionary(m => m, m => MethodLayers(m, gainModel, card, config, layerCount, seed));
                var exhaustive = config.Exhaustive && config.Seeds.ToList().IndexOf(seed) < (config.ExhaustiveSeeds ?? config.Seeds.Count);
                var sets = exhaustive
                    ? Enumerable.Range(1, (1 << layerCount) - 1).Select(mask => Enumerable.Range(0, layerCount).Where(l => (mask & (1 << l)) != 0).ToArray()).ToList()
                    : chosen.Values.DistinctBy(Key).ToList();
                var results = new Dictionary<string, SubsetResult>();
                foreach (var set in sets)
                {
                    var result = TrainAndScore(loaded, tokenizer, task, trainSet, validationSet, metricData, metric, baseLoss, set, targets, config, seed, device);
                    results[Key(set)] = result;
                    subsets.Add(result);
                    log($"[{task.Name} seed {seed}] layers {LayerSelection.Format(set),-10} gain {result.Gain,8:F4}  {EndToEndRun.MetricName(baseEval)} {result.Metric,8:F4}  step {result.StepSeconds * 1000,7:F1} ms");
                }
                var all = results[Key(Enumerable.Range(0, layerCount).ToArray())];
                foreach (var (method, layers) in chosen)
                {
                    var r = results[Key(layers)];
                    var sameSize = exhaustive ? results.Values.Where(x => x.Layers.Count == layers.Length).ToList() : null;
                    methods.Add(new MethodResult(task.Name, seed, method, layers, r.Gain, r.Metric, r.StepSeconds, r.PeakMemoryIncrementBytes,
                        method.StartsWith("card") || method == "all" ? gainModel.GainFraction(layers) : null,
                        method.StartsWith("card") || method == "all" ? gainModel.TimeFraction(layers) : null,
                        all.Gain > 0 ? r.Gain / all.Gain : double.NaN, all.StepSeconds > 0 ? r.StepSeconds / all.StepSeconds : double.NaN,
                        sameSize?.Max(x => x.Gain) - r.Gain, sameSize?.Max(x => x.Metric) - r.Metric));
                }
            }
            onTaskDone?.Invoke(new ExperimentResults(config, command, baselines.ToList(), subsets.ToList(), methods.ToList(), cards.ToList(), clock.Elapsed.TotalSeconds));
        }
        return new ExperimentResults(config, command, baselines, subsets, methods, cards, clock.Elapsed.TotalSeconds);
    }

    private static int[] MethodLayers(string method, GainModel model, CardDocument card, ExperimentConfig config, int layers, long seed) => method switch
    {
        "card-guided" => Planner.Choose(model, new PlanRequest(PlanObjective.Performance, Layers: config.K)).Layers.ToArray(),
        "card-cost" => Planner.Choose(model, new PlanRequest(PlanObjective.Cost, TargetGain: config.TargetGain)).Layers.ToArray(),
        _ => Baselines.Choose(method, layers, config.K, seed, card),
    };

    private static string Key(IReadOnlyList<int> layers) => LayerSelection.Format(layers.Order().ToList());

    private static DataOptions DataOptionsFor(ExperimentTask task, long seed) =>
        new(DataFormats.Parse(task.Format, $"task {task.Name}: format"), task.Labels, task.MaxLength, seed, 0.1, task.TrainLimit);

    private static (TokenizedSet Train, TokenizedSet Validation, TaskDataset MetricData) PrepareData(ExperimentTask task, ITokenizer tokenizer, long seed)
    {
        var options = DataOptionsFor(task, seed);
        var data = DatasetLoader.Load(task.Data, options);
        TaskDataset train, validation;
        if (task.EvalData != null) (train, validation) = (data, DatasetLoader.Load(task.EvalData, options with { Limit = null }));
        else (train, validation) = data.Split(0.1, seed);
        var trainSet = Tokenization.Tokenize(train, tokenizer, task.MaxLength);
        var validationSet = Tokenization.Tokenize(validation, tokenizer, task.MaxLength).First(task.EvalLimit);
        var metricCount = task.MetricLimit ?? task.EvalLimit;
        var metricData = validation.First(metricCount);
        return (trainSet, validationSet, metricData);
    }

    private static SubsetResult TrainAndScore(LoadedModel loaded, ITokenizer tokenizer, ExperimentTask task, TokenizedSet train, TokenizedSet validation,
        TaskDataset metricData, TaskMetric metric, double baseLoss, int[] layers, IReadOnlyList<string> targets, ExperimentConfig config, long seed, Device device)
    {
        var model = loaded.Model;
        using var lora = LoraModel.Inject(model, new LoraConfig(config.Rank, config.Alpha, 0, false, targets, layers), seed);
        var options = new TrainingOptions
        {
            Steps = config.Steps, BatchSize = config.BatchSize, LearningRate = config.LearningRate, Seed = seed,
            WarmupSteps = Math.Min(10, config.Steps / 10), EvalEvery = 0,
        };
        var resident = MemoryMeter.CurrentBytes();
        var trained = new Trainer(lora, options, device).Train(train, null, "experiment");
        var loss = LossEvaluation.MeanLoss(model, validation, 16, device).MeanLoss;
        var context = Math.Max(task.MaxLength, model.Config.MaxPositions);
        var score = metric == TaskMetric.Loss ? -loss : TaskEvaluation.Run(model, tokenizer, metricData, metric, context, 16, device, 40).Score;
        return new SubsetResult(task.Name, seed, layers, loss, baseLoss - loss, score, trained.MeanStepSeconds,
            Math.Max(0, trained.PeakMemoryBytes - resident), lora.TrainableParameterCount, trained.WallSeconds);
    }
}
