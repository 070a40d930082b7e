using System.Text.Json;
using System.Text.Json.Serialization;
using LayerCard.Common;

namespace LayerCard.Recipes;

/// <summary>One task of a study: where its data is and how it is scored.</summary>
public sealed record ExperimentTask
{
    /// <summary>The task's name in logs, tables and result files.</summary>
    public required string Name { get; init; }
    /// <summary>The training data: a path, a known dataset name or "name:split".</summary>
    public required string Data { get; init; }
    /// <summary>Test data; without it a seeded held-out part of <see cref="Data"/> is the test part.</summary>
    public string? EvalData { get; init; }
    /// <summary>The data format's name (see <see cref="LayerCard.Data.DataFormats.Parse"/>); null detects it.</summary>
    public string? Format { get; init; }
    /// <summary>Label words in index order, for classification data.</summary>
    public IReadOnlyList<string>? Labels { get; init; }
    /// <summary>Token limit per sequence.</summary>
    public int MaxLength { get; init; } = 96;
    /// <summary>Use only this many training examples (null: all).</summary>
    public int? TrainLimit { get; init; }
    /// <summary>Validation examples for the loss (and the task metric unless MetricLimit is set).</summary>
    public int EvalLimit { get; init; } = 200;
    /// <summary>Examples scored by the task metric (generation metrics are dear: keep this small).</summary>
    public int? MetricLimit { get; init; }
    /// <summary>
    /// A prompt that leaves no room for its completion within <see cref="MaxLength"/> (or, for the task metric, for a
    /// new token within the model's context): "skip" (the default) or "truncate-left" (<see cref="LayerCard.Data.LongPrompts.Parse"/>).
    /// </summary>
    public string? LongPrompts { get; init; }
}

/// <summary>The study's configuration file (JSON, snake_case).</summary>
public sealed record ExperimentConfig
{
    /// <summary>The study's name; also the folder its results go into.</summary>
    public string Name { get; init; } = "study";
    /// <summary>The model every task adapts: a path or a known asset name.</summary>
    public string Model { get; init; } = "stories260K";
    /// <summary>The tasks of the study; at least one.</summary>
    public required IReadOnlyList<ExperimentTask> Tasks { get; init; }
    /// <summary>The seeds each task is run with; each seed changes the card's calibration sample and the data order.</summary>
    public IReadOnlyList<long> Seeds { get; init; } = [0, 1, 2];
    /// <summary>The number of layers every K-layer method adapts.</summary>
    public int K { get; init; } = 2;
    /// <summary>The fraction of the full-layer gain the card-cost method plans to reach.</summary>
    public double TargetGain { get; init; } = 0.9;
    /// <summary>The LoRA target modules; null uses the family's query and value projections.</summary>
    public IReadOnlyList<string>? Targets { get; init; }
    /// <summary>LoRA rank of every placement and of the cards.</summary>
    public int Rank { get; init; } = 8;
    /// <summary>LoRA alpha of every placement and of the cards.</summary>
    public double Alpha { get; init; } = 16;
    /// <summary>Training steps of every placement; also the full fine-tune the cards weigh their cost against.</summary>
    public int Steps { get; init; } = 60;
    /// <summary>Sequences per training step.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Learning rate of every placement and of the card probes.</summary>
    public double LearningRate { get; init; } = 3e-3;
    /// <summary>Train every non-empty layer subset, so each method's regret against the best subset of its size is exact.</summary>
    public bool Exhaustive { get; init; } = true;
    /// <summary>With Exhaustive, how many of the seeds (the first ones) train every subset; the rest train only the methods' choices.</summary>
    public int? ExhaustiveSeeds { get; init; }
    /// <summary>With Exhaustive: train every subset of at most this many layers (every single layer and pair at 2) instead of all subsets, for deep models.</summary>
    public int? ExhaustiveMaxSize { get; init; }
    /// <summary>With ExhaustiveMaxSize: sizes of which <see cref="SamplesPerSize"/> subsets are also drawn and trained (the same draw for every seed).</summary>
    public IReadOnlyList<int> SampledSizes { get; init; } = [];
    /// <summary>Subsets drawn per sampled size.</summary>
    public int SamplesPerSize { get; init; } = 2;
    /// <summary>Seed of every trained placement's initialisation and data order; null uses each card seed. Fixed, the trained ground truth is shared and the seeds vary only what the cards calibrate on.</summary>
    public long? TrainingSeed { get; init; }
    /// <summary>Calibration examples of each card's signal pass; null: the card's default (<see cref="Card.CardSettings.DefaultCalibrationExamples"/>, or the layer count if larger).</summary>
    public int? CalibrationExamples { get; init; }
    /// <summary>Steps of each card probe run; null lets the card choose within its budget.</summary>
    public int? CardProbeSteps { get; init; }
    /// <summary>Lengths of the probe runs the predictor harness scores as predictors (each layer alone and all layers, per length).</summary>
    public IReadOnlyList<int> PredictorProbeSteps { get; init; } = [2, 6, 20];
    /// <summary>The folder the study's results go under (in a subfolder named after the study), unless the command names one.</summary>
    public string OutputDirectory { get; init; } = "docs/results";

    /// <summary>The config file's JSON settings: snake_case names, named floating-point literals allowed, unknown fields refused.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Reads a study config; invalid JSON, unknown fields, no tasks or seeds, and a non-positive k or steps are a <see cref="BadInputException"/> naming the file.</summary>
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
        foreach (var task in config.Tasks.Where(t => t.LongPrompts is not null))
        {
            try { Data.LongPrompts.Parse(task.LongPrompts!); }
            catch (BadInputException e) { throw BadInputException.InFile(path, $"task {task.Name}: {e.MessageNaming(Data.LongPrompts.Field)}"); }
        }
        // The card and training settings are checked here, before the model loads, in the config's own field names.
        try
        {
            new Card.CardSettings
            {
                Targets = config.Targets, Rank = config.Rank, Alpha = config.Alpha, CalibrationExamples = config.CalibrationExamples,
                ProbeSteps = config.CardProbeSteps, BatchSize = config.BatchSize, LearningRate = config.LearningRate, FullFineTuneSteps = config.Steps,
            }.Validate();
        }
        catch (BadInputException e) when (e.Field is not null)
        {
            throw BadInputException.InFile(path, e.MessageNaming(e.Field == "probe_steps" ? "card_probe_steps" : e.Field));
        }
        return config;
    }
}
