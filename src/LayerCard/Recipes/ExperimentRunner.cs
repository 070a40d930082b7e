using System.Diagnostics;
using System.Text.Json;
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
public sealed record SubsetResult(string Task, long Seed, IReadOnlyList<int> Layers, double TestLoss, double Gain, double Metric,
    double StepSeconds, long PeakMemoryIncrementBytes, long TrainableParameters, double TrainSeconds);

/// <summary>A placement method's choice on one task and seed, with the card's predictions for it.</summary>
public sealed record MethodResult(string Task, long Seed, string Method, IReadOnlyList<int> Layers, double Gain, double Metric,
    double StepSeconds, long PeakMemoryIncrementBytes, double? PredictedGainFraction, double? PredictedTimeFraction,
    double MeasuredGainFraction, double MeasuredTimeFraction, double? RegretGain, double? RegretMetric);

/// <summary>The base model on one task's test part: loss and task metric (and the majority-class baseline for classification).</summary>
public sealed record TaskBaseline(string Task, string MetricName, double BaseTestLoss, double BaseMetric, double? MajorityBaseline);

/// <summary>Everything a study measured, as results.json holds it.</summary>
public sealed record ExperimentResults(ExperimentConfig Config, string Command, IReadOnlyList<TaskBaseline> Baselines,
    IReadOnlyList<SubsetResult> Subsets, IReadOnlyList<MethodResult> Methods, IReadOnlyList<CardDocument> Cards, double Seconds,
    IReadOnlyList<PredictorResult> Predictors);

/// <summary>One predictor scored on one task and seed against the subsets trained there (see <see cref="PredictorScore"/>).</summary>
public sealed record PredictorResult(string Task, long Seed, PredictorScore Score);

/// <summary>
/// The study: for each task and seed, a card and its plans, the baseline placements, and (exhaustively on
/// small models) every non-empty subset of layers, each trained with the same LoRA configuration, steps and
/// data order, so that methods differ only in the layers they pick.
/// </summary>
public static class ExperimentRunner
{
    /// <summary>The placement methods compared at K layers (card-cost chooses its own size; all is the reference).</summary>
    public static readonly IReadOnlyList<string> Methods = ["card-guided", "card-probes", "card-cost", "resnorm-top", "random", "even", "top", "bottom", "all"];

