using System.Buffers.Binary;
using System.Text.Json.Nodes;
using LayerCard.Bench.Fuzzing;
using LayerCard.Common;
using LayerCard.Tokenizers;

namespace LayerCard.Tests.Tokenizers;

/// <summary>
/// Sections the Rust tokenizers library accepts but panics on (decoder Strip with stop above 0, FixedLength 0,
/// damaged Precompiled charsmaps). A panic aborts the whole process, so each refusal test loads the file and then
/// encodes and decodes with it: without the check the test host itself would abort, which was confirmed once.
/// </summary>
public class PanickingSectionTests
{
    // A word-level vocabulary with the tokens the panics need: only-space, empty, and the Precompiled outputs.
    private static readonly string[] Words = ["<unk>", "a", "b", "ab", " ", "", "hel", "lo", "hello", "A", "fi", "1", "x"];

    private static string Write(TempFolder temp, JsonNode? normalizer = null, JsonNode? preTokenizer = null, JsonNode? decoder = null)
    {
        var vocab = new JsonObject();
        for (int i = 0; i < Words.Length; i++) vocab[Words[i]] = i;
        var json = new JsonObject
        {
            ["version"] = "1.0", ["added_tokens"] = new JsonArray(), ["normalizer"] = normalizer,
            ["pre_tokenizer"] = preTokenizer ?? new JsonObject { ["type"] = "Whitespace" }, ["post_processor"] = null, ["decoder"] = decoder,
            ["model"] = new JsonObject { ["type"] = "WordLevel", ["vocab"] = vocab, ["unk_token"] = "<unk>" },
        };
        return temp.Write("tokenizer.json", json.ToJsonString());
    }

    private static int Id(string word) => Array.IndexOf(Words, word);

    /// <summary>Loads, then encodes text that reaches every section and decodes every token alone, as a user would.</summary>
    private static void LoadAndUse(string path)
    {
        using var tokenizer = HfTokenizer.Load(path);
        tokenizer.Encode("hello ab \uFF21 \uFB01 \u2460 \uFF42 x");
        for (int id = 0; id < Words.Length; id++) tokenizer.Decode([id]);
    }

