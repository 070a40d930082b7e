namespace LayerCard.Tests.Corpus;

/// <summary>
/// Command-line mistakes. Option values are checked before the model loads, so most cases can name the real
/// stories260K asset without paying for it.
/// </summary>
public static class OptionCases
{
    private static BadInputCase Generate(string name, string fragment, params string[] options) =>
        new(name, _ => ["generate", "--model", "stories260K", .. options], fragment);

    private static BadInputCase Args(string name, string fragment, params string[] args) => new(name, _ => args, fragment);

    public static IEnumerable<BadInputCase> Cases =>
    [
        Args("unknown-command", "'frob'", "frob", "--model", "stories260K"),
        Args("no-command", "Required command was not provided"),
        Args("unknown-option", "'--bogus'", "info", "--model", "stories260K", "--bogus"),
        Args("info-missing-model", "Option '--model' is required", "info"),
        Args("generate-missing-model", "Option '--model' is required", "generate", "--prompt", "Hi"),
        Args("tokenize-missing-text", "Option '--text' is required", "tokenize", "--tokenizer", "gpt2"),
        Args("tokenize-without-tokenizer-or-model", "tokenize needs --tokenizer or --model", "tokenize", "--text", "Hi"),
        Args("model-not-found", "--model ./no/such/model: no such file or folder, and not a known asset name", "info", "--model", "./no/such/model"),
        Args("model-empty-string", "not a known asset name", "info", "--model", ""),
        Args("option-value-missing", "--model", "info", "--model"),
        Generate("max-new-tokens-negative", "--max-new-tokens must be 0 or positive", "--max-new-tokens", "-1"),
        Generate("max-new-tokens-not-a-number", "'abc'", "--max-new-tokens", "abc"),
        Generate("max-new-tokens-overflow", "'99999999999'", "--max-new-tokens", "99999999999"),
        Generate("temperature-negative", "--temperature must be a finite number, 0 or positive, got -1", "--temperature", "-1"),
        Generate("temperature-nan", "--temperature must be a finite number, 0 or positive, got NaN", "--temperature", "NaN"),
        Generate("temperature-infinite", "--temperature must be a finite number", "--temperature", "Infinity"),
        Generate("top-k-negative", "--top-k must be 0 or positive", "--top-k", "-1"),
        Generate("seed-not-a-number", "'lucky'", "--seed", "lucky"),
        Generate("device-tpu", "--device tpu: expected cpu or cuda", "--device", "tpu"),
        Generate("device-cuda-unavailable", "--device cuda: CUDA is not available", "--device", "cuda"),
        Generate("threads-negative", "--threads must be 0 or positive, got -2", "--threads", "-2"),
        Generate("threads-not-a-number", "'many'", "--threads", "many"),
        Args("info-takes-no-device", "'--device'", "info", "--model", "stories260K", "--device", "cpu"),
    ];
}
