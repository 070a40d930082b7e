using System.Text.Json;
using System.Text.Json.Serialization;
using LayerCard.Common;

namespace LayerCard.Card;

/// <summary>
/// card.json: everything the card measured, with a versioned schema. A reader refuses another schema
/// version, and the planner refuses a card made for another model.
/// </summary>
public sealed record CardDocument
{
    /// <summary>The value of "schema" in every card file.</summary>
    public const string SchemaName = "layercard/card";
    /// <summary>The schema version this build writes and the only one it reads.</summary>
    public const int CurrentSchemaVersion = 2;

    /// <summary>Always <see cref="SchemaName"/>; checked on load.</summary>
    public string Schema { get; init; } = SchemaName;
    /// <summary>The schema version the card was written with.</summary>
    public int SchemaVersion { get; init; } = CurrentSchemaVersion;
    /// <summary>The 32-hex-digit key of everything the card depends on (<see cref="CardBuilder.CacheKey"/>); a cached card is reused only when it matches.</summary>
    public required string CacheKey { get; init; }
    /// <summary>When the card was built (UTC).</summary>
    public required DateTimeOffset Created { get; init; }
    /// <summary>The model the card describes.</summary>
    public required CardModel Model { get; init; }
    /// <summary>The data the card was measured on.</summary>
    public required CardDataset Dataset { get; init; }
    /// <summary>The LoRA configuration the card measures.</summary>
    public required CardLora Lora { get; init; }
    /// <summary>The calibration sample of the signal pass.</summary>
    public required CardCalibration Calibration { get; init; }
    /// <summary>One row per layer, index i describing layer i.</summary>
    public required IReadOnlyList<CardLayerRow> Layers { get; init; }
    /// <summary>One row per probed module, in layer order.</summary>
    public required IReadOnlyList<CardModuleRow> Modules { get; init; }
    /// <summary>|ρ| between layers' per-example loss changes (L x L, diagonal 1): how much adapting one layer overlaps with adapting another.</summary>
    public required double[][] Coupling { get; init; }
    /// <summary>The same correlation with its sign (L x L), used to predict joint gains.</summary>
    public required double[][] SignedCorrelation { get; init; }
    /// <summary>The fitted step-time and peak-memory model; null when the card ran without probes.</summary>
    public CostModel? CostModel { get; init; }
    /// <summary>How the probes were run and the all-layer and cost-check measurements; null without probes.</summary>
    public CardProbes? Probes { get; init; }
    /// <summary>The function-space signal the card's predictions come from; null in cards built without it.</summary>
    public CardFunctionSpace? FunctionSpace { get; init; }
    /// <summary>How well the signal columns predicted the measured gains; null without probes.</summary>
    public CardPredictiveness? Predictiveness { get; init; }
    /// <summary>What building the card cost.</summary>
    public required CardTiming Timing { get; init; }

