using LayerCard.Data;
using LayerCard.Models;
using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>
/// Back-propagation through a frozen model one layer at a time, from the top down, over a fixed list of batches.
/// One forward pass records the residual stream entering every layer for every batch. Then, for layer l from the
/// top, each batch's recorded input runs through layer l alone (the top layer also through the final norm and the
/// completion loss) and the gradient arriving from layer l + 1 is carried down to layer l's input. A caller can
/// reduce and free one layer's statistics before the next layer starts, so the memory of a signal pass is one
/// layer's activations and statistics plus the recorded streams (layers × positions × hidden floats, freed as
/// the sweep descends; on wide layers all but the current layer's wait on disk, <see cref="SpilledStreams"/>),
/// whatever the depth. The cost is one forward more than a plain forward+backward.
/// </summary>
public sealed class LayerSweep : IDisposable
{
    private readonly CausalLM model;
    private readonly Device device;
    private readonly List<Tensor>[] inputs;
    private readonly Tensor?[] upstream;
    private readonly Tensor?[] downstream;

    private readonly bool keepInputs;
    private readonly SpilledStreams? spilled;

    private LayerSweep(CausalLM model, IReadOnlyList<Batch> batches, Device device, List<Tensor>[] inputs, bool keepInputs, SpilledStreams? spilled)
    {
        this.keepInputs = keepInputs;
        this.spilled = spilled;
        this.model = model;
        this.device = device;
        this.inputs = inputs;
        Batches = batches;
        upstream = new Tensor?[batches.Count];
        downstream = new Tensor?[batches.Count];
        Layer = model.Config.Layers - 1;
    }

    /// <summary>The batches swept, in order.</summary>
    public IReadOnlyList<Batch> Batches { get; }

    /// <summary>The layer <see cref="Backward"/> runs now; it starts at the top and goes down with <see cref="Descend"/>.</summary>
    public int Layer { get; private set; }

