using System.Diagnostics;
using System.Text.Json;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Training;

/// <summary>
/// Trains the adapters of a LoRA model: AdamW with warmup and decay, gradient accumulation and clipping,
/// periodic evaluation and atomic checkpoints. The same seed gives the same adapter, also across a resume.
/// </summary>
public sealed class Trainer(LoraModel lora, TrainingOptions options, Device device, ITrainingObserver? observer = null)
{
    /// <summary>Per-step metrics, one JSON object a line, beside the adapter.</summary>
    public const string MetricsFile = "metrics.jsonl";

    /// <param name="fingerprint">Identifies the run's settings; a checkpoint from other settings is refused on resume.</param>
    public TrainingResult Train(TokenizedSet train, TokenizedSet? validation, string fingerprint)
    {
        options.Validate();
        var model = lora.Model;
        var parameters = lora.TrainableParameters().ToList();
        using var optimizer = new AdamW(parameters, weightDecay: options.WeightDecay);
        var schedule = new LearningRateSchedule(options.LearningRate, options.WarmupSteps, options.Steps, options.Decay);
        var sampler = new BatchSampler(train, options.BatchSize, options.Seed);
        var metrics = new List<MetricPoint>();
        int startStep = 0;
        long tokens = 0;
        double elapsedBefore = 0;
        var checkpointFolder = options.OutputDirectory is null ? null : TrainingCheckpoint.FolderIn(options.OutputDirectory);
        if (options.Resume && checkpointFolder != null && TrainingCheckpoint.Exists(checkpointFolder))
        {
            var state = TrainingCheckpoint.Load(checkpointFolder, lora, optimizer, fingerprint);
            startStep = state.Step;
            sampler.Seek(state.DataPosition);
            tokens = state.Tokens;
            elapsedBefore = state.ElapsedSeconds;
            metrics.AddRange(state.Metrics);
            if (!options.QuietResume) observer?.OnMessage($"resumed from step {startStep} ({checkpointFolder})");
        }

        MemoryMeter.ResetPeak();
        var clock = Stopwatch.StartNew();
        var stepTimes = new List<double>();
        double lastLoss = double.NaN;
        double? lastValidation = metrics.LastOrDefault(m => m.ValidationLoss.HasValue)?.ValidationLoss;
        int lastGoodCheckpoint = startStep;
        model.train();
        int stopAt = Math.Min(options.PauseAfter ?? options.Steps, options.Steps);
        for (int step = startStep; step < stopAt; step++)
        {
            var stepClock = Stopwatch.StartNew();
            var rate = schedule.At(step);
            var (loss, stepTokens) = TrainStep(step, sampler, optimizer, parameters, rate);
            if (double.IsNaN(loss) || double.IsInfinity(loss))
            {
                model.eval();
                var kept = checkpointFolder != null && TrainingCheckpoint.Exists(checkpointFolder)
                    ? $"the last good checkpoint (step {lastGoodCheckpoint}) is kept in {checkpointFolder}" : "no checkpoint was written";
                // Spelled out: .NET prints infinity as "∞", which a log search for "Infinity" misses.
                var value = double.IsNaN(loss) ? "NaN" : loss > 0 ? "Infinity" : "-Infinity";
                throw new RuntimeFailureException($"training loss became {value} at step {step + 1}; stopped ({kept}); try a lower learning rate");
            }
            tokens += stepTokens;
            lastLoss = loss;
            stepTimes.Add(stepClock.Elapsed.TotalSeconds);
            var elapsed = elapsedBefore + clock.Elapsed.TotalSeconds;
            double? validationLoss = null;
            if (validation != null && options.EvalEvery > 0 && ((step + 1) % options.EvalEvery == 0 || step + 1 == options.Steps))
            {
                validationLoss = LossEvaluation.MeanLoss(model, validation, options.EvalBatchSize, device).MeanLoss;
                lastValidation = validationLoss;
                observer?.OnEvaluation(step + 1, validationLoss.Value);
            }
            metrics.Add(new MetricPoint(step + 1, loss, validationLoss, rate, tokens, elapsed));
            var done = step + 1 - startStep;
            var perStep = clock.Elapsed.TotalSeconds / done;
            observer?.OnStep(new StepReport(step + 1, options.Steps, loss, rate, tokens / Math.Max(elapsed, 1e-9),
                TimeSpan.FromSeconds(elapsed), TimeSpan.FromSeconds(perStep * (options.Steps - step - 1))));
            bool pausing = step + 1 == stopAt && stopAt < options.Steps;
            if (checkpointFolder != null && step + 1 < options.Steps && (pausing || options.CheckpointEvery > 0 && (step + 1) % options.CheckpointEvery == 0))
            {
                TrainingCheckpoint.Save(checkpointFolder, lora, optimizer, new CheckpointState(step + 1, sampler.Position, tokens, elapsed, fingerprint, metrics));
                WriteMetrics(metrics);
                lastGoodCheckpoint = step + 1;
            }
        }
        model.eval();
        var wall = clock.Elapsed.TotalSeconds;
        // The first step pays for one-time allocations; the mean of the rest is the steady cost.
        var steady = stepTimes.Count > 1 ? stepTimes.Skip(1).Average() : stepTimes.DefaultIfEmpty(0).Average();
        if (checkpointFolder != null) WriteMetrics(metrics);
        return new TrainingResult(Math.Max(stopAt, startStep), tokens, elapsedBefore + wall, steady, MemoryMeter.PeakBytes(), lastLoss, lastValidation, startStep, metrics, stepTimes);
    }

