namespace LayerCard.Evaluation;

/// <summary>Settings every evaluation shares unless told otherwise, declared once.</summary>
public static class EvaluationDefaults
{
    /// <summary>Sequences per forward when scoring (no autograd, so larger than a training batch).</summary>
    public const int BatchSize = 16;
    /// <summary>Greedy tokens generated per example for generation metrics (exact match, BLEU).</summary>
    public const int MaxNewTokens = 64;
}
