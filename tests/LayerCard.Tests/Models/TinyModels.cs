using LayerCard.Models;
using static TorchSharp.torch;

namespace LayerCard.Tests.Models;

/// <summary>Small random checkpoints with Hugging Face tensor names, for loader and forward-pass tests.</summary>
public static class TinyModels
{
    public static ModelConfig Llama(string architecture = "LlamaForCausalLM", int layers = 2, int hidden = 32, int heads = 4,
        int kvHeads = 2, int? headDim = null, int intermediate = 48, int vocab = 97, bool tied = false) =>
        new("llama", architecture, layers, hidden, heads, kvHeads, headDim ?? hidden / heads, intermediate, vocab, 128,
            1e-6, 10000.0, tied, QkvBias: architecture == "Qwen2ForCausalLM", QkNorm: architecture == "Qwen3ForCausalLM",
            InterleavedRope: false, Activation: "silu");

    public static ModelConfig Gpt2(int layers = 2, int hidden = 32, int heads = 4, int vocab = 97, int positions = 64) =>
        new("gpt2", "GPT2LMHeadModel", layers, hidden, heads, heads, hidden / heads, 4 * hidden, vocab, positions,
            1e-5, 10000.0, true, true, false, false, "gelu_new");

    /// <summary>Random weights (scaled so activations stay in a sane range) under HF names.</summary>
    public static Dictionary<string, Tensor> RandomWeights(ModelConfig c, long seed)
    {
        var generator = new TorchSharp.torch.Generator((ulong)seed);
        Tensor R(params long[] shape) => (randn(shape, generator: generator) * 0.2f).DetachFromDisposeScope();
        Tensor Norm(long size) => (1 + randn([size], generator: generator) * 0.1f).DetachFromDisposeScope();
        var w = new Dictionary<string, Tensor>();
        if (c.Family == "gpt2")
        {
            w["transformer.wte.weight"] = R(c.Vocab, c.Hidden);
            w["transformer.wpe.weight"] = R(c.MaxPositions, c.Hidden);
            for (int i = 0; i < c.Layers; i++)
            {
                var p = $"transformer.h.{i}.";
                w[p + "ln_1.weight"] = Norm(c.Hidden); w[p + "ln_1.bias"] = R(c.Hidden);
                w[p + "attn.c_attn.weight"] = R(c.Hidden, 3 * c.Hidden); w[p + "attn.c_attn.bias"] = R(3 * c.Hidden);
                w[p + "attn.c_proj.weight"] = R(c.Hidden, c.Hidden); w[p + "attn.c_proj.bias"] = R(c.Hidden);
                w[p + "ln_2.weight"] = Norm(c.Hidden); w[p + "ln_2.bias"] = R(c.Hidden);
                w[p + "mlp.c_fc.weight"] = R(c.Hidden, c.Intermediate); w[p + "mlp.c_fc.bias"] = R(c.Intermediate);
                w[p + "mlp.c_proj.weight"] = R(c.Intermediate, c.Hidden); w[p + "mlp.c_proj.bias"] = R(c.Hidden);
            }
            w["transformer.ln_f.weight"] = Norm(c.Hidden); w["transformer.ln_f.bias"] = R(c.Hidden);
            return w;
        }
        w["model.embed_tokens.weight"] = R(c.Vocab, c.Hidden);
        for (int i = 0; i < c.Layers; i++)
        {
            var p = $"model.layers.{i}.";
            w[p + "input_layernorm.weight"] = Norm(c.Hidden);
            w[p + "post_attention_layernorm.weight"] = Norm(c.Hidden);
            w[p + "self_attn.q_proj.weight"] = R(c.Heads * c.HeadDim, c.Hidden);
            w[p + "self_attn.k_proj.weight"] = R(c.KvHeads * c.HeadDim, c.Hidden);
            w[p + "self_attn.v_proj.weight"] = R(c.KvHeads * c.HeadDim, c.Hidden);
            w[p + "self_attn.o_proj.weight"] = R(c.Hidden, c.Heads * c.HeadDim);
            if (c.QkvBias)
            {
                w[p + "self_attn.q_proj.bias"] = R(c.Heads * c.HeadDim);
                w[p + "self_attn.k_proj.bias"] = R(c.KvHeads * c.HeadDim);
                w[p + "self_attn.v_proj.bias"] = R(c.KvHeads * c.HeadDim);
            }
            if (c.QkNorm)
            {
                w[p + "self_attn.q_norm.weight"] = Norm(c.HeadDim);
                w[p + "self_attn.k_norm.weight"] = Norm(c.HeadDim);
            }
            w[p + "mlp.gate_proj.weight"] = R(c.Intermediate, c.Hidden);
            w[p + "mlp.up_proj.weight"] = R(c.Intermediate, c.Hidden);
            w[p + "mlp.down_proj.weight"] = R(c.Hidden, c.Intermediate);
        }
        w["model.norm.weight"] = Norm(c.Hidden);
        if (!c.TiedEmbeddings) w["lm_head.weight"] = R(c.Vocab, c.Hidden);
        return w;
    }

    public static CausalLM Build(ModelConfig config, Dictionary<string, Tensor> weights)
    {
        var model = WeightLoading.Create(config);
        WeightLoading.LoadStrict(model, new InMemoryTensorSource("test", weights), CPU);
        model.eval();
        return model;
    }
}
