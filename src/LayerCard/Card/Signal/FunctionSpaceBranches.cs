using LayerCard.Common;
using LayerCard.Lora;
using LayerCard.Models;
using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>The function-space pass's branches: each direction's step (one per layer, or per module) run from its layer up, three ways that give the same differences.</summary>
public static partial class FunctionSpaceProbe
{
    /// <summary>
    /// The branches from recorded layer inputs: for each layer l, its input run from l up with l's step on. Returns
    /// the unperturbed final hidden states and each branch's, at <paramref name="index"/> (flat positions).
    /// </summary>
    private static (Tensor Top, List<Tensor> Moved) FromKeptInputs(CausalLM model, LayerSweep sweep, int batch, Tensor index, IReadOnlyList<int> directionLayer, Func<int, LoraModel> stepOn)
    {
        int layers = model.Config.Layers;
        var moved = new List<Tensor>(directionLayer.Count);
        for (int k = 0; k < directionLayer.Count; k++)
        {
            // Layers below the direction's are unchanged by its step: run from that layer's input up, with its adapters alone.
            // Only the outputs at the target positions leave the scope; the layers' intermediates do not pile up.
            using var layerScope = NewDisposeScope();
            using (stepOn(k)) moved.Add(Rows(model.HiddenFrom(directionLayer[k], sweep.Input(directionLayer[k], batch)), index).MoveToOuterDisposeScope());
        }
        return (Rows(model.HiddenFrom(layers - 1, sweep.Input(layers - 1, batch)), index), moved);
    }

    /// <summary>As <see cref="FromKeptInputs"/>, recomputing each layer's input with one more forward instead of keeping it.</summary>
    private static (Tensor Top, List<Tensor> Moved) OneBranchAtATime(CausalLM model, Tensor ids, Tensor index, IReadOnlyList<int> directionLayer, Func<int, LoraModel> stepOn)
    {
        int layers = model.Config.Layers;
        var moved = new List<Tensor>(directionLayer.Count);
        var stream = model.Embed(ids);
        for (int l = 0; l < layers; l++)
        {
            for (int k = 0; k < directionLayer.Count; k++)
            {
                if (directionLayer[k] != l) continue;
                using var layerScope = NewDisposeScope();
                using (stepOn(k)) moved.Add(Rows(model.HiddenFrom(l, stream), index).MoveToOuterDisposeScope());
            }
            using (var layerScope = NewDisposeScope())
            {
                var next = model.ResidualFrom(l, l + 1, stream).MoveToOuterDisposeScope();
                stream.Dispose();
                stream = next;
            }
            // One branch at a time is the wide-layer form: each branch starts from what is live.
            LayerSweep.ReleaseFreed(model);
        }
        return (Rows(model.FinalNorm(stream), index), moved);
    }

    /// <summary>
    /// As <see cref="OneBranchAtATime"/>, with every branch started so far run through each layer in one call
    /// together with the unperturbed stream ([stream; branches] along the batch), and layer l's own branch started
    /// by one more call with its step on: 2L layer calls instead of L(L+3)/2.
    /// </summary>
    private static (Tensor Top, List<Tensor> Moved) Stacked(CausalLM model, Tensor ids, Tensor index, Func<int, LoraModel> stepOn)
    {
        int layers = model.Config.Layers;
        var stack = model.Embed(ids);
        long batch = stack.shape[0];
        for (int l = 0; l < layers; l++)
        {
            using var layerScope = NewDisposeScope();
            Tensor branch;
            using (stepOn(l)) branch = model.ResidualFrom(l, l + 1, stack.narrow(0, 0, batch));
            var next = cat([model.ResidualFrom(l, l + 1, stack), branch]).MoveToOuterDisposeScope();
            stack.Dispose();
            stack = next;
        }
        var top = model.FinalNorm(stack);
        var moved = Enumerable.Range(1, layers).Select(l => Rows(top.narrow(0, l * batch, batch), index)).ToList();
        return (Rows(top.narrow(0, 0, batch), index), moved);
    }

    /// <summary>
    /// The direct path (<see cref="FunctionSpaceOptions.DirectPath"/>): one forward, and at each layer l one more call
    /// of layer l alone with its step on; the difference of the two outputs at the target positions is added to the
    /// unmoved top stream there, and both go through the final norm. Returns the unmoved final hidden states and each
    /// layer's, at <paramref name="index"/>.
    /// </summary>
    private static (Tensor Top, List<Tensor> Moved) DirectPath(CausalLM model, Tensor ids, Tensor index, Func<int, LoraModel> stepOn)
    {
        int layers = model.Config.Layers;
        var stream = model.Embed(ids);
        var changes = new List<Tensor>(layers);
        for (int l = 0; l < layers; l++)
        {
            using var layerScope = NewDisposeScope();
            Tensor branch;
            using (stepOn(l)) branch = model.ResidualFrom(l, l + 1, stream);
            var next = model.ResidualFrom(l, l + 1, stream);
            changes.Add(Rows(branch - next, index).MoveToOuterDisposeScope());
            next.MoveToOuterDisposeScope();
            stream.Dispose();
            stream = next;
        }
        var top = Rows(stream, index);
        return (model.FinalNorm(top), changes.Select(change => model.FinalNorm(OwnedScalars.Add(top, change))).ToList());
    }

    /// <summary>The rows of hidden states [batch, positions, hidden] at flat positions <paramref name="index"/>.</summary>
    private static Tensor Rows(Tensor hidden, Tensor index) => hidden.reshape(-1, hidden.shape[^1]).index_select(0, index);

    /// <summary>Fresh adapters on layer <paramref name="layer"/> alone, with the pass's A matrices and B = <paramref name="scale"/> (the finite difference's <see cref="Step"/>) times the layer's unit first step; dispose to take them out.</summary>
    private static LoraModel StepOn(CausalLM model, LoraConfig config, long seed, int layer, IReadOnlyList<Tensor> a, IReadOnlyList<Tensor> step, double scale)
    {
        var lora = LoraModel.Inject(model, config with { Layers = [layer] }, seed);
        var adapters = lora.Adapters.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => x.Value).ToList();
        using var noGrad = no_grad();
        for (int i = 0; i < adapters.Count; i++)
        {
            adapters[i].A.copy_(a[i]);
            adapters[i].B.copy_(step[i] * scale);
        }
        return lora;
    }
}
