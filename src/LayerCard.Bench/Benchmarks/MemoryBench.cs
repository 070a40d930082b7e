using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Lora;
using LayerCard.Models;
using LayerCard.Recipes;
using LayerCard.Training;
using static TorchSharp.torch;

namespace LayerCard.Bench.Benchmarks;

/// <summary>Resident memory and the machine's load average at one point of a training run.</summary>
public sealed record MemorySample(string When, int Step, long ResidentBytes, double LoadAverage);

/// <summary>
/// The samples of a long training run, the step from which memory should stay flat, the growth from there to the
/// end and the training speed.
/// </summary>
public sealed record MemoryFigures(IReadOnlyList<MemorySample> Samples, int WarmupStep, long GrowthBytes, double StepsPerSecond)
{
    /// <summary>Resident memory after warm-up wobbles with the allocator and the GC (it may fall), but must not climb.</summary>
    public const long FlatLimitBytes = 8L << 20;

    /// <summary>The samples taken during training at or after the warm-up step.</summary>
    public IEnumerable<MemorySample> AfterWarmup => Samples.Where(s => s.Step >= WarmupStep && s.When is not ("start" or "loaded"));
}

/// <summary>
/// A long in-process training run that samples resident memory (VmRSS) every few steps: a leak of a few
/// tensors per step shows as steady growth after warm-up, which a short run or a peak figure would hide.
/// </summary>
public static class MemoryBench
{
    /// <summary>Trains LoRA on <paramref name="model"/> for <paramref name="steps"/> steps, sampling resident memory at the start, after loading, at <paramref name="warmupStep"/>, every <paramref name="every"/> steps and at the end; growth is measured from the warm-up sample to the end.</summary>
    public static MemoryFigures Run(string model, string data, int steps, int every, int warmupStep, int batchSize, int maxLength,
        string layers = "all", IReadOnlyList<string>? targets = null, Action<string>? log = null)
    {
        if (steps <= 0) throw new BadInputException($"--steps must be positive, got {steps}");
        if (every <= 0) throw new BadInputException($"--every must be positive, got {every}");
        var samples = new List<MemorySample> { Sample("start", 0) };
        using var loaded = ModelLoader.Load(model, null, CPU);
        var request = new TrainRequest
        {
            Model = model, Data = data, Layers = layers, Targets = targets, DataPlan = new DataPlan { MaxLength = maxLength, ValidationFraction = 0 },
            Training = new TrainingOptions { Steps = steps, BatchSize = batchSize, LearningRate = 1e-3 },
        };
        var set = RecipeData.Load(request, request.DataPlan, loaded.RequireTokenizer(), evalDataIsTest: false).Train.Tokens;
        using var lora = LoraModel.Inject(loaded.Model, TrainRecipe.LoraConfigFor(request, loaded.Model), seed: 0);
        samples.Add(Sample("loaded", 0));
        warmupStep = Math.Clamp(warmupStep, 1, steps);
        var observer = new Sampler(samples, steps, every, warmupStep, log);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        new Trainer(lora, request.Training, CPU, observer).Train(set, null, "memory-bench");
        var rate = steps / clock.Elapsed.TotalSeconds;
        var warm = samples.First(s => s.Step == warmupStep && s.When != "start" && s.When != "loaded");
        return new MemoryFigures(samples, warmupStep, samples[^1].ResidentBytes - warm.ResidentBytes, rate);
    }

    private static MemorySample Sample(string when, int step) => new(when, step, MemoryMeter.CurrentBytes(), Machine.LoadAverage());

    private sealed class Sampler(List<MemorySample> samples, int steps, int every, int warmupStep, Action<string>? log) : ITrainingObserver
    {
        /// <summary>Samples memory at the warm-up step, every <c>every</c> steps and at the last step.</summary>
        public void OnStep(StepReport report)
        {
            var step = report.Step;
            if (step != warmupStep && step % every != 0 && step != steps) return;
            var when = step == warmupStep ? "warm-up" : step == steps ? "end" : "";
            samples.Add(Sample(when, step));
            log?.Invoke($"step {step}: resident {samples[^1].ResidentBytes / 1048576.0:F1} MiB");
        }

        /// <summary>Ignored: the run has no validation data.</summary>
        public void OnEvaluation(int step, double validationLoss) { }

        /// <summary>Ignored.</summary>
        public void OnMessage(string message) { }
    }
}
