using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Models;
using LayerCard.Tokenizers;
using static TorchSharp.torch;

namespace LayerCard.Evaluation;

/// <summary>What a task is scored by: completion loss (lower is better), label-word accuracy, GSM8K exact match of the final answer, or data-to-text (E2E, DART, WebNLG) corpus BLEU-4.</summary>
public enum TaskMetric { Loss, Accuracy, ExactMatch, Bleu }

/// <summary>One evaluation's figures; which are set depends on the metric.</summary>
/// <param name="Examples">Examples (inputs for BLEU, windows for plain text) scored.</param>
/// <param name="Skipped">Examples left out: prompts too long under <see cref="LongPromptPolicy.Skip"/>, or nothing to predict.</param>
/// <param name="PromptsCut">Examples whose prompt lost its first tokens to fit (<see cref="LongPromptPolicy.TruncateLeft"/>).</param>
/// <param name="DataSummary">One line saying what was scored and what was dropped, cut or truncated to fit.</param>
public sealed record EvaluationResult(
    TaskMetric Metric, int Examples, double? Loss = null, double? Perplexity = null, double? Accuracy = null,
    double? MajorityBaseline = null, string? MajorityLabel = null, double? ExactMatch = null, double? Bleu = null,
    double? RougeL = null, IReadOnlyList<string>? Samples = null, int Skipped = 0, int PromptsCut = 0, string? DataSummary = null)
{
    /// <summary>The task metric as one number where higher is better (negative loss for the loss metric).</summary>
    public double Score => Metric switch
    {
        TaskMetric.Accuracy => Accuracy ?? double.NaN,
        TaskMetric.ExactMatch => ExactMatch ?? double.NaN,
        TaskMetric.Bleu => Bleu ?? double.NaN,
        _ => -(Loss ?? double.NaN),
    };
}

/// <summary>
/// Task metrics on a model as it is (base, or with adapters in place): completion loss, label-word accuracy,
/// GSM8K exact match by greedy generation, and data-to-text (E2E, DART, WebNLG) corpus BLEU-4 / ROUGE-L with references grouped by input.
/// </summary>
public static class TaskEvaluation
{
    /// <summary>The metric a data format is scored by unless told otherwise: accuracy for classification, exact match for GSM8K, BLEU (and ROUGE-L) for the data-to-text tasks E2E, DART and WebNLG, loss for the rest.</summary>
    public static TaskMetric DefaultMetric(DataFormat format) => format switch
    {
        DataFormat.Classification => TaskMetric.Accuracy,
        DataFormat.Gsm8k => TaskMetric.ExactMatch,
        DataFormat.E2e or DataFormat.Dart or DataFormat.WebNlg => TaskMetric.Bleu,
        _ => TaskMetric.Loss,
    };

    /// <summary>
    /// Scores the model on <paramref name="data"/> by <paramref name="metric"/>; <paramref name="maxLength"/> and <paramref name="batchSize"/>
    /// apply to the scoring metrics, <paramref name="maxNewTokens"/> to the generating ones, and <paramref name="longPrompts"/> to all:
    /// what happens to a prompt that leaves no room for its completion (the maximum length) or for the new tokens (the model's context).
    /// </summary>
    public static EvaluationResult Run(CausalLM model, ITokenizer tokenizer, TaskDataset data, TaskMetric metric, int maxLength, int batchSize, Device device,
        int maxNewTokens = 64, LongPromptPolicy longPrompts = LongPromptPolicy.Skip)
    {
        return metric switch
        {
            TaskMetric.Loss => Loss(model, tokenizer, data, maxLength, batchSize, device, longPrompts),
            TaskMetric.Accuracy => ClassificationScoring.Accuracy(model, tokenizer, data, maxLength, batchSize, device, longPrompts),
            TaskMetric.ExactMatch => ExactMatch(model, tokenizer, data, maxNewTokens, device, longPrompts),
            TaskMetric.Bleu => Bleu(model, tokenizer, data, maxNewTokens, device, longPrompts),
            _ => throw new ArgumentOutOfRangeException(nameof(metric)),
        };
    }

    /// <summary>Mean completion loss (nats per target token) and perplexity over the tokenized data; long prompts are dropped or cut by <paramref name="longPrompts"/>.</summary>
    public static EvaluationResult Loss(CausalLM model, ITokenizer tokenizer, TaskDataset data, int maxLength, int batchSize, Device device,
        LongPromptPolicy longPrompts = LongPromptPolicy.Skip)
    {
        var set = Tokenization.Tokenize(data, tokenizer, maxLength, longPrompts);
        return LossOf(model, set, batchSize, device);
    }

    /// <summary>The loss result of an already tokenized set, with the set's counts and summary.</summary>
    public static EvaluationResult LossOf(CausalLM model, TokenizedSet set, int batchSize, Device device)
    {
        ArgumentNullException.ThrowIfNull(set);
        var loss = LossEvaluation.MeanLoss(model, set, batchSize, device);
        return new EvaluationResult(TaskMetric.Loss, set.Examples.Count, loss.MeanLoss, loss.Perplexity,
            Skipped: set.Dropped, PromptsCut: set.PromptsCut, DataSummary: set.Summary);
    }

