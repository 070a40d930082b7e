using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Models;
using static TorchSharp.torch;

namespace LayerCard.Training;

/// <summary>Everything `layercard train` needs, already parsed.</summary>
public sealed record TrainRequest : TaskRequest
{
    public string Layers { get; init; } = "all";
    public IReadOnlyList<string>? Targets { get; init; }
    public int Rank { get; init; } = 8;
    public double Alpha { get; init; } = 16;
    public double Dropout { get; init; }
    public bool UseRsLora { get; init; }
    public int MaxLength { get; init; } = 256;
    public double? Epochs { get; init; }
    public double HoldOutFraction { get; init; } = 0.1;
    public int? Limit { get; init; }
    public int? EvalLimit { get; init; }
    /// <summary>A PEFT adapter folder to start from (continue training an imported adapter).</summary>
    public string? InitAdapter { get; init; }
    public required TrainingOptions Training { get; init; }
    public string CommandLine { get; init; } = "";

    /// <summary>Refuses option values no run can use before the model and data load, so the user waits for nothing.</summary>
    public void Validate()
    {
        Training.Validate();
        if (InitAdapter == null)
            new LoraConfig(Rank, Alpha, Dropout, UseRsLora, Targets is null ? ["default"] : Targets, [0]).Validate();
        if (Epochs is double epochs && (!(epochs > 0) || !double.IsFinite(epochs))) throw new BadInputException($"--epochs must be positive, got {epochs}");
        if (!(HoldOutFraction >= 0 && HoldOutFraction < 1)) throw new BadInputException($"--holdout must be at least 0 and below 1, got {HoldOutFraction}");
        if (EvalLimit is <= 0) throw new BadInputException($"--eval-limit must be a positive number, got {EvalLimit}");
    }
}

/// <summary>What a run leaves in run-summary.json.</summary>
public sealed record RunSummary(
    string Model, string ModelHash, string Data, string DataHash, IReadOnlyList<int> Layers, IReadOnlyList<string> Targets,
    int Rank, double Alpha, double Dropout, bool UseRsLora, long TrainableParameters, int Steps, long Tokens,
    double WallSeconds, double MeanStepSeconds, long PeakMemoryBytes, double? BaseValidationLoss, double FinalTrainLoss,
    double? FinalValidationLoss, string TrainData, string? ValidationData, string CommandLine, long Seed, int ResumedFromStep,
    int BatchSize, int GradientAccumulation, double LearningRate, int MaxLength)
{
    public const string FileName = "run-summary.json";

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public void Save(string directory) =>
        AtomicFile.WriteAllText(Path.Combine(directory, FileName), JsonSerializer.Serialize(this, Json));
}

/// <summary>
/// The train recipe: load the model and data, place adapters, measure the base validation loss, train,
/// and leave a PEFT adapter, metrics and run-summary.json in the output folder.
/// </summary>
public static class TrainingRun
{
    public static RunSummary Execute(TrainRequest request, Device device, ITrainingObserver? observer = null)
    {
        request.Validate();
        using var loaded = ModelLoader.Load(request.Model, request.Tokenizer, device);
        var tokenizer = loaded.RequireTokenizer();
        var (train, validation) = LoadData(request);
        var trainSet = Tokenization.Tokenize(train, tokenizer, request.MaxLength);
        var validationSet = validation is null ? null : Tokenization.Tokenize(validation, tokenizer, request.MaxLength).First(request.EvalLimit);

        var options = request.Training;
        if (request.Epochs is double epochs)
            options = options with { Steps = (int)Math.Clamp(Math.Ceiling(epochs * trainSet.Examples.Count / ((double)options.BatchSize * options.GradientAccumulation)), 1, int.MaxValue) };
        if (validationSet != null && options.EvalEvery <= 0) options = options with { EvalEvery = Math.Max(1, options.Steps / 5) };

        using var lora = request.InitAdapter != null
            ? PeftAdapter.Load(Assets.Resolve(request.InitAdapter, "--adapter"), loaded.Model)
            : LoraModel.Inject(loaded.Model, LoraConfigFor(request, loaded.Config), options.Seed);
        var fingerprint = Fingerprint(loaded.ContentHash, train.ContentHash, lora.Config, options, request.MaxLength);
        // Everything the user can get wrong is refused before the first line of progress, a checkpoint of other settings included.
        if (options.Resume && options.OutputDirectory != null && TrainingCheckpoint.Exists(TrainingCheckpoint.FolderIn(options.OutputDirectory)))
            TrainingCheckpoint.ReadState(TrainingCheckpoint.FolderIn(options.OutputDirectory), fingerprint);
        observer?.OnMessage($"train data: {trainSet.Summary}");
        if (validationSet != null) observer?.OnMessage($"validation data: {validationSet.Summary}");
        double? baseLoss = null;
        if (validationSet != null)
        {
            baseLoss = LossEvaluation.MeanLoss(loaded.Model, validationSet, options.EvalBatchSize, device).MeanLoss;
            observer?.OnMessage($"validation loss before training: {baseLoss:F4}");
        }
        var result = new Trainer(lora, options, device, observer).Train(trainSet, validationSet, fingerprint);

        var outDir = options.OutputDirectory ?? throw new ArgumentException("an output folder is required");
        PeftAdapter.Save(outDir, lora, BaseModelName(request.Model, loaded.Source));
        var summary = new RunSummary(
            request.Model, loaded.ContentHash, request.Data, train.ContentHash, lora.Config.Layers, lora.Config.Targets,
            lora.Config.Rank, lora.Config.Alpha, lora.Config.Dropout, lora.Config.UseRsLora, lora.TrainableParameterCount,
            result.Steps, result.Tokens, result.WallSeconds, result.MeanStepSeconds, result.PeakMemoryBytes, baseLoss,
            result.FinalTrainLoss, result.FinalValidationLoss, trainSet.Summary, validationSet?.Summary, request.CommandLine,
            options.Seed, result.ResumedFromStep, options.BatchSize, options.GradientAccumulation, options.LearningRate, request.MaxLength);
        summary.Save(outDir);
        SaveLossCurve(Path.Combine(outDir, LossCurveFile), result.Metrics);
        return summary;
    }

