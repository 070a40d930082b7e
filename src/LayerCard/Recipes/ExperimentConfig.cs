using System.Text.Json;
using System.Text.Json.Serialization;
using LayerCard.Common;

namespace LayerCard.Recipes;

/// <summary>One task of a study: where its data is and how it is scored.</summary>
public sealed record ExperimentTask
{
    public required string Name { get; init; }
    public required string Data { get; init; }
    public string? EvalData { get; init; }
    public string? Format { get; init; }
    public IReadOnlyList<string>? Labels { get; init; }
    public int MaxLength { get; init; } = 96;
    public int? TrainLimit { get; init; }
    /// <summary>Validation examples for the loss (and the task metric unless MetricLimit is set).</summary>
    public int EvalLimit { get; init; } = 200;
    /// <summary>Examples scored by the task metric (generation metrics are dear: keep this small).</summary>
    public int? MetricLimit { get; init; }
}

/// <summary>The study's configuration file (JSON, snake_case).</summary>
public sealed record ExperimentConfig
{
    public string Name { get; init; } = "study";
    public string Model { get; init; } = "stories260K";
    public required IReadOnlyList<ExperimentTask> Tasks { get; init; }
    public IReadOnlyList<long> Seeds { get; init; } = [0, 1, 2];
    /// <summary>The number of layers every K-layer method adapts.</summary>
    public int K { get; init; } = 2;
    public double TargetGain { get; init; } = 0.9;
    public IReadOnlyList<string>? Targets { get; init; }
    public int Rank { get; init; } = 8;
    public double Alpha { get; init; } = 16;
    public int Steps { get; init; } = 60;
    public int BatchSize { get; init; } = 16;
    public double LearningRate { get; init; } = 3e-3;
    /// <summary>Train every non-empty layer subset, so each method's regret against the best subset of its size is exact.</summary>
    public bool Exhaustive { get; init; } = true;
    /// <summary>With Exhaustive, how many of the seeds (the first ones) train every subset; the rest train only the methods' choices.</summary>
    public int? ExhaustiveSeeds { get; init; }
    public int CalibrationExamples { get; init; } = 64;
    public int? CardProbeSteps { get; init; }
    public string OutputDirectory { get; init; } = "docs/results";

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    public static ExperimentConfig Load(string path)
    {
        if (!File.Exists(path)) throw BadInputException.InFile(path, "no such experiment config");
        ExperimentConfig? config;
        try { config = JsonSerializer.Deserialize<ExperimentConfig>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw BadInputException.InFile(path, $"not a valid experiment config ({e.Message})"); }
        if (config is null || config.Tasks.Count == 0) throw BadInputException.InFile(path, "no tasks");
        if (config.K <= 0) throw BadInputException.InFile(path, $"k must be positive, got {config.K}");
        if (config.Seeds.Count == 0) throw BadInputException.InFile(path, "no seeds");
        if (config.Steps <= 0) throw BadInputException.InFile(path, $"steps must be positive, got {config.Steps}");
        return config;
    }
}