    /// <summary>Picks, for each example, the label word whose completion the model finds likeliest (summed log-likelihood); see <see cref="ClassificationScoring.Accuracy"/>.</summary>
    public static EvaluationResult Accuracy(CausalLM model, ITokenizer tokenizer, TaskDataset data, int maxLength, int batchSize, Device device,
        LongPromptPolicy longPrompts = LongPromptPolicy.Skip) =>
        ClassificationScoring.Accuracy(model, tokenizer, data, maxLength, batchSize, device, longPrompts);

    /// <summary>
    /// Greedy generation (up to <paramref name="maxNewTokens"/> tokens or EOS) for each example, scored by whether its final number matches
    /// the reference's "#### answer"; the first three completions are kept as samples. Prompts are fitted to the model's context by
    /// <see cref="GenerationPrompts"/>: a dropped prompt is not scored, and the result says how many were dropped or cut.
    /// </summary>
    public static EvaluationResult ExactMatch(CausalLM model, ITokenizer tokenizer, TaskDataset data, int maxNewTokens, Device device,
        LongPromptPolicy longPrompts = LongPromptPolicy.Skip)
    {
        var prompts = new GenerationPrompts(tokenizer, model.Config.MaxPositions, maxNewTokens, longPrompts);
        int correct = 0, scored = 0;
        var samples = new List<string>();
        foreach (var example in data.Examples)
        {
            if (prompts.Fit(example.Prompt) is not int[] ids) continue;
            var completion = Complete(model, tokenizer, ids, maxNewTokens, stopAtNewline: false);
            scored++;
            if (Gsm8kAnswer.Matches(completion, example.Completion)) correct++;
            if (samples.Count < 3) samples.Add(completion.Trim());
        }
        prompts.RequireSome(data.Source);
        return new EvaluationResult(TaskMetric.ExactMatch, scored, ExactMatch: (double)correct / Math.Max(1, scored), Samples: samples,
            Skipped: prompts.Skipped, PromptsCut: prompts.Cut, DataSummary: prompts.Summary);
    }

    /// <summary>
    /// Greedy one-line generation for each distinct input, scored by corpus BLEU-4 and ROUGE-L against all references of that input; the
    /// first three generations are kept as samples. Prompts are fitted to the model's context by <see cref="GenerationPrompts"/>: an input
    /// whose prompt is dropped is left out of both corpora, and the result says how many were dropped or cut.
    /// </summary>
    public static EvaluationResult Bleu(CausalLM model, ITokenizer tokenizer, TaskDataset data, int maxNewTokens, Device device,
        LongPromptPolicy longPrompts = LongPromptPolicy.Skip)
    {
        var (inputs, references) = ReferenceGrouping.Group(data.Examples.Select(e => (e.Group ?? e.Prompt, e.Completion.Trim())));
        var prompts = data.Examples.GroupBy(e => e.Group ?? e.Prompt).ToDictionary(g => g.Key, g => g.First().Prompt);
        var fitted = new GenerationPrompts(tokenizer, model.Config.MaxPositions, maxNewTokens, longPrompts);
        var hypotheses = new List<string>();
        var refs = new List<IReadOnlyList<string>>();
        for (int i = 0; i < inputs.Count; i++)
        {
            if (fitted.Fit(prompts[inputs[i]]) is not int[] ids) continue;
            hypotheses.Add(Complete(model, tokenizer, ids, maxNewTokens, stopAtNewline: true).Trim());
            refs.Add(references[i]);
        }
        fitted.RequireSome(data.Source);
        return new EvaluationResult(TaskMetric.Bleu, hypotheses.Count, Bleu: Evaluation.Bleu.Corpus(hypotheses, refs), RougeL: Evaluation.RougeL.Corpus(hypotheses, refs),
            Samples: hypotheses.Take(3).ToList(), Skipped: fitted.Skipped, PromptsCut: fitted.Cut, DataSummary: fitted.Summary);
    }

    /// <summary>Greedy completion of a prompt ([BOS] + its tokens, uncut), stopping at EOS (and at a line break for one-line tasks).</summary>
    public static string Complete(CausalLM model, ITokenizer tokenizer, string prompt, int maxNewTokens, bool stopAtNewline) =>
        Complete(model, tokenizer, tokenizer.Encode(prompt, addBos: tokenizer.BosId.HasValue), maxNewTokens, stopAtNewline);

    /// <summary>Greedy completion of prompt token ids (BOS included where wanted), returning only the new text; stops at EOS (and at a line break for one-line tasks).</summary>
    public static string Complete(CausalLM model, ITokenizer tokenizer, IReadOnlyList<int> promptIds, int maxNewTokens, bool stopAtNewline)
    {
        ArgumentNullException.ThrowIfNull(promptIds);
        var ids = promptIds.ToList();
        var produced = new List<int>();
        var prefix = tokenizer.Decode(ids);
        var text = "";
        Generation.Generate(model, ids, new GenerationOptions(maxNewTokens, 0, 0, 0, tokenizer.EosId), token => produced.Add(token),
            stop: () =>
            {
                if (!stopAtNewline) return false;
                var decoded = tokenizer.Decode(ids.Concat(produced));
                text = decoded.StartsWith(prefix, StringComparison.Ordinal) ? decoded[prefix.Length..] : decoded;
                return text.Contains('\n');
            });
        var full = tokenizer.Decode(ids.Concat(produced));
        text = full.StartsWith(prefix, StringComparison.Ordinal) ? full[prefix.Length..] : full;
        return stopAtNewline && text.Contains('\n') ? text[..text.IndexOf('\n')] : text;
    }
}