    /// <summary>The JSON settings of card.json: snake_case names, indented, NaN and infinities written as named literals.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Writes the card as JSON to <paramref name="path"/> atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    /// <summary>Reads a card file, refusing (as <see cref="BadInputException"/>) another schema or version, JSON that does not match, and tables that disagree on the number of layers.</summary>
    public static CardDocument Load(string path)
    {
        if (!File.Exists(path)) throw BadInputException.InFile(path, "no such card file");
        JsonDocument raw;
        try { raw = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw BadInputException.InFile(path, $"not valid JSON ({e.Message})"); }
        using (raw)
        {
            var root = raw.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("schema", out var schema) || schema.ValueKind != JsonValueKind.String || schema.GetString() != SchemaName)
                throw BadInputException.InFile(path, $"not a Layer Card (expected \"schema\": \"{SchemaName}\")");
            if (!root.TryGetProperty("schema_version", out var version) || version.ValueKind != JsonValueKind.Number || !version.TryGetInt32(out var number) || number != CurrentSchemaVersion)
                throw BadInputException.InFile(path, $"card schema version {(root.TryGetProperty("schema_version", out var v) ? v.GetRawText() : "missing")} is not supported (this LayerCard reads version {CurrentSchemaVersion}); rebuild the card with `layercard card`");
        }
        CardDocument card;
        try
        {
            card = JsonSerializer.Deserialize<CardDocument>(File.ReadAllText(path), Json) ?? throw BadInputException.InFile(path, "empty card");
        }
        catch (JsonException e)
        {
            throw BadInputException.InFile(path, $"card does not match schema version {CurrentSchemaVersion} ({e.Message})");
        }
        card.RequireConsistent(path);
        return card;
    }

    /// <summary>Refuses a card whose tables disagree on the number of layers (a hand edit, or a merge of two cards).</summary>
    private void RequireConsistent(string path)
    {
        int layers = Layers.Count;
        if (layers == 0) throw BadInputException.InFile(path, "the card has no layers");
        for (int i = 0; i < layers; i++)
            if (Layers[i] is null || Layers[i].Layer != i) throw BadInputException.InFile(path, $"layers[{i}] must describe layer {i}");
        foreach (var (name, matrix) in new[] { ("coupling", Coupling), ("signed_correlation", SignedCorrelation) })
            if (matrix.Length != layers || matrix.Any(row => row is null || row.Length != layers))
                throw BadInputException.InFile(path, $"'{name}' must be a {layers} x {layers} matrix, one row and column per layer");
        if (FunctionSpace is { } f && (f.Slopes is null || f.Slopes.Length != layers || f.Curvature is null || f.Curvature.Length != layers || f.Curvature.Any(row => row is null || row.Length != layers)))
            throw BadInputException.InFile(path, $"'function_space' must hold {layers} slopes and a {layers} x {layers} curvature matrix");
    }

    /// <summary>Refuses a card made for another model than the one given.</summary>
    public void RequireModel(string contentHash, string modelReference, string cardPath)
    {
        if (!string.Equals(Model.ContentSha256, contentHash, StringComparison.OrdinalIgnoreCase))
            throw BadInputException.Naming("model", n => $"{cardPath}: this card was made for model {Model.Reference} ({Model.ContentSha256[..Math.Min(12, Model.ContentSha256.Length)]}…), not for {n("model")} {modelReference} ({contentHash[..Math.Min(12, contentHash.Length)]}…); build a card for this model");
    }

    /// <summary>A rectangular matrix as an array of rows, the form card.json stores.</summary>
    public static double[][] Jagged(double[,] matrix) =>
        Enumerable.Range(0, matrix.GetLength(0)).Select(i => Enumerable.Range(0, matrix.GetLength(1)).Select(j => matrix[i, j]).ToArray()).ToArray();

    /// <summary>A square matrix from its rows; every row must be as long as there are rows (as <see cref="Load"/> checks).</summary>
    public static double[,] Square(double[][] rows)
    {
        var result = new double[rows.Length, rows.Length];
        for (int i = 0; i < rows.Length; i++)
            for (int j = 0; j < rows.Length; j++) result[i, j] = rows[i][j];
        return result;
    }
}

/// <summary>The model a card was built for.</summary>
/// <param name="Reference">The model as the user named it (path or asset name).</param>
/// <param name="Source">The file or folder the weights were read from.</param>
/// <param name="Hidden">Width of the residual stream.</param>
/// <param name="Parameters">Base model parameters.</param>
/// <param name="ContentSha256">The model's content fingerprint; the planner refuses a card whose fingerprint differs from the model given.</param>
public sealed record CardModel(string Reference, string Source, string Architecture, int Layers, int Hidden, long Parameters, string ContentSha256);

/// <summary>The data a card was measured on.</summary>
/// <param name="Reference">The data as the user named it.</param>
/// <param name="Format">The data format's name.</param>
/// <param name="Sha256">sha256 of the data file's bytes.</param>
/// <param name="TrainExamples">Tokenized training sequences.</param>
/// <param name="ValidationExamples">Validation sequences the probes were scored on (0 without probes).</param>
/// <param name="TrainSummary">The tokenization summary of the training part (truncated, dropped, tokens).</param>
public sealed record CardDataset(string Reference, string Format, string Sha256, int TrainExamples, int ValidationExamples, string TrainSummary);

/// <summary>The LoRA configuration the card measures: target modules, rank and alpha.</summary>
public sealed record CardLora(IReadOnlyList<string> Targets, int Rank, double Alpha);

