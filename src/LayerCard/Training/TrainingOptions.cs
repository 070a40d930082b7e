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
