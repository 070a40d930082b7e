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

/// <summary>How a card is built: the LoRA configuration it measures and what its signal pass and probes spend. One set of defaults for every front end.</summary>
public sealed record CardSettings
{
    /// <summary>Modules the card's LoRA adapts; null: the family's defaults (attention query and value).</summary>
    public IReadOnlyList<string>? Targets { get; init; }
    /// <summary>LoRA rank, also the rank of the rank-r resnorm.</summary>
    public int Rank { get; init; } = 8;
    /// <summary>LoRA alpha of the probes.</summary>
    public double Alpha { get; init; } = 16;
    /// <summary>
    /// Training examples (windows) the signal pass reads, chosen by <see cref="Seed"/>; null: <see cref="DefaultCalibrationExamples"/>,
    /// or the model's layer count if larger (the coupling needs at least one example per layer).
    /// </summary>
    public int? CalibrationExamples { get; init; }
    /// <summary>
    /// Calibration examples when none are given: 16. The card's signal passes cost in proportion to them. The study
    /// harness scored the default card on 16 and 32 examples against the same trained ground truth (session 12: three
    /// tasks × three seeds on stories260K and on stories12L, where 16 was chosen, then six held-out tasks): pair regret
    /// equal or lower on 10 of 12 tasks (0.004 and 0.002 higher on two stories12L tasks), Spearman within the spread
    /// between seeds (12-layer dev mean 0.63 against 0.67), gain-fraction MAE within 0.02, at half the signal passes'
    /// time (docs/results/README.md). Earlier, 32 and 64 showed no difference either.
    /// </summary>
    public const int DefaultCalibrationExamples = 16;
    /// <summary>Ridge of each input covariance, as a fraction of its mean eigenvalue.</summary>
    public double RidgeEps { get; init; } = 1e-3;
    /// <summary>Steps of each single-layer probe run; null (the default) runs no probes: the card predicts from its signals alone.</summary>
    public int? ProbeSteps { get; init; }
    /// <summary>No probe runs even when <see cref="ProbeSteps"/> is set.</summary>
    public bool NoProbes { get; init; }
    /// <summary>Which first step the function-space signal measures (Adam's sign step by default: what LoRA training takes first).</summary>
    public StepDirection Direction { get; init; } = StepDirection.Sign;
    /// <summary>
    /// Line-search each layer's direction with the real loss (<see cref="FunctionSpaceOptions.LineSearch"/>): on
    /// stories12L its pairs came near the best baseline where the default's did not, at about twice the card's time (0.16x of a 300-step fine-tune on stories12L against 0.09x)
    /// (docs/results). Off by default for that cost; not with shards.
    /// </summary>
    public bool LineSearch { get; init; }
    /// <summary>Batch size of the signal pass and of the probes.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Learning rate of the probes.</summary>
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>The full-layer fine-tune the card is weighed against: this many steps at the measured all-layer step time.</summary>
    public int FullFineTuneSteps { get; init; } = 300;
    /// <summary>Validation examples (windows) the probes are scored on.</summary>
    public int ValidationExamples { get; init; } = 64;
    /// <summary>Chooses the calibration sample and the probes' data order.</summary>
    public long Seed { get; init; }
    /// <summary>Layers that get probe runs (default all); the others carry signal columns only.</summary>
    public string? ProbeLayers { get; init; }

    /// <summary>The calibration examples a card of a model with <paramref name="layers"/> layers reads.</summary>
    public int CalibrationExamplesFor(int layers) => CalibrationExamples ?? Math.Max(DefaultCalibrationExamples, layers);