    private (double Loss, long Tokens) TrainStep(int step, BatchSampler sampler, AdamW optimizer, IReadOnlyList<TorchSharp.Modules.Parameter> parameters, double rate)
    {
        using var scope = NewDisposeScope();
        // Dropout masks come from the LoRA model's generator, seeded from (seed, step): a resumed run replays the same masks.
        lora.Dropout.Reseed(options.Seed * 1_000_003 + step);
        var batches = Enumerable.Range(0, options.GradientAccumulation).Select(_ => sampler.Next()).ToList();
        long targets = batches.Sum(b => (long)b.TargetTokens);
        if (targets == 0) return (0, 0);
        optimizer.ZeroGrad();
        double total = 0;
        foreach (var batch in batches)
        {
            using var microScope = NewDisposeScope();
            var sum = CompletionLoss.Sum(lora.Model, batch, device);
            (sum / targets).backward();
            total += sum.item<float>();
        }
        var loss = total / targets;
        if (double.IsNaN(loss) || double.IsInfinity(loss)) return (loss, 0);
        ClipGradients(parameters);
        optimizer.Step(rate);
        return (loss, batches.Sum(b => (long)b.BatchSize * b.Length));
    }

    private void ClipGradients(IReadOnlyList<TorchSharp.Modules.Parameter> parameters)
    {
        if (options.MaxGradNorm <= 0) return;
        using var noGrad = no_grad();
        var squares = parameters.Where(p => p.grad is not null).Select(p => OwnedScalars.Square(p.grad!).sum()).ToList();
        if (squares.Count == 0) return;
        var norm = stack(squares).sum().sqrt().item<float>();
        if (norm <= options.MaxGradNorm) return;
        var factor = options.MaxGradNorm / (norm + 1e-6);
        using var scale = factor.ToScalar();
        foreach (var p in parameters) p.grad?.mul_(scale);
    }

    private void WriteMetrics(IReadOnlyList<MetricPoint> metrics)
    {
        var lines = metrics.Select(m => JsonSerializer.Serialize(new
        {
            step = m.Step, train_loss = m.TrainLoss, validation_loss = m.ValidationLoss, learning_rate = m.LearningRate,
            tokens = m.Tokens, elapsed_seconds = Math.Round(m.ElapsedSeconds, 3),
        }));
        AtomicFile.WriteAllText(Path.Combine(options.OutputDirectory!, MetricsFile), string.Join("\n", lines) + "\n");
    }
}
