using LayerCard.Common;
using LayerCard.Tokenizers;

namespace LayerCard.Data;

/// <summary>
/// One sequence ready for the model. <see cref="Labels"/> is already shifted: Labels[t] is the token the model
/// should predict after reading InputIds[0..t] (that is InputIds[t+1] or, for plain-text windows, the token after
/// the window), or <see cref="Tokenization.IgnoreLabel"/> where no loss is taken. Both arrays have the same length.
/// </summary>
/// <param name="ExampleIndex">The index into <see cref="TaskDataset.Examples"/>, or the window number for plain text.</param>
public sealed record TokenizedExample(int[] InputIds, int[] Labels, int ExampleIndex)
{
    /// <summary>Positions that carry loss.</summary>
    public int TargetCount => Labels.Count(l => l != Tokenization.IgnoreLabel);
    /// <summary>Prompt tokens cut from the left to fit (<see cref="LongPromptPolicy.TruncateLeft"/>); 0 when the prompt is whole.</summary>
    public int PromptTokensCut { get; init; }
}

/// <summary>Tokenized sequences plus what tokenization had to cut, so nothing is lost silently.</summary>
public sealed class TokenizedSet
{
    /// <summary>The first <paramref name="count"/> examples (all when there are no more), the summary saying so.</summary>
    public TokenizedSet First(int? count) =>
        count is int n && Examples.Count > n ? new TokenizedSet(Source, Examples.Take(n).ToList(), Truncated, Dropped, $"{Summary}; first {n} used", PromptsCut) : this;

    /// <summary>Some of this set's sequences, <paramref name="how"/> saying which in the summary.</summary>
    public TokenizedSet Subset(IReadOnlyList<TokenizedExample> chosen, string how) =>
        new(Source, chosen, Truncated, Dropped, $"{Summary}; {how}", PromptsCut);

    /// <summary>A tokenized set; the token totals are computed from <paramref name="examples"/>.</summary>
    public TokenizedSet(string source, IReadOnlyList<TokenizedExample> examples, int truncated, int dropped, string summary, int promptsCut = 0)
    {
        PromptsCut = promptsCut;
        Source = source;
        Examples = examples;
        Truncated = truncated;
        Dropped = dropped;
        Summary = summary;
        TotalTokens = examples.Sum(e => (long)e.InputIds.Length);
        TargetTokens = examples.Sum(e => (long)e.TargetCount);
    }

    /// <summary>The file the data came from.</summary>
    public string Source { get; }
    /// <summary>The sequences, in file order for pairs and text order for windows.</summary>
    public IReadOnlyList<TokenizedExample> Examples { get; }
    /// <summary>Input tokens over all sequences.</summary>
    public long TotalTokens { get; }
    /// <summary>Tokens that carry loss.</summary>
    public long TargetTokens { get; }
    /// <summary>Examples whose completion was cut short to fit the maximum length.</summary>
    public int Truncated { get; }
    /// <summary>Examples left out (their prompt alone fills the maximum length, or they have nothing to predict).</summary>
    public int Dropped { get; }
    /// <summary>Examples whose prompt lost its first tokens to fit (<see cref="LongPromptPolicy.TruncateLeft"/>); 0 otherwise.</summary>
    public int PromptsCut { get; }
    /// <summary>
    /// One line for the log, e.g. "1000 examples, 12 truncated, 3 dropped (prompt longer than the maximum length 256), 91234 tokens",
    /// or with <see cref="LongPromptPolicy.TruncateLeft"/> "1000 examples, 3 prompts cut from the left, 12 truncated, 0 dropped, 91234 tokens".
    /// </summary>
    public string Summary { get; }
}

/// <summary>Turns a dataset into sequences with shifted labels, for training and evaluation.</summary>
public static class Tokenization
{
    /// <summary>The label of a position without loss (the value PyTorch's cross-entropy ignores by default).</summary>
    public const int IgnoreLabel = -100;

