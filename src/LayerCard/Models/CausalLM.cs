using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LayerCard.Models;

/// <summary>Keys and values of past positions, per layer, so generation does not recompute the prefix.</summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] keys;
    private readonly Tensor?[] values;

    /// <summary>An empty cache for a model of <paramref name="layers"/> layers.</summary>
    public KvCache(int layers)
    {
        keys = new Tensor?[layers];
        values = new Tensor?[layers];
    }

    /// <summary>Number of positions already cached (read before the current forward appends to it).</summary>
    public long Length { get; private set; }

    /// <summary>Appends a layer's keys and values for the new positions ([batch, kvHeads, positions, headDim], detached) and returns all cached ones, the new included.</summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor newKeys, Tensor newValues)
    {
        var k = keys[layer] is null ? newKeys.detach() : torch.cat([keys[layer]!, newKeys.detach()], 2);
        var v = values[layer] is null ? newValues.detach() : torch.cat([values[layer]!, newValues.detach()], 2);
        keys[layer]?.Dispose();
        values[layer]?.Dispose();
        keys[layer] = k.DetachFromDisposeScope();
        values[layer] = v.DetachFromDisposeScope();
        return (k, v);
    }

    /// <summary>Called once per forward, after every layer has appended its new positions.</summary>
    public void Advance(long positions) => Length += positions;

    /// <summary>Frees the cached tensors.</summary>
    public void Dispose()
    {
        foreach (var t in keys) t?.Dispose();
        foreach (var t in values) t?.Dispose();
    }
}

/// <summary>
/// A decoder-only language model whose module names equal the Hugging Face parameter names, so checkpoints
/// load strictly and adapters export under the names PEFT expects.
/// </summary>
public abstract class CausalLM : nn.Module
{
    protected CausalLM(string name, ModelConfig config) : base(name) => Config = config;

    /// <summary>The model's shape and settings, as read from its checkpoint.</summary>
    public ModelConfig Config { get; }

    /// <summary>
    /// Layers below this index run without autograd: when adapters sit only at layers >= m, nothing below m
    /// needs a gradient, so neither backward work nor saved activations happen there.
    /// </summary>
    public int GradientStartLayer { get; set; }

    /// <summary>
    /// Logits [batch, positions, vocab] for token ids [batch, positions]. With a cache, positions continue
    /// after the cached ones. <paramref name="layerInputs"/>, when given, receives the residual stream entering
    /// each layer and, last, the stream after the final layer (before the final norm).
    /// </summary>
    public Tensor Forward(Tensor inputIds, KvCache? cache = null, List<Tensor>? layerInputs = null, bool lastPositionOnly = false) =>
        nn.functional.linear(Hidden(inputIds, cache, layerInputs, lastPositionOnly), HeadWeight);

    /// <summary>
    /// The final hidden states [batch, positions, hidden] after the final norm: what the output head reads. The
    /// completion loss starts here so that it can compute logits only where labels are, a chunk at a time.
    /// </summary>
    public abstract Tensor Hidden(Tensor inputIds, KvCache? cache = null, List<Tensor>? layerInputs = null, bool lastPositionOnly = false);

    /// <summary>
    /// Final hidden states from layer <paramref name="layer"/> up, given that layer's input [batch, positions, hidden]
    /// (as <see cref="Hidden"/> records it in layerInputs) for a sequence starting at position 0, without a cache:
    /// what changes when only layers from <paramref name="layer"/> up change.
    /// </summary>
    public Tensor HiddenFrom(int layer, Tensor layerInput)
    {
        if (torch.is_grad_enabled()) return FinalNorm(ResidualFrom(layer, Config.Layers, layerInput));
        // Without autograd nothing needs a layer's intermediates once its output exists: free them layer by layer.
        var stream = layerInput;
        for (int l = layer; l < Config.Layers; l++)
        {
            using var scope = torch.NewDisposeScope();
            stream = ResidualFrom(l, l + 1, stream).MoveToOuterDisposeScope();
        }
        return FinalNorm(stream);
    }

    /// <summary>
    /// The residual stream after layer <paramref name="end"/> − 1, given the input of layer <paramref name="first"/>
    /// (a sequence from position 0, no cache, no final norm): layers run one at a time from recorded inputs,
    /// so a backward pass can go down the model a layer at a time.
    /// </summary>
    public abstract Tensor ResidualFrom(int first, int end, Tensor layerInput);

    /// <summary>The residual stream entering layer 0 for token ids [batch, positions] at positions from 0 (token and, where the family has them, position embeddings).</summary>
    public abstract Tensor Embed(Tensor inputIds);

    /// <summary>The final norm before the output head, applied to the residual stream after the last layer.</summary>
    public abstract Tensor FinalNorm(Tensor residual);

    /// <summary>The output head's weight [vocab, hidden] (the token embedding when tied); frozen.</summary>
    public abstract Tensor HeadWeight { get; }

    /// <summary>Every adaptable linear module of layer <paramref name="layer"/>, keyed by its path inside the layer ("self_attn.q_proj").</summary>
    public abstract IReadOnlyDictionary<string, AdaptableLinear> LayerLinears(int layer);

    /// <summary>The module path prefix of a layer, e.g. "model.layers.3." or "transformer.h.3.".</summary>
    public abstract string LayerPrefix(int layer);

    /// <summary>PEFT's layers_pattern for this family ("layers" or "h").</summary>
    public abstract string LayersPattern { get; }

    /// <summary>Maps a checkpoint tensor name to this model's parameter name, or null for buffers a checkpoint may carry that the model does not need.</summary>
    public virtual string? ParameterNameFor(string checkpointName) => checkpointName;

    /// <summary>The frozen base parameters by name (adapters are not registered here).</summary>
    public IReadOnlyDictionary<string, Parameter> BaseParameters() =>
        named_parameters().ToDictionary(p => p.name, p => p.parameter);

    /// <summary>Runs <paramref name="layerForward"/> with autograd off when the layer lies below <see cref="GradientStartLayer"/>.</summary>
    protected Tensor RunLayer(int index, Func<Tensor> layerForward)
    {
        if (index >= GradientStartLayer || !torch.is_grad_enabled()) return layerForward();
        // A scope per frozen layer frees its intermediates as soon as the layer is done, instead of keeping
        // them alive until the training step's scope ends: below the lowest adapted layer nothing is needed later.
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        return layerForward().MoveToOuterDisposeScope();
    }
}