    /// <summary>Refuses settings no card can use, naming the field.</summary>
    public void Validate()
    {
        if (Rank <= 0) throw BadInputException.ForField("rank", $"must be positive, got {Rank}");
        if (Targets is { Count: 0 }) throw BadInputException.ForField("targets", "names no module");
        if (!(Alpha > 0)) throw BadInputException.ForField("alpha", $"must be positive, got {Alpha}");
        if (CalibrationExamples is <= 0) throw BadInputException.ForField("calibration_examples", $"must be positive, got {CalibrationExamples}");
        if (!(RidgeEps >= 0)) throw BadInputException.ForField("ridge_eps", $"must be 0 or positive, got {RidgeEps}");
        if (ProbeSteps is <= 0) throw BadInputException.ForField("probe_steps", $"must be positive, got {ProbeSteps}");
        if (BatchSize <= 0) throw BadInputException.ForField("batch_size", $"must be positive, got {BatchSize}");
        if (!(LearningRate > 0)) throw BadInputException.ForField("learning_rate", $"must be positive, got {LearningRate}");
        if (FullFineTuneSteps <= 0) throw BadInputException.ForField("full_fine_tune_steps", $"must be positive, got {FullFineTuneSteps}");
        if (ValidationExamples <= 0) throw BadInputException.ForField("validation_examples", $"must be positive, got {ValidationExamples}");
    }
}

/// <summary>Finished single-layer probes of an interrupted card, and where to record each new one, so a killed card resumes.</summary>
/// <param name="Done">Probes finished before (for the same cache key).</param>
/// <param name="Record">Called with all finished probes after each new one.</param>
public sealed record ProbeJournal(IReadOnlyList<LayerProbe> Done, Action<IReadOnlyList<LayerProbe>> Record);

/// <summary>
/// Builds a Layer Card from a loaded model and a run's data: a signal pass (resnorm, energy, coupling) on a
/// calibration sample of the training part, then short LoRA probe runs on each layer alone (measured cost and
/// gain on the validation part), an all-layer run and cost checks on other sets, a cost model, and the card's own
/// predictiveness. Loading, caching and files are the card recipe's.
/// </summary>
public static class CardBuilder
{
    /// <summary>
    /// LoRA steps timed on each of three sets when no probes run: all layers (the card is weighed against that step),
    /// the top layer alone and the bottom layer alone, which give the planner a measured step-time model
    /// (<see cref="CostModel.FromTimings"/>).
    /// </summary>
    public const int TimingSteps = 2;

    /// <summary>Builds the card of <paramref name="loaded"/> on <paramref name="data"/>.</summary>
    /// <param name="key">The card's cache key (<see cref="CacheKey"/>), recorded in the card.</param>
    public static CardDocument Build(LoadedModel loaded, string modelReference, string dataReference, TaskData data, CardSettings settings, string key,
        Device device, IProgress<string>? progress = null, ProbeJournal? journal = null) =>
        BuildPart(loaded, modelReference, dataReference, data, settings, key, device, progress, journal, ShardSpec.Whole).Card;

    /// <summary>
    /// Shard <paramref name="shard"/> of the card (<see cref="CardShard"/>): the whole-pass signals, and the
    /// function-space finite differences on the shard's part of the calibration batches. Probes are not sharded.
    /// </summary>
    public static CardShard BuildShard(LoadedModel loaded, string modelReference, string dataReference, TaskData data, CardSettings settings, string key,
        ShardSpec shard, Device device, IProgress<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        ArgumentNullException.ThrowIfNull(shard);
        RequireShardable(settings);
        var (card, part) = BuildPart(loaded, modelReference, dataReference, data, settings, key, device, progress, null, shard);
        return new CardShard(shard.Index, shard.Count, CardShard.TokenizerFingerprint(loaded.Tokenizer), card, part);
    }