    /// <summary>
    /// Examples become [BOS] + Encode(prompt) + the completion's tokens + [EOS] (BOS and EOS only when the tokenizer has
    /// them), with loss on the completion tokens and EOS only. The loss boundary is exact at the prompt's last token.
    /// What happens to an example longer than <paramref name="maxLength"/> depends on <paramref name="longPrompts"/>:
    /// with <see cref="LongPromptPolicy.Skip"/> it loses the end of its completion (EOS first) but keeps at least one
    /// completion token, and one whose prompt alone needs maxLength tokens is dropped; with
    /// <see cref="LongPromptPolicy.TruncateLeft"/> its prompt loses its first tokens (BOS stays) until the whole
    /// completion fits, keeping at least its last token, and only a completion that does not fit even then loses its end.
    /// Plain text is encoded once (no BOS/EOS) and cut into windows of maxLength inputs, each labelled with the
    /// following tokens; consecutive windows share one token so every token but the first is predicted exactly once.
    /// </summary>
    public static TokenizedSet Tokenize(TaskDataset data, ITokenizer tokenizer, int maxLength, LongPromptPolicy longPrompts = LongPromptPolicy.Skip)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (maxLength < 2) throw BadInputException.ForField("max_length", $"must be at least 2, not {maxLength}");
        LongPrompts.Validate(longPrompts);
        return data.PlainText != null ? Windows(data, data.PlainText, tokenizer, maxLength) : Pairs(data, tokenizer, maxLength, longPrompts);
    }

    /// <summary>
    /// The completion's tokens as they follow the prompt in running text. Encoding the completion on its own
    /// would add a SentencePiece-style dummy prefix space (" positive" becoming two spaces) or tokenise the
    /// boundary differently from the text the model was trained on, so the whole text is encoded and the
    /// prompt's tokens cut off; only when the prompt's tokens are not a prefix of the whole is the completion
    /// encoded separately.
    /// </summary>
    private static int[] CompletionIds(ITokenizer tokenizer, Example example, int[] promptIds)
    {
        if (promptIds.Length == 0) return tokenizer.Encode(example.Completion, addBos: false);
        var whole = tokenizer.Encode(example.Prompt + example.Completion, addBos: false);
        if (whole.Length > promptIds.Length && whole.AsSpan(0, promptIds.Length).SequenceEqual(promptIds))
            return whole[promptIds.Length..];
        return tokenizer.Encode(example.Completion, addBos: false);
    }

    private static TokenizedSet Pairs(TaskDataset data, ITokenizer tokenizer, int maxLength, LongPromptPolicy longPrompts)
    {
        var result = new List<TokenizedExample>(data.Examples.Count);
        int truncated = 0, cut = 0, promptTooLong = 0, nothingToPredict = 0;
        int bosCount = tokenizer.BosId.HasValue ? 1 : 0;
        for (int index = 0; index < data.Examples.Count; index++)
        {
            var example = data.Examples[index];
            var promptIds = example.Prompt.Length > 0 ? tokenizer.Encode(example.Prompt, addBos: false) : [];
            var head = LongPrompts.KeepLast(promptIds, promptIds.Length, tokenizer.BosId);
            var tail = new List<int>();
            if (example.Completion.Length > 0) tail.AddRange(CompletionIds(tokenizer, example, promptIds));
            if (tokenizer.EosId is int eos) tail.Add(eos);

            if (longPrompts == LongPromptPolicy.TruncateLeft && tail.Count > 0 && head.Count + tail.Count > maxLength)
            {
                // Just enough of the prompt goes for the whole completion to fit; its last token stays (the context of the
                // first completion token) unless BOS and one completion token already fill the maximum length.
                int keepAtLeast = Math.Min(promptIds.Length, Math.Min(1, maxLength - bosCount - 1));
                int keep = Math.Max(keepAtLeast, maxLength - bosCount - tail.Count);
                if (keep < promptIds.Length)
                {
                    head = LongPrompts.KeepLast(promptIds, keep, tokenizer.BosId);
                    cut++;
                }
            }
            if (head.Count >= maxLength) { promptTooLong++; continue; }
            if (head.Count + tail.Count > maxLength)
            {
                tail.RemoveRange(maxLength - head.Count, head.Count + tail.Count - maxLength);
                truncated++;
            }
            var ids = head.Concat(tail).ToArray();
            var labels = new int[ids.Length];
            for (int t = 0; t < ids.Length; t++)
                labels[t] = t + 1 < ids.Length && t + 1 >= head.Count ? ids[t + 1] : IgnoreLabel;
            // Without BOS and prompt the first token has no context to be predicted from.
            if (labels.All(l => l == IgnoreLabel)) { nothingToPredict++; continue; }
            result.Add(new TokenizedExample(ids, labels, index) { PromptTokensCut = promptIds.Length - (head.Count - bosCount) });
        }

        int dropped = promptTooLong + nothingToPredict;
        var reasons = new List<string>();
        if (promptTooLong > 0) reasons.Add((nothingToPredict > 0 ? $"{promptTooLong} " : "") + $"prompt longer than the maximum length {maxLength}");
        if (nothingToPredict > 0) reasons.Add((promptTooLong > 0 ? $"{nothingToPredict} " : "") + "nothing to predict");
        var cutText = longPrompts == LongPromptPolicy.TruncateLeft ? $"{cut} prompt{(cut == 1 ? "" : "s")} cut from the left, " : "";
        var summary = $"{data.Examples.Count} example{(data.Examples.Count == 1 ? "" : "s")}, {cutText}{truncated} truncated, {dropped} dropped" +
                      (reasons.Count > 0 ? $" ({string.Join(", ", reasons)})" : "");
        if (result.Count == 0)
            throw BadInputException.Naming("max_length", n => $"{data.Source}: every example was dropped at {n("max_length")} {maxLength}: {summary}" +
                (promptTooLong > 0 && longPrompts == LongPromptPolicy.Skip ? $"; raise {n("max_length")} or set {n(LongPrompts.Field)} truncate-left" : ""));
        var tokens = result.Sum(r => (long)r.InputIds.Length);
        return new TokenizedSet(data.Source, result, truncated, dropped, $"{summary}, {tokens} tokens", cut);
    }

    private static TokenizedSet Windows(TaskDataset data, string text, ITokenizer tokenizer, int maxLength)
    {
        var ids = tokenizer.Encode(text, addBos: false);
        if (ids.Length < 2) throw BadInputException.InFile(data.Source, $"the text is only {ids.Length} token(s); nothing to predict");
        var windows = new List<TokenizedExample>();
        for (int start = 0; start < ids.Length - 1; start += maxLength)
        {
            int end = Math.Min(start + maxLength + 1, ids.Length);
            windows.Add(new TokenizedExample(ids[start..(end - 1)], ids[(start + 1)..end], windows.Count));
        }
        var summary = $"1 text of {ids.Length} tokens in {windows.Count} windows of up to {maxLength}" +
                      (ids.Length - 1 > maxLength && (ids.Length - 1) % maxLength != 0
                          ? $" (the last has {(ids.Length - 1) % maxLength})" : "");
        return new TokenizedSet(data.Source, windows, 0, 0, summary);
    }
}
