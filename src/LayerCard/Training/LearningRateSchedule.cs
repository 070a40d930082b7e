namespace LayerCard.Training;

/// <summary>How the rate falls after warmup: linearly or by a cosine to zero, or not at all.</summary>
public enum DecayKind { Linear, Cosine, Constant }

/// <summary>Linear warmup from 0, then linear or cosine decay to <see cref="FinalFraction"/> of the peak at the last step.</summary>
public sealed record LearningRateSchedule(double Peak, int WarmupSteps, int TotalSteps, DecayKind Decay, double FinalFraction = 0.0)
{
    /// <summary>The warmup the recipes use when the user sets none: a tenth of the run, at most 10 steps.</summary>
    public static int DefaultWarmup(int steps) => Math.Min(10, steps / 10);

    /// <summary>The rate for optimizer step <paramref name="step"/> (0-based).</summary>
    public double At(int step)
    {
        if (WarmupSteps > 0 && step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        if (Decay == DecayKind.Constant) return Peak;
        var span = Math.Max(1, TotalSteps - WarmupSteps);
        var progress = Math.Clamp((double)(step - WarmupSteps) / span, 0, 1);
        var factor = Decay == DecayKind.Cosine ? 0.5 * (1 + Math.Cos(Math.PI * progress)) : 1 - progress;
        return Peak * (FinalFraction + (1 - FinalFraction) * factor);
    }
}
