using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Tokenizers;

namespace LayerCard.Evaluation;

/// <summary>
/// Prompts of the generation metrics (exact match, BLEU) fitted to the model's context under a
/// <see cref="LongPromptPolicy"/>, counting what was dropped or cut. A prompt is [BOS] + Encode(prompt) (BOS only
/// when the tokenizer has one). With <see cref="LongPromptPolicy.Skip"/> a prompt that leaves no room in the context
/// for one new token is dropped; with <see cref="LongPromptPolicy.TruncateLeft"/> a prompt that leaves no room for
/// all the new tokens loses its first tokens (BOS stays first) until they fit, keeping at least its last token.
/// </summary>
public sealed class GenerationPrompts
{
    private readonly ITokenizer tokenizer;
    private readonly int maxNewTokens;

    /// <summary>Fits prompts for <paramref name="maxNewTokens"/> new tokens within <paramref name="context"/> positions (null or 0 and below: no limit).</summary>
    public GenerationPrompts(ITokenizer tokenizer, int? context, int maxNewTokens, LongPromptPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        LongPrompts.Validate(policy);
        this.tokenizer = tokenizer;
        this.maxNewTokens = Math.Max(1, maxNewTokens);
        Context = context is > 0 ? context : null;
        Policy = policy;
    }

    /// <summary>The model's context in tokens; null when it sets no limit.</summary>
    public int? Context { get; }
    /// <summary>What happens to a prompt that does not fit.</summary>
    public LongPromptPolicy Policy { get; }
    /// <summary>Prompts seen by <see cref="Fit"/>.</summary>
    public int Total { get; private set; }
    /// <summary>Prompts dropped because they leave no room for a new token (<see cref="LongPromptPolicy.Skip"/>).</summary>
    public int Skipped { get; private set; }
    /// <summary>Prompts that lost their first tokens (<see cref="LongPromptPolicy.TruncateLeft"/>).</summary>
    public int Cut { get; private set; }

    /// <summary>The token ids to generate from, or null when the prompt is dropped; counts it either way.</summary>
    public int[]? Fit(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        Total++;
        var promptIds = prompt.Length > 0 ? tokenizer.Encode(prompt, addBos: false) : [];
        var whole = LongPrompts.KeepLast(promptIds, promptIds.Length, tokenizer.BosId);
        if (Context is not int context || whole.Count + 1 <= context && (Policy == LongPromptPolicy.Skip || whole.Count + maxNewTokens <= context))
            return whole.ToArray();
        if (Policy == LongPromptPolicy.Skip)
        {
            Skipped++;
            return null;
        }
        int bosCount = whole.Count - promptIds.Length;
        int keepAtLeast = Math.Min(promptIds.Length, Math.Max(0, Math.Min(1, context - bosCount - 1)));
        int keep = Math.Max(keepAtLeast, context - bosCount - maxNewTokens);
        if (keep >= promptIds.Length) return whole.ToArray();
        Cut++;
        return LongPrompts.KeepLast(promptIds, keep, tokenizer.BosId).ToArray();
    }

    /// <summary>
    /// One line for the result, e.g. "40 prompts, 3 dropped (prompt leaves no room for a new token in the model's context of 128)"
    /// or "40 prompts, 3 prompts cut from the left (room for 64 new tokens in the model's context of 128)".
    /// </summary>
    public string Summary
    {
        get
        {
            var text = $"{Total} prompt{(Total == 1 ? "" : "s")}, ";
            if (Policy == LongPromptPolicy.TruncateLeft)
                return text + $"{Cut} prompt{(Cut == 1 ? "" : "s")} cut from the left" +
                       (Context is int c ? $" (room for {maxNewTokens} new token{(maxNewTokens == 1 ? "" : "s")} in the model's context of {c})" : "");
            return text + $"{Skipped} dropped" + (Skipped > 0 ? $" (prompt leaves no room for a new token in the model's context of {Context})" : "");
        }
    }

    /// <summary>Refuses a set none of whose prompts fit, naming <c>long_prompts</c>.</summary>
    public void RequireSome(string source)
    {
        if (Total > 0 && Skipped == Total)
            throw BadInputException.Naming(LongPrompts.Field, n => $"{source}: every prompt was dropped: {Summary}; set {n(LongPrompts.Field)} truncate-left to cut them from the left");
    }
}