    public const string LossCurveFile = "loss-curve.png";

    /// <summary>Training loss per step and validation loss where it was measured, as a PNG beside the adapter.</summary>
    public static void SaveLossCurve(string path, IReadOnlyList<MetricPoint> metrics)
    {
        var train = metrics.Where(m => m.TrainLoss.HasValue).ToList();
        var validation = metrics.Where(m => m.ValidationLoss.HasValue).ToList();
        var series = new List<Reports.Series>
        {
            new("training loss", train.Select(m => (double)m.Step).ToList(), train.Select(m => m.TrainLoss!.Value).ToList()),
        };
        if (validation.Count > 0)
            series.Add(new("validation loss", validation.Select(m => (double)m.Step).ToList(), validation.Select(m => m.ValidationLoss!.Value).ToList()));
        Reports.Charts.SavePng(path, Reports.Charts.LineChart("Loss", "step", "completion loss", series));
    }

    public static LoraConfig LoraConfigFor(TrainRequest request, ModelConfig model) => new(
        request.Rank, request.Alpha, request.Dropout, request.UseRsLora,
        request.Targets is { Count: > 0 } ? request.Targets : LoraConfig.DefaultTargets(model.Family),
        LayerSelection.Parse(request.Layers, model.Layers));

    /// <summary>The training data and the validation data: --eval-data, or a seeded held-out part of the training data.</summary>
    public static (TaskDataset Train, TaskDataset? Validation) LoadData(TrainRequest request)
    {
        var options = new DataOptions(request.Format, request.Labels, request.MaxLength, request.Training.Seed, request.HoldOutFraction, request.Limit);
        var data = DatasetLoader.Load(request.Data, options);
        if (request.EvalData != null)
        {
            var validation = DatasetLoader.Load(request.EvalData, options with { Limit = request.EvalLimit });
            return (data, validation);
        }
        if (request.HoldOutFraction <= 0) return (data, null);
        var (train, heldOut) = data.Split(request.HoldOutFraction, request.Training.Seed);
        return (train, heldOut.First(request.EvalLimit));
    }

    private static string BaseModelName(string reference, string source) =>
        Assets.Find(reference) != null ? reference : source;

    private static string Fingerprint(string modelHash, string dataHash, LoraConfig lora, TrainingOptions options, int maxLength)
    {
        var text = JsonSerializer.Serialize(new
        {
            modelHash, dataHash, lora.Rank, lora.Alpha, lora.Dropout, lora.UseRsLora, lora.Targets, lora.Layers,
            options.Steps, options.BatchSize, options.GradientAccumulation, options.LearningRate, options.WarmupSteps,
            Decay = options.Decay.ToString(), options.WeightDecay, options.MaxGradNorm, options.Seed, maxLength,
        });
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}
