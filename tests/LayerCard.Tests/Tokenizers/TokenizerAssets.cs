using LayerCard.Common;
using LayerCard.Tokenizers;

namespace LayerCard.Tests.Tokenizers;

/// <summary>The real tokenizers, loaded once for all tests (Qwen3's tokenizer.json takes a fraction of a second).</summary>
internal static class TokenizerAssets
{
    public const string Sample = "Hello world, once upon a time";

    public const string Varied =
        "Café, über, niño; naïve résumé. 你好，世界 🙂👍🏽 a  b\t\tc\n\n  d   \"quotes\" 'it's' 12345 ½ — done.\n";

    private static readonly Lazy<ITokenizer> Gpt2Lazy = new(() => TokenizerLoader.Load(Assets.Resolve("gpt2", "--tokenizer")));
    private static readonly Lazy<ITokenizer> Qwen3Lazy = new(() => TokenizerLoader.Load(Assets.Resolve("qwen3", "--tokenizer")));
    private static readonly Lazy<ITokenizer> Stories260KLazy = new(() => TokenizerLoader.Load(Assets.Resolve("stories260K", "--tokenizer")));

    public static ITokenizer Gpt2 => Gpt2Lazy.Value;
    public static ITokenizer Qwen3 => Qwen3Lazy.Value;
    public static ITokenizer Stories260K => Stories260KLazy.Value;

    public static string TokBin => Path.Combine(Assets.Resolve("stories260K", "--tokenizer"), "tok512.bin");
}
