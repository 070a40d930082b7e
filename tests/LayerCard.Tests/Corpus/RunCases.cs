namespace LayerCard.Tests.Corpus;

/// <summary>`layercard run` mistakes: each is refused before the first line of progress, with the option named.</summary>
public static class RunCases
{
    private static BadInputCase Run(string name, string fragment, params string[] options) =>
        new(name, root => ["run", "--threads", "1", "--out", Path.Combine(root, "run"), .. options.Contains("--steps") ? options : ["--steps", "2", .. options]], fragment);

    public static IEnumerable<BadInputCase> Cases =>
    [
        Run("steps-zero", "--steps must be positive, got 0", "--steps", "0"),
        Run("batch-size-zero", "--batch-size must be positive, got 0", "--batch-size", "0"),
        Run("lr-negative", "--lr must be positive", "--lr", "-1"),
        Run("objective-unknown", "--objective weird: expected performance, cost or budget", "--objective", "weird"),
        Run("target-gain-above-one", "--target-gain 1.5: a fraction of the full-layer gain must be in (0, 1]", "--target-gain", "1.5"),
        Run("layers-more-than-the-model", "--layers 9: the model has 5 layers", "--objective", "performance", "--layers", "9"),
        Run("limit-zero", "--limit must be a positive number, got 0", "--limit", "0"),
        Run("eval-limit-negative", "--eval-limit must be a positive number, got -1", "--eval-limit", "-1"),
        Run("max-length-one", "--max-length must be at least 2, got 1", "--max-length", "1"),
        Run("long-prompts-unknown", "--long-prompts left: expected skip or truncate-left", "--long-prompts", "left"),
        Run("targets-unknown", "--targets 'nope' names no module of", "--targets", "nope"),
        Run("data-missing", "no such file, and not a known dataset", "--data", "no-such-data.jsonl"),
        Run("model-missing", "not a known asset name", "--model", "no-such-model"),
    ];
}
