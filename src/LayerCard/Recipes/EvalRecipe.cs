using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Models;
using static TorchSharp.torch;

namespace LayerCard.Recipes;

/// <summary>Everything `layercard eval` needs, already parsed.</summary>
public sealed record EvalRequest : TaskRequest
{
    /// <summary>A PEFT adapter folder; null evaluates the base model alone.</summary>
    public string? Adapter { get; init; }
    /// <summary>The metric; null: the data format's own (accuracy, exact match, BLEU, else loss).</summary>
    public TaskMetric? Metric { get; init; }
    /// <summary>Token limit per sequence (loss and accuracy).</summary>
    public int MaxLength { get; init; } = 256;
    /// <summary>Score at most this many examples (windows for plain text), the first in file order.</summary>
    public int? Limit { get; init; }
    /// <summary>Sequences per forward.</summary>
    public int BatchSize { get; init; } = EvaluationDefaults.BatchSize;
    /// <summary>Greedy tokens per example for generation metrics.</summary>
    public int MaxNewTokens { get; init; } = EvaluationDefaults.MaxNewTokens;
    /// <summary>
    /// What happens to a prompt that leaves no room for its completion within <see cref="MaxLength"/> (loss, accuracy)
    /// or for the new tokens within the model's context (exact match, BLEU): dropped and counted
    /// (<see cref="LongPromptPolicy.Skip"/>, the default) or cut from the left (<see cref="LongPromptPolicy.TruncateLeft"/>).
    /// Field <c>long_prompts</c>; the result says how many.
    /// </summary>
    public LongPromptPolicy LongPrompts { get; init; } = LongPromptPolicy.Skip;

    /// <summary>Refuses settings no evaluation can use, naming the field.</summary>
    public void Validate()
    {
        new DataPlan { MaxLength = MaxLength, TrainLimit = Limit, LongPrompts = LongPrompts }.Validate();
        if (BatchSize <= 0) throw BadInputException.ForField("batch_size", $"must be at least 1, got {BatchSize}");
        if (MaxNewTokens < 0) throw BadInputException.ForField("max_new_tokens", $"must be 0 or positive, got {MaxNewTokens}");
    }
}

/// <summary>The eval recipe: load the model (and adapter) and the data, score, return the figures.</summary>
public static class EvalRecipe
{
    /// <summary>Runs `layercard eval`.</summary>
    public static EvaluationResult Execute(EvalRequest request, Device device)
    {
        request.Validate();
        using var loaded = ModelLoader.Load(request.Model, request.Tokenizer, device);
        var data = DatasetLoader.Load(request.Data, new DataOptions(request.Format, request.Labels)).First(request.Limit);
        var metric = request.Metric ?? TaskEvaluation.DefaultMetric(data.Format);
        using var lora = request.Adapter is string a ? PeftAdapter.Load(Assets.Resolve(a, "adapter"), loaded.Model) : null;
        var tokenizer = loaded.RequireTokenizer();
        if (metric != TaskMetric.Loss)
            return TaskEvaluation.Run(loaded.Model, tokenizer, data, metric, request.MaxLength, request.BatchSize, device, request.MaxNewTokens, request.LongPrompts);
        // Plain text is limited in windows, which exist only once it is tokenized.
        var set = Tokenization.Tokenize(data, tokenizer, request.MaxLength, request.LongPrompts).First(request.Limit);
        return TaskEvaluation.LossOf(loaded.Model, set, request.BatchSize, device);
    }
}
