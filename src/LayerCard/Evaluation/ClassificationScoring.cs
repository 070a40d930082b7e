using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Models;
using LayerCard.Tokenizers;
using static TorchSharp.torch;

namespace LayerCard.Evaluation;

/// <summary>The sequences label-word accuracy scores.</summary>
/// <param name="Examples">The labelled examples of the data.</param>
/// <param name="Kept">Indices into <paramref name="Examples"/> of those scored, in file order (the rest were dropped as too long).</param>
/// <param name="PerLabel">For each label word, one sequence per kept example (in <paramref name="Kept"/> order): the prompt with that word as completion.</param>
/// <param name="PromptsCut">Kept examples whose prompt was cut from the left.</param>
public sealed record ClassificationCandidates(IReadOnlyList<Example> Examples, IReadOnlyList<int> Kept, IReadOnlyList<TokenizedSet> PerLabel, int PromptsCut);

/// <summary>Label-word accuracy: each example's prompt scored with every label word as its completion.</summary>
public static class ClassificationScoring
{
    /// <summary>
    /// The prompts of <paramref name="data"/> with every label word as completion, tokenized within <paramref name="maxLength"/> by
    /// <paramref name="longPrompts"/>. With <see cref="LongPromptPolicy.TruncateLeft"/> a longer label word leaves less room for the
    /// prompt, so every candidate of an example is cut to the prompt of its most-cut candidate: the labels compete on equal context.
    /// Data without label words or labelled examples is refused naming the file.
    /// </summary>
    public static ClassificationCandidates Candidates(ITokenizer tokenizer, TaskDataset data, int maxLength, LongPromptPolicy longPrompts = LongPromptPolicy.Skip)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(tokenizer);
        var labels = data.Labels ?? throw BadInputException.Naming("labels", n => $"{data.Source}: accuracy needs classification data with label words ({n("labels")})");
        var examples = data.Examples.Where(e => e.Label.HasValue).ToList();
        if (examples.Count == 0) throw BadInputException.InFile(data.Source, "no labelled examples to score");
        var sets = labels.Select((word, label) => Tokenization.Tokenize(
            new TaskDataset(data.Source, data.Format, examples.Select(e => new Example(e.Prompt, " " + word, label)).ToList(), null, labels, data.ContentHash),
            tokenizer, maxLength, longPrompts)).ToList();
        // A prompt too long for one label word is too long for all (the rule looks at the prompt alone), but stay safe.
        var kept = sets.Select(s => s.Examples.Select(e => e.ExampleIndex)).Aggregate((a, b) => a.Intersect(b)).Order().ToList();
        if (kept.Count == 0)
            throw BadInputException.Naming("max_length", n => $"{data.Source}: no prompt fits {n("max_length")} {maxLength} with a label word; set {n(LongPrompts.Field)} truncate-left");
        var candidates = sets.Select(s => kept.Select(i => s.Examples.First(e => e.ExampleIndex == i)).ToList()).ToList();
        var cut = AlignPromptCuts(candidates, tokenizer.BosId.HasValue ? 1 : 0);
        var perLabel = candidates.Select((list, label) => new TokenizedSet(data.Source, list, sets[label].Truncated, sets[label].Dropped, sets[label].Summary, cut)).ToList();
        return new ClassificationCandidates(examples, kept, perLabel, cut);
    }

    /// <summary>
    /// Picks, for each example, the label word whose completion the model finds likeliest (summed log-likelihood).
    /// A prompt that leaves no room for a label word within <paramref name="maxLength"/> is dropped and counted
    /// (<see cref="LongPromptPolicy.Skip"/>) or cut from the left (<see cref="LongPromptPolicy.TruncateLeft"/>); the
    /// sequences scored are those of <see cref="Candidates"/>, every label word after the same prompt.
    /// </summary>
    public static EvaluationResult Accuracy(CausalLM model, ITokenizer tokenizer, TaskDataset data, int maxLength, int batchSize, Device device,
        LongPromptPolicy longPrompts = LongPromptPolicy.Skip)
    {
        var (examples, kept, perLabel, cut) = Candidates(tokenizer, data, maxLength, longPrompts);
        var labels = data.Labels!;
        var scores = new double[kept.Count, labels.Count];
        using (no_grad())
        {
            for (int label = 0; label < labels.Count; label++)
            {
                var row = 0;
                foreach (var batch in BatchSampler.Batches(perLabel[label], batchSize))
                {
                    using var scope = NewDisposeScope();
                    var (loss, _) = CompletionLoss.PerExample(model, batch, device);
                    foreach (var v in loss.to(ScalarType.Float64).cpu().data<double>().ToArray()) scores[row++, label] = -v;
                }
            }
        }
        var predicted = Enumerable.Range(0, kept.Count).Select(i => Enumerable.Range(0, labels.Count).MaxBy(l => scores[i, l])).ToList();
        var gold = kept.Select(i => examples[i].Label!.Value).ToList();
        var (majority, baseline) = ClassificationMetrics.MajorityBaseline(gold, gold);
        int skipped = examples.Count - kept.Count;
        var summary = $"{examples.Count} labelled example{(examples.Count == 1 ? "" : "s")}, " + (longPrompts == LongPromptPolicy.TruncateLeft
            ? $"{cut} prompt{(cut == 1 ? "" : "s")} cut from the left"
            : $"{skipped} dropped" + (skipped > 0 ? $" (prompt longer than the maximum length {maxLength})" : ""));
        return new EvaluationResult(TaskMetric.Accuracy, kept.Count, Accuracy: ClassificationMetrics.Accuracy(predicted, gold),
            MajorityBaseline: baseline, MajorityLabel: labels[majority], Skipped: skipped, PromptsCut: cut, DataSummary: summary);
    }

    /// <summary>
    /// Cuts each example's candidates to the prompt of its most-cut candidate (in place) and returns how many
    /// examples had their prompt cut at all. Positions after BOS are removed and the labels remade as tokenization
    /// makes them, so every label still points at the candidate's completion.
    /// </summary>
    private static int AlignPromptCuts(List<List<TokenizedExample>> candidates, int bosCount)
    {
        int examplesCut = 0;
        for (int row = 0; row < candidates[0].Count; row++)
        {
            int most = candidates.Max(c => c[row].PromptTokensCut);
            if (most == 0) continue;
            examplesCut++;
            foreach (var list in candidates)
            {
                var e = list[row];
                int extra = most - e.PromptTokensCut;
                if (extra == 0) continue;
                int head = Array.FindIndex(e.Labels, l => l != Tokenization.IgnoreLabel) + 1 - extra;
                var ids = e.InputIds[..bosCount].Concat(e.InputIds[(bosCount + extra)..]).ToArray();
                var labels = new int[ids.Length];
                for (int t = 0; t < ids.Length; t++)
                    labels[t] = t + 1 < ids.Length && t + 1 >= head ? ids[t + 1] : Tokenization.IgnoreLabel;
                list[row] = new TokenizedExample(ids, labels, e.ExampleIndex) { PromptTokensCut = most };
            }
        }
        return examplesCut;
    }
}
