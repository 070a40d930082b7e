using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Models;
using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>Everything `layercard card` needs, already parsed.</summary>
public sealed record CardRequest : TaskRequest
{
    public IReadOnlyList<string>? Targets { get; init; }
    public int Rank { get; init; } = 8;
    public double Alpha { get; init; } = 16;
    public int MaxLength { get; init; } = 128;
    public int CalibrationExamples { get; init; } = 64;
    public double RidgeEps { get; init; } = 1e-3;
    /// <summary>Steps of each single-layer probe run; null chooses them so the card costs at most half a full fine-tune.</summary>
    public int? ProbeSteps { get; init; }
    public bool NoProbes { get; init; }
    public int BatchSize { get; init; } = 8;
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>The full-layer fine-tune the card is weighed against: this many steps at the measured all-layer step time.</summary>
    public int FullFineTuneSteps { get; init; } = 300;
    public int ValidationExamples { get; init; } = 64;
    public long Seed { get; init; }
    /// <summary>Where partial probe results go, so a killed card resumes where it stopped.</summary>
    public string? ProgressPath { get; init; }
    /// <summary>Finished cards by cache key; the same model, data and settings reuse one.</summary>
    public string? CacheFolder { get; init; }
    /// <summary>Layers that get probe runs (default all); the others carry signal columns only.</summary>
    public string? ProbeLayers { get; init; }
}

/// <summary>
/// Builds a Layer Card: a signal pass (resnorm, energy, coupling) on a calibration set, then short LoRA probe
/// runs on each layer alone (measured cost and gain), an all-layer run and cost checks on other sets, a
/// cost model, and the card's own predictiveness.
/// </summary>
public static class CardBuilder
{
    public const double ProbeBudgetFraction = 0.35;

