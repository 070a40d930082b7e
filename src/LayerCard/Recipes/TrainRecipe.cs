using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Models;
using LayerCard.Reports;
using LayerCard.Training;
using static TorchSharp.torch;

namespace LayerCard.Recipes;

/// <summary>Everything `layercard train` needs, already parsed.</summary>
public sealed record TrainRequest : TaskRequest
{
    /// <summary>all, 3,5,7, 2-4, top:K or bottom:K.</summary>
    public string Layers { get; init; } = "all";
    /// <summary>Modules to adapt; null: the family's defaults (attention query and value).</summary>
    public IReadOnlyList<string>? Targets { get; init; }
    /// <summary>LoRA rank.</summary>
    public int Rank { get; init; } = 8;
    /// <summary>LoRA alpha.</summary>
    public double Alpha { get; init; } = 16;
    /// <summary>LoRA dropout on the adapter's input.</summary>
    public double Dropout { get; init; }
    /// <summary>Scale by alpha / sqrt(r) (rsLoRA).</summary>
    public bool UseRsLora { get; init; }
    /// <summary>Train this many passes over the training part instead of a step count.</summary>
    public double? Epochs { get; init; }
    /// <summary>How the data is cut; <see cref="TaskRequest.EvalData"/>, when given, is the validation part.</summary>
    public DataPlan DataPlan { get; init; } = new();
    /// <summary>A PEFT adapter folder to start from (continue training an imported adapter).</summary>
    public string? InitAdapter { get; init; }
    /// <summary>Optimizer, schedule, checkpoints and output folder.</summary>
    public required TrainingOptions Training { get; init; }
    /// <summary>The command line, recorded in run-summary.json.</summary>
    public string CommandLine { get; init; } = "";

    /// <summary>Refuses option values no run can use before the model and data load, so the user waits for nothing.</summary>
    public void Validate()
    {
        Training.Validate();
        DataPlan.Validate();
        if (InitAdapter == null)
            new LoraConfig(Rank, Alpha, Dropout, UseRsLora, Targets is null ? ["default"] : Targets, [0]).Validate();
        if (Epochs is double epochs && (!(epochs > 0) || !double.IsFinite(epochs))) throw BadInputException.ForField("epochs", $"must be positive, got {epochs}");
        if (Training.OutputDirectory is null) throw BadInputException.ForField("output_directory", "is required");
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
    /// <summary>The summary's file name in a run's output folder.</summary>
    public const string FileName = "run-summary.json";

    /// <summary>snake_case JSON, NaN allowed, indented.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes run-summary.json into <paramref name="directory"/> atomically.</summary>
    public void Save(string directory) =>
        AtomicFile.WriteAllText(Path.Combine(directory, FileName), JsonSerializer.Serialize(this, Json));
}

/// <summary>
/// The train recipe: load the model and data once, place adapters, measure the base validation loss, train, and
/// leave a PEFT adapter, metrics, a loss curve and run-summary.json in the output folder.
/// </summary>
public static class TrainRecipe
{
    /// <summary>Runs `layercard train`.</summary>
    public static RunSummary Execute(TrainRequest request, Device device, ITrainingObserver? observer = null)
    {
        request.Validate();
        using var loaded = ModelLoader.Load(request.Model, request.Tokenizer, device);
        var data = RecipeData.Load(request, request.DataPlan, loaded.RequireTokenizer(), evalDataIsTest: false);
        return Train(loaded, request, data, device, observer);
    }

