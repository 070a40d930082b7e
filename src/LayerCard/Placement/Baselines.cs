using LayerCard.Card;
using LayerCard.Data;

namespace LayerCard.Placement;

/// <summary>The simple placements an honest comparison needs beside the card's.</summary>
public static class Baselines
{
    /// <summary>The baseline method names <see cref="Choose"/> knows.</summary>
    public static readonly IReadOnlyList<string> Names = ["all", "random", "even", "top", "bottom", "resnorm-top"];

    /// <summary>The layers baseline <paramref name="method"/> picks: all layers, K seeded random ones, K spread evenly, the top or bottom K, or the K with the largest resnorm on <paramref name="card"/> (which that method needs). Returned in ascending order.</summary>
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