    /// <summary>Refuses settings a shard cannot build: probe runs are not split across shards, nor is the line search.</summary>
    public static void RequireShardable(CardSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.ProbeSteps.HasValue && !settings.NoProbes)
            throw BadInputException.ForField("probe_steps", "cannot be combined with a shard: probe runs are not split across shards (build the card without probes)");
        if (settings.LineSearch)
            throw BadInputException.ForField("line_search", "cannot be combined with a shard: it searches along the whole calibration sample's best steps (build the card in one pass)");
    }

    private static (CardDocument Card, FunctionSpacePart Part) BuildPart(LoadedModel loaded, string modelReference, string dataReference, TaskData data, CardSettings settings, string key,
        Device device, IProgress<string>? progress, ProbeJournal? journal, ShardSpec shard)
    {
        settings.Validate();
        var clock = Stopwatch.StartNew();
        var model = loaded.Model;
        var layerCount = loaded.Config.Layers;
        var trainSet = data.Train.Tokens;
        var examples = settings.CalibrationExamplesFor(layerCount);
        if (examples < layerCount)
            throw BadInputException.ForField("calibration_examples", $"{examples}: fewer examples than the model's {layerCount} layers; the coupling needs at least {layerCount}");
        var calibration = data.CalibrationSample(examples, settings.Seed);
        if (calibration.Examples.Count < layerCount)
            throw BadInputException.InFile(data.Train.Raw.Source, $"only {calibration.Examples.Count} usable calibration examples for {layerCount} layers; the coupling needs at least {layerCount}");
        var targets = Targets(settings, model);
        var probeLayers = settings.ProbeLayers is null ? Enumerable.Range(0, layerCount).ToList() : LayerSelection.Parse(settings.ProbeLayers, layerCount, "probe_layers").ToList();

        progress?.Report($"signal pass over {calibration.Examples.Count} calibration examples of the training part ({calibration.TotalTokens:N0} tokens)");
        var signalOptions = new SignalOptions(settings.RidgeEps, settings.Rank, settings.BatchSize);
        SignalResult signal;
        FunctionSpacePart part;
        // One bounded-memory scope over both passes; the LoRA steps the card is timed against run after it, as a fine-tune would.
        using (LayerSweep.BoundedMemory(model))
        {
            var functionOptions = new FunctionSpaceOptions(settings.Rank, settings.Alpha, settings.BatchSize, settings.Seed, settings.Direction, LineSearch: settings.LineSearch);
            // The residual pass's sweep also gives the fresh adapters' gradient: the function-space pass needs no sweep of its own.
            using var freshGradient = FunctionSpaceProbe.GradientToGather(model, calibration, targets, functionOptions);
            signal = SignalProbe.Run(model, calibration, targets, signalOptions, device, progress, freshGradient);
            progress?.Report("function-space pass: each layer's first LoRA step through the model, with the cross-entropy's curvature");
            part = FunctionSpaceProbe.MeasurePart(model, calibration, targets, functionOptions, device, shard.Index, shard.Count, freshGradient);
            progress?.Report($"signal passes took {signal.FirstPassSeconds:F2} s (residual sweep with the fresh adapters' gradient), {signal.SecondPassSeconds:F2} s (the coupling's second run) and {part.Seconds:F2} s (function-space differences)");
        }
        var functionSpace = FunctionSpacePart.Combine([part]).ForCard();
        var functionGains = functionSpace.LayerGains();
        var signalSeconds = signal.FirstPassSeconds + signal.SecondPassSeconds + functionSpace.Seconds;

        var probeClock = Stopwatch.StartNew();
        CardProbes? probes = null;
        IReadOnlyList<LayerProbe> layerProbes = [];
        CostModel? costModel = null;
        TokenizedSet? validationSet = null;
        if (!settings.NoProbes && settings.ProbeSteps.HasValue)
        {
            validationSet = (data.Validation ?? throw BadInputException.ForField("hold_out_fraction", "is 0: the card's probes need a validation part (or run without probes)"))
                .Tokens.First(settings.ValidationExamples);
            (probes, layerProbes, costModel) = RunProbes(settings, model, layerCount, probeLayers, targets, trainSet, validationSet, device, journal, progress);
        }
        var probeSeconds = probeClock.Elapsed.TotalSeconds;

        var rows = signal.Layers.Select(s =>
        {
            var probe = layerProbes.FirstOrDefault(p => p.Layer == s.Layer);
            var parameters = probe?.AdapterParameters ?? AdapterParameters(model, s.Layer, targets, settings.Rank);
            return new CardLayerRow(s.Layer, s.ResNorm, s.ResNormRankR, s.GradNorm, functionGains[s.Layer],
                s.Energy.Trace, s.Energy.MaxEigenvalue, s.Energy.MinEigenvalue, s.Energy.Condition, s.Energy.EffectiveRank,
                parameters, probe?.StepSeconds, probe?.PeakMemoryIncrementBytes, probe?.InferenceOverheadSeconds, probe?.Gain, probe?.ValidationLossAfter,
                s.PredictedGain, functionSpace.FisherTrace[s.Layer]);
        }).ToList();

        var predictiveness = probes is null ? null : Predictiveness(rows, signal, probes);
        double allLayerStep;
        if (probes is null) (costModel, allLayerStep) = TimeSets(settings, model, layerCount, targets, trainSet, device, progress);
        else allLayerStep = probes.AllLayers.StepSeconds;
        // The signals' yardstick: an all-layer LoRA step (a forward and backward through every layer) per calibration batch.
        var forwardBackward = allLayerStep * Math.Ceiling(calibration.Examples.Count / (double)settings.BatchSize);
        var fullSeconds = allLayerStep * settings.FullFineTuneSteps;
        var cardSeconds = clock.Elapsed.TotalSeconds;
        return (new CardDocument
        {
            CacheKey = key,
            Created = DateTimeOffset.UtcNow,
            Model = new CardModel(modelReference, loaded.Source, loaded.Config.Architecture, layerCount, loaded.Config.Hidden, loaded.ParameterCount, loaded.ContentHash),
            Dataset = new CardDataset(dataReference, data.Format.ToString(), data.ContentHash, trainSet.Examples.Count, validationSet?.Examples.Count ?? 0, trainSet.Summary),
            Lora = new CardLora(targets, settings.Rank, settings.Alpha),
            Calibration = new CardCalibration(signal.Examples, signal.Tokens, signal.TargetTokens, settings.RidgeEps, settings.Rank),
            Layers = rows,
            Modules = signal.Modules.Select(m => new CardModuleRow(m.Layer, m.Module, m.InFeatures, m.OutFeatures, m.ResNorm, m.ResNormRankR, m.GradNorm, m.PredictedGain)).ToList(),
            Coupling = CardDocument.Jagged(signal.Coupling),
            SignedCorrelation = CardDocument.Jagged(signal.SignedCorrelation),
            CostModel = costModel,
            Probes = probes,
            FunctionSpace = CardFunctionSpace.From(functionSpace),
            Predictiveness = predictiveness,
            Timing = new CardTiming(signalSeconds, forwardBackward, signalSeconds / Math.Max(forwardBackward, 1e-9), probeSeconds, cardSeconds,
                settings.FullFineTuneSteps, fullSeconds, cardSeconds / fullSeconds),
        }, part);
    }

    /// <summary>The modules the card adapts: the settings' targets, or the family's defaults.</summary>
    public static IReadOnlyList<string> Targets(CardSettings settings, CausalLM model) =>
        LoraTargets.Resolve(settings.Targets, model, LoraTargets.QueryValue);

    /// <summary>
    /// A step-time model from short timed LoRA runs on all layers, the top layer alone and the bottom layer alone, and
    /// the all-layer step it measured. Each set's figure is its fastest step: a run's first step pays one-time costs
    /// (adapters, optimizer state, memory faulted in again) and a shared machine only ever adds time, so the minimum
    /// is the steady cost (and, as the card's denominator, errs towards a dearer card).
    /// </summary>
    private static (CostModel Model, double AllLayerStep) TimeSets(CardSettings settings, CausalLM model, int layerCount, IReadOnlyList<string> targets, TokenizedSet train, Device device, IProgress<string>? progress)
    {
        var timing = new ProbeSettings(targets, settings.Rank, settings.Alpha, TimingSteps, settings.BatchSize, settings.LearningRate, settings.Seed);
        double Fastest(IReadOnlyList<int> layers, string name)
        {
            var seconds = LayerProbes.TimeSteps(model, layers, train, timing, device);
            progress?.Report($"{name}: {TimingSteps} LoRA steps timed, {string.Join(", ", seconds.Select(s => $"{s * 1000:F0}"))} ms");
            return seconds.Min();
        }
        var all = Fastest(Enumerable.Range(0, layerCount).ToList(), $"all {layerCount} layers (what the card is weighed against)");
        if (layerCount < 2) return (CostModel.FromTimings(layerCount, all, all, all), all);
        var top = Fastest([layerCount - 1], $"layer {layerCount - 1} alone");
        var bottom = Fastest([0], "layer 0 alone");
        return (CostModel.FromTimings(layerCount, top, bottom, all), all);
    }

    private static (CardProbes, IReadOnlyList<LayerProbe>, CostModel) RunProbes(CardSettings request, CausalLM model, int layerCount, IReadOnlyList<int> probeLayers, IReadOnlyList<string> targets,
        TokenizedSet train, TokenizedSet validation, Device device, ProbeJournal? journal, IProgress<string>? progress)
    {
        var steps = request.ProbeSteps!.Value;
        var settings = new ProbeSettings(targets, request.Rank, request.Alpha, steps, request.BatchSize, request.LearningRate, request.Seed);
        var baseLoss = LossEvaluation.MeanLoss(model, validation, settings.EvalBatchSize, device).MeanLoss;
        var inferenceBatch = BatchSampler.Batches(validation, Math.Min(4, validation.Examples.Count)).First();
        var baselineForward = LayerProbes.ForwardSeconds(model, inferenceBatch, device);
        var singles = new List<LayerProbe>(journal?.Done ?? []);
        // Top layer first: each run then needs at least the memory of the one before, so peak increments are not hidden by a heap already grown.
        foreach (var layer in probeLayers.OrderDescending())
        {
            if (singles.Any(p => p.Layer == layer)) { progress?.Report($"layer {layer}: probe reused from an interrupted run"); continue; }
            progress?.Report($"layer {layer}: LoRA probe, {steps} steps (resident {MemoryMeter.CurrentBytes() / 1048576.0:F0} MiB)");
            singles.Add(LayerProbes.ProbeLayer(model, layer, train, validation, baseLoss, settings, device, baselineForward, inferenceBatch));
            journal?.Record(singles);
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
            ["resnorm_gain"] = r => r.ResNormGain ?? double.NaN,
            ["fisher_trace"] = r => r.FisherTrace ?? double.NaN,
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

    /// <summary>
    /// Identifies a card by everything it depends on: model, data and its parts, and settings (a cached card is reused
    /// only on a match). The calibration count enters as the card reads it for a model of <paramref name="layers"/>
    /// layers, so a card built before the default changed is not taken for one of the new default, and an explicit
    /// count equal to the default names the same card.
    /// </summary>
    public static string CacheKey(string modelHash, int layers, TaskData data, CardSettings settings, IReadOnlyList<string> targets)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings = settings with { CalibrationExamples = settings.CalibrationExamplesFor(layers) };
        var text = JsonSerializer.Serialize(new
        {
            CardDocument.CurrentSchemaVersion, FunctionSpaceResult.CardLevelShrink, FunctionSpaceResult.CardRedundancy, Saturation = "base loss", TimedSets = "top,bottom,all", modelHash, data.ContentHash, Plan = data.Plan, Train = data.Train.Tokens.Summary,
            Validation = data.Validation?.Tokens.Summary, Format = data.Format.ToString(), data.Train.Raw.Labels, targets, settings,
        });
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..32];
    }
}
