namespace LayerCard.Data;

/// <summary>
/// Seeded permutations from our own SplitMix64 generator rather than System.Random, so that an order recorded
/// in a checkpoint (seed + position) replays identically whatever runtime resumes it.
/// </summary>
public static class SeededShuffle
{
    /// <summary>A permutation of 0..count-1 determined by (seed, stream); streams give independent orders
    /// (one per epoch, another for the held-out split) from one user seed.</summary>
    public static int[] Permutation(int count, long seed, long stream)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var state = Mix(unchecked((ulong)seed) ^ Mix(unchecked((ulong)stream) + Golden));
        var order = new int[count];
        for (int i = 0; i < count; i++) order[i] = i;
        for (int i = count - 1; i > 0; i--)
        {
            int j = (int)Below(ref state, (ulong)i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    private const ulong Golden = 0x9E3779B97F4A7C15;

    private static ulong Mix(ulong z)
    {
        unchecked
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            return z ^ (z >> 31);
        }
    }

    // Rejection instead of a plain modulo keeps every permutation equally likely.
    private static ulong Below(ref ulong state, ulong bound)
    {
        var limit = ulong.MaxValue - ulong.MaxValue % bound;
        while (true)
        {
            state = unchecked(state + Golden);
            var r = Mix(state);
            if (r < limit) return r % bound;
        }
    }
}
