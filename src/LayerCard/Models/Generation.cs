using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Models;

/// <summary>How <see cref="Generation.Generate"/> chooses tokens.</summary>
/// <param name="MaxNewTokens">Most tokens to produce; generation also stops at the model's context length.</param>
/// <param name="Temperature">Softmax temperature; 0 or less picks the most likely token every time (greedy).</param>
/// <param name="TopK">When sampling, keep only the K most likely tokens; 0 keeps all.</param>
/// <param name="Seed">Seed of the sampling generator, so sampled output is reproducible.</param>
/// <param name="StopToken">A token that ends generation when chosen (not included in the output), usually EOS.</param>
public sealed record GenerationOptions(int MaxNewTokens = 64, double Temperature = 0.0, int TopK = 0, long Seed = 0, int? StopToken = null);

/// <summary>Autoregressive decoding with a KV cache: the prompt is run once, then one position per step.</summary>
public static class Generation
{
    /// <summary>Returns the new token ids (not the prompt). <paramref name="onToken"/> sees each as it is chosen; <paramref name="stop"/> can end early.</summary>
    public static List<int> Generate(CausalLM model, IReadOnlyList<int> prompt, GenerationOptions options, Action<int>? onToken = null, Func<bool>? stop = null)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt needs at least one token (a BOS token for an empty prompt)");
        var device = model.parameters().First().device;
        var generator = new torch.Generator((ulong)options.Seed, device);
        var produced = new List<int>();
        using var noGrad = torch.no_grad();
        using var cache = new KvCache(model.Config.Layers);
        var next = prompt.Select(t => (long)t).ToArray();
        for (int step = 0; step < options.MaxNewTokens; step++)
        {
            if (cache.Length + next.Length > MaxContext(model)) break;
            using var scope = torch.NewDisposeScope();
            var logits = model.Forward(tensor(next, device: device).unsqueeze(0), cache, lastPositionOnly: true)[0, -1];
            var token = Choose(logits.to(ScalarType.Float32), options, generator);
            if (options.StopToken == token) break;
            produced.Add(token);
            onToken?.Invoke(token);
            if (stop?.Invoke() == true) break;
            next = [token];
        }
        return produced;
    }

    private static long MaxContext(CausalLM model) => model.Config.MaxPositions > 0 ? model.Config.MaxPositions : long.MaxValue;

    private static int Choose(Tensor logits, GenerationOptions options, torch.Generator generator)
    {
        if (options.Temperature <= 0) return (int)logits.argmax().item<long>();
        var scaled = logits / options.Temperature;
        if (options.TopK > 0 && options.TopK < scaled.shape[0])
        {
            var kth = scaled.topk(options.TopK).values[-1];
            using var negativeInfinity = double.NegativeInfinity.ToScalar();
            scaled = scaled.masked_fill(scaled < kth, negativeInfinity);
        }
        var probabilities = softmax(scaled, 0);
        return (int)multinomial(probabilities, 1, generator: generator).item<long>();
    }
}
