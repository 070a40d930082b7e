using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Models;
using LayerCard.Tokenizers;
using static TorchSharp.torch;

namespace LayerCard.Evaluation;

/// <summary>What a task is scored by: completion loss (lower is better), label-word accuracy, GSM8K exact match of the final answer, or data-to-text (E2E, DART, WebNLG) corpus BLEU-4.</summary>
public enum TaskMetric { Loss, Accuracy, ExactMatch, Bleu }

/// <summary>One evaluation's figures; which are set depends on the metric.</summary>
public sealed record EvaluationResult(
    TaskMetric Metric, int Examples, double? Loss = null, double? Perplexity = null, double? Accuracy = null,
    double? MajorityBaseline = null, string? MajorityLabel = null, double? ExactMatch = null, double? Bleu = null,
    double? RougeL = null, IReadOnlyList<string>? Samples = null)
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

    /// <summary>Scores the model on <paramref name="data"/> by <paramref name="metric"/>; <paramref name="maxLength"/> and <paramref name="batchSize"/> apply to the scoring metrics, <paramref name="maxNewTokens"/> to the generating ones.</summary>
    public static EvaluationResult Run(CausalLM model, ITokenizer tokenizer, TaskDataset data, TaskMetric metric, int maxLength, int batchSize, Device device, int maxNewTokens = 64)
    {
        return metric switch
        {
            TaskMetric.Loss => Loss(model, tokenizer, data, maxLength, batchSize, device),
            TaskMetric.Accuracy => Accuracy(model, tokenizer, data, maxLength, batchSize, device),
            TaskMetric.ExactMatch => ExactMatch(model, tokenizer, data, maxNewTokens, device),
            TaskMetric.Bleu => Bleu(model, tokenizer, data, maxNewTokens, device),
            _ => throw new ArgumentOutOfRangeException(nameof(metric)),
        };
    }

    /// <summary>Mean completion loss (nats per target token) and perplexity over the tokenized data.</summary>
    public static EvaluationResult Loss(CausalLM model, ITokenizer tokenizer, TaskDataset data, int maxLength, int batchSize, Device device)
    {
        var set = Tokenization.Tokenize(data, tokenizer, maxLength);
        var loss = LossEvaluation.MeanLoss(model, set, batchSize, device);
        return new EvaluationResult(TaskMetric.Loss, set.Examples.Count, loss.MeanLoss, loss.Perplexity);
    }

    /// <summary>Picks, for each example, the label word whose completion the model finds likeliest (summed log-likelihood).</summary>
    public static EvaluationResult Accuracy(CausalLM model, ITokenizer tokenizer, TaskDataset data, int maxLength, int batchSize, Device device)
    {
        var labels = data.Labels ?? throw BadInputException.Naming("labels", n => $"{data.Source}: accuracy needs classification data with label words ({n("labels")})");
        var examples = data.Examples.Where(e => e.Label.HasValue).ToList();
        if (examples.Count == 0) throw BadInputException.InFile(data.Source, "no labelled examples to score");
        var scores = new double[examples.Count, labels.Count];
        for (int label = 0; label < labels.Count; label++)
        {
            // The same prompts with each candidate label word as the completion.
            var candidates = examples.Select(e => new Example(e.Prompt, " " + labels[label], label)).ToList();
            var set = Tokenization.Tokenize(new TaskDataset(data.Source, data.Format, candidates, null, labels, data.ContentHash), tokenizer, maxLength);
            if (set.Examples.Count != candidates.Count)
                throw BadInputException.Naming("max_length", n => $"{data.Source}: {candidates.Count - set.Examples.Count} prompts do not fit {n("max_length")} {maxLength}; raise it to score every example");
            var row = 0;
            using var noGrad = no_grad();
            foreach (var batch in BatchSampler.Batches(set, batchSize))
            {
                using var scope = NewDisposeScope();
                var (loss, _) = CompletionLoss.PerExample(model, batch, device);
                var values = loss.to(ScalarType.Float64).cpu().data<double>().ToArray();
                foreach (var v in values) scores[row++, label] = -v;
            }
        }
        var predicted = Enumerable.Range(0, examples.Count).Select(i => Enumerable.Range(0, labels.Count).MaxBy(l => scores[i, l])).ToList();
        var gold = examples.Select(e => e.Label!.Value).ToList();
        var (majority, baseline) = ClassificationMetrics.MajorityBaseline(gold, gold);
        return new EvaluationResult(TaskMetric.Accuracy, examples.Count, Accuracy: ClassificationMetrics.Accuracy(predicted, gold),
            MajorityBaseline: baseline, MajorityLabel: labels[majority]);
    }

    /// <summary>Greedy generation (up to <paramref name="maxNewTokens"/> tokens or EOS) for each example, scored by whether its final number matches the reference's "#### answer"; the first three completions are kept as samples.</summary>
    public static EvaluationResult ExactMatch(CausalLM model, ITokenizer tokenizer, TaskDataset data, int maxNewTokens, Device device)
    {
        int correct = 0;
        var samples = new List<string>();
        foreach (var example in data.Examples)
        {
            var completion = Complete(model, tokenizer, example.Prompt, maxNewTokens, stopAtNewline: false);
            if (Gsm8kAnswer.Matches(completion, example.Completion)) correct++;
            if (samples.Count < 3) samples.Add(completion.Trim());
        }
        return new EvaluationResult(TaskMetric.ExactMatch, data.Examples.Count, ExactMatch: (double)correct / Math.Max(1, data.Examples.Count), Samples: samples);
    }

    /// <summary>Greedy one-line generation for each distinct input, scored by corpus BLEU-4 and ROUGE-L against all references of that input; the first three generations are kept as samples.</summary>
    public static EvaluationResult Bleu(CausalLM model, ITokenizer tokenizer, TaskDataset data, int maxNewTokens, Device device)
    {
        var (inputs, references) = ReferenceGrouping.Group(data.Examples.Select(e => (e.Group ?? e.Prompt, e.Completion.Trim())));
        var prompts = data.Examples.GroupBy(e => e.Group ?? e.Prompt).ToDictionary(g => g.Key, g => g.First().Prompt);
        var hypotheses = inputs.Select(input => Complete(model, tokenizer, prompts[input], maxNewTokens, stopAtNewline: true).Trim()).ToList();
        var refs = references.Select(r => (IReadOnlyList<string>)r).ToList();
        return new EvaluationResult(TaskMetric.Bleu, inputs.Count, Bleu: Evaluation.Bleu.Corpus(hypotheses, refs), RougeL: Evaluation.RougeL.Corpus(hypotheses, refs),
            Samples: hypotheses.Take(3).ToList());
    }

    /// <summary>Greedy completion of a prompt, stopping at EOS (and at a line break for one-line tasks).</summary>
    public static string Complete(CausalLM model, ITokenizer tokenizer, string prompt, int maxNewTokens, bool stopAtNewline)
    {
        var ids = tokenizer.Encode(prompt, addBos: tokenizer.BosId.HasValue).ToList();
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
