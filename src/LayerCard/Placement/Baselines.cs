using LayerCard.Card;
using LayerCard.Data;

namespace LayerCard.Placement;

/// <summary>The simple placements an honest comparison needs beside the card's.</summary>
public static class Baselines
{
    public static readonly IReadOnlyList<string> Names = ["all", "random", "even", "top", "bottom", "resnorm-top"];

    public static int[] Choose(string method, int layers, int k, long seed, CardDocument? card = null) => method switch
    {
        "all" => Enumerable.Range(0, layers).ToArray(),
        "random" => SeededShuffle.Permutation(layers, seed, 17).Take(k).Order().ToArray(),
        "even" => Even(layers, k),
        "top" => Enumerable.Range(layers - k, k).ToArray(),
        "bottom" => Enumerable.Range(0, k).ToArray(),
        "resnorm-top" => (card ?? throw new ArgumentException("resnorm-top needs a card")).Layers.OrderByDescending(r => r.ResNorm).Take(k).Select(r => r.Layer).Order().ToArray(),
        _ => throw new ArgumentException($"unknown baseline '{method}' (known: {string.Join(", ", Names)})"),
    };

    /// <summary>K layers spread evenly, the first and last included when K > 1.</summary>
    public static int[] Even(int layers, int k) =>
        k == 1 ? [layers / 2] : Enumerable.Range(0, k).Select(i => (int)Math.Round(i * (layers - 1) / (double)(k - 1))).Distinct().ToArray();
}