    /// <summary>Builds the card, or returns the cached one for the same model, data and settings (Reused true).</summary>
    public static (CardDocument Card, bool Reused) Build(CardRequest request, Device device, IProgress<string>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        using var loaded = ModelLoader.Load(request.Model, request.Tokenizer, device);
        var model = loaded.Model;
        var layerCount = loaded.Config.Layers;
        var tokenizer = loaded.RequireTokenizer();
        var (train, validation) = LoadData(request);
        var trainSet = Tokenization.Tokenize(train, tokenizer, request.MaxLength);
        var validationSet = Tokenization.Tokenize(validation, tokenizer, request.MaxLength);
        validationSet = validationSet.First(request.ValidationExamples);
        if (request.CalibrationExamples < layerCount)
            throw new BadInputException($"--calibration-examples {request.CalibrationExamples}: fewer examples than the model's {layerCount} layers; the coupling needs at least {layerCount}");
        var calibration = trainSet.First(request.CalibrationExamples);
        if (calibration.Examples.Count < layerCount)
            throw new BadInputException($"--data {request.Data}: only {calibration.Examples.Count} usable calibration examples for {layerCount} layers; the coupling needs at least {layerCount}");
        var targets = request.Targets is { Count: > 0 } ? request.Targets : LoraConfig.DefaultTargets(loaded.Config.Family);
        var unmatched = targets.FirstOrDefault(t => !model.LayerLinears(0).Keys.Any(name => LoraModel.MatchesTarget(name, t)));
        if (unmatched != null)
            throw new BadInputException($"--targets: '{unmatched}' names no module of {loaded.Config.Architecture} (modules: {string.Join(" ", model.LayerLinears(0).Keys)})");
        var key = CacheKey(loaded.ContentHash, train.ContentHash, request, targets);
        var probeLayers = request.ProbeLayers is null ? Enumerable.Range(0, layerCount).ToList() : LayerSelection.Parse(request.ProbeLayers, layerCount, "--probe-layers").ToList();
        var cachePath = request.CacheFolder is null ? null : Path.Combine(request.CacheFolder, key + ".json");
        if (cachePath != null && File.Exists(cachePath))
        {
            try { return (CardDocument.Load(cachePath), true); }
            catch (BadInputException) { progress?.Report($"ignoring an unreadable cached card {cachePath}"); }
        }

        progress?.Report($"signal pass over {calibration.Examples.Count} calibration examples ({calibration.TotalTokens:N0} tokens)");
        var signalOptions = new SignalOptions(request.RidgeEps, request.Rank, request.BatchSize);
        var signal = SignalProbe.Run(model, calibration, targets, signalOptions, device, progress);
        var forwardBackward = SignalProbe.TimeForwardBackward(model, calibration, signalOptions, device);
        var signalSeconds = signal.FirstPassSeconds + signal.SecondPassSeconds;

        var probeClock = Stopwatch.StartNew();
        CardProbes? probes = null;
        IReadOnlyList<LayerProbe> layerProbes = [];
        CostModel? costModel = null;
        if (!request.NoProbes)
            (probes, layerProbes, costModel) = RunProbes(request, model, layerCount, probeLayers, targets, trainSet, validationSet, device, key, progress);
        var probeSeconds = probeClock.Elapsed.TotalSeconds;

        var rows = signal.Layers.Select(s =>
        {
            var probe = layerProbes.FirstOrDefault(p => p.Layer == s.Layer);
            var parameters = probe?.AdapterParameters ?? AdapterParameters(model, s.Layer, targets, request.Rank);
            return new CardLayerRow(s.Layer, s.ResNorm, s.ResNormRankR, s.GradNorm, s.PredictedGain,
                s.Energy.Trace, s.Energy.MaxEigenvalue, s.Energy.MinEigenvalue, s.Energy.Condition, s.Energy.EffectiveRank,
                parameters, probe?.StepSeconds, probe?.PeakMemoryIncrementBytes, probe?.InferenceOverheadSeconds, probe?.Gain, probe?.ValidationLossAfter);
        }).ToList();

        var predictiveness = probes is null ? null : Predictiveness(rows, signal, probes);
        var fullSeconds = probes is null ? (double?)null : probes.AllLayers.StepSeconds * request.FullFineTuneSteps;
        var cardSeconds = clock.Elapsed.TotalSeconds;
        var card = new CardDocument
        {
            CacheKey = key,
            Created = DateTimeOffset.UtcNow,
            Model = new CardModel(request.Model, loaded.Source, loaded.Config.Architecture, layerCount, loaded.Config.Hidden, loaded.ParameterCount, loaded.ContentHash),
            Dataset = new CardDataset(request.Data, train.Format.ToString(), train.ContentHash, trainSet.Examples.Count, validationSet.Examples.Count, trainSet.Summary),
            Lora = new CardLora(targets, request.Rank, request.Alpha),
            Calibration = new CardCalibration(signal.Examples, signal.Tokens, signal.TargetTokens, request.RidgeEps, request.Rank),
            Layers = rows,
            Modules = signal.Modules.Select(m => new CardModuleRow(m.Layer, m.Module, m.InFeatures, m.OutFeatures, m.ResNorm, m.ResNormRankR, m.GradNorm, m.PredictedGain)).ToList(),
            Coupling = CardDocument.Jagged(signal.Coupling),
            SignedCorrelation = CardDocument.Jagged(signal.SignedCorrelation),
            CostModel = costModel,
            Probes = probes,
            Predictiveness = predictiveness,
            Timing = new CardTiming(signalSeconds, forwardBackward, signalSeconds / Math.Max(forwardBackward, 1e-9), probeSeconds, cardSeconds,
                request.FullFineTuneSteps, fullSeconds, fullSeconds is double f ? cardSeconds / f : null),
        };
        if (cachePath != null) card.Save(cachePath);
        return (card, false);
    }

