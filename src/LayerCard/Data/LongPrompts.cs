using LayerCard.Common;

namespace LayerCard.Data;

/// <summary>
/// What happens to an example whose prompt does not leave room for its completion within the maximum length
/// (the token limit of tokenization, or the model's context for generation metrics). Request field
/// <c>long_prompts</c>; written "skip" and "truncate-left".
/// </summary>
public enum LongPromptPolicy
{
    /// <summary>
    /// The default: a prompt that leaves no room for a single completion token is dropped and counted
    /// ("3 dropped (prompt longer than the maximum length 128)"); a completion that does not fit whole loses its end.
    /// </summary>
    Skip,

    /// <summary>
    /// A prompt that leaves no room for its whole completion loses its first tokens (BOS, when the tokenizer has one,
    /// stays first) until the completion fits, keeping at least its last token; a completion that does not fit even
    /// then loses its end. Every cut is counted ("3 prompts cut from the left").
    /// </summary>
    TruncateLeft,
}

/// <summary>The names of <see cref="LongPromptPolicy"/> values as users write them (options, configs).</summary>
public static class LongPrompts
{
    /// <summary>The request field that carries the choice.</summary>
    public const string Field = "long_prompts";

    /// <summary>
    /// The policy <paramref name="text"/> names ("skip" or "truncate-left", case-insensitive; null means skip).
    /// Anything else is a <see cref="BadInputException"/> about <see cref="Field"/>.
    /// </summary>
    public static LongPromptPolicy Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "skip" => LongPromptPolicy.Skip,
        "truncate-left" => LongPromptPolicy.TruncateLeft,
        var other => throw BadInputException.ForField(Field, $"{other}: expected skip or truncate-left"),
    };

    /// <summary>How users write <paramref name="policy"/>: "skip" or "truncate-left".</summary>
    public static string Name(LongPromptPolicy policy) => policy switch
    {
        LongPromptPolicy.Skip => "skip",
        LongPromptPolicy.TruncateLeft => "truncate-left",
        _ => throw new ArgumentOutOfRangeException(nameof(policy)),
    };

    /// <summary>Refuses a value outside the enum (a cast from a number), naming <see cref="Field"/>.</summary>
    public static void Validate(LongPromptPolicy policy)
    {
        if (!Enum.IsDefined(policy)) throw BadInputException.ForField(Field, $"must be skip or truncate-left, got {(int)policy}");
    }

    /// <summary>
    /// <paramref name="promptIds"/> (without BOS) cut from the left to its last <paramref name="keep"/> tokens,
    /// with <paramref name="bos"/> first when there is one: the prompt part of a left-truncated sequence.
    /// </summary>
    public static List<int> KeepLast(IReadOnlyList<int> promptIds, int keep, int? bos)
    {
        ArgumentNullException.ThrowIfNull(promptIds);
        keep = Math.Clamp(keep, 0, promptIds.Count);
        var head = new List<int>(keep + 1);
        if (bos is int b) head.Add(b);
        for (int i = promptIds.Count - keep; i < promptIds.Count; i++) head.Add(promptIds[i]);
        return head;
    }
}
