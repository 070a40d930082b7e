using LayerCard.Models;
using static TorchSharp.torch;

namespace LayerCard.Tests.Models;

public class ForwardTests
{
    public static TheoryData<string, int, int, bool, int> Cases => new()
    {
        { "LlamaForCausalLM", 4, 4, false, 7 },   // GQA ratio 1
        { "MistralForCausalLM", 4, 2, true, 5 },  // GQA ratio 2, tied
        { "Qwen2ForCausalLM", 4, 1, false, 9 },   // GQA ratio 4, q/k/v bias
        { "Qwen3ForCausalLM", 4, 2, true, 11 },   // q_norm / k_norm
        { "Qwen3ForCausalLM", 4, 1, false, 3 },
        { "GPT2LMHeadModel", 4, 4, true, 13 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsMatchTheReferenceForward(string architecture, int heads, int kvHeads, bool tied, int length)
    {
        var config = architecture == "GPT2LMHeadModel" ? TinyModels.Gpt2(heads: heads)
            : TinyModels.Llama(architecture, heads: heads, kvHeads: kvHeads, tied: tied);
        var weights = TinyModels.RandomWeights(config, seed: length);
        var model = TinyModels.Build(config, weights);
        var ids = Enumerable.Range(0, length).Select(i => (long)((i * 37 + 11) % config.Vocab)).ToArray();
        using var noGrad = no_grad();
        var actual = model.Forward(tensor(ids).unsqueeze(0))[0];
        var expected = ReferenceForward.Logits(config, weights, ids);
        TensorAssert.Close(expected, actual, 1e-4);
    }

    [Fact]
    public void Llama2cInterleavedRopeMatchesTheReference()
    {
        var config = TinyModels.Llama(heads: 4, kvHeads: 2) with { Architecture = "llama2c", InterleavedRope = true, TiedEmbeddings = true };
        var weights = TinyModels.RandomWeights(config, 5);
        var model = TinyModels.Build(config, weights);
        var ids = new long[] { 1, 5, 9, 2, 77, 3 };
        using var noGrad = no_grad();
        TensorAssert.Close(ReferenceForward.Logits(config, weights, ids), model.Forward(tensor(ids).unsqueeze(0))[0], 1e-4);
    }

    [Theory]
    [InlineData("Qwen3ForCausalLM")]
    [InlineData("GPT2LMHeadModel")]
    public void CachedDecodingEqualsFullRecompute(string architecture)
    {
        var config = architecture == "GPT2LMHeadModel" ? TinyModels.Gpt2() : TinyModels.Llama(architecture, kvHeads: 2);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 3));
        var ids = new long[] { 4, 8, 15, 16, 23, 42, 7, 1 };
        using var noGrad = no_grad();
        var full = model.Forward(tensor(ids).unsqueeze(0))[0];
        using var cache = new KvCache(config.Layers);
        var prefix = model.Forward(tensor(ids[..3]).unsqueeze(0), cache)[0];
        var steps = new List<Tensor> { prefix };
        // Two new positions at once after a cached prefix exercise the explicit mask path.
        steps.Add(model.Forward(tensor(ids[3..5]).unsqueeze(0), cache)[0]);
        for (int i = 5; i < ids.Length; i++) steps.Add(model.Forward(tensor(new[] { ids[i] }).unsqueeze(0), cache)[0]);
        TensorAssert.Close(full, cat(steps, 0), 1e-4);
    }
}

public static class TensorAssert
{
    public static void Close(Tensor expected, Tensor actual, double relative)
    {
        Assert.Equal(expected.shape, actual.shape);
        var scale = expected.abs().max().item<float>();
        var error = (expected - actual.to(expected.dtype)).abs().max().item<float>();
        Assert.True(error <= relative * Math.Max(scale, 1e-6f), $"max abs error {error} exceeds {relative} x max |expected| {scale}");
    }
}
