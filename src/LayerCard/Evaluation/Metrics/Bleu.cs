namespace LayerCard.Evaluation;

/// <summary>
/// Corpus BLEU as scored by the E2E NLG challenge (mteval-v13a semantics, case-insensitive).
/// </summary>
/// <remarks>
/// Statistics are summed over the corpus before any division, which is what makes this corpus BLEU rather
/// than an average of sentence BLEUs. Per hypothesis:
/// <list type="bullet">
/// <item>each n-gram's count is clipped by the largest count it has in any single reference of that
///   hypothesis (not the sum over references, which would reward repetition);</item>
/// <item>the reference length is that of the reference closest in length, the shorter one on a tie;</item>
/// <item>a hypothesis shorter than n contributes no n-grams (pymteval adds a negative count here, mteval
///   does not; we follow mteval).</item>
/// </list>
/// No smoothing: if some order has no match the score is 0. mteval-v13a and pymteval instead substitute tiny
/// values for zero counts; that only matters for toy corpora, never for a real E2E test set.
/// </remarks>
public static class Bleu
{
    /// <summary>Corpus BLEU in [0, 1]. <paramref name="references"/>[i] are the references of hypothesis i.</summary>
    public static double Corpus(IReadOnlyList<string> hypotheses, IReadOnlyList<IReadOnlyList<string>> references,
        int maxOrder = 4)
    {
        var stats = CorpusStatistics(hypotheses, references, maxOrder);
        return stats.Score();
    }

    /// <summary>The summed counts behind a corpus score; exposed so reports can show precisions and lengths.</summary>
    public static BleuStatistics CorpusStatistics(IReadOnlyList<string> hypotheses,
        IReadOnlyList<IReadOnlyList<string>> references, int maxOrder = 4)
    {
        ArgumentNullException.ThrowIfNull(hypotheses);
        ArgumentNullException.ThrowIfNull(references);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxOrder, 1);
        if (hypotheses.Count != references.Count)
            throw new ArgumentException(
                $"{hypotheses.Count} hypotheses but {references.Count} reference sets; they must pair up.",
                nameof(references));

        var matches = new long[maxOrder];
        var totals = new long[maxOrder];
        long hypothesisLength = 0, referenceLength = 0;
        for (var i = 0; i < hypotheses.Count; i++)
        {
            var refs = references[i];
            if (refs is null || refs.Count == 0)
                throw new ArgumentException($"Hypothesis {i} has no references.", nameof(references));
            var hyp = MtevalTokenizer.Tokenize(hypotheses[i]);
            var refTokens = refs.Select(MtevalTokenizer.Tokenize).ToArray();

            for (var n = 1; n <= maxOrder; n++)
            {
                var maxRefCounts = new Dictionary<string, int>(StringComparer.Ordinal);
                foreach (var r in refTokens)
                    foreach (var (gram, count) in NGrams.Count(r, n))
                        if (!maxRefCounts.TryGetValue(gram, out var seen) || count > seen)
                            maxRefCounts[gram] = count;
                foreach (var (gram, count) in NGrams.Count(hyp, n))
                {
                    totals[n - 1] += count;
                    matches[n - 1] += Math.Min(count, maxRefCounts.GetValueOrDefault(gram));
                }
            }

            hypothesisLength += hyp.Length;
            referenceLength += ClosestLength(hyp.Length, refTokens);
        }
        return new BleuStatistics(matches, totals, hypothesisLength, referenceLength);
    }

    private static int ClosestLength(int hypLength, string[][] refs)
    {
        var best = refs[0].Length;
        foreach (var r in refs)
        {
            var d = Math.Abs(r.Length - hypLength);
            var bestD = Math.Abs(best - hypLength);
            if (d < bestD || (d == bestD && r.Length < best)) best = r.Length;
        }
        return best;
    }
}

/// <summary>Summed BLEU counts: clipped matches and hypothesis n-gram totals per order (index 0 = unigrams).</summary>
public sealed record BleuStatistics(long[] Matches, long[] Totals, long HypothesisLength, long ReferenceLength)
{
    /// <summary>exp(1 - r/c) when the hypotheses (c tokens) are shorter than the closest references (r tokens), 1 otherwise; 0 for empty output.</summary>
    public double BrevityPenalty => HypothesisLength == 0 ? 0.0
        : HypothesisLength > ReferenceLength ? 1.0
        : Math.Exp(1.0 - (double)ReferenceLength / HypothesisLength);

    /// <summary>Clipped n-gram precision of order <paramref name="order"/> (1 = unigrams); 0 when there are no n-grams of that order.</summary>
    public double Precision(int order) =>
        Totals[order - 1] == 0 ? 0.0 : (double)Matches[order - 1] / Totals[order - 1];

    /// <summary>The brevity penalty times the geometric mean of the precisions of orders 1 to max; 0 when any order has no match (no smoothing).</summary>
    public double Score()
    {
        var logSum = 0.0;
        for (var n = 1; n <= Matches.Length; n++)
        {
            if (Matches[n - 1] == 0) return 0.0;
            logSum += Math.Log(Precision(n));
        }
        return BrevityPenalty * Math.Exp(logSum / Matches.Length);
    }
}

internal static class NGrams
{
    // Joined with a character the tokenizer can never leave inside a token, so distinct n-grams never collide.
    /// <summary>How many times each n-gram of length <paramref name="n"/> occurs in <paramref name="tokens"/>, keyed by its tokens joined with spaces.</summary>
    public static Dictionary<string, int> Count(string[] tokens, int n)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i + n <= tokens.Length; i++)
        {
            var gram = string.Join(' ', tokens, i, n);
            counts[gram] = counts.GetValueOrDefault(gram) + 1;
        }
        return counts;
    }
}
