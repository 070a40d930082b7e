using LayerCard.Common;

namespace LayerCard.Bench.Planted;

/// <summary>
/// Settings of the planted-layer benchmark. Models are "stories260K" (or any --model reference) and
/// "random&lt;L&gt;" (a reconditioned random Llama with L layers). The probe runs use the card's LoRA configuration
/// (rank, alpha, batch) with <see cref="ProbeSteps"/> steps at <see cref="ProbeLearningRate"/>.
/// </summary>
public sealed record PlantedOptions
{
    /// <summary>Planted sets drawn per model and size.</summary>
    public int Seeds { get; init; } = 5;
    /// <summary>Sizes |P| of the planted sets; each must be smaller than the model's layer count.</summary>
    public IReadOnlyList<int> Sizes { get; init; } = [1, 2];
    /// <summary>The base models.</summary>
    public IReadOnlyList<string> Models { get; init; } = ["stories260K", "random12"];
    /// <summary>The card's target modules, probed by the signal pass and the probes.</summary>
    public IReadOnlyList<string> Targets { get; init; } = ["q_proj", "v_proj"];
    /// <summary>Modules that receive the planted change (default: the card's targets).</summary>
    public IReadOnlyList<string>? PlantTargets { get; init; }
    /// <summary>Rank of the planted ΔW = U V'.</summary>
    public int PlantRank { get; init; } = 2;
    /// <summary>
    /// How the teacher labels the data: "greedy" (its argmax, hard distillation) or "sampled" (a draw from its
    /// distribution). Greedy labels reward any layer that merely sharpens the base model's own predictions; for
    /// an uncertain trained model that common gain is large. Sampled labels have none in expectation: the base model
    /// already matches its own distribution, so only moving towards the teacher's change pays.
    /// </summary>
    public string Labels { get; init; } = "greedy";
    /// <summary>
    /// Each planted layer's change alone is scaled until it changes this share of the base model's greedy predictions.
    /// 0.15: on stories260K, 0.3 per layer made two-layer teachers flip ~50 % of predictions with base losses
    /// of 3-4 nats, a degenerate teacher whose drift any layer could partly imitate (every layer gained 1-1.5).
    /// </summary>
    public double PlantFlips { get; init; } = 0.15;
    /// <summary>
    /// Train sequences; at least steps × batch so the probes see fresh data every step. With a few dozen
    /// sequences a rank-8 LoRA memorises them and every layer but the planted one loses validation loss.
    /// </summary>
    public int TrainExamples { get; init; } = 800;
    /// <summary>The first this many train sequences are the signal pass's calibration set.</summary>
    public int CalibrationExamples { get; init; } = 128;
    /// <summary>Validation sequences the probes' gains are measured on.</summary>
    public int ValidationExamples { get; init; } = 64;
    /// <summary>Tokens per sequence.</summary>
    public int Length { get; init; } = 48;
    /// <summary>100: at 40 steps the planted layer of a stories260K pair was still tied with an unplanted one.</summary>
    public int ProbeSteps { get; init; } = 100;
    /// <summary>Learning rate of the probes.</summary>
    public double ProbeLearningRate { get; init; } = 1e-2;
    /// <summary>LoRA rank of the probes.</summary>
    public int ProbeRank { get; init; } = 8;
    /// <summary>LoRA alpha of the probes.</summary>
    public double ProbeAlpha { get; init; } = 16;
    /// <summary>Sequences per probe step and per signal-pass batch.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>r of the signal pass's rank-r resnorm.</summary>
    public int SignalRank { get; init; } = 8;

    /// <summary>Refuses settings the benchmark cannot run with a <see cref="BadInputException"/> naming the CLI option.</summary>
    public void Validate()
    {
        if (Seeds < 1) throw new BadInputException($"--seeds must be at least 1, not {Seeds}");
        if (Sizes.Count == 0 || Sizes.Any(s => s < 1)) throw new BadInputException($"--sizes must list set sizes of at least 1, not '{string.Join(",", Sizes)}'");
        if (Models.Count == 0) throw new BadInputException("--models must name at least one model");
        if (ProbeSteps < 1) throw new BadInputException($"--probe-steps must be at least 1, not {ProbeSteps}");
        if (!(ProbeLearningRate > 0)) throw new BadInputException($"--probe-lr must be positive, not {ProbeLearningRate}");
        if (Labels is not ("greedy" or "sampled")) throw new BadInputException($"--labels must be greedy or sampled, not '{Labels}'");
        if (PlantRank < 1) throw new BadInputException($"--plant-rank must be at least 1, not {PlantRank}");
        if (!(PlantFlips > 0 && PlantFlips < 1)) throw new BadInputException($"--plant-flips must lie in (0, 1), not {PlantFlips}");
        if (CalibrationExamples < 2 || CalibrationExamples > TrainExamples)
            throw new BadInputException($"--calibration-examples must lie between 2 and --train-examples ({TrainExamples}), not {CalibrationExamples}");
        if (TrainExamples < 2 || ValidationExamples < 1 || Length < 4)
            throw new BadInputException("the benchmark needs at least 2 train examples, 1 validation example and sequences of 4 tokens");
    }
}

/// <summary>The card's columns the benchmark scores; each ranks layers by a per-layer score, largest first.</summary>
public static class PlantedColumns
{
    /// <summary>The single-layer probe's measured validation-loss reduction.</summary>
    public const string Probe = "probe";
    /// <summary>The layer's resnorm.</summary>
    public const string ResNorm = "resnorm";
    /// <summary>The layer's rank-r resnorm.</summary>
    public const string RankR = "rank-r";
    /// <summary>The layer's gradient norm ||G||_F.</summary>
    public const string GradNorm = "grad norm";
    /// <summary>The trace of the layer's first probed input covariance (activation energy).</summary>
    public const string Energy = "energy";
    /// <summary>Every column, in table order.</summary>
    public static IReadOnlyList<string> All { get; } = [Probe, ResNorm, RankR, GradNorm, Energy];
}

/// <summary>
/// One planted case: the planted layers, the plant's scale per layer and the share of greedy predictions the
/// teacher changes, the base model's validation loss on the teacher's labels, every column's per-layer scores and
/// the rank (1 = top) each column gives every planted layer.
/// </summary>
public sealed record PlantedCase(
    string Model, int Layers, int Size, int Seed, IReadOnlyList<int> Planted, IReadOnlyList<double> PlantScales,
    double TeacherFlips, double BaseLoss, IReadOnlyDictionary<string, IReadOnlyList<double>> Scores,
    IReadOnlyDictionary<string, IReadOnlyList<int>> PlantedRanks, IReadOnlyDictionary<string, bool> Recovered, double Seconds);

/// <summary>Recovery of one column over the seeds of one (model, size): recovered/cases and the mean rank of planted layers.</summary>
public sealed record ColumnRecovery(string Column, int Recovered, int Cases, double MeanPlantedRank);

/// <summary>
/// Results of one (model, size) over its seeds: each column's recovery, the mean share of predictions the teachers
/// changed, and the recovery a random choice of layers would reach.
/// </summary>
public sealed record PlantedGroup(string Model, int Layers, int Size, IReadOnlyList<ColumnRecovery> Columns, double MeanTeacherFlips, double ChanceRecovery);

/// <summary>The whole benchmark: its settings, the per-(model, size) groups, every case and the wall time.</summary>
public sealed record PlantedReport(PlantedOptions Options, IReadOnlyList<PlantedGroup> Groups, IReadOnlyList<PlantedCase> Cases, double WallSeconds);
