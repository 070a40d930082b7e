using LayerCard.Data;
using LayerCard.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Evaluation;

public sealed record LossResult(double MeanLoss, long Tokens)
{
    public double Perplexity => Math.Exp(MeanLoss);
}

/// <summary>Mean completion-token loss over a set, in file order, without autograd.</summary>
public static class LossEvaluation
{
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
