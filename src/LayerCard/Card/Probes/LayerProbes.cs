using System.Diagnostics;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Models;
using LayerCard.Training;
using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>How the card's LoRA runs are set up: the card's LoRA configuration, held fixed, on one layer at a time.</summary>
public sealed record ProbeSettings(
    IReadOnlyList<string> Targets, int Rank, double Alpha, int Steps, int BatchSize, double LearningRate, long Seed, int EvalBatchSize = EvaluationDefaults.BatchSize);

/// <summary>
/// Short LoRA runs that measure a placement's real cost and gain on this machine: the same configuration,
/// steps, data order and seed for every placement, so that only the set of adapted layers differs.
/// </summary>
public static class LayerProbes
{
    /// <summary>Trains LoRA on <paramref name="layers"/> alone for the probe steps, then measures it.</summary>
    public static SetMeasurement Measure(CausalLM model, IReadOnlyList<int> layers, TokenizedSet train, TokenizedSet? validation, double? baseLoss, ProbeSettings settings, Device device)
    {
        var resident = MemoryMeter.CurrentBytes();
        // The validation loss is read while the adapters are still in the model.
        var (result, after) = Train(model, layers, train, settings, device,
            () => validation is null ? (double?)null : LossEvaluation.MeanLoss(model, validation, settings.EvalBatchSize, device).MeanLoss);
        return new SetMeasurement(layers.ToList(), settings.Steps, result.MeanStepSeconds, Math.Max(0, result.PeakMemoryBytes - resident), after,
            after.HasValue && baseLoss.HasValue ? baseLoss.Value - after.Value : null);
    }

    /// <summary>Each step's seconds of a LoRA run on <paramref name="layers"/> for the settings' steps, the first included (nothing is evaluated).</summary>
    public static IReadOnlyList<double> TimeSteps(CausalLM model, IReadOnlyList<int> layers, TokenizedSet train, ProbeSettings settings, Device device) =>
        Train(model, layers, train, settings, device, () => 0).Result.StepSeconds;

    /// <summary>Trains LoRA on <paramref name="layers"/>, then calls <paramref name="whileAdapted"/> before the adapters are removed.</summary>
    private static (TrainingResult Result, T After) Train<T>(CausalLM model, IReadOnlyList<int> layers, TokenizedSet train, ProbeSettings settings, Device device, Func<T> whileAdapted)
    {
        var config = new LoraConfig(settings.Rank, settings.Alpha, 0, false, settings.Targets, layers);
        using var lora = LoraModel.Inject(model, config, settings.Seed);
        var options = new TrainingOptions
        {
            Steps = settings.Steps, BatchSize = settings.BatchSize, LearningRate = settings.LearningRate, Seed = settings.Seed,
            Decay = DecayKind.Constant, WarmupSteps = 0, EvalEvery = 0,
        };
        var result = new Trainer(lora, options, device).Train(train, null, fingerprint: "probe");
        return (result, whileAdapted());
    }

    /// <summary>One layer's probe: cost and gain of a run on it alone, plus its unmerged inference overhead.</summary>
    public static LayerProbe ProbeLayer(CausalLM model, int layer, TokenizedSet train, TokenizedSet? validation, double? baseLoss, ProbeSettings settings, Device device, double baselineForwardSeconds, Batch inferenceBatch)
    {
        var measured = Measure(model, [layer], train, validation, baseLoss, settings, device);
        var config = new LoraConfig(settings.Rank, settings.Alpha, 0, false, settings.Targets, [layer]);
        double overhead;
        long parameters;
        using (var lora = LoraModel.Inject(model, config, settings.Seed))
        {
            parameters = lora.TrainableParameterCount;
            overhead = Math.Max(0, ForwardSeconds(model, inferenceBatch, device) - baselineForwardSeconds);
        }
        return new LayerProbe(layer, settings.Steps, measured.StepSeconds, measured.PeakMemoryIncrementBytes, parameters, overhead, measured.ValidationLossAfter, measured.Gain);
    }

    /// <summary>Median wall time of an inference forward over one batch (no autograd).</summary>
    public static double ForwardSeconds(CausalLM model, Batch batch, Device device, int repeats = 7)
    {
        var times = new List<double>();
        using var noGrad = no_grad();
        model.eval();
        for (int i = 0; i < repeats + 1; i++)
        {
            using var scope = NewDisposeScope();
            var ids = tensor(batch.InputIds, [batch.BatchSize, batch.Length], device: device);
            var clock = Stopwatch.StartNew();
            model.Forward(ids).sum().item<float>();
            if (i > 0) times.Add(clock.Elapsed.TotalSeconds);
        }
        return Statistics.Median(times);
    }
}
