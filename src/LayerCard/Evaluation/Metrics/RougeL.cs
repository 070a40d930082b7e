namespace LayerCard.Evaluation;

/// <summary>
/// ROUGE-L as E2E reports it, i.e. the MS-COCO caption evaluator's implementation (pycocoevalcap rouge.py).
/// </summary>
/// <remarks>
/// Per hypothesis: LCS length against each reference gives precision LCS/|hyp| and recall LCS/|ref|; the
/// maximum precision and the maximum recall are taken independently (possibly from different references),
/// combined as F = (1+β²)PR / (R + β²P), and 0 if either is 0. The corpus score is the plain mean over
/// hypotheses. β = 1.2 is COCO's constant.
/// <para>
/// Tokens: the BLEU tokenisation (<see cref="MtevalTokenizer"/>, lowercased), then the punctuation tokens the
/// COCO evaluator deletes after its PTB tokenizer are dropped (. , ? ! : ; - -- ... ' '' ` `` and brackets).
/// Without this step every shared full stop or comma would count as LCS material that E2E's ROUGE-L never
/// sees. COCO's Stanford PTB tokenizer also splits clitics ("it's" → "it 's"), which we do not; that residual
/// difference is small on E2E-style text.
/// </para>
/// </remarks>
public static class RougeL
{
    private static readonly HashSet<string> CocoPunctuation = new(StringComparer.Ordinal)
    {
        "''", "'", "``", "`", "(", ")", "{", "}", ".", "?", "!", ",", ":", "-", "--", "...", ";",
    };

    /// <summary>Mean ROUGE-L F over hypotheses, in [0, 1]. <paramref name="references"/>[i] belong to hypothesis i.</summary>
    public static double Corpus(IReadOnlyList<string> hypotheses, IReadOnlyList<IReadOnlyList<string>> references,
        double beta = 1.2)
    {
        ArgumentNullException.ThrowIfNull(hypotheses);
        ArgumentNullException.ThrowIfNull(references);
        if (hypotheses.Count != references.Count)
            throw new ArgumentException(
                $"{hypotheses.Count} hypotheses but {references.Count} reference sets; they must pair up.",
                nameof(references));
        if (hypotheses.Count == 0)
            throw new ArgumentException("ROUGE-L of an empty corpus is undefined.", nameof(hypotheses));
        if (!(beta > 0) || double.IsInfinity(beta))
            throw new ArgumentOutOfRangeException(nameof(beta), beta, "beta must be a positive finite number.");

        var sum = 0.0;
        for (var i = 0; i < hypotheses.Count; i++)
        {
            var refs = references[i];
            if (refs is null || refs.Count == 0)
                throw new ArgumentException($"Hypothesis {i} has no references.", nameof(references));
            sum += Sentence(Tokenize(hypotheses[i]), refs.Select(Tokenize).ToArray(), beta);
        }
        return sum / hypotheses.Count;
    }

    /// <summary>The tokens ROUGE-L compares: <see cref="MtevalTokenizer"/> minus COCO's punctuation tokens.</summary>
    public static string[] Tokenize(string text) =>
        MtevalTokenizer.Tokenize(text).Where(t => !CocoPunctuation.Contains(t)).ToArray();

    internal static double Sentence(string[] hypothesis, string[][] references, double beta)
    {
        if (hypothesis.Length == 0) return 0.0;
        double maxP = 0, maxR = 0;
        foreach (var reference in references)
        {
            if (reference.Length == 0) continue;
            var lcs = LcsLength(hypothesis, reference);
            maxP = Math.Max(maxP, (double)lcs / hypothesis.Length);
            maxR = Math.Max(maxR, (double)lcs / reference.Length);
        }
        if (maxP == 0 || maxR == 0) return 0.0;
        var b2 = beta * beta;
        return (1 + b2) * maxP * maxR / (maxR + b2 * maxP);
    }

    internal static int LcsLength(string[] a, string[] b)
    {
        // Two rolling rows: sentences are short, but a long generation should not allocate |a|·|b| cells.
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
                cur[j] = string.Equals(a[i - 1], b[j - 1], StringComparison.Ordinal)
                    ? prev[j - 1] + 1
                    : Math.Max(prev[j], cur[j - 1]);
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
