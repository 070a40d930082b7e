using System.Text.Json.Nodes;
using LayerCard.Common;
using LayerCard.Models;
using LayerCard.Models.Checkpoints;

namespace LayerCard.Tests.Checkpoints;

public sealed class HfConfigTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string Qwen3 = """
        {"architectures":["Qwen3ForCausalLM"],"model_type":"qwen3","hidden_size":1024,"intermediate_size":3072,
         "num_hidden_layers":28,"num_attention_heads":16,"num_key_value_heads":8,"head_dim":128,"vocab_size":151936,
         "rms_norm_eps":1e-06,"rope_theta":1000000,"tie_word_embeddings":true,"max_position_embeddings":40960,
         "attention_bias":false,"torch_dtype":"bfloat16","hidden_act":"silu","rope_scaling":null}
        """;

    private const string Gpt2 = """
        {"architectures":["GPT2LMHeadModel"],"model_type":"gpt2","n_embd":768,"n_layer":12,"n_head":12,
         "n_positions":1024,"n_inner":null,"vocab_size":50257,"activation_function":"gelu_new"}
        """;

    private const string Llama = """
        {"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":172,"num_hidden_layers":5,
         "num_attention_heads":8,"vocab_size":512,"max_position_embeddings":512}
        """;

    private string Write(string json)
    {
        var path = _temp["config.json"];
        File.WriteAllText(path, json);
        return path;
    }

    private string WriteEdited(string json, Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        edit(root);
        return Write(root.ToJsonString());
    }

    private static void AssertRefused(string path, string fragment)
    {
        var e = Assert.Throws<BadInputException>(() => HfConfig.Load(path).ToModelConfig());
        Assert.StartsWith(path + ":", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void Qwen3WithExplicitHeadDim()
    {
        var config = HfConfig.Load(Write(Qwen3)).ToModelConfig();
        Assert.Equal(new ModelConfig("llama", "Qwen3ForCausalLM", 28, 1024, 16, 8, 128, 3072, 151936, 40960, 1e-6, 1e6,
            TiedEmbeddings: true, QkvBias: false, QkNorm: true, InterleavedRope: false, Activation: "silu"), config);
        Assert.Equal("bfloat16", HfConfig.Load(_temp.Path).TorchDtype);
    }

    [Fact]
    public void LlamaDefaults()
    {
        var config = HfConfig.Load(Write(Llama)).ToModelConfig();
        Assert.Equal(8, config.KvHeads);
        Assert.Equal(8, config.HeadDim);
        Assert.Equal(10000, config.RopeTheta);
        Assert.False(config.TiedEmbeddings);
        Assert.False(config.QkvBias);
        Assert.False(config.QkNorm);
    }

    [Fact]
    public void Qwen2AlwaysHasQkvBias()
    {
        var path = WriteEdited(Llama, o => o["architectures"] = new JsonArray("Qwen2ForCausalLM"));
        Assert.True(HfConfig.Load(path).ToModelConfig().QkvBias);
    }

    [Fact]
    public void Gpt2Names()
    {
        var config = HfConfig.Load(Write(Gpt2)).ToModelConfig();
        Assert.Equal("gpt2", config.Family);
        Assert.Equal((12, 768, 12, 12, 64, 3072, 50257, 1024), (config.Layers, config.Hidden, config.Heads, config.KvHeads, config.HeadDim, config.Intermediate, config.Vocab, config.MaxPositions));
        Assert.Equal(1e-5, config.NormEps);
        Assert.True(config.TiedEmbeddings);
        Assert.True(config.QkvBias);
        Assert.Equal("gelu_new", config.Activation);
    }

    [Fact]
    public void MissingField() =>
        AssertRefused(WriteEdited(Llama, o => o.Remove("num_hidden_layers")), "config.json: missing field 'num_hidden_layers'");

    [Fact]
    public void MissingGpt2Field() =>
        AssertRefused(WriteEdited(Gpt2, o => o.Remove("n_head")), "missing field 'n_head'");

    [Fact]
    public void UnknownArchitecture()
    {
        var path = WriteEdited(Llama, o => o["architectures"] = new JsonArray("BertForMaskedLM"));
        AssertRefused(path, "'BertForMaskedLM' is not supported");
        AssertRefused(path, "Qwen3ForCausalLM");
    }

    [Fact]
    public void MissingArchitectures() => AssertRefused(WriteEdited(Llama, o => o.Remove("architectures")), "missing field 'architectures'");

    [Fact]
    public void WrongTypeField() =>
        AssertRefused(WriteEdited(Llama, o => o["hidden_size"] = "64"), "field 'hidden_size' must be an integer, got string \"64\"");

    [Fact]
    public void FractionalIntegerField() =>
        AssertRefused(WriteEdited(Llama, o => o["num_attention_heads"] = 8.5), "field 'num_attention_heads' must be an integer");

    [Fact]
    public void WrongTypeBool() =>
        AssertRefused(WriteEdited(Llama, o => o["tie_word_embeddings"] = "yes"), "field 'tie_word_embeddings' must be true or false");

    [Fact]
    public void RopeScalingRefused() =>
        AssertRefused(WriteEdited(Llama, o => o["rope_scaling"] = new JsonObject { ["rope_type"] = "llama3" }), "rope_scaling is not supported");

    [Fact]
    public void HeadsMustDivideHidden() =>
        AssertRefused(WriteEdited(Llama, o => o["num_attention_heads"] = 7), "not divisible by 7 attention heads");

    [Fact]
    public void KvHeadsMustDivideHeads() =>
        AssertRefused(WriteEdited(Llama, o => o["num_key_value_heads"] = 3), "not divisible by 3 key/value heads");

    [Fact]
    public void NonPositiveRefused() =>
        AssertRefused(WriteEdited(Llama, o => o["num_hidden_layers"] = 0), "layers must be positive");

    [Fact]
    public void InvalidJson() => AssertRefused(Write("{\"architectures\": ["), "not valid JSON");

    [Fact]
    public void MissingFile() => AssertRefused(_temp["config.json"], "cannot read");
}
