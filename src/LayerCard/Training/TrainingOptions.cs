using LayerCard.Common;

namespace LayerCard.Training;

public sealed record TrainingOptions
{
    public int Steps { get; init; } = 100;
    public int BatchSize { get; init; } = 8;
    public int GradientAccumulation { get; init; } = 1;
    public double LearningRate { get; init; } = 2e-4;
    public int WarmupSteps { get; init; }
    public DecayKind Decay { get; init; } = DecayKind.Linear;
    /// <summary>Decoupled weight decay on the LoRA weights (TorchSharp's AdamW defaults to 0; PEFT trainers use 0.01-0.1).</summary>
    public double WeightDecay { get; init; } = 0.01;
    public double MaxGradNorm { get; init; } = 1.0;
    public int EvalEvery { get; init; }
    public int CheckpointEvery { get; init; }
    public long Seed { get; init; }
    public int EvalBatchSize { get; init; } = 16;
    /// <summary>Where checkpoints and metrics go; null keeps the run in memory (card probes).</summary>
    public string? OutputDirectory { get; init; }
    public bool Resume { get; init; }

    /// <summary>Refuses settings no run can use, naming the option (cheap: call it before loading anything).</summary>
    public void Validate()
    {
        if (Steps <= 0) throw new BadInputException($"--steps must be positive, got {Steps}");
        if (BatchSize <= 0) throw new BadInputException($"--batch-size must be positive, got {BatchSize}");
        if (GradientAccumulation <= 0) throw new BadInputException($"--grad-accum must be positive, got {GradientAccumulation}");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw new BadInputException($"--lr must be positive, got {LearningRate}");
        if (LearningRate > float.MaxValue) throw new BadInputException($"--lr {LearningRate} does not fit a float32; training runs in float32");
        if (WarmupSteps < 0) throw new BadInputException($"--warmup must be 0 or positive, got {WarmupSteps}");
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) throw new BadInputException($"--weight-decay must be 0 or positive, got {WeightDecay}");
        if (LearningRate * WeightDecay > float.MaxValue) throw new BadInputException($"--lr {LearningRate} times --weight-decay {WeightDecay} does not fit a float32; training runs in float32");
        if (!(MaxGradNorm >= 0)) throw new BadInputException($"--max-grad-norm must be 0 or positive (0: no clipping), got {MaxGradNorm}");
        if (EvalEvery < 0) throw new BadInputException($"--eval-every must be 0 or positive, got {EvalEvery}");
        if (CheckpointEvery < 0) throw new BadInputException($"--checkpoint-every must be 0 or positive, got {CheckpointEvery}");
    }
}

public sealed record StepReport(int Step, int TotalSteps, double Loss, double LearningRate, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Remaining);

public interface ITrainingObserver
{
    void OnStep(StepReport report);
    void OnEvaluation(int step, double validationLoss);
    void OnMessage(string message);
}

public sealed record MetricPoint(int Step, double? TrainLoss, double? ValidationLoss, double LearningRate, long Tokens, double ElapsedSeconds);

public sealed record TrainingResult(
    int Steps, long Tokens, double WallSeconds, double MeanStepSeconds, long PeakMemoryBytes,
    double FinalTrainLoss, double? FinalValidationLoss, int ResumedFromStep, IReadOnlyList<MetricPoint> Metrics);
