using LayerCard.Common;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LayerCard.Models;

#pragma warning disable IDE1006 // field names are the Hugging Face module names, which checkpoints use

/// <summary>
/// GPT-2: learned positions, pre-LayerNorm blocks, a fused q/k/v projection, Conv1D weights stored
/// [in, out], the tanh approximation of GELU ("gelu_new") and an output head tied to the token embedding.
/// </summary>
public sealed class Gpt2LMHeadModel : CausalLM
{
    private readonly Gpt2Model transformer;

    /// <summary>A GPT-2 with uninitialised, frozen weights of the configured shape; the weight loader fills them.</summary>
    public Gpt2LMHeadModel(ModelConfig config) : base("GPT2LMHeadModel", config)
    {
        transformer = new Gpt2Model(config);
        RegisterComponents();
    }

    public override Tensor Hidden(Tensor inputIds, KvCache? cache = null, List<Tensor>? layerInputs = null, bool lastPositionOnly = false)
    {
        var past = cache?.Length ?? 0;
        var positions = OwnedScalars.Arange(past, past + inputIds.shape[1], device: inputIds.device);
        var hidden = OwnedScalars.Add(transformer.wte.call(inputIds), transformer.wpe.call(positions).unsqueeze(0));
        for (int i = 0; i < transformer.h.Count; i++)
        {
            layerInputs?.Add(hidden);
            var block = transformer.h[i];
            var input = hidden;
            hidden = RunLayer(i, () => block.Forward(input, cache, i));
        }
        layerInputs?.Add(hidden);
        cache?.Advance(inputIds.shape[1]);
        if (lastPositionOnly) hidden = hidden.narrow(1, hidden.shape[1] - 1, 1);
        return transformer.ln_f.call(hidden);
    }

    public override Tensor ResidualFrom(int first, int end, Tensor layerInput)
    {
        var hidden = layerInput;
        for (int i = first; i < end; i++) hidden = transformer.h[i].Forward(hidden, null, i);
        return hidden;
    }

    public override Tensor FinalNorm(Tensor residual) => transformer.ln_f.call(residual);

    public override Tensor Embed(Tensor inputIds) =>
        OwnedScalars.Add(transformer.wte.call(inputIds), transformer.wpe.call(OwnedScalars.Arange(0, inputIds.shape[1], device: inputIds.device)).unsqueeze(0));

    public override Tensor HeadWeight => transformer.wte.weight!;

    public override IReadOnlyDictionary<string, AdaptableLinear> LayerLinears(int layer) => transformer.h[layer].Linears;

    public override string LayerPrefix(int layer) => $"transformer.h.{layer}.";

    public override string LayersPattern => "h";

    /// <summary>
    /// GPT-2 checkpoints come with or without the "transformer." prefix, may carry the causal-mask buffers
    /// attn.bias / attn.masked_bias, and may repeat the tied head as lm_head.weight.
    /// </summary>
    public override string? ParameterNameFor(string checkpointName)
    {
        if (checkpointName == "lm_head.weight") return null;
        if (checkpointName.EndsWith(".attn.bias", StringComparison.Ordinal) || checkpointName.EndsWith(".attn.masked_bias", StringComparison.Ordinal)) return null;
        return checkpointName.StartsWith("transformer.", StringComparison.Ordinal) ? checkpointName : "transformer." + checkpointName;
    }

    private sealed class Gpt2Model : nn.Module
    {
        /// <summary>Token and position embeddings (wte, wpe); wte also serves as the output head.</summary>
        public readonly Embedding wte, wpe;
        /// <summary>The transformer blocks, one per layer.</summary>
        public readonly ModuleList<Gpt2Block> h;
        /// <summary>The final LayerNorm before the output head.</summary>
        public readonly LayerNorm ln_f;

        /// <summary>The "transformer" module: embeddings, blocks and the final norm, every parameter frozen.</summary>
        public Gpt2Model(ModelConfig config) : base("transformer")
        {
            wte = nn.Embedding(config.Vocab, config.Hidden);
            wpe = nn.Embedding(config.MaxPositions, config.Hidden);
            h = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(i => new Gpt2Block(config, i)).ToArray());
            ln_f = nn.LayerNorm(config.Hidden, config.NormEps);
            RegisterComponents();
            foreach (var p in parameters()) p.requires_grad = false;
        }
    }
}

