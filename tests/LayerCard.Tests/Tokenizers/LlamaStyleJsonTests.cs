using System.Text.Json.Nodes;
using LayerCard.Common;
using LayerCard.Tokenizers;

namespace LayerCard.Tests.Tokenizers;

/// <summary>
/// A small Llama-style tokenizer.json (▁ for spaces, byte fallback, a template adding BOS), written here since
/// no such asset is shipped, to check the parts of tokenizer.json that Qwen3's does not use.
/// </summary>
public class LlamaStyleJsonTests
{
    private static JsonObject LlamaStyle()
    {
        var vocab = new JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (var b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = 3 + b;
        var next = 259;
        foreach (var piece in new[] { "▁", "h", "i", "▁h", "▁hi", "t", "▁t", "▁th", "e", "▁the" }) vocab[piece] = next++;
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = JsonNode.Parse("""
                [{"id":0,"content":"<unk>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                 {"id":1,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                 {"id":2,"content":"</s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}]
                """),
            ["normalizer"] = JsonNode.Parse("""
                {"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}
                """),
            ["pre_tokenizer"] = null,
            ["post_processor"] = JsonNode.Parse("""
                {"type":"TemplateProcessing",
                 "single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
                 "pair":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],
                 "special_tokens":{"<s>":{"id":"<s>","ids":[1],"tokens":["<s>"]}}}
                """),
            ["decoder"] = JsonNode.Parse("""
                {"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},
                 {"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}
                """),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["unk_token"] = "<unk>", ["fuse_unk"] = true, ["byte_fallback"] = true,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray("▁ h", "▁h i", "▁ t", "▁t h", "▁th e"),
            },
        };
    }

    [Fact]
    public void EncodesWithMetaspaceAndByteFallbackAndAddsBosOnlyWhenAsked()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp["tokenizer.json"], LlamaStyle().ToJsonString());
        var tokenizer = TokenizerLoader.Load(temp.Path);
        Assert.Equal(1, tokenizer.BosId);
        Assert.Equal(2, tokenizer.EosId);
        Assert.Equal(269, tokenizer.VocabSize);

        var hi = tokenizer.Encode("hi the");
        Assert.Equal(["▁hi", "▁the"], hi.Select(((HfTokenizer)tokenizer).Piece));
        Assert.Equal(" hi", tokenizer.TokenText(hi[0]));
        Assert.Equal([1, .. hi], tokenizer.Encode("hi the", addBos: true));
        Assert.Equal("hi the", tokenizer.Decode(hi));

        var accented = tokenizer.Encode("hé");
        Assert.Equal([3 + 0xC3, 3 + 0xA9], accented[^2..]);
        Assert.Equal("hé", tokenizer.Decode(accented));
    }

    [Fact]
    public void ConfigOverridesBosAndEos()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp["tokenizer.json"], LlamaStyle().ToJsonString());
        File.WriteAllText(temp["tokenizer_config.json"], """{"bos_token": null, "eos_token": {"content": "<s>"}}""");
        var tokenizer = TokenizerLoader.Load(temp["tokenizer.json"]);
        Assert.Null(tokenizer.BosId);
        Assert.Equal(1, tokenizer.EosId);

        File.WriteAllText(temp["tokenizer_config.json"], """{"eos_token": "<|nope|>"}""");
        var error = Assert.Throws<BadInputException>(() => TokenizerLoader.Load(temp.Path));
        Assert.Contains(temp["tokenizer_config.json"], error.Message);
    }

    [Fact]
    public void InvalidRegexIsRefusedNotFatal()
    {
        using var temp = new TempFolder();
        var json = LlamaStyle();
        json["pre_tokenizer"] = JsonNode.Parse("""{"type":"Split","pattern":{"Regex":"(unclosed"},"behavior":"Isolated","invert":false}""");
        File.WriteAllText(temp["tokenizer.json"], json.ToJsonString());
        var error = Assert.Throws<BadInputException>(() => TokenizerLoader.Load(temp.Path));
        Assert.Contains(temp["tokenizer.json"], error.Message);
    }
}
