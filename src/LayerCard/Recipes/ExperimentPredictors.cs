using System.Diagnostics;
using LayerCard.Card;
using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Models;
using LayerCard.Placement;
using static TorchSharp.torch;

namespace LayerCard.Recipes;

/// <summary>
/// The study's predictor harness: every way of predicting a placement's gain, each computed on the card's
/// calibration sample (or, for probes, by its own short runs on the validation part) and scored against the subsets
/// trained on the test part. Nothing here sees a trained subset before it is scored.
/// </summary>
public static class ExperimentPredictors
{
    /// <summary>Scores every predictor for one task and seed.</summary>
    /// <param name="allLayerSeconds">Training time of the study's all-layer run, the unit of every cost.</param>
    /// <param name="plans">The card read as plans read it at the study's training steps; scored as its own predictor when that budget changes the fractions (beyond <see cref="GainModel.ReferenceSteps"/>).</param>
    public static IEnumerable<PredictorScore> Score(LoadedModel loaded, TaskData data, CardDocument card, CardSettings settings, IReadOnlyList<int> probeSteps, TrainedGains truth,
        double allLayerSeconds, GainModel plans, Device device, Action<string> log)
    {
        double Cost(double seconds) => seconds / Math.Max(allLayerSeconds, 1e-9);
        var functionSpace = card.FunctionSpace ?? throw new InvalidOperationException("the study's cards carry the function-space signal");
        var residualCost = Cost(card.Timing.SignalSeconds - functionSpace.Seconds);
        var columns = new (string Name, Func<CardLayerRow, double> Value)[]
        {
            ("resnorm", r => r.ResNorm), ("rank-r resnorm", r => r.ResNormRankR), ("gradient norm", r => r.GradNorm), ("activation energy", r => r.EnergyTrace),
        };
        foreach (var (name, value) in columns)
            yield return PredictorScore.Of(name, PredictorScore.Additive(card.Layers.Select(value).ToList()), truth, residualCost, false);

        var fromCard = functionSpace.ToResult();
        log($"function space (card default, sign step): single-layer gains {Format(fromCard.LayerGains())}, all layers {fromCard.SetGain(Enumerable.Range(0, truth.Singles.Count)):G3}; " +
            $"measured {Format(truth.Singles)}, all {truth.AllLayers:G3}");
        yield return PredictorScore.Of("function space, sign step (card default)", set => fromCard.SetGain(set), truth, Cost(functionSpace.Seconds), false);
        // What plan and run predict at this budget: the same sets in the same order, each shortfall scaled, so only
        // the gain-fraction error can differ from the card default's.
        if (plans.ShortfallScale < 1)
            yield return PredictorScore.Of($"function space, card default read at {plans.TrainingSteps} steps (as plans read it)", set => plans.GainFraction(set), truth, Cost(functionSpace.Seconds), false);
        // The same pass read with the first-step model's own single-layer gains (the card's default before session 8).
        var firstStep = fromCard with { LevelShrink = 1, Redundancy = 0, Saturating = false };
        // The default of session 8: level shrink without the redundancy.
        var levelOnly = fromCard with { Redundancy = 0, Saturating = false };
        // The default of session 9: level shrink and redundancy 0.25, no saturation.
        var session9 = fromCard with { Redundancy = 0.25, Saturating = false };
        yield return PredictorScore.Of("function space, sign step, without saturation (session 9)", set => session9.SetGain(set), truth, Cost(functionSpace.Seconds), false);
        yield return PredictorScore.Of("function space, sign step, level shrink only", set => levelOnly.SetGain(set), truth, Cost(functionSpace.Seconds), false);
        yield return PredictorScore.Of("function space, sign step, first-step singles", set => firstStep.SetGain(set), truth, Cost(functionSpace.Seconds), false);
        var calibration = data.CalibrationSample(settings.CalibrationExamplesFor(loaded.Config.Layers), settings.Seed);
        var allLayers = Enumerable.Range(0, truth.Singles.Count).ToList();
        // Every variant measures the same fresh adapters on the same sample; only how it steps and reads them differs.
        var shared = new FunctionSpaceOptions(settings.Rank, settings.Alpha, settings.BatchSize, settings.Seed);
        FunctionSpaceResult Measure(FunctionSpaceOptions options, string? described)
        {
            var result = FunctionSpaceProbe.Measure(loaded.Model, calibration, card.Lora.Targets, options, device);
            if (described is not null)
                log($"function space ({described}): single-layer gains {Format(allLayers.Select(l => result.LayerSetGain([l])))}, all layers {result.LayerSetGain(allLayers):G3}");
            return result;
        }
        var gradient = Measure(shared with { Direction = StepDirection.Gradient }, null);
        yield return PredictorScore.Of("function space, gradient step", set => gradient.SetGain(set), truth, Cost(gradient.Seconds), false);
        yield return PredictorScore.Of("FIM-LoRA (fresh B Fisher trace)", PredictorScore.Additive(gradient.FisherTrace), truth, Cost(gradient.GradientSeconds), false);
        var variants = new (string Name, string Described, FunctionSpaceOptions Options)[]
        {
            ("function space, top-rank gradient direction", "top-rank gradient direction", shared with { Direction = StepDirection.TopRank }),
            ("function space, one sign step per module", "one direction per module", shared with { PerModule = true }),
            ("function space, one sign step per batch", "one direction per batch", shared with { PerBatch = true }),
            ("function space, sign step, line-searched", "line-searched secant curvature", shared with { LineSearch = true }),
            ("function space, Adam moment-ratio step", "Adam's moment ratio", shared with { Direction = StepDirection.MomentRatio }),
        };
        // The direct path read as the card reads its default (level shrink, redundancy, saturation): what it would predict in its place.
        var direct = Measure(shared with { DirectPath = true }, "direct path").ForCard();
        yield return PredictorScore.Of("function space, sign step, direct path (read as the card)", set => direct.SetGain(set), truth, Cost(direct.Seconds), false);
        foreach (var (name, described, options) in variants)
        {
            var result = Measure(options, described);
            yield return PredictorScore.Of(name, set => result.LayerSetGain(set), truth, Cost(result.Seconds), false);
        }

        if (card.Probes is { } cardProbes && card.Layers.All(r => r.MeasuredGain.HasValue))
            yield return PredictorScore.Of($"probes, {cardProbes.Steps} steps (the card's --probe-steps)",
                ProbeSetGain(card.Layers.Select(r => r.MeasuredGain!.Value).ToList(), cardProbes.AllLayers.Gain ?? 0), truth, Cost(card.Timing.ProbeSeconds), true);

        var targets = card.Lora.Targets;
        var validation = data.Validation!.Tokens.First(settings.ValidationExamples);
        foreach (var steps in probeSteps)
        {
            var clock = Stopwatch.StartNew();
            var probe = new ProbeSettings(targets, settings.Rank, settings.Alpha, steps, settings.BatchSize, settings.LearningRate, settings.Seed);
            var baseLoss = LossEvaluation.MeanLoss(loaded.Model, validation, probe.EvalBatchSize, device).MeanLoss;
            var singles = Enumerable.Range(0, truth.Singles.Count)
                .Select(l => LayerProbes.Measure(loaded.Model, [l], data.Train.Tokens, validation, baseLoss, probe, device).Gain ?? 0).ToList();
            var all = LayerProbes.Measure(loaded.Model, Enumerable.Range(0, truth.Singles.Count).ToList(), data.Train.Tokens, validation, baseLoss, probe, device).Gain ?? 0;
            log($"probes of {steps} steps: {clock.Elapsed.TotalSeconds:F1} s");
            yield return PredictorScore.Of($"probes, {steps} steps", ProbeSetGain(singles, all), truth, Cost(clock.Elapsed.TotalSeconds), true);
        }
    }

    private static string Format(IEnumerable<double> values) => string.Join(" ", values.Select(g => g.ToString("G3")));

    /// <summary>Probe gains read as a set gain: the positive single-layer gains add, up to what the all-layer probe reached.</summary>
    public static Func<IReadOnlyList<int>, double> ProbeSetGain(IReadOnlyList<double> singles, double all) =>
        set => set.Count == singles.Count ? all : Math.Min(Math.Max(all, 0), set.Sum(l => Math.Max(0, singles[l])));
}