    private static void AssertRefused(string path, string section, string problem)
    {
        var error = Assert.Throws<BadInputException>(() => LoadAndUse(path));
        Assert.StartsWith(path + ": ", error.Message);
        Assert.Contains(section, error.Message);
        Assert.Contains(problem, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Theory]
    [InlineData("""{"type":"Sequence","decoders":[{"type":"Fuse"},{"type":"Strip","content":" ","start":0,"stop":1}]}""", "decoder.decoders[1] (Strip)", "stop 1 is not 0")]
    [InlineData("""{"type":"Strip","content":" ","start":1,"stop":1}""", "decoder (Strip)", "stop 1 is not 0")]
    [InlineData("""{"type":"Strip","content":"a","start":0,"stop":18446744073709551615}""", "decoder (Strip)", "stop 18446744073709551615")]
    // Without "type" the library's untagged fallback still builds a Strip from content, start and stop.
    [InlineData("""{"content":" ","start":0,"stop":5}""", "decoder (Strip)", "stop 5 is not 0")]
    [InlineData("""{"type":"Strip","content":" ","start":-1,"stop":0}""", "decoder (Strip)", "start -1 is not a whole number")]
    public void DecoderStripThatCanPanicIsRefused(string decoder, string section, string problem)
    {
        using var temp = new TempFolder();
        AssertRefused(Write(temp, decoder: JsonNode.Parse(decoder)), section, problem);
    }

    [Fact]
    public void DecoderStripWithStopZeroLoadsAndDecodes()
    {
        using var temp = new TempFolder();
        // Llama's decoder chain, as transformers writes it, and a start far past any token's length.
        var llama = """
            {"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},
             {"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}
            """;
        var path = Write(temp, decoder: JsonNode.Parse(llama));
        LoadAndUse(path);
        using (var tokenizer = HfTokenizer.Load(path))
            Assert.Equal("ab", tokenizer.Decode([Id(" "), Id("a"), Id("b")]));
        LoadAndUse(Write(temp, decoder: JsonNode.Parse("""{"type":"Strip","content":" ","start":18446744073709551615,"stop":0}""")));
    }

    [Theory]
    [InlineData("""{"type":"FixedLength","length":0}""", "pre_tokenizer (FixedLength)", "length 0")]
    [InlineData("""{"type":"Sequence","pretokenizers":[{"type":"Whitespace"},{"type":"FixedLength","length":0}]}""", "pre_tokenizer.pretokenizers[1] (FixedLength)", "length 0")]
    [InlineData("""{"type":"FixedLength","length":-1}""", "pre_tokenizer (FixedLength)", "length -1 is not a whole number")]
    [InlineData("""{"type":"FixedLength","length":2.5}""", "pre_tokenizer (FixedLength)", "length 2.5 is not a whole number")]
    public void FixedLengthThatCanPanicIsRefused(string preTokenizer, string section, string problem)
    {
        using var temp = new TempFolder();
        AssertRefused(Write(temp, preTokenizer: JsonNode.Parse(preTokenizer)), section, problem);
    }

    [Fact]
    public void FixedLengthOfAnyPositiveLengthLoadsAndSplits()
    {
        using var temp = new TempFolder();
        using (var three = HfTokenizer.Load(Write(temp, preTokenizer: JsonNode.Parse("""{"type":"FixedLength","length":3}"""))))
            Assert.Equal([Id("hel"), Id("lo")], three.Encode("hello"));
        using (var huge = HfTokenizer.Load(Write(temp, preTokenizer: JsonNode.Parse("""{"type":"FixedLength","length":18446744073709551615}"""))))
            Assert.Equal([Id("hello")], huge.Encode("hello"));
        LoadAndUse(Write(temp, preTokenizer: JsonNode.Parse("""{"type":"Sequence","pretokenizers":[{"type":"Whitespace"},{"type":"FixedLength"}]}""")));
    }

    /// <summary>A valid charsmap (built, as no real SentencePiece file is at hand) damaged as named.</summary>
    private static JsonNode Charsmap(string damage)
    {
        var blob = CharsmapBuilder.Build(CharsmapBuilder.SampleRules);
        int trie = (int)BinaryPrimitives.ReadUInt32LittleEndian(blob);
        // Units as the builder lays them out: the root block's unit for byte 0xEF (U+FF21's first byte), and the
        // value unit of U+FF42's node, the last node the builder made (keys go in ordinal order).
        int rootChild = 4 + 0xEF * 4, lastValue = 4 + trie - 256 * 4;
        switch (damage)
        {
            case "not base64": return "!!" + Convert.ToBase64String(blob);
            case "null": return JsonValue.Create((string?)null)!;
            case "empty": return "";
            case "truncated": blob = blob[..(blob.Length / 2)]; break;
            case "huge size": BinaryPrimitives.WriteUInt32LittleEndian(blob, uint.MaxValue); break;
            case "empty trie": BinaryPrimitives.WriteUInt32LittleEndian(blob, 0); blob = blob[..4]; break;
            case "not UTF-8": blob = [.. blob, 0xC3, 0x28]; break;
            case "child out of trie": BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(rootChild), 0xEFu | 0xFFFFFu << 10); break;
            case "value past strings": BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(lastValue), 0x80000000u | 1_000_000); break;
        }
        return Convert.ToBase64String(blob);
    }

    [Theory]
    [InlineData("not base64", "is not base64")]
    [InlineData("null", "is null, not a base64 string")]
    [InlineData("empty", "decodes to 0 bytes")]
    [InlineData("truncated", "declares a trie of")]
    [InlineData("huge size", "declares a trie of 4294967295 bytes")]
    [InlineData("not UTF-8", "not valid UTF-8")]
    [InlineData("empty trie", "has an empty trie")]
    [InlineData("child out of trie", "past its")]
    [InlineData("value past strings", "points at byte 1000000")]
    public void DamagedPrecompiledCharsmapIsRefused(string damage, string problem)
    {
        using var temp = new TempFolder();
        var top = new JsonObject { ["type"] = "Precompiled", ["precompiled_charsmap"] = Charsmap(damage) };
        AssertRefused(Write(temp, normalizer: top), "normalizer (Precompiled)", problem);
        var nested = new JsonObject
        {
            ["type"] = "Sequence",
            ["normalizers"] = new JsonArray(new JsonObject { ["type"] = "NFC" }, new JsonObject { ["type"] = "Precompiled", ["precompiled_charsmap"] = Charsmap(damage) }),
        };
        AssertRefused(Write(temp, normalizer: nested), "normalizer.normalizers[1] (Precompiled)", problem);
    }

    [Fact]
    public void ValidPrecompiledCharsmapLoadsAndNormalizes()
    {
        using var temp = new TempFolder();
        var normalizer = new JsonObject
        {
            ["type"] = "Sequence",
            ["normalizers"] = new JsonArray(new JsonObject
            {
                ["type"] = "Precompiled", ["precompiled_charsmap"] = Convert.ToBase64String(CharsmapBuilder.Build(CharsmapBuilder.SampleRules)),
            }),
        };
        var path = Write(temp, normalizer: normalizer);
        LoadAndUse(path);
        using var tokenizer = HfTokenizer.Load(path);
        // Full-width A, the fi ligature and circled 1 are rewritten; the zero-width space is removed.
        Assert.Equal([Id("A"), Id("fi"), Id("1"), Id("ab")], tokenizer.Encode("\uFF21 \uFB01 \u2460 a\u200Bb"));
    }
}