    /// <summary>Runs the study: the model is loaded once, each task's data split once; seeds vary the card's calibration sample and the data order.</summary>
    /// <param name="onTaskDone">Sees the results so far after each task, so a long study leaves its finished tasks behind.</param>
    /// <param name="subsetCache">A folder of trained subsets by key (model, data, settings, seed, layers): a study rerun after a kill reuses every subset it finished.</param>
    public static ExperimentResults Run(ExperimentConfig config, string command, Device device, Action<string> log, Action<ExperimentResults>? onTaskDone = null,
        string? subsetCache = null)
    {
        var clock = Stopwatch.StartNew();
        var subsets = new List<SubsetResult>();
        var methods = new List<MethodResult>();
        var baselines = new List<TaskBaseline>();
        var cards = new List<CardDocument>();
        var predictors = new List<PredictorResult>();
        // With a fixed training seed, card seeds share trained subsets: each is recorded once.
        var recorded = new HashSet<string>();
        if (subsetCache != null) Directory.CreateDirectory(subsetCache);
        using var loaded = ModelLoader.Load(config.Model, null, device);
        var layerCount = loaded.Config.Layers;
        if (config.K > layerCount) throw BadInputException.ForField("k", $"{config.K}: the model has {layerCount} layers");
        var targets = LoraTargets.Resolve(config.Targets, loaded.Model, LoraTargets.QueryValue);
        var tokenizer = loaded.RequireTokenizer();
        foreach (var task in config.Tasks)
        {
            var data = RecipeData.Load(TaskRequestOf(config, task), DataPlanOf(task), tokenizer, evalDataIsTest: true);
            var test = data.Test!;
            var metricData = test.Raw.First(task.MetricLimit ?? task.EvalLimit);
            var metric = TaskEvaluation.DefaultMetric(data.Format);
            var baseLoss = LossEvaluation.MeanLoss(loaded.Model, test.Tokens, EvaluationDefaults.BatchSize, device).MeanLoss;
            var baseEval = Score(loaded, tokenizer, task, data.Plan.LongPrompts, metricData, metric, baseLoss, device);
            baselines.Add(new TaskBaseline(task.Name, RunReport.MetricName(baseEval), baseLoss, baseEval.Score, baseEval.MajorityBaseline));
            log($"[{task.Name}] {data.Train.Summary}; {data.Validation!.Summary}; {test.Summary}");
            log($"[{task.Name}] base on the test part: loss {baseLoss:F4}, {RunReport.MetricName(baseEval)} {baseEval.Score:F4}");

            foreach (var seed in config.Seeds)
            {
                var settings = new CardSettings
                {
                    Targets = targets, Rank = config.Rank, Alpha = config.Alpha, CalibrationExamples = config.CalibrationExamples,
                    ProbeSteps = config.CardProbeSteps, BatchSize = config.BatchSize, LearningRate = config.LearningRate, FullFineTuneSteps = config.Steps, Seed = seed,
                };
                var (card, _) = CardRecipe.Build(loaded, config.Model, task.Data, data, settings, Path.Combine(Assets.CacheRoot(), "cards"), null, device, null);
                cards.Add(card);
                // Predicted fractions are read at the budget the harness trains (the card's own at 40 steps).
                var gainModel = new GainModel(card, config.Steps);
                var chosen = Methods.Where(m => m != "card-probes" || card.Probes is not null).ToDictionary(m => m, m => MethodLayers(m, gainModel, card, config, layerCount, seed));
                var exhaustive = config.Exhaustive && config.Seeds.ToList().IndexOf(seed) < (config.ExhaustiveSeeds ?? config.Seeds.Count);
                var sets = (exhaustive ? TruthSets(config, layerCount) : []).Concat(chosen.Values).Append(Enumerable.Range(0, layerCount).ToArray()).DistinctBy(Key).ToList();
                var trainingSeed = config.TrainingSeed ?? seed;
                var results = new Dictionary<string, SubsetResult>();
                void TrainOrReuse(int[] set)
                {
                    if (results.ContainsKey(Key(set))) return;
                    var cachePath = subsetCache is null ? null : Path.Combine(subsetCache, SubsetKey(loaded, task, data, set, targets, config, trainingSeed) + ".json");
                    var cached = cachePath != null && File.Exists(cachePath) ? ReadSubset(cachePath) : null;
                    var result = cached ?? TrainAndScore(loaded, tokenizer, task, data, metricData, metric, baseLoss, set, targets, config, trainingSeed, device);
                    if (cached is null && cachePath != null) AtomicFile.WriteAllText(cachePath, JsonSerializer.Serialize(result, ExperimentConfig.Json));
                    results[Key(set)] = result;
                    if (recorded.Add($"{result.Task}|{result.Seed}|{Key(result.Layers)}")) subsets.Add(result);
                    log($"[{task.Name} seed {seed}] layers {LayerSelection.Format(set),-10} test gain {result.Gain,8:F4}  {RunReport.MetricName(baseEval)} {result.Metric,8:F4}  step {result.StepSeconds * 1000,7:F1} ms{(cached is null ? "" : "  (cached)")}");
                }
                foreach (var set in sets) TrainOrReuse(set);
                var all = results[Key(Enumerable.Range(0, layerCount).ToArray())];
                // The headline's K (fewest layers whose best trained set reaches 95 % of all layers): the card's and
                // every baseline's choice of K layers are trained too, so their regret at K can be read.
                if (exhaustive && all.Gain > 0 && ExperimentHeadline.SmallestSize(results.Values, all.Gain) is var k && k < layerCount)
                    foreach (var set in HeadlineChoices(k, gainModel, card, layerCount, seed)) TrainOrReuse(set);
                if (Truth(results, layerCount, all) is { } truth)
                    predictors.AddRange(ExperimentPredictors.Score(loaded, data, card, settings, config.PredictorProbeSteps, truth, all.TrainSeconds, gainModel, device, m => log($"[{task.Name} seed {seed}] {m}"))
                        .Select(score => new PredictorResult(task.Name, seed, score)));
                foreach (var (method, layers) in chosen)
                {
                    var r = results[Key(layers)];
                    var sameSize = exhaustive && layers.Length <= (config.ExhaustiveMaxSize ?? layerCount) ? results.Values.Where(x => x.Layers.Count == layers.Length).ToList() : null;
                    methods.Add(new MethodResult(task.Name, seed, method, layers, r.Gain, r.Metric, r.StepSeconds, r.PeakMemoryIncrementBytes,
                        method.StartsWith("card") || method == "all" ? gainModel.GainFraction(layers) : null,
                        method.StartsWith("card") || method == "all" ? gainModel.TimeFraction(layers) : null,
                        all.Gain > 0 ? r.Gain / all.Gain : double.NaN, all.StepSeconds > 0 ? r.StepSeconds / all.StepSeconds : double.NaN,
                        sameSize?.Max(x => x.Gain) - r.Gain, sameSize?.Max(x => x.Metric) - r.Metric));
                }
            }
            onTaskDone?.Invoke(new ExperimentResults(config, command, baselines.ToList(), subsets.ToList(), methods.ToList(), cards.ToList(), clock.Elapsed.TotalSeconds, predictors.ToList()));
        }
        return new ExperimentResults(config, command, baselines, subsets, methods, cards, clock.Elapsed.TotalSeconds, predictors);
    }

