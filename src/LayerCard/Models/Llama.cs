using LayerCard.Common;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LayerCard.Models;

#pragma warning disable IDE1006 // field names are the Hugging Face module names, which checkpoints use

/// <summary>
/// The Llama family (Llama, Mistral, Qwen2, Qwen3) and llama2.c checkpoints: pre-norm decoder layers with
/// RMSNorm, rotary positions, grouped-query attention and a SwiGLU MLP.
/// </summary>
public sealed class LlamaForCausalLM : CausalLM
{
    private readonly LlamaModel model;
    private readonly AdaptableLinear? lm_head;

    /// <summary>A Llama-family model with uninitialised weights of the configured shape, and a separate lm_head unless the embeddings are tied; the weight loader fills them.</summary>
    public LlamaForCausalLM(ModelConfig config) : base("LlamaForCausalLM", config)
    {
        model = new LlamaModel(config);
        lm_head = config.TiedEmbeddings ? null : new AdaptableLinear("lm_head", config.Hidden, config.Vocab, false);
        RegisterComponents();
    }

    public override Tensor Hidden(Tensor inputIds, KvCache? cache = null, List<Tensor>? layerInputs = null, bool lastPositionOnly = false)
    {
        var hidden = model.Embed(inputIds);
        var past = cache?.Length ?? 0;
        var rope = Rope.For(past, inputIds.shape[1], Config.HeadDim, Config.RopeTheta, Config.InterleavedRope, hidden.device, hidden.dtype);
        for (int i = 0; i < model.layers.Count; i++)
        {
            layerInputs?.Add(hidden);
            var layer = model.layers[i];
            var input = hidden;
            hidden = RunLayer(i, () => layer.Forward(input, rope, cache, i));
        }
        layerInputs?.Add(hidden);
        cache?.Advance(inputIds.shape[1]);
        if (lastPositionOnly) hidden = hidden.narrow(1, hidden.shape[1] - 1, 1);
        return model.norm.call(hidden);
    }

    public override Tensor ResidualFrom(int first, int end, Tensor layerInput)
    {
        var rope = Rope.For(0, layerInput.shape[1], Config.HeadDim, Config.RopeTheta, Config.InterleavedRope, layerInput.device, layerInput.dtype);
        var hidden = layerInput;
        for (int i = first; i < end; i++) hidden = model.layers[i].Forward(hidden, rope, null, i);
        return hidden;
    }

    public override Tensor FinalNorm(Tensor residual) => model.norm.call(residual);

    public override Tensor Embed(Tensor inputIds) => model.Embed(inputIds);

    public override Tensor HeadWeight => lm_head?.Weight ?? model.embed_tokens.weight!;

    public override IReadOnlyDictionary<string, AdaptableLinear> LayerLinears(int layer) => model.layers[layer].Linears;

    public override string LayerPrefix(int layer) => $"model.layers.{layer}.";

    public override string LayersPattern => "layers";

    public override string? ParameterNameFor(string checkpointName) =>
        checkpointName.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) ? null : checkpointName;

    private sealed class LlamaModel : nn.Module
    {
        /// <summary>The token embedding; also the output head when the embeddings are tied.</summary>
        public readonly Embedding embed_tokens;
        /// <summary>The decoder layers.</summary>
        public readonly ModuleList<LlamaDecoderLayer> layers;
        /// <summary>The final RMSNorm before the output head.</summary>
        public readonly RmsNorm norm;

        /// <summary>The "model" module: embedding, decoder layers and the final norm.</summary>
        public LlamaModel(ModelConfig config) : base("model")
        {
            embed_tokens = nn.Embedding(config.Vocab, config.Hidden);
            embed_tokens.weight!.requires_grad = false;
            layers = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(i => new LlamaDecoderLayer(config, i)).ToArray());
            norm = new RmsNorm("norm", config.Hidden, config.NormEps);
            RegisterComponents();
        }

        /// <summary>Token embeddings for ids [batch, positions].</summary>
        public Tensor Embed(Tensor ids) => embed_tokens.call(ids);
    }
}

internal sealed class LlamaDecoderLayer : nn.Module
{
    private readonly LlamaAttention self_attn;
    private readonly LlamaMlp mlp;
    private readonly RmsNorm input_layernorm;
    private readonly RmsNorm post_attention_layernorm;

    /// <summary>Decoder layer <paramref name="index"/>, its linear modules named under "model.layers.INDEX.".</summary>
    public LlamaDecoderLayer(ModelConfig config, int index) : base($"{index}")
    {
        var prefix = $"model.layers.{index}.";
        self_attn = new LlamaAttention(config, prefix + "self_attn.", index);
        mlp = new LlamaMlp(config, prefix + "mlp.");
        input_layernorm = new RmsNorm("input_layernorm", config.Hidden, config.NormEps);
        post_attention_layernorm = new RmsNorm("post_attention_layernorm", config.Hidden, config.NormEps);
        Linears = new Dictionary<string, AdaptableLinear>
        {
            ["self_attn.q_proj"] = self_attn.q_proj, ["self_attn.k_proj"] = self_attn.k_proj,
            ["self_attn.v_proj"] = self_attn.v_proj, ["self_attn.o_proj"] = self_attn.o_proj,
            ["mlp.gate_proj"] = mlp.gate_proj, ["mlp.up_proj"] = mlp.up_proj, ["mlp.down_proj"] = mlp.down_proj,
        };
        RegisterComponents();
    }

