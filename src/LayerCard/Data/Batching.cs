using LayerCard.Common;

namespace LayerCard.Data;

/// <summary>
/// Sequences padded on the right to the longest in the batch, row-major [BatchSize * Length]. Padding uses
/// <see cref="PadId"/> as input and <see cref="Tokenization.IgnoreLabel"/> as label; with causal attention,
/// right padding never influences the real positions, so no attention mask is needed.
/// </summary>
public sealed record Batch(long[] InputIds, long[] Labels, int BatchSize, int Length, int TargetTokens)
{
    /// <summary>The input id put in padding positions; its value is irrelevant since padding is never attended to or scored.</summary>
    public const long PadId = 0;

    /// <summary>Pads <paramref name="rows"/> on the right to the longest and counts the positions that carry loss.</summary>
    public static Batch Collate(IReadOnlyList<TokenizedExample> rows)
    {
        if (rows.Count == 0) throw new ArgumentException("a batch needs at least one sequence", nameof(rows));
        int length = rows.Max(r => r.InputIds.Length);
        var inputs = new long[rows.Count * length];
        var labels = new long[rows.Count * length];
        Array.Fill(inputs, PadId);
        Array.Fill(labels, (long)Tokenization.IgnoreLabel);
        int targets = 0;
        for (int b = 0; b < rows.Count; b++)
        {
            var row = rows[b];
            for (int t = 0; t < row.InputIds.Length; t++)
            {
                inputs[b * length + t] = row.InputIds[t];
                labels[b * length + t] = row.Labels[t];
                if (row.Labels[t] != Tokenization.IgnoreLabel) targets++;
            }
        }
        return new Batch(inputs, labels, rows.Count, length, targets);
    }
}

/// <summary>
/// An endless stream of training batches. Epoch e visits every sequence once in the order
/// <see cref="SeededShuffle.Permutation"/>(count, seed, e); batches run across epoch boundaries, so every batch is
/// full. The whole state is <see cref="Position"/> (sequences consumed), which a checkpoint stores and
/// <see cref="Seek"/> restores: resuming yields exactly the batches an uninterrupted run would have.
/// </summary>
public sealed class BatchSampler
{
    private readonly TokenizedSet set;
    private readonly long seed;
    private int[] order = [];
    private long orderEpoch = -1;

    /// <summary>Batches of <paramref name="batchSize"/> sequences of <paramref name="set"/>, shuffled by <paramref name="seed"/>; a batch size below 1 is refused naming "batch_size".</summary>
    public BatchSampler(TokenizedSet set, int batchSize, long seed)
    {
        ArgumentNullException.ThrowIfNull(set);
        if (set.Examples.Count == 0) throw BadInputException.InFile(set.Source, "no sequences to train on");
        if (batchSize < 1) throw BadInputException.ForField("batch_size", $"must be at least 1, not {batchSize}");
        this.set = set;
        this.seed = seed;
        BatchSize = batchSize;
    }

    /// <summary>Sequences per batch.</summary>
    public int BatchSize { get; }
    /// <summary>Sequences consumed since the start of epoch 0.</summary>
    public long Position { get; private set; }
    /// <summary>The epoch the next sequence comes from.</summary>
    public long Epoch => Position / set.Examples.Count;

    /// <summary>The next <see cref="BatchSize"/> sequences of the stream, advancing <see cref="Position"/>.</summary>
    public Batch Next()
    {
        var rows = new TokenizedExample[BatchSize];
        for (int i = 0; i < rows.Length; i++) rows[i] = set.Examples[IndexAt(Position++)];
        return Batch.Collate(rows);
    }

    /// <summary>Moves the stream to <paramref name="position"/> sequences after the start (a checkpoint's saved <see cref="Position"/>).</summary>
    public void Seek(long position)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        Position = position;
    }

    /// <summary>The index into the set's examples of the sequence at a stream position.</summary>
    public int IndexAt(long position)
    {
        long epoch = position / set.Examples.Count;
        if (epoch != orderEpoch)
        {
            order = SeededShuffle.Permutation(set.Examples.Count, seed, epoch);
            orderEpoch = epoch;
        }
        return order[(int)(position % set.Examples.Count)];
    }

    /// <summary>Every sequence once, in file order, for evaluation; the last batch may be smaller.</summary>
    public static IEnumerable<Batch> Batches(TokenizedSet set, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(set);
        if (batchSize < 1) throw BadInputException.ForField("batch_size", $"must be at least 1, not {batchSize}");
        for (int start = 0; start < set.Examples.Count; start += batchSize)
            yield return Batch.Collate(set.Examples.Skip(start).Take(batchSize).ToList());
    }
}