/// <summary>The calibration sample of the signal pass.</summary>
/// <param name="Examples">Calibration sequences read.</param>
/// <param name="Tokens">Token positions the statistics were averaged over (N).</param>
/// <param name="TargetTokens">Of those, positions carrying loss (T).</param>
/// <param name="RidgeEps">The ridge of each input covariance, as a fraction of its mean eigenvalue.</param>
/// <param name="SignalRank">r of the rank-r resnorm.</param>
public sealed record CardCalibration(int Examples, long Tokens, long TargetTokens, double RidgeEps, int SignalRank);

/// <summary>One layer of the card: residual signal, activation energy, compute cost, measured performance.</summary>
/// <param name="PredictedGain">The card's default prediction of this layer's gain alone: the function-space signal's ½ s²/M (nats per target token; see <see cref="CardFunctionSpace"/>).</param>
/// <param name="EnergyTrace">tr Sigma of the layer's first probed input; the other Energy columns are that input's extreme eigenvalues, condition number and effective rank.</param>
/// <param name="AdapterParameters">LoRA parameters of this layer at the card's rank.</param>
/// <param name="StepSeconds">Mean seconds per training step of the probe on this layer alone; null without probes.</param>
/// <param name="PeakMemoryIncrementBytes">Peak memory above the resident size during that probe, in bytes.</param>
/// <param name="InferenceOverheadSeconds">Seconds the unmerged adapter adds to one inference forward.</param>
/// <param name="MeasuredGain">Validation-loss reduction (nats per target token) of the probe on this layer alone.</param>
/// <param name="ValidationLossAfter">Validation loss after that probe.</param>
/// <param name="ResNormGain">The paper's column read as a gain: ½ resnorm² · N / T, the first-order loss reduction of the best correction of this layer's target modules under identity curvature.</param>
/// <param name="FisherTrace">FIM-LoRA's score: the empirical Fisher trace of this layer's freshly initialised LoRA B matrices over the calibration batches.</param>
public sealed record CardLayerRow(
    int Layer,
    double ResNorm, double ResNormRankR, double GradNorm, double PredictedGain,
    double EnergyTrace, double EnergyMaxEigenvalue, double EnergyMinEigenvalue, double EnergyCondition, double EnergyEffectiveRank,
    long AdapterParameters, double? StepSeconds, long? PeakMemoryIncrementBytes, double? InferenceOverheadSeconds,
    double? MeasuredGain, double? ValidationLossAfter, double? ResNormGain = null, double? FisherTrace = null);

/// <summary>
/// The function-space signal of the card (see <see cref="FunctionSpaceProbe"/>): per layer the slope of the mean
/// completion loss along the layer's first LoRA step, and the Gauss-Newton curvature between layers' steps. Any
/// set's predicted gain is ½ s_S'M_S⁻¹s_S (<see cref="FunctionSpaceResult.SetGain"/>).
/// </summary>
/// <param name="Direction">The first step measured ("sign": Adam's; "gradient").</param>
/// <param name="Slopes">Per layer, per unit step.</param>
/// <param name="Curvature">Per pair of layers, per target token.</param>
/// <param name="Seconds">The pass's time, gradient pass included.</param>
/// <param name="LineSearch">Whether the curvature is the line search's secant one (<c>--line-search</c>).</param>
/// <param name="LevelShrink">The set gains' <see cref="FunctionSpaceResult.LevelShrink"/> (cards before it: 1, the first-step model's own).</param>
/// <param name="Redundancy">The set gains' <see cref="FunctionSpaceResult.Redundancy"/> (cards before it: 0, the first-step model's own correlations).</param>
/// <param name="BaseLoss">The base model's mean completion loss per target token on the calibration sample (<see cref="FunctionSpaceResult.BaseLoss"/>; cards before it: none).</param>
/// <param name="Saturation">Whether set gains saturate at <paramref name="BaseLoss"/> (<see cref="FunctionSpaceResult.Saturating"/>; cards before it: no).</param>
public sealed record CardFunctionSpace(string Direction, double[] Slopes, double[][] Curvature, double Seconds, bool LineSearch = false, double LevelShrink = 1, double Redundancy = 0,
    double? BaseLoss = null, bool Saturation = false)
{
    /// <summary>From a measured pass.</summary>
    public static CardFunctionSpace From(FunctionSpaceResult r) =>
        new(r.Direction.ToString().ToLowerInvariant(), r.Slopes.ToArray(), r.Curvature.Select(row => row.ToArray()).ToArray(), r.Seconds, r.LineSearched, r.LevelShrink, r.Redundancy,
            r.BaseLoss, r.Saturating);

    /// <summary>Back to the quadratic model the planner evaluates.</summary>
    public FunctionSpaceResult ToResult() => new(Slopes, Curvature, new double[Slopes.Length],
        Direction == "gradient" ? StepDirection.Gradient : StepDirection.Sign, 0, Seconds)
    {
        LineSearched = LineSearch, LevelShrink = LevelShrink, Redundancy = Redundancy, BaseLoss = BaseLoss, Saturating = Saturation && BaseLoss > 0,
    };
}