    /// <summary>The subsets trained as ground truth: all of them, or (deep models) every subset up to a size plus a stated sample of larger ones.</summary>
    private static IEnumerable<int[]> TruthSets(ExperimentConfig config, int layerCount) => config.ExhaustiveMaxSize is int max
        ? LayerSets.UpTo(layerCount, max).Concat(config.SampledSizes.Where(size => size > max && size < layerCount)
            .SelectMany(size => LayerSets.Sample(layerCount, size, config.SamplesPerSize, 1000 + size)))
        : LayerSets.All(layerCount);

    private static int[] MethodLayers(string method, GainModel model, CardDocument card, ExperimentConfig config, int layers, long seed) => method switch
    {
        "card-guided" => Planner.Choose(model, new PlanRequest(PlanObjective.Performance, Layers: config.K)).Layers.ToArray(),
        // The card's probe runs with the coupling instead of its function-space signal (the card of earlier versions).
        "card-probes" => Planner.Choose(new GainModel(card with { FunctionSpace = null }), new PlanRequest(PlanObjective.Performance, Layers: config.K)).Layers.ToArray(),
        "card-cost" => Planner.Choose(model, new PlanRequest(PlanObjective.Cost, TargetGain: config.TargetGain)).Layers.ToArray(),
        _ => Baselines.Choose(method, layers, config.K, seed, card),
    };

    /// <summary>The card's choice of <paramref name="k"/> layers and each baseline's, as the headline compares them.</summary>
    private static IEnumerable<int[]> HeadlineChoices(int k, GainModel model, CardDocument card, int layers, long seed) =>
        ExperimentHeadline.BaselineMethods.Select(m => Baselines.Choose(m, layers, k, seed, card))
            .Prepend(Planner.Choose(model, new PlanRequest(PlanObjective.Performance, Layers: k)).Layers.Order().ToArray());

    /// <summary>What was trained on this task and seed, as the predictor harness scores against it; null without every single layer.</summary>
    private static TrainedGains? Truth(IReadOnlyDictionary<string, SubsetResult> results, int layerCount, SubsetResult all)
    {
        var singles = Enumerable.Range(0, layerCount).Select(l => results.TryGetValue(Key([l]), out var r) ? r.Gain : double.NaN).ToList();
        if (singles.Any(double.IsNaN)) return null;
        var others = results.Values.Where(r => r.Layers.Count >= 2 && r.Layers.Count < layerCount).Select(r => (r.Layers, r.Gain)).ToList();
        return new TrainedGains(singles, others, all.Gain);
    }