internal sealed class Gpt2Block : nn.Module
{
    private readonly LayerNorm ln_1, ln_2;
    private readonly Gpt2Attention attn;
    private readonly Gpt2Mlp mlp;

    /// <summary>Block <paramref name="index"/>, its linear modules named under "transformer.h.INDEX.".</summary>
    public Gpt2Block(ModelConfig config, int index) : base($"{index}")
    {
        var prefix = $"transformer.h.{index}.";
        ln_1 = nn.LayerNorm(config.Hidden, config.NormEps);
        attn = new Gpt2Attention(config, prefix + "attn.");
        ln_2 = nn.LayerNorm(config.Hidden, config.NormEps);
        mlp = new Gpt2Mlp(config, prefix + "mlp.");
        Linears = new Dictionary<string, AdaptableLinear>
        {
            ["attn.c_attn"] = attn.c_attn, ["attn.c_proj"] = attn.c_proj,
            ["mlp.c_fc"] = mlp.c_fc, ["mlp.c_proj"] = mlp.c_proj,
        };
        RegisterComponents();
    }

    /// <summary>The block's adaptable modules by their path inside the block ("attn.c_attn", "mlp.c_proj").</summary>
    public IReadOnlyDictionary<string, AdaptableLinear> Linears { get; }

    /// <summary>Pre-norm residual block: attention then MLP, each added to the stream.</summary>
    public Tensor Forward(Tensor hidden, KvCache? cache, int layerIndex)
    {
        var h = OwnedScalars.Add(hidden, attn.Forward(ln_1.call(hidden), cache, layerIndex));
        return OwnedScalars.Add(h, mlp.Forward(ln_2.call(h)));
    }
}

internal sealed class Gpt2Attention : nn.Module
{
    /// <summary>The fused q/k/v projection (hidden to 3 x hidden) and the output projection, both Conv1D layout.</summary>
    public readonly AdaptableLinear c_attn, c_proj;
    private readonly ModelConfig config;

    /// <summary>The attention of one block; <paramref name="prefix"/> is its module path ending in "attn.".</summary>
    public Gpt2Attention(ModelConfig config, string prefix) : base("attn")
    {
        this.config = config;
        c_attn = new AdaptableLinear(prefix + "c_attn", config.Hidden, 3 * config.Hidden, true, fanInFanOut: true);
        c_proj = new AdaptableLinear(prefix + "c_proj", config.Hidden, config.Hidden, true, fanInFanOut: true);
        RegisterComponents();
    }

    /// <summary>Multi-head causal self-attention over x [batch, positions, hidden], using and extending the cache when given.</summary>
    public Tensor Forward(Tensor x, KvCache? cache, int layerIndex)
    {
        long batch = x.shape[0], positions = x.shape[1];
        var qkv = c_attn.call(x).view(batch, positions, 3, config.Heads, config.HeadDim).permute(2, 0, 3, 1, 4);
        var attended = Attention.Causal(qkv[0], qkv[1], qkv[2], cache, layerIndex, 1);
        return c_proj.call(attended.transpose(1, 2).reshape(batch, positions, config.Hidden));
    }
}

internal sealed class Gpt2Mlp : nn.Module
{
    /// <summary>The expansion (hidden to intermediate) and projection back, both Conv1D layout.</summary>
    public readonly AdaptableLinear c_fc, c_proj;

    /// <summary>The MLP of one block; <paramref name="prefix"/> is its module path ending in "mlp.".</summary>
    public Gpt2Mlp(ModelConfig config, string prefix) : base("mlp")
    {
        c_fc = new AdaptableLinear(prefix + "c_fc", config.Hidden, config.Intermediate, true, fanInFanOut: true);
        c_proj = new AdaptableLinear(prefix + "c_proj", config.Intermediate, config.Hidden, true, fanInFanOut: true);
        RegisterComponents();
    }

    /// <summary>c_proj(gelu_new(c_fc(x))).</summary>
    public Tensor Forward(Tensor x) => c_proj.call(GeluNew(c_fc.call(x)));

    /// <summary>GPT-2's "gelu_new": the tanh approximation of GELU.</summary>
    private static Tensor GeluNew(Tensor x) => nn.functional.gelu(x, GELU.Approximate.tanh);
}
