using LayerCard.Data;
using LayerCard.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Evaluation;

/// <summary>A set's mean completion loss.</summary>
/// <param name="MeanLoss">Mean cross-entropy per target token, in nats; NaN when the set has no target token.</param>
/// <param name="Tokens">Target tokens scored.</param>
public sealed record LossResult(double MeanLoss, long Tokens)
{
    /// <summary>exp(mean loss): the per-token perplexity.</summary>
    public double Perplexity => Math.Exp(MeanLoss);
}

/// <summary>Mean completion-token loss over a set, in file order, without autograd.</summary>
public static class LossEvaluation
{
    /// <summary>Mean loss over every sequence of <paramref name="set"/>, in batches of <paramref name="batchSize"/>; the model's train/eval mode is restored afterwards.</summary>
    public static LossResult MeanLoss(CausalLM model, TokenizedSet set, int batchSize, Device device)
    {
        var wasTraining = model.training;
        model.eval();
        double total = 0;
        long tokens = 0;
        using (no_grad())
        {
            foreach (var batch in BatchSampler.Batches(set, batchSize))
            {
                using var scope = NewDisposeScope();
                total += CompletionLoss.Sum(model, batch, device).item<float>();
                tokens += batch.TargetTokens;
            }
        }
        if (wasTraining) model.train();
        return new LossResult(tokens == 0 ? double.NaN : total / tokens, tokens);
    }
}
