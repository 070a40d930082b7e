using static LayerCard.Tests.Corpus.CorpusFiles;

namespace LayerCard.Tests.Corpus;

/// <summary>Tokenizer files that are damaged, incomplete, or do not fit the model they are used with.</summary>
public static class TokenizerCases
{
    private static string[] Tokenize(string tokenizer) => ["tokenize", "--tokenizer", tokenizer, "--text", "Hello world"];

    /// <summary>A tiny GPT-2 style vocab.json + merges.txt pair; cases break one of the two.</summary>
    private static string Gpt2Files(string root, string vocab = "{\"a\": 0, \"b\": 1, \"ab\": 2, \"<|endoftext|>\": 3}", string merges = "#version: 0.2\na b\n")
    {
        WriteFile(root, "tok/vocab.json", vocab);
        WriteFile(root, "tok/merges.txt", merges);
        return Path.Combine(root, "tok");
    }

    public static IEnumerable<BadInputCase> Cases =>
    [
        new("vocab-exceeds-embedding", root => Info(TinyModel(root), "--tokenizer", "gpt2"),
            "the tokenizer has 50257 tokens but the model's embedding has only 97 rows"),
        new("invalid-json-beside-model", root =>
        {
            var folder = TinyModel(root);
            WriteFile(folder, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", ");
            return Info(folder);
        }, "invalid JSON", "tokenizer.json"),
        new("invalid-json", root => Tokenize(WriteFile(root, "tokenizer.json", "{\"model\": ")), "invalid JSON", "tokenizer.json"),
        new("empty-json-file", root => Tokenize(WriteFile(root, "tokenizer.json", "")), "invalid JSON", "tokenizer.json"),
        new("merge-outside-vocab-in-json", root =>
            Tokenize(WriteFile(root, "t/tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]}}")),
            "the tokenizers library rejects it", "tokenizer.json"),
        new("json-without-model", root => Tokenize(WriteFile(root, "tokenizer.json", "{\"version\": \"1.0\"}")), "no 'model' field", "tokenizer.json"),
        new("unsupported-model-type", root => Tokenize(WriteFile(root, "tokenizer.json", "{\"model\": {\"type\": \"Sentencepiece\", \"vocab\": {}}}")),
            "unsupported model type \"Sentencepiece\"", "tokenizer.json"),
        new("tok-bin-truncated", root => Tokenize(WriteFile(root, "tok512.bin", File.ReadAllBytes(TokBin)[..3000])), "truncated", "tok512.bin"),
        new("tok-bin-header-only", root => Tokenize(WriteFile(root, "tok512.bin", File.ReadAllBytes(TokBin)[..2])), "truncated llama2.c tokenizer", "tok512.bin"),
        new("tok-bin-beside-model-truncated", root =>
        {
            var model = TinyLlama2c(root);
            WriteFile(root, "tokenizer.bin", File.ReadAllBytes(TokBin)[..1000]);
            return ["generate", "--model", model, "--max-new-tokens", "3"];
        }, "truncated", "tokenizer.bin"),
        new("vocab-without-merges", root => Tokenize(WriteFile(root, "vocab.json", "{\"a\": 0}")), "needs both vocab.json and merges.txt", "vocab.json"),
        new("vocab-not-an-object", root => Tokenize(Gpt2Files(root, vocab: "[\"a\", \"b\"]")), "expected a JSON object mapping tokens to ids", "vocab.json"),
        new("merge-line-malformed", root => Tokenize(Gpt2Files(root, merges: "#version: 0.2\na b\nab b c\n")),
            "merges.txt:3: expected two tokens separated by one space", "merges.txt"),
        new("merge-token-unknown", root => Tokenize(Gpt2Files(root, merges: "a b\nab c\n")), "merges.txt:2: token \"c\" of this merge is not in the vocabulary"),
        new("merges-not-utf8", root =>
        {
            var folder = Gpt2Files(root);
            WriteFile(folder, "merges.txt", [(byte)'a', (byte)' ', (byte)'b', (byte)'\n', 0xff, 0xfe, (byte)'\n']);
            return Tokenize(folder);
        }, "not UTF-8 text", "merges.txt"),
        new("config-bos-wrong-type", root =>
        {
            var folder = Gpt2Files(root);
            WriteFile(folder, "tokenizer_config.json", "{\"bos_token\": 5}");
            return Tokenize(folder);
        }, "bos_token should be a string", "tokenizer_config.json"),
        new("config-eos-not-in-vocab", root =>
        {
            var folder = Gpt2Files(root);
            WriteFile(folder, "tokenizer_config.json", "{\"eos_token\": \"</s>\"}");
            return Tokenize(folder);
        }, "special token '</s>' is not in the vocabulary", "tokenizer_config.json"),
        new("folder-without-tokenizer", root => Tokenize(Directory.CreateDirectory(Path.Combine(root, "none")).FullName), "no tokenizer found", "none"),
        new("unrecognised-file", root => Tokenize(WriteFile(root, "tokenizer.model", "sentencepiece protobuf")), "unrecognised tokenizer file", "tokenizer.model"),
        new("generate-without-tokenizer", root => ["generate", "--model", TinyModel(root), "--max-new-tokens", "2"],
            "no tokenizer found beside the model; pass --tokenizer", "model"),
        new("unknown-tokenizer-name", _ => Tokenize("gpt5"), "--tokenizer gpt5: no such file or folder, and not a known asset name"),
    ];
}
