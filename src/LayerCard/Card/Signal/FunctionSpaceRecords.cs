using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>Which way a fresh adapter's first step points.</summary>
public enum StepDirection
{
    /// <summary>The gradient of the loss with respect to B (plain gradient descent).</summary>
    Gradient,
    /// <summary>The sign of that gradient: the first step of Adam, whose first update is lr * sign(g).</summary>
    Sign,
    /// <summary>
    /// The best rank-r approximation of the gradient of each target module's full weight, as a LoRA (A its top r right
    /// singular vectors, B minus the left ones times the singular values), as LoRA-GA initialises: the steepest
    /// direction a rank-r adapter whose A has aligned with the gradient can take. Needs its own sweep.
    /// </summary>
    TopRank,
    /// <summary>
    /// Adam's update once its moments have settled at the start: the mean gradient over the calibration batches divided
    /// by the root of its mean square over them (per coordinate), so coordinates whose gradient changes sign from batch
    /// to batch move less than sign(g) would move them. With calibration batches the size of training's, the mean
    /// square estimates Adam's second moment at the start. Needs its own sweep (per-batch squares).
    /// </summary>
    MomentRatio,
}

/// <summary>Settings of the function-space pass: the LoRA whose first step it measures, and how.</summary>
/// <param name="Rank">Rank of the fresh adapters (the card's LoRA rank).</param>
/// <param name="Alpha">LoRA alpha (only scales the directions, so it cancels in every gain).</param>
/// <param name="BatchSize">Calibration examples per forward pass.</param>
/// <param name="Seed">Seeds the fresh A matrices.</param>
/// <param name="Direction">Gradient or Adam's sign step.</param>
/// <param name="KeepInputs">
/// Whether the finite differences start from layer inputs recorded by the gradient pass (layers × positions ×
/// hidden floats held throughout) or recompute them with one more forward per batch (memory that does not grow with
/// depth, L more layer forwards against the L(L+1)/2 of the differences). Default: kept for narrow layers,
/// recomputed for wide ones (<see cref="LayerSweep.BoundedMemory"/>).
/// </param>
/// <param name="StackBranches">
/// Without kept inputs: whether all layers' branches run through each layer in one call with the unperturbed stream
/// (faster for narrow layers; holds (L + 1) × positions × hidden floats at once) or one branch at a time. Default:
/// stacked for narrow layers.
/// </param>
/// <param name="PerModule">
/// One direction per adapted module instead of one per layer: each module's part of its layer's first step, so the
/// quadratic model may weigh a layer's modules against each other (slopes and curvature then run over the modules,
/// layer by layer in path order: <see cref="FunctionSpaceResult.Directions"/>). The differences cost one branch per
/// module; always one branch at a time.
/// </param>
/// <param name="PerBatch">
/// One direction per layer and calibration batch: the first step each batch alone would take (as Adam's steps on
/// different minibatches go different ways), so a layer's gain is that of the best step in the span of its batches'
/// steps. Needs its own sweep; exclusive with <paramref name="PerModule"/>; always one branch at a time.
/// </param>
/// <param name="LineSearch">
/// After the quadratic model, measure the real loss along each direction at 1, 2 and 4 times the model's best step
/// (forwards only, no training) and give each direction the curvature that makes its gain the best loss drop found,
/// keeping the correlations between directions: a secant instead of the tangent curvature, for directions whose loss
/// keeps falling past where the quadratic model says it stops. One part only (not across card shards).
/// </param>
/// <param name="DirectPath">
/// Each layer's step carried to the output by the residual stream alone: the change the step makes to the stream its
/// layer writes, added to the unmoved top stream before the final norm, the layers above not run again. 2L layer
/// calls a batch instead of L(L+3)/2, at the price of how the layers above respond to the change. One direction per
/// layer only.
/// </param>
public sealed record FunctionSpaceOptions(int Rank, double Alpha, int BatchSize, long Seed, StepDirection Direction = StepDirection.Sign, bool? KeepInputs = null,
    bool? StackBranches = null, bool PerModule = false, bool PerBatch = false, bool LineSearch = false, bool DirectPath = false);