    private static string SubsetKey(LoadedModel loaded, ExperimentTask task, TaskData data, int[] layers, IReadOnlyList<string> targets, ExperimentConfig config, long seed)
    {
        var text = JsonSerializer.Serialize(new
        {
            Model = loaded.ContentHash, Data = data.ContentHash, data.Plan, Train = data.Train.Tokens.Summary, Test = data.Test!.Tokens.Summary, task.MetricLimit,
            targets, config.Rank, config.Alpha, config.Steps, config.BatchSize, config.LearningRate, seed, layers,
        });
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..32];
    }

    private static SubsetResult? ReadSubset(string path)
    {
        try { return JsonSerializer.Deserialize<SubsetResult>(File.ReadAllText(path), ExperimentConfig.Json); }
        catch (JsonException) { return null; }
    }

    private static string Key(IReadOnlyList<int> layers) => LayerSelection.Format(layers.Order().ToList());

    private static TaskRequest TaskRequestOf(ExperimentConfig config, ExperimentTask task) => new CardRequest
    {
        Model = config.Model, Data = task.Data, EvalData = task.EvalData, Labels = task.Labels,
        Format = DataFormats.Parse(task.Format, $"task {task.Name}: format"),
    };

    // Validation (what the card's probes score) and test (what every study figure uses) never overlap.
    private static DataPlan DataPlanOf(ExperimentTask task) => new()
    {
        MaxLength = task.MaxLength, TrainLimit = task.TrainLimit, ValidationLimit = task.EvalLimit, TestLimit = task.EvalLimit,
        TestFraction = DataPlan.DefaultHoldOut, LongPrompts = task.LongPrompts is null ? LongPromptPolicy.Skip : LongPrompts.Parse(task.LongPrompts),
    };

    private static EvaluationResult Score(LoadedModel loaded, ITokenizer tokenizer, ExperimentTask task, LongPromptPolicy longPrompts, TaskDataset metricData, TaskMetric metric, double testLoss, Device device) =>
        metric == TaskMetric.Loss
            ? new EvaluationResult(TaskMetric.Loss, 0, testLoss, Math.Exp(testLoss))
            : TaskEvaluation.Run(loaded.Model, tokenizer, metricData, metric, Math.Max(task.MaxLength, loaded.Config.MaxPositions), EvaluationDefaults.BatchSize, device, 40, longPrompts);

    private static SubsetResult TrainAndScore(LoadedModel loaded, ITokenizer tokenizer, ExperimentTask task, TaskData data, TaskDataset metricData,
        TaskMetric metric, double baseLoss, int[] layers, IReadOnlyList<string> targets, ExperimentConfig config, long seed, Device device)
    {
        var model = loaded.Model;
        using var lora = LoraModel.Inject(model, new LoraConfig(config.Rank, config.Alpha, 0, false, targets, layers), seed);
        var options = new TrainingOptions
        {
            Steps = config.Steps, BatchSize = config.BatchSize, LearningRate = config.LearningRate, Seed = seed,
            WarmupSteps = LearningRateSchedule.DefaultWarmup(config.Steps), EvalEvery = 0,
        };
        // Trim first: what the previous placement's evaluation left on the heap would otherwise count as resident
        // and hide this run's peak (every increment read 0 on stories12L before).
        MemoryMeter.ResetPeak();
        var resident = MemoryMeter.CurrentBytes();
        var trained = new Trainer(lora, options, device).Train(data.Train.Tokens, null, "experiment");
        var loss = LossEvaluation.MeanLoss(model, data.Test!.Tokens, EvaluationDefaults.BatchSize, device).MeanLoss;
        var score = Score(loaded, tokenizer, task, data.Plan.LongPrompts, metricData, metric, loss, device).Score;
        return new SubsetResult(task.Name, seed, layers, loss, baseLoss - loss, score, trained.MeanStepSeconds,
            Math.Max(0, trained.PeakMemoryBytes - resident), lora.TrainableParameterCount, trained.WallSeconds);
    }
}
