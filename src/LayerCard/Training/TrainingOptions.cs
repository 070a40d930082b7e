using LayerCard.Common;

namespace LayerCard.Training;

/// <summary>
/// How a LoRA run trains: optimizer, schedule, evaluation and checkpoints. Field names in refusals are the
/// snake_case names of these properties ("batch_size", "learning_rate").
/// </summary>
public sealed record TrainingOptions
{
    /// <summary>Optimizer steps (each <see cref="GradientAccumulation"/> micro-batches).</summary>
    public int Steps { get; init; } = 100;
    /// <summary>Sequences per micro-batch.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Micro-batches whose gradients are summed into one optimizer step.</summary>
    public int GradientAccumulation { get; init; } = 1;
    /// <summary>The AdamW learning rate at the end of warmup.</summary>
    public double LearningRate { get; init; } = 2e-4;
    /// <summary>Steps of linear warmup from 0 to <see cref="LearningRate"/>.</summary>
    public int WarmupSteps { get; init; }
    /// <summary>How the learning rate falls after warmup.</summary>
    public DecayKind Decay { get; init; } = DecayKind.Linear;
    /// <summary>Decoupled weight decay on the LoRA weights (TorchSharp's AdamW defaults to 0; PEFT trainers use 0.01-0.1).</summary>
    public double WeightDecay { get; init; } = 0.01;
    /// <summary>The gradient norm is clipped to this (0: no clipping).</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Validation every this many steps (0: the trainer's default).</summary>
    public int EvalEvery { get; init; }
    /// <summary>A checkpoint every this many steps (0: never).</summary>
    public int CheckpointEvery { get; init; }
    /// <summary>Seeds the data order, dropout and LoRA initialisation.</summary>
    public long Seed { get; init; }
    /// <summary>Sequences per batch when computing the validation loss.</summary>
    public int EvalBatchSize { get; init; } = Evaluation.EvaluationDefaults.BatchSize;
    /// <summary>Where checkpoints and metrics go; null keeps the run in memory (card probes).</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Continue from the checkpoint in <see cref="OutputDirectory"/>.</summary>
    public bool Resume { get; init; }
    /// <summary>
    /// Stop after this many steps (counted from the run's start) with a checkpoint in <see cref="OutputDirectory"/>,
    /// for a later call with <see cref="Resume"/> to continue; the schedule still spans <see cref="Steps"/>, so the
    /// pieces end with the adapter of one uninterrupted run. Null: run to the end. Not part of a run's identity.
    /// </summary>
    public int? PauseAfter { get; init; }
    /// <summary>
    /// Resume without the "resumed from step N" line, for callers that announce each piece themselves
    /// (<see cref="Recipes.SideBySideTraining"/>). Not part of a run's identity.
    /// </summary>
    public bool QuietResume { get; init; }

    /// <summary>
    /// Refuses settings no run can use with a <see cref="BadInputException"/> whose <see cref="BadInputException.Field"/>
    /// is the snake_case field name (cheap: call it before loading anything).
    /// </summary>
    public void Validate()
    {
        if (Steps <= 0) throw BadInputException.ForField("steps", $"must be positive, got {Steps}");
        if (BatchSize <= 0) throw BadInputException.ForField("batch_size", $"must be positive, got {BatchSize}");
        if (GradientAccumulation <= 0) throw BadInputException.ForField("gradient_accumulation", $"must be positive, got {GradientAccumulation}");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw BadInputException.ForField("learning_rate", $"must be positive, got {LearningRate}");
        if (LearningRate > float.MaxValue) throw BadInputException.ForField("learning_rate", $"{LearningRate} does not fit a float32; training runs in float32");
        if (WarmupSteps < 0) throw BadInputException.ForField("warmup_steps", $"must be 0 or positive, got {WarmupSteps}");
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) throw BadInputException.ForField("weight_decay", $"must be 0 or positive, got {WeightDecay}");
        if (LearningRate * WeightDecay > float.MaxValue)
            throw BadInputException.Naming("learning_rate", n => $"{n("learning_rate")} {LearningRate} times {n("weight_decay")} {WeightDecay} does not fit a float32; training runs in float32");
        if (!(MaxGradNorm >= 0)) throw BadInputException.ForField("max_grad_norm", $"must be 0 or positive (0: no clipping), got {MaxGradNorm}");
        if (EvalEvery < 0) throw BadInputException.ForField("eval_every", $"must be 0 or positive, got {EvalEvery}");
        if (CheckpointEvery < 0) throw BadInputException.ForField("checkpoint_every", $"must be 0 or positive, got {CheckpointEvery}");
        if (PauseAfter is int pause && (pause <= 0 || OutputDirectory is null))
            throw BadInputException.ForField("pause_after", pause <= 0 ? $"must be positive, got {pause}" : "needs an output directory for its checkpoint");
    }
}

/// <summary>One training step as the progress line shows it: loss, rate, throughput, time spent and left.</summary>
public sealed record StepReport(int Step, int TotalSteps, double Loss, double LearningRate, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Remaining);

/// <summary>Sees a run's progress (the CLI prints it; recipes may log it).</summary>
public interface ITrainingObserver
{
    void OnStep(StepReport report);
    void OnEvaluation(int step, double validationLoss);
    void OnMessage(string message);
}

/// <summary>One line of metrics.jsonl: a step's training loss and, where measured, validation loss.</summary>
public sealed record MetricPoint(int Step, double? TrainLoss, double? ValidationLoss, double LearningRate, long Tokens, double ElapsedSeconds);

/// <summary>What a finished training run measured: steps, tokens, times, peak memory, final losses and every metric point.</summary>
/// <param name="Steps">The step the run reached: all of them, unless it paused (<see cref="TrainingOptions.PauseAfter"/>).</param>
/// <param name="MeanStepSeconds">Mean time of the steps after the first (which pays for one-time allocations).</param>
/// <param name="StepSeconds">Each step's time in this process, the first included (validation and checkpoints not counted).</param>
public sealed record TrainingResult(
    int Steps, long Tokens, double WallSeconds, double MeanStepSeconds, long PeakMemoryBytes,
    double FinalTrainLoss, double? FinalValidationLoss, int ResumedFromStep, IReadOnlyList<MetricPoint> Metrics, IReadOnlyList<double> StepSeconds);