/// <summary>
/// What the function-space pass measured on the calibration sample, per layer: the slope s (derivative of the mean
/// completion loss along the layer's first LoRA step, all its adapted modules moving together as one optimizer step
/// moves them) and the Gauss-Newton curvature M between layers (Σ_t Δz_i'(diag p − pp')Δz_j over target tokens, per
/// token). The quadratic model L(a) = L0 + a's + ½a'Ma gives any set of layers a predicted loss reduction
/// ½ s_S'M_S⁻¹s_S with no fitted constant (the card then shrinks each layer's gain alone, <see cref="FunctionSpaceResult.LevelShrink"/>). Also the empirical Fisher trace of the fresh B matrices per layer (the
/// score FIM-LoRA allocates ranks by) over the calibration batches.
/// </summary>
/// <param name="Slopes">Per layer: d(mean loss)/d(step) along its unit-norm first step (negative: the step lowers the loss).</param>
/// <param name="Curvature">Per pair of layers: the Gauss-Newton curvature between their steps, per target token.</param>
/// <param name="FisherTrace">Per layer: mean over calibration batches of the squared norm of the fresh B gradients.</param>
/// <param name="Direction">Which first step was measured.</param>
/// <param name="GradientSeconds">Time of the gradient pass alone (all FIM-LoRA needs).</param>
/// <param name="Seconds">Time of the whole pass.</param>
public sealed record FunctionSpaceResult(IReadOnlyList<double> Slopes, IReadOnlyList<IReadOnlyList<double>> Curvature, IReadOnlyList<double> FisherTrace,
    StepDirection Direction, double GradientSeconds, double Seconds)
{
    /// <summary>Whether each direction's curvature is the line search's secant (<see cref="FunctionSpaceOptions.LineSearch"/>).</summary>
    public bool LineSearched { get; init; }

    /// <summary>The layer of each direction when the pass measured several per layer (<see cref="FunctionSpaceOptions.PerModule"/>, <see cref="FunctionSpaceOptions.PerBatch"/>); null: one per layer.</summary>
    public IReadOnlyList<int>? DirectionLayers { get; init; }

    /// <summary>Predicted gain of adapting <paramref name="layers"/> with every direction they hold (one per layer, or each of their modules').</summary>
    public double LayerSetGain(IEnumerable<int> layers)
    {
        if (DirectionLayers is null) return SetGain(layers);
        var chosen = layers.ToHashSet();
        return SetGain(Enumerable.Range(0, DirectionLayers.Count).Where(k => chosen.Contains(DirectionLayers[k])));
    }

    /// <summary>Relative ridge on M_S (of its mean diagonal), so that nearly parallel steps do not blow up the solve.</summary>
    public const double Ridge = 1e-6;

    /// <summary>
    /// How far each direction's gain alone stays from the mean of all directions' (1: the first-step model's own
    /// ½ s²/M; 0: every direction alike). Below 1 each slope is rescaled so that its gain alone is
    /// ḡ + λ(½ s²/M − ḡ); the curvature, and so the correlations between directions that decide how gains combine,
    /// are kept. The card uses <see cref="CardLevelShrink"/>.
    /// </summary>
    public double LevelShrink { get; init; } = 1;

    /// <summary>
    /// The card's <see cref="LevelShrink"/>: 0.1. Forty training steps of one layer reach far more alike gains than the
    /// first-step model says (stories12L: 0.91–1.13 measured across its 12 layers against 0.25–0.80 predicted), so a
    /// layer's gain alone is taken near the mean, a tenth of the way towards its own, and its set gains come mostly from
    /// the correlations. Chosen on the six tasks of docs/results' session-7 studies; judged on held-out tasks there.
    /// A line-searched card keeps 1: there the real loss sets each layer's level.
    /// </summary>
    public const double CardLevelShrink = 0.1;

    /// <summary>
    /// How far the correlation between each pair of directions' logit changes is moved towards 1 before sets are
    /// solved (0: the first-step model's own correlations; 1: every direction alike, a set gains no more than its best
    /// member). Curvature M_ij becomes (1 − κ) M_ij + κ √(M_ii M_jj) off the diagonal; each direction's gain alone is
    /// unchanged. The card uses <see cref="CardRedundancy"/>.
    /// </summary>
    public double Redundancy { get; init; }

    /// <summary>
    /// The card's <see cref="Redundancy"/>: 0.15, chosen with <see cref="Saturating"/> on. Layers trained together for
    /// forty steps overlap more than their first steps do: the first-step model's fraction of the all-layer gain is too
    /// low for small sets on every studied task (stories12L DART: pairs 0.67 predicted against 0.83 measured), so the
    /// all-layer gain it divides by is too high. Chosen on the six tasks of docs/results' session-7 studies (mean and
    /// worst gain-fraction MAE over κ ∈ {0, 0.1, …, 0.5}, with and without saturation); judged on a task trained after
    /// the choice (docs/results, session 10). A line-searched card keeps 0.
    /// </summary>
    public const double CardRedundancy = 0.15;

    /// <summary>
    /// Mean completion loss per target token of the base model over the calibration sample (the level a gain cannot
    /// exceed, since the loss is never negative); null when not measured (cards before it).
    /// </summary>
    public double? BaseLoss { get; init; }

    /// <summary>
    /// Whether set gains saturate at <see cref="BaseLoss"/>: the quadratic model's G becomes G / (1 + G / L0), which
    /// stays below the loss there is to remove (the quadratic model alone predicted 14.2 nats per token for all of
    /// stories12L's layers on SST-2, whose base loss is 7.7), and is G itself while G is small against L0. A monotone
    /// map: it changes fractions of the all-layer gain, not which set is predicted best. No constant: L0 is measured.
    /// </summary>
    public bool Saturating { get; init; }

    /// <summary>
    /// This pass as the card reads it: <see cref="CardLevelShrink"/>, <see cref="CardRedundancy"/> and saturation at the
    /// measured base loss, or none of them when line-searched (the real loss set the levels).
    /// </summary>
    public FunctionSpaceResult ForCard() => this with
    {
        LevelShrink = LineSearched ? 1 : CardLevelShrink, Redundancy = LineSearched ? 0 : CardRedundancy, Saturating = !LineSearched && BaseLoss > 0,
    };

    /// <summary>The slopes the set gains use: the measured ones, or rescaled by <see cref="LevelShrink"/>.</summary>
    private double[] EffectiveSlopes()
    {
        int n = Slopes.Count;
        var slopes = Slopes.ToArray();
        if (LevelShrink >= 1 || n == 0) return slopes;
        var alone = Enumerable.Range(0, n).Select(k => Curvature[k][k] > 0 ? 0.5 * slopes[k] * slopes[k] / Curvature[k][k] : 0).ToArray();
        double mean = alone.Average();
        for (int k = 0; k < n; k++)
        {
            if (!(alone[k] > 0)) continue;
            double target = mean + LevelShrink * (alone[k] - mean);
            slopes[k] *= Math.Sqrt(Math.Max(target, 0) / alone[k]);
        }
        return slopes;
    }

    /// <summary>
    /// Predicted loss reduction (units of the mean completion loss) of adapting <paramref name="layers"/>: ½ s_S'M_S⁻¹s_S
    /// (with <see cref="LevelShrink"/>'s slopes and <see cref="Redundancy"/>'s curvature), saturated at the base loss when <see cref="Saturating"/>.
    /// </summary>
    public double SetGain(IEnumerable<int> layers)
    {
        var index = layers.Distinct().Order().ToArray();
        if (index.Length == 0) return 0;
        var effectiveSlopes = EffectiveSlopes();
        var n = index.Length;
        var m = new double[n, n];
        var s = new double[n];
        double meanDiagonal = index.Average(i => Curvature[i][i]);
        for (int a = 0; a < n; a++)
        {
            s[a] = effectiveSlopes[index[a]];
            for (int b = 0; b < n; b++)
            {
                double mab = Curvature[index[a]][index[b]];
                m[a, b] = a == b ? mab : (1 - Redundancy) * mab + Redundancy * Math.Sqrt(Math.Max(0, Curvature[index[a]][index[a]] * Curvature[index[b]][index[b]]));
            }
            m[a, a] += Ridge * meanDiagonal + 1e-300;
        }
        var gain = 0.5 * QuadraticForm.InverseForm(m, s);
        return Saturating && BaseLoss is > 0 and var loss && gain > 0 ? gain / (1 + gain / loss) : gain;
    }

    /// <summary>Predicted gain of each layer alone.</summary>
    public IReadOnlyList<double> LayerGains() => Enumerable.Range(0, Slopes.Count).Select(l => SetGain([l])).ToList();
}

