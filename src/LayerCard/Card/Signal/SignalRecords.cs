using LayerCard.Common;

namespace LayerCard.Card;

/// <summary>How the signal pass keeps a module input's statistics.</summary>
public enum SignalForm
{
    /// <summary>Whichever is smaller: tokens when there are no more token positions than input features, else features.</summary>
    Auto,
    /// <summary>Running d_in × d_in and d_out × d_in sums (memory independent of the number of tokens).</summary>
    Features,
    /// <summary>The token rows themselves, N × d (memory independent of d_in², exact by the push-through identity).</summary>
    Tokens,
}

/// <summary>Settings of the signal pass (<see cref="SignalProbe.Run"/>).</summary>
/// <param name="RidgeEps">λ = RidgeEps · tr(Sigma) / d_in.</param>
/// <param name="Rank">r of the rank-r resnorm (the LoRA rank the card plans for).</param>
/// <param name="BatchSize">Sequences per forward/backward of the probe pass.</param>
/// <param name="MaxExamples">Use only the first this many calibration examples (null: all).</param>
/// <param name="Form">How each module input's statistics are kept (<see cref="SignalForm.Auto"/>: the smaller).</param>
/// <param name="FeatureRowBytes">
/// A features-form input group also keeps its token rows (float32 inputs and output gradients) when they fit in this
/// many bytes, so the coupling's δ comes from them instead of a second run of the layer; 0 always runs it again.
/// </param>
public sealed record SignalOptions(double RidgeEps = 1e-3, int Rank = 8, int BatchSize = 8, int? MaxExamples = null, SignalForm Form = SignalForm.Auto,
    long FeatureRowBytes = SignalOptions.DefaultFeatureRowBytes)
{
    /// <summary>Default <see cref="FeatureRowBytes"/>: 256 MiB (a stories12L layer's rows over 8,000 tokens take about 50 MB).</summary>
    public const long DefaultFeatureRowBytes = 256L << 20;

    /// <summary>
    /// Refuses options no signal pass can use, with a <see cref="BadInputException"/> whose <see cref="BadInputException.Field"/>
    /// is the field name ("ridge_eps", "rank", "batch_size", "max_examples").
    /// </summary>
    public void Validate()
    {
        if (!(RidgeEps >= 0) || double.IsInfinity(RidgeEps)) throw BadInputException.ForField("ridge_eps", $"must be a finite number >= 0, not {RidgeEps}");
        if (Rank < 1) throw BadInputException.ForField("rank", $"must be at least 1, not {Rank}");
        if (BatchSize < 1) throw BadInputException.ForField("batch_size", $"must be at least 1, not {BatchSize}");
        if (MaxExamples is < 1) throw BadInputException.ForField("max_examples", $"must be at least 1, not {MaxExamples}");
        if (FeatureRowBytes < 0) throw BadInputException.ForField("feature_row_bytes", $"must be at least 0, not {FeatureRowBytes}");
    }
}

/// <summary>One module's signal. ResNorm, ResNormRankR and GradNorm are norms (not squared); PredictedGain is ½ resnorm² · N / T, in units of the mean completion loss.</summary>
public sealed record ModuleSignal(int Layer, string Module, int InFeatures, int OutFeatures, double ResNorm, double ResNormRankR, double GradNorm, double PredictedGain);

/// <summary>
/// Second-moment statistics of one module input (shared by the modules named in <paramref name="Input"/>):
/// tr Sigma, its largest and smallest eigenvalue (no ridge), the condition number of Sigma_λ and the effective
/// rank (tr Sigma)² / tr(Sigma²).
/// </summary>
public sealed record ActivationEnergy(string Input, int Dim, double Trace, double MaxEigenvalue, double MinEigenvalue, double Condition, double EffectiveRank);

/// <summary>A layer's signal: resnorm² (and rank-r resnorm², ||G||²_F) summed over its target modules; Energy is its first input group in forward order.</summary>
public sealed record LayerSignal(int Layer, double ResNorm, double ResNormRankR, double GradNorm, double PredictedGain, ActivationEnergy Energy);

/// <summary>
/// The signal columns of the Layer Card. Coupling is |F_ll'| / sqrt(F_ll F_l'l') and SignedCorrelation the same
/// without the absolute value (L x L, diagonal 1). Tokens is N (valid positions), TargetTokens T.
/// </summary>
public sealed record SignalResult(
    IReadOnlyList<LayerSignal> Layers,
    IReadOnlyList<ModuleSignal> Modules,
    IReadOnlyList<ActivationEnergy> Inputs,
    double[,] Coupling,
    double[,] SignedCorrelation,
    long Tokens,
    long TargetTokens,
    int Examples,
    double FirstPassSeconds,
    double SecondPassSeconds,
    long PeakMemoryBytes);