    /// <summary>
    /// Runs one forward pass per batch without autograd and keeps every layer's input (detached). With
    /// <paramref name="keepInputs"/> the inputs stay after the sweep has passed a layer (for a caller that runs
    /// from them again afterwards); otherwise each layer's are freed as the sweep descends below it, and with
    /// <paramref name="spill"/> (default: on wide layers, <see cref="IsWide"/>) the layers below the top wait on disk
    /// and are read back as the sweep reaches them, so the streams held in memory are one layer's at any depth.
    /// </summary>
    public static LayerSweep Record(CausalLM model, IReadOnlyList<Batch> batches, Device device, bool keepInputs = false, bool? spill = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batches);
        int layers = model.Config.Layers;
        var inputs = Enumerable.Range(0, layers).Select(_ => new List<Tensor>(batches.Count)).ToArray();
        var spilled = !keepInputs && (spill ?? IsWide(model)) && layers > 1 ? new SpilledStreams(layers) : null;
        try
        {
            using var noGrad = no_grad();
            foreach (var batch in batches)
            {
                using var scope = NewDisposeScope();
                var stream = model.Embed(tensor(batch.InputIds, [batch.BatchSize, batch.Length], device: device));
                for (int l = 0; l < layers; l++)
                {
                    var input = stream.detach();
                    // The top layer is swept first: its inputs stay; the others wait on disk when spilling.
                    bool kept = spilled is null || l == layers - 1;
                    if (kept) inputs[l].Add(input.DetachFromDisposeScope());
                    else spilled!.Write(l, input);
                    // A scope per layer: only the stream leaves it, so a layer's intermediates are freed before the next.
                    using var layerScope = NewDisposeScope();
                    var next = model.ResidualFrom(l, l + 1, input).MoveToOuterDisposeScope();
                    if (!kept) input.Dispose();
                    stream = next;
                }
            }
        }
        catch
        {
            spilled?.Dispose();
            foreach (var t in inputs.SelectMany(x => x)) t.Dispose();
            throw;
        }
        // The forward's intermediates are freed: start the layers from the resident size of the recorded streams alone.
        ReleaseFreed(model);
        return new LayerSweep(model, batches, device, inputs, keepInputs, spilled);
    }

    /// <summary>
    /// Layers of at least this many weight bytes (64 MiB: hidden 1,024 and wider, e.g. Qwen3-0.6B and up) run the
    /// signal passes with freed blocks returned at once (<see cref="Common.NativeMemory.ReturnLargeBlocksAtOnce"/>).
    /// Below it a layer's working set is a few MiB, nothing to bound, and the page faults would cost: a stories12L
    /// card (hidden 128) took 40 % longer with the low threshold (14.9 s against 21.9 s, alternating runs).
    /// </summary>
    public const long TightMemoryLayerBytes = 64L << 20;

    /// <summary>
    /// For a signal pass over <paramref name="model"/>: freed blocks returned at once while the pass runs when its
    /// layers are wide enough for the allocator's residue to matter (<see cref="TightMemoryLayerBytes"/>); dispose
    /// at the end of the pass.
    /// </summary>
    public static IDisposable BoundedMemory(CausalLM model) =>
        IsWide(model) ? Common.NativeMemory.ReturnLargeBlocksAtOnce() : Common.NativeMemory.Unchanged;

    /// <summary>Whether a layer of <paramref name="model"/> holds at least <see cref="TightMemoryLayerBytes"/> of weights: the passes then put memory before speed.</summary>
    public static bool IsWide(CausalLM model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.LayerLinears(0).Values.Sum(m => m.Weight.numel() * m.Weight.element_size()) >= TightMemoryLayerBytes;
    }

    /// <summary>
    /// The recorded input of <paramref name="layer"/> for batch <paramref name="batch"/> ([batch, positions, hidden]);
    /// freed once the sweep has gone below it unless the inputs are kept. When the streams were spilled, a layer below
    /// the sweep's current one is on disk until the sweep reaches it.
    /// </summary>
    public Tensor Input(int layer, int batch) => inputs[layer][batch];

    /// <summary>
    /// Runs the current layer on batch <paramref name="batch"/> with autograd and back-propagates into it: from the
    /// summed completion loss at the top layer, else from the gradient the layer above passed down. Returns the
    /// gradients of the tensors <paramref name="wrt"/> names once the forward has run (probes' zero offsets,
    /// adapter weights), zeros for any the loss does not reach; keeps the gradient at the layer's input for the
    /// layer below. Calling it again for the same batch recomputes the same gradients.
    /// </summary>
    public IReadOnlyList<Tensor> Backward(int batch, Func<IReadOnlyList<Tensor>> wrt)
    {
        ArgumentNullException.ThrowIfNull(wrt);
        using var grad = enable_grad();
        var x = inputs[Layer][batch].detach().requires_grad_(true);
        var output = model.ResidualFrom(Layer, Layer + 1, x);
        Tensor target;
        Tensor? gradient = null;
        if (Layer == model.Config.Layers - 1)
        {
            var hidden = model.FinalNorm(output);
            var flat = hidden.reshape(-1, hidden.shape[^1]);
            var positions = CompletionLoss.LabelledPositions(Batches[batch]);
            target = positions.Length == 0
                ? flat.sum() * 0
                : CompletionLoss.SumAt(flat.index_select(0, tensor(positions, device: device)), tensor(positions.Select(p => Batches[batch].Labels[p]).ToArray(), device: device), model.HeadWeight);
        }
        else
        {
            target = output;
            gradient = upstream[batch] ?? throw new InvalidOperationException($"layer {Layer + 1} passed no gradient down for batch {batch}");
        }
        var others = wrt();
        var sources = (Layer > 0 ? new[] { x } : []).Concat(others).ToList();
        if (sources.Count == 0) return [];
        var grads = autograd.grad([target], sources, gradient is null ? null : [gradient], allow_unused: true).ToList();
        for (int i = 0; i < grads.Count; i++)
            if (grads[i] is null || grads[i].IsInvalid) grads[i] = zeros_like(sources[i]);
        if (Layer > 0)
        {
            downstream[batch]?.Dispose();
            downstream[batch] = grads[0].detach().DetachFromDisposeScope();
            grads.RemoveAt(0);
        }
        return grads;
    }

    /// <summary>Moves one layer down once every batch has been through <see cref="Backward"/>: frees this layer's recorded inputs (unless kept) and the gradient from above, and returns freed memory to the system.</summary>
    public void Descend()
    {
        if (Layer == 0) throw new InvalidOperationException("the sweep is already at the bottom layer");
        if (downstream.Any(g => g is null)) throw new InvalidOperationException($"not every batch went through layer {Layer}");
        for (int b = 0; b < upstream.Length; b++)
        {
            upstream[b]?.Dispose();
            upstream[b] = downstream[b];
            downstream[b] = null;
        }
        if (!keepInputs)
        {
            foreach (var t in inputs[Layer]) t.Dispose();
            inputs[Layer].Clear();
        }
        Layer--;
        if (spilled is not null) inputs[Layer].AddRange(spilled.Read(Layer, device));
        // The layer above's statistics and activations are gone: hand the memory back, so that the resident size
        // (what a scheduler limits) stays at one layer's worth instead of the allocator's high-water mark.
        ReleaseFreed(model);
    }

    /// <summary>
    /// Hands freed memory back to the system; on wide layers the managed heap is collected first, so that tensors
    /// left to the finalizer go too (a few milliseconds, nothing next to a wide layer's work).
    /// </summary>
    internal static void ReleaseFreed(CausalLM model)
    {
        if (IsWide(model)) Common.NativeMemory.CollectAndReturnFreeMemory();
        else Common.NativeMemory.ReturnFreeMemoryToTheSystem();
    }

    /// <summary>Frees the recorded inputs and gradients, and deletes any spilled to disk.</summary>
    public void Dispose()
    {
        spilled?.Dispose();
        foreach (var list in inputs)
        {
            foreach (var t in list) t.Dispose();
            list.Clear();
        }
        foreach (var t in upstream.Concat(downstream)) t?.Dispose();
        Array.Clear(upstream);
        Array.Clear(downstream);
    }
}
