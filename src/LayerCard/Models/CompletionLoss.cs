using LayerCard.Common;
using LayerCard.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Models;

/// <summary>
/// Cross-entropy over completion tokens only (labels of -100 are prompt or padding). Logits are formed only at
/// labelled positions and a chunk of positions at a time, so the [positions, vocab] logits of a whole batch never
/// exist at once; under autograd the gradient with respect to the hidden states is computed in the same pass
/// (the loss is the end of the graph, so it is known there) and the backward only carries it down.
/// </summary>
public static class CompletionLoss
{
    /// <summary>The label of a position without loss (PyTorch's default ignore index).</summary>
    public const long IgnoreIndex = -100;

    /// <summary>The most labelled positions whose logits are formed together.</summary>
    public const int ChunkPositions = 512;

    /// <summary>
    /// The float32 logits of one chunk stay under this: 512 positions of GPT-2's 50,257-word vocabulary (103 MB),
    /// fewer for larger vocabularies (220 of Qwen3's 151,936).
    /// </summary>
    public const long ChunkBytes = 128L << 20;

    /// <summary>Positions per chunk for a vocabulary: as many as <see cref="ChunkBytes"/> allows, at most <see cref="ChunkPositions"/>.</summary>
    public static long ChunkFor(long vocabulary) => Math.Clamp(ChunkBytes / (4 * vocabulary), 1, ChunkPositions);

    /// <summary>Summed loss over the batch's target tokens (divide by the token count for the mean).</summary>
    public static Tensor Sum(CausalLM model, Batch batch, Device device)
    {
        var ids = tensor(batch.InputIds, [batch.BatchSize, batch.Length], device: device);
        var hidden = model.Hidden(ids);
        var flat = hidden.reshape(-1, hidden.shape[^1]);
        var positions = LabelledPositions(batch);
        if (positions.Length == 0) return (flat.sum() * 0).to_type(ScalarType.Float32);
        var index = tensor(positions, device: device);
        var labels = tensor(positions.Select(p => batch.Labels[p]).ToArray(), device: device);
        var chosen = flat.index_select(0, index);
        return SumAt(chosen, labels, model.HeadWeight);
    }

    /// <summary>
    /// Σ_t CE(W h_t, y_t) for hidden states <paramref name="hidden"/> [n, hidden] and labels [n]. With autograd on
    /// <paramref name="hidden"/>, the result carries the exact gradient W'(softmax(W h) - onehot(y)) per position,
    /// computed chunk by chunk here, through a surrogate whose value is zero: loss + (h·g - stop(h·g)).
    /// The logits are formed vocabulary-major, W hᵀ [vocab, positions], in chunks of 512 positions: on the 2-core
    /// benchmark machine that head (forward and input gradient, 1,024 x 768 x 50,257) took 1.2 s against 1.6 s for
    /// position-major chunks of 256 (scratch measurement, four alternating rounds; docs/benchmarks/README.md); one
    /// exp per chunk in place, normalised after the product, took it from 1.06–1.10 s to 0.96–1.00 s (the two
    /// products alone: 0.92–0.95 s).
    /// </summary>
    public static Tensor SumAt(Tensor hidden, Tensor labels, Tensor headWeight)
    {
        bool differentiable = hidden.requires_grad && is_grad_enabled();
        var total = zeros(1, dtype: ScalarType.Float64, device: hidden.device);
        var gradients = new List<Tensor>();
        using (no_grad())
        {
            var h = hidden.detach();
            long chunk = ChunkFor(headWeight.shape[0]);
            for (long start = 0; start < h.shape[0]; start += chunk)
            {
                using var scope = NewDisposeScope();
                var length = Math.Min(chunk, h.shape[0] - start);
                var rows = h.narrow(0, start, length);
                var y = labels.narrow(0, start, length);
                // One exp over the chunk, in place: shifted logits z - max, their exp e, and the sum S give the loss
                // log S - (z_y - max) and the gradient W'(e/S - onehot(y)) = (eᵀW)/S - W[y], which skips a pass that
                // would normalise e and libtorch's logsumexp's own copy of the chunk.
                var logits = headWeight.matmul(rows.t());
                logits.sub_(logits.amax([0L], keepdim: true));
                var shiftedAtLabel = logits.gather(0, y.unsqueeze(0));
                var sums = logits.exp_().sum(0, keepdim: true);
                total.add_((sums.log() - shiftedAtLabel).sum().to_type(ScalarType.Float64), OwnedScalars.One);
                if (!differentiable) continue;
                var chunkGradient = logits.t().matmul(headWeight).div_(sums.t()).sub_(headWeight.index_select(0, y));
                gradients.Add(chunkGradient.MoveToOuterDisposeScope());
            }
        }
        var loss = total.to_type(ScalarType.Float32).squeeze(0);
        if (!differentiable) return loss;
        var gradient = gradients.Count == 1 ? gradients[0] : cat(gradients, 0);
        var surrogate = (hidden * gradient).sum();
        return OwnedScalars.Add(loss, surrogate - surrogate.detach());
    }

    /// <summary>Flat indices (row * Length + t) of the positions that carry a label, in order.</summary>
    public static long[] LabelledPositions(Batch batch)
    {
        var positions = new List<long>(batch.TargetTokens);
        for (int i = 0; i < batch.Labels.Length; i++)
            if (batch.Labels[i] != IgnoreIndex) positions.Add(i);
        return positions.ToArray();
    }

    /// <summary>Per-example summed loss and target count, for metrics that score examples separately.</summary>
    public static (Tensor Loss, Tensor Targets) PerExample(CausalLM model, Batch batch, Device device)
    {
        var ids = tensor(batch.InputIds, [batch.BatchSize, batch.Length], device: device);
        var labels = tensor(batch.Labels, [batch.BatchSize, batch.Length], device: device);
        var logits = model.Forward(ids);
        var losses = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), labels.reshape(-1), ignore_index: IgnoreIndex, reduction: nn.Reduction.None)
            .reshape(batch.BatchSize, batch.Length);
        using var ignored = IgnoreIndex.ToScalar();
        return (losses.sum(1), labels.ne(ignored).sum(1));
    }
}