/// <summary>
/// The function-space pass over one part of the calibration batches, as sums (not yet divided by the target tokens),
/// so that parts measured by separate jobs add up to the pass over every batch.
/// </summary>
/// <param name="Part">Which part (0-based).</param>
/// <param name="Parts">How many parts the batches were dealt into.</param>
/// <param name="SlopeSums">Per layer: Σ over the part's target tokens of the summed loss's derivative along the layer's step.</param>
/// <param name="CurvatureSums">Per pair of layers: Σ over the part's target tokens of the Gauss-Newton curvature.</param>
/// <param name="TargetTokens">Target tokens in the part.</param>
/// <param name="FisherTrace">Per layer: the FIM-LoRA score over every batch (the same in every part).</param>
/// <param name="Direction">Which first step was measured.</param>
/// <param name="GradientSeconds">Time of the gradient pass (over every batch).</param>
/// <param name="Seconds">Time of this part's whole pass.</param>
public sealed record FunctionSpacePart(int Part, int Parts, double[] SlopeSums, double[][] CurvatureSums, long TargetTokens, IReadOnlyList<double> FisherTrace,
    StepDirection Direction, double GradientSeconds, double Seconds)
{
    /// <summary>Whether the curvature sums are the line search's secant ones.</summary>
    public bool LineSearched { get; init; }

    /// <summary>The layer of each direction when measured per module; null: one direction per layer.</summary>
    public IReadOnlyList<int>? DirectionLayers { get; init; }

    /// <summary>Σ over the part's target tokens of the base model's completion loss (0: not measured, parts before it).</summary>
    public double LossSum { get; init; }

    /// <summary>The pass over every batch from all of its parts: sums added, divided by the target tokens; seconds added (the compute spent).</summary>
    public static FunctionSpaceResult Combine(IReadOnlyList<FunctionSpacePart> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0) throw new ArgumentException("no parts to combine", nameof(parts));
        int layers = parts[0].SlopeSums.Length; // directions: layers, or modules when measured per module
        long targets = parts.Sum(p => p.TargetTokens);
        if (targets == 0) throw new InvalidOperationException("the parts hold no target tokens");
        var slopes = Enumerable.Range(0, layers).Select(l => parts.Sum(p => p.SlopeSums[l]) / targets).ToList();
        var curvature = Enumerable.Range(0, layers)
            .Select(i => (IReadOnlyList<double>)Enumerable.Range(0, layers).Select(j => parts.Sum(p => p.CurvatureSums[i][j]) / targets).ToList()).ToList();
        return new FunctionSpaceResult(slopes, curvature, parts[0].FisherTrace, parts[0].Direction, parts.Sum(p => p.GradientSeconds), parts.Sum(p => p.Seconds))
        {
            DirectionLayers = parts[0].DirectionLayers,
            LineSearched = parts[0].LineSearched,
            BaseLoss = parts.All(p => p.LossSum > 0) ? parts.Sum(p => p.LossSum) / targets : null,
        };
    }
}

