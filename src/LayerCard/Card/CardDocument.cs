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
    public const string SchemaName = "layercard/card";
    public const int CurrentSchemaVersion = 1;

    public string Schema { get; init; } = SchemaName;
    public int SchemaVersion { get; init; } = CurrentSchemaVersion;
    public required string CacheKey { get; init; }
    public required DateTimeOffset Created { get; init; }
    public required CardModel Model { get; init; }
    public required CardDataset Dataset { get; init; }
    public required CardLora Lora { get; init; }
    public required CardCalibration Calibration { get; init; }
    public required IReadOnlyList<CardLayerRow> Layers { get; init; }
    public required IReadOnlyList<CardModuleRow> Modules { get; init; }
    public required double[][] Coupling { get; init; }
    public required double[][] SignedCorrelation { get; init; }
    public CostModel? CostModel { get; init; }
    public CardProbes? Probes { get; init; }
    public CardPredictiveness? Predictiveness { get; init; }
    public required CardTiming Timing { get; init; }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json));

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
    }

    /// <summary>Refuses a card made for another model than the one given.</summary>
    public void RequireModel(string contentHash, string modelReference, string cardPath)
    {
        if (!string.Equals(Model.ContentSha256, contentHash, StringComparison.OrdinalIgnoreCase))
            throw BadInputException.Naming("model", n => $"{cardPath}: this card was made for model {Model.Reference} ({Model.ContentSha256[..Math.Min(12, Model.ContentSha256.Length)]}…), not for {n("model")} {modelReference} ({contentHash[..Math.Min(12, contentHash.Length)]}…); build a card for this model");
    }

    public static double[][] Jagged(double[,] matrix) =>
        Enumerable.Range(0, matrix.GetLength(0)).Select(i => Enumerable.Range(0, matrix.GetLength(1)).Select(j => matrix[i, j]).ToArray()).ToArray();

    public static double[,] Square(double[][] rows)
    {
        var result = new double[rows.Length, rows.Length];
        for (int i = 0; i < rows.Length; i++)
            for (int j = 0; j < rows.Length; j++) result[i, j] = rows[i][j];
        return result;
    }
}

public sealed record CardModel(string Reference, string Source, string Architecture, int Layers, int Hidden, long Parameters, string ContentSha256);

public sealed record CardDataset(string Reference, string Format, string Sha256, int TrainExamples, int ValidationExamples, string TrainSummary);

public sealed record CardLora(IReadOnlyList<string> Targets, int Rank, double Alpha);

public sealed record CardCalibration(int Examples, long Tokens, long TargetTokens, double RidgeEps, int SignalRank);

/// <summary>One layer of the card: residual signal, activation energy, compute cost, measured performance.</summary>
public sealed record CardLayerRow(
    int Layer,
    double ResNorm, double ResNormRankR, double GradNorm, double PredictedGain,
    double EnergyTrace, double EnergyMaxEigenvalue, double EnergyMinEigenvalue, double EnergyCondition, double EnergyEffectiveRank,
    long AdapterParameters, double? StepSeconds, long? PeakMemoryIncrementBytes, double? InferenceOverheadSeconds,
    double? MeasuredGain, double? ValidationLossAfter);

public sealed record CardModuleRow(int Layer, string Module, int InFeatures, int OutFeatures, double ResNorm, double ResNormRankR, double GradNorm, double PredictedGain);

public sealed record CardProbes(int Steps, int BatchSize, double LearningRate, long Seed, double BaseValidationLoss, SetMeasurement AllLayers, IReadOnlyList<SetMeasurement> CostChecks);

/// <summary>How well the card's signal columns predict the measured single-layer gains, and whether gains add up.</summary>
public sealed record CardPredictiveness(
    IReadOnlyDictionary<string, double> SpearmanWithMeasuredGain,
    double? AllLayersPredictedGain, double? AllLayersMeasuredGain, double? SumOfSingleGains);

public sealed record CardTiming(
    double SignalSeconds, double ForwardBackwardSeconds, double SignalOverForwardBackward,
    double ProbeSeconds, double CardSeconds, int FullFineTuneSteps, double? FullFineTuneSeconds, double? CardOverFullFineTune);