    /// <summary>Trains on an already loaded model and prepared data (the run recipe shares both between placements); the adapters are removed again before it returns.</summary>
    /// <param name="baseValidationLoss">The base model's validation loss when already measured (a later piece of a run, <see cref="SideBySideTraining"/>): not measured again, and the data not described again.</param>
    public static RunSummary Train(LoadedModel loaded, TrainRequest request, TaskData data, Device device, ITrainingObserver? observer = null, double? baseValidationLoss = null)
    {
        request.Validate();
        var trainSet = data.Train.Tokens;
        var validationSet = data.Validation?.Tokens;
        var options = request.Training;
        if (request.Epochs is double epochs)
            options = options with { Steps = (int)Math.Clamp(Math.Ceiling(epochs * trainSet.Examples.Count / ((double)options.BatchSize * options.GradientAccumulation)), 1, int.MaxValue) };
        if (validationSet != null && options.EvalEvery <= 0) options = options with { EvalEvery = Math.Max(1, options.Steps / 5) };

        using var lora = request.InitAdapter != null
            ? PeftAdapter.Load(Assets.Resolve(request.InitAdapter, "init_adapter"), loaded.Model)
            : LoraModel.Inject(loaded.Model, LoraConfigFor(request, loaded.Model), options.Seed);
        var fingerprint = Fingerprint(loaded.ContentHash, data.ContentHash, lora.Config, options, data.Plan);
        // Everything the user can get wrong is refused before the first line of progress, a checkpoint of other settings included.
        if (options.Resume && options.OutputDirectory != null && TrainingCheckpoint.Exists(TrainingCheckpoint.FolderIn(options.OutputDirectory)))
            TrainingCheckpoint.ReadState(TrainingCheckpoint.FolderIn(options.OutputDirectory), fingerprint);
        double? baseLoss = validationSet is null ? null : baseValidationLoss;
        if (baseLoss is null)
        {
            observer?.OnMessage($"train data: {trainSet.Summary}");
            if (validationSet != null) observer?.OnMessage($"validation data: {validationSet.Summary}");
        }
        if (validationSet != null && baseLoss is null)
        {
            baseLoss = LossEvaluation.MeanLoss(loaded.Model, validationSet, options.EvalBatchSize, device).MeanLoss;
            observer?.OnMessage($"validation loss before training: {baseLoss:F4}");
        }
        var result = new Trainer(lora, options, device, observer).Train(trainSet, validationSet, fingerprint);

        var outDir = options.OutputDirectory!;
        var summary = new RunSummary(
            request.Model, loaded.ContentHash, request.Data, data.ContentHash, lora.Config.Layers, lora.Config.Targets,
            lora.Config.Rank, lora.Config.Alpha, lora.Config.Dropout, lora.Config.UseRsLora, lora.TrainableParameterCount,
            result.Steps, result.Tokens, result.WallSeconds, result.MeanStepSeconds, result.PeakMemoryBytes, baseLoss,
            result.FinalTrainLoss, result.FinalValidationLoss, trainSet.Summary, validationSet?.Summary, request.CommandLine,
            options.Seed, result.ResumedFromStep, options.BatchSize, options.GradientAccumulation, options.LearningRate, data.Plan.MaxLength);
        // A paused piece (TrainingOptions.PauseAfter) leaves its state in the checkpoint: the adapter, summary and plot are written once the run ends.
        if (result.Steps < options.Steps) return summary;
        PeftAdapter.Save(outDir, lora, BaseModelName(request.Model, loaded.Source));
        summary.Save(outDir);
        SaveLossCurve(Path.Combine(outDir, LossCurveFile), result.Metrics);
        return summary;
    }

    /// <summary>The loss plot written beside the adapter.</summary>
    public const string LossCurveFile = "loss-curve.png";

    /// <summary>Training loss per step and validation loss where it was measured, as a PNG beside the adapter.</summary>
    public static void SaveLossCurve(string path, IReadOnlyList<MetricPoint> metrics)
    {
        var train = metrics.Where(m => m.TrainLoss.HasValue).ToList();
        var validation = metrics.Where(m => m.ValidationLoss.HasValue).ToList();
        var series = new List<Series>
        {
            new("training loss", train.Select(m => (double)m.Step).ToList(), train.Select(m => m.TrainLoss!.Value).ToList()),
        };
        if (validation.Count > 0)
            series.Add(new("validation loss", validation.Select(m => (double)m.Step).ToList(), validation.Select(m => m.ValidationLoss!.Value).ToList()));
        Charts.SavePng(path, Charts.LineChart("Loss", "step", "completion loss", series));
    }

    /// <summary>The LoRA configuration a request asks for on this model (targets default to the family's).</summary>
    public static LoraConfig LoraConfigFor(TrainRequest request, CausalLM model) => new(
        request.Rank, request.Alpha, request.Dropout, request.UseRsLora,
        LoraTargets.Resolve(request.Targets, model, LoraTargets.QueryValue),
        LayerSelection.Parse(request.Layers, model.Config.Layers));

    private static string BaseModelName(string reference, string source) =>
        Assets.Find(reference) != null ? reference : source;

    private static string Fingerprint(string modelHash, string dataHash, LoraConfig lora, TrainingOptions options, DataPlan plan)
    {
        var text = JsonSerializer.Serialize(new
        {
            modelHash, dataHash, lora.Rank, lora.Alpha, lora.Dropout, lora.UseRsLora, lora.Targets, lora.Layers,
            options.Steps, options.BatchSize, options.GradientAccumulation, options.LearningRate, options.WarmupSteps,
            Decay = options.Decay.ToString(), options.WeightDecay, options.MaxGradNorm, options.Seed, plan,
        });
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}