    /// <summary>The layer's adaptable modules by their path inside the layer ("self_attn.q_proj", "mlp.down_proj").</summary>
    public IReadOnlyDictionary<string, AdaptableLinear> Linears { get; }

    /// <summary>Pre-norm residual layer: attention then SwiGLU MLP, each added to the stream; <paramref name="rope"/> rotates the new positions.</summary>
    public Tensor Forward(Tensor hidden, Rope rope, KvCache? cache, int layerIndex)
    {
        var h = OwnedScalars.Add(hidden, self_attn.Forward(input_layernorm.call(hidden), rope, cache, layerIndex));
        return OwnedScalars.Add(h, mlp.Forward(post_attention_layernorm.call(h)));
    }
}

internal sealed class LlamaAttention : nn.Module
{
    /// <summary>The query, key, value and output projections; k and v have KvHeads heads.</summary>
    public readonly AdaptableLinear q_proj, k_proj, v_proj, o_proj;
    private readonly RmsNorm? q_norm, k_norm;
    private readonly ModelConfig config;

    /// <summary>The attention of layer <paramref name="index"/>: q/k/v biases when the config has them (and an o_proj bias for Llama and Mistral), plus per-head q/k RMSNorm for Qwen3.</summary>
    public LlamaAttention(ModelConfig config, string prefix, int index) : base("self_attn")
    {
        this.config = config;
        // Qwen2 biases q/k/v only; a Llama config with attention_bias biases the output projection too.
        var outputBias = config.QkvBias && config.Architecture is "LlamaForCausalLM" or "MistralForCausalLM";
        q_proj = new AdaptableLinear(prefix + "q_proj", config.Hidden, config.Heads * config.HeadDim, config.QkvBias);
        k_proj = new AdaptableLinear(prefix + "k_proj", config.Hidden, config.KvHeads * config.HeadDim, config.QkvBias);
        v_proj = new AdaptableLinear(prefix + "v_proj", config.Hidden, config.KvHeads * config.HeadDim, config.QkvBias);
        o_proj = new AdaptableLinear(prefix + "o_proj", config.Heads * config.HeadDim, config.Hidden, outputBias);
        if (config.QkNorm)
        {
            q_norm = new RmsNorm("q_norm", config.HeadDim, config.NormEps);
            k_norm = new RmsNorm("k_norm", config.HeadDim, config.NormEps);
        }
        RegisterComponents();
    }

    /// <summary>Grouped-query causal self-attention over x [batch, positions, hidden] with rotary positions, using and extending the cache when given.</summary>
    public Tensor Forward(Tensor x, Rope rope, KvCache? cache, int layerIndex)
    {
        long batch = x.shape[0], positions = x.shape[1];
        var q = q_proj.call(x).view(batch, positions, config.Heads, config.HeadDim);
        var k = k_proj.call(x).view(batch, positions, config.KvHeads, config.HeadDim);
        var v = v_proj.call(x).view(batch, positions, config.KvHeads, config.HeadDim).transpose(1, 2);
        if (q_norm != null) q = q_norm.call(q);
        if (k_norm != null) k = k_norm.call(k);
        q = rope.Apply(q.transpose(1, 2));
        k = rope.Apply(k.transpose(1, 2));
        var attended = Attention.Causal(q, k, v, cache, layerIndex, config.Heads / config.KvHeads);
        return o_proj.call(attended.transpose(1, 2).reshape(batch, positions, config.Heads * config.HeadDim));
    }
}

internal sealed class LlamaMlp : nn.Module
{
    /// <summary>SwiGLU's gate, up and down projections.</summary>
    public readonly AdaptableLinear gate_proj, up_proj, down_proj;

    /// <summary>The MLP of one layer; <paramref name="prefix"/> is its module path ending in "mlp.".</summary>
    public LlamaMlp(ModelConfig config, string prefix) : base("mlp")
    {
        gate_proj = new AdaptableLinear(prefix + "gate_proj", config.Hidden, config.Intermediate, false);
        up_proj = new AdaptableLinear(prefix + "up_proj", config.Hidden, config.Intermediate, false);
        down_proj = new AdaptableLinear(prefix + "down_proj", config.Intermediate, config.Hidden, false);
        RegisterComponents();
    }

    /// <summary>down(silu(gate(x)) * up(x)).</summary>
    public Tensor Forward(Tensor x) => down_proj.call(nn.functional.silu(gate_proj.call(x)) * up_proj.call(x));
}