/// <summary>One probed module's signal (see <see cref="ModuleSignal"/>); Module is its name inside the layer ("self_attn.q_proj").</summary>
public sealed record CardModuleRow(int Layer, string Module, int InFeatures, int OutFeatures, double ResNorm, double ResNormRankR, double GradNorm, double PredictedGain);

/// <summary>How the card's probes ran and what the multi-layer runs measured.</summary>
/// <param name="Steps">Training steps of each probe run.</param>
/// <param name="BaseValidationLoss">Validation loss of the base model, in nats per target token.</param>
/// <param name="AllLayers">The run with every layer adapted.</param>
/// <param name="CostChecks">Short runs on other layer sets, to check the cost model.</param>
public sealed record CardProbes(int Steps, int BatchSize, double LearningRate, long Seed, double BaseValidationLoss, SetMeasurement AllLayers, IReadOnlyList<SetMeasurement> CostChecks);

/// <summary>How well the card's signal columns predict the measured single-layer gains, and whether gains add up.</summary>
/// <param name="SpearmanWithMeasuredGain">Spearman correlation of each signal column (resnorm, resnorm_rank_r, grad_norm, energy_trace, predicted_gain) with the measured single-layer gains.</param>
/// <param name="AllLayersPredictedGain">The all-layer gain predicted from the single-layer gains (negatives as 0) and the signed correlation.</param>
/// <param name="AllLayersMeasuredGain">The all-layer run's measured gain.</param>
/// <param name="SumOfSingleGains">The plain sum of the single-layer gains, negatives counted as 0.</param>
public sealed record CardPredictiveness(
    IReadOnlyDictionary<string, double> SpearmanWithMeasuredGain,
    double? AllLayersPredictedGain, double? AllLayersMeasuredGain, double? SumOfSingleGains);

/// <summary>What building the card cost, in seconds, against a full fine-tune.</summary>
/// <param name="SignalSeconds">Every probe-free signal: both resnorm passes with their solves, and the function-space pass.</param>
/// <param name="ForwardBackwardSeconds">
/// The signals' yardstick: one all-layer LoRA step (forward and backward through every layer) per calibration batch,
/// at the card's measured all-layer step. Cards before session 9 timed a plain forward+backward over two calibration
/// batches here, which cost the card a quarter of a second on stories12L; a LoRA step is dearer, so ratios read
/// lower than theirs (stories12L, all seven modules adapted: about 5.5x where the plain forward+backward read 7–8x).
/// </param>
/// <param name="SignalOverForwardBackward">SignalSeconds / ForwardBackwardSeconds.</param>
/// <param name="ProbeSeconds">All probe runs and the cost checks.</param>
/// <param name="CardSeconds">The whole build.</param>
/// <param name="FullFineTuneSteps">The steps of the full fine-tune the card is weighed against.</param>
/// <param name="FullFineTuneSeconds">Those steps at the measured all-layer step time (from the all-layer probe, or a short timing run without probes).</param>
/// <param name="CardOverFullFineTune">CardSeconds / FullFineTuneSeconds.</param>
public sealed record CardTiming(
    double SignalSeconds, double ForwardBackwardSeconds, double SignalOverForwardBackward,
    double ProbeSeconds, double CardSeconds, int FullFineTuneSteps, double? FullFineTuneSeconds, double? CardOverFullFineTune);