    private static (CardProbes, IReadOnlyList<LayerProbe>, CostModel) RunProbes(CardRequest request, CausalLM model, int layerCount, IReadOnlyList<int> probeLayers, IReadOnlyList<string> targets,
        TokenizedSet train, TokenizedSet validation, Device device, string key, IProgress<string>? progress)
    {
        // Each single-layer run and the all-layer run take `steps`; with every run at most as dear as the
        // all-layer one, (L + 1) * steps stays within the budget's share of the full fine-tune's steps.
        var steps = request.ProbeSteps ?? Math.Max(2, (int)(ProbeBudgetFraction * request.FullFineTuneSteps / (probeLayers.Count + 1)));
        var settings = new ProbeSettings(targets, request.Rank, request.Alpha, steps, request.BatchSize, request.LearningRate, request.Seed);
        var baseLoss = LossEvaluation.MeanLoss(model, validation, settings.EvalBatchSize, device).MeanLoss;
        var inferenceBatch = BatchSampler.Batches(validation, Math.Min(4, validation.Examples.Count)).First();
        var baselineForward = LayerProbes.ForwardSeconds(model, inferenceBatch, device);
        var saved = ProbeProgress.Load(request.ProgressPath, key);
        var singles = new List<LayerProbe>(saved);
        // Top layer first: each run then needs at least the memory of the one before, so peak increments are not hidden by a heap already grown.
        foreach (var layer in probeLayers.OrderDescending())
        {
            if (singles.Any(p => p.Layer == layer)) { progress?.Report($"layer {layer}: probe reused from an interrupted run"); continue; }
            progress?.Report($"layer {layer}: LoRA probe, {steps} steps (resident {MemoryMeter.CurrentBytes() / 1048576.0:F0} MiB)");
            singles.Add(LayerProbes.ProbeLayer(model, layer, train, validation, baseLoss, settings, device, baselineForward, inferenceBatch));
            ProbeProgress.Save(request.ProgressPath, key, singles);
        }
        singles.Sort((a, b) => a.Layer.CompareTo(b.Layer));
        progress?.Report($"all {layerCount} layers: LoRA probe, {steps} steps");
        var all = LayerProbes.Measure(model, Enumerable.Range(0, layerCount).ToList(), train, validation, baseLoss, settings, device);
        var checks = CheckSets(layerCount).Select(set =>
        {
            progress?.Report($"cost check on layers {LayerSelection.Format(set)}");
            return LayerProbes.Measure(model, set, train, null, null, settings with { Steps = Math.Min(steps, 4) }, device);
        }).ToList();
        var cost = CostModel.Fit(layerCount, singles, all, checks);
        ProbeProgress.Clear(request.ProgressPath);
        return (new CardProbes(steps, request.BatchSize, request.LearningRate, request.Seed, baseLoss, all, checks), singles, cost);
    }

    /// <summary>Multi-layer sets the cost model did not see: the top half and every other layer.</summary>
    private static List<int[]> CheckSets(int layers)
    {
        var sets = new List<int[]>();
        if (layers >= 3) sets.Add(Enumerable.Range(layers / 2, layers - layers / 2).ToArray());
        if (layers >= 4) sets.Add(Enumerable.Range(0, layers).Where(l => l % 2 == 1).ToArray());
        return sets;
    }

    private static CardPredictiveness Predictiveness(IReadOnlyList<CardLayerRow> rows, SignalResult signal, CardProbes probes)
    {
        var gains = rows.Select(r => r.MeasuredGain ?? double.NaN).ToList();
        var columns = new Dictionary<string, Func<CardLayerRow, double>>
        {
            ["resnorm"] = r => r.ResNorm,
            ["resnorm_rank_r"] = r => r.ResNormRankR,
            ["grad_norm"] = r => r.GradNorm,
            ["energy_trace"] = r => r.EnergyTrace,
            ["predicted_gain"] = r => r.PredictedGain,
        };
        var spearman = columns.ToDictionary(c => c.Key, c => Statistics.Spearman(rows.Select(c.Value).ToList(), gains));
        var positive = rows.Select(r => Math.Max(0, r.MeasuredGain ?? 0)).ToList();
        var all = Enumerable.Range(0, rows.Count).ToList();
        var predicted = Additivity.PredictedJointGain(all, positive, signal.SignedCorrelation);
        return new CardPredictiveness(spearman, predicted, probes.AllLayers.Gain, positive.Sum());
    }

    private static long AdapterParameters(CausalLM model, int layer, IReadOnlyList<string> targets, int rank) =>
        model.LayerLinears(layer).Where(m => targets.Any(t => LoraModel.MatchesTarget(m.Key, t)))
            .Sum(m => (long)rank * (m.Value.InFeatures + m.Value.OutFeatures));

    private static (TaskDataset Train, TaskDataset Validation) LoadData(CardRequest request)
    {
        var options = new DataOptions(request.Format, request.Labels, request.MaxLength, request.Seed);
        var data = DatasetLoader.Load(request.Data, options);
        if (request.EvalData != null) return (data, DatasetLoader.Load(request.EvalData, options));
        return data.Split(0.1, request.Seed);
    }

    public static string CacheKey(string modelHash, string dataHash, CardRequest request, IReadOnlyList<string> targets)
    {
        var text = JsonSerializer.Serialize(new
        {
            CardDocument.CurrentSchemaVersion, modelHash, dataHash, request.EvalData, Format = request.Format.ToString(), request.Labels, targets,
            request.Rank, request.Alpha, request.MaxLength, request.CalibrationExamples, request.RidgeEps, request.ProbeSteps, request.NoProbes,
            request.BatchSize, request.LearningRate, request.FullFineTuneSteps, request.ValidationExamples, request.Seed, request.ProbeLayers,
        });
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..32];
    }
}
