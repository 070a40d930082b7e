using LayerCard.Data;
using static TorchSharp.torch;

namespace LayerCard.Models;

/// <summary>Cross-entropy over completion tokens only (labels of -100 are prompt or padding).</summary>
public static class CompletionLoss
{
    /// <summary>The label that marks a position as not scored (prompt or padding), as in PyTorch's cross_entropy.</summary>
    public const long IgnoreIndex = -100;

    /// <summary>Summed loss over the batch's target tokens (divide by the token count for the mean).</summary>
    public static Tensor Sum(CausalLM model, Batch batch, Device device)
    {
        var ids = tensor(batch.InputIds, [batch.BatchSize, batch.Length], device: device);
        var labels = tensor(batch.Labels, [batch.BatchSize * batch.Length], device: device);
        var logits = model.Forward(ids);
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), labels, ignore_index: IgnoreIndex, reduction: nn.Reduction.Sum);
    }

    /// <summary>Per-example summed loss and target count, for metrics that score examples separately.</summary>
    public static (Tensor Loss, Tensor Targets) PerExample(CausalLM model, Batch batch, Device device)
    {
        var ids = tensor(batch.InputIds, [batch.BatchSize, batch.Length], device: device);
        var labels = tensor(batch.Labels, [batch.BatchSize, batch.Length], device: device);
        var logits = model.Forward(ids);
        var losses = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), labels.reshape(-1), ignore_index: IgnoreIndex, reduction: nn.Reduction.None)
            .reshape(batch.BatchSize, batch.Length);
        return (losses.sum(1), (labels != IgnoreIndex).sum(1));
    }
}
