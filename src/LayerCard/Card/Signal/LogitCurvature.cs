using LayerCard.Models;
using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>
/// The function-space pass's reduction of final hidden states to slopes, curvature and base loss. With p the softmax
/// of the unmoved logits at a target token, Δz_i = W Δh_i direction i's logit change (W the output head) and
/// c_i = Δz_i − p'Δz_i that change centred under p, it adds Σ_t Σ_v p_v c_iv c_jv to the curvature, −Σ_t c_i[y_t] to
/// the slopes and returns Σ_t −log p[y_t].
/// </summary>
/// <remarks>
/// The head is read three times per chunk of positions, whatever the number of directions: for the unmoved logits,
/// for W'p (so the means p'Δz_i = (W'p)·Δh_i and the changes at the labels w_y·Δh_i are read in hidden space), and in
/// blocks of the vocabulary for the directions' changes, each block centred and weighted by √p and reduced to its
/// float64 Gram matrix at once. On a 50,257-word vocabulary the previous form, every direction's logits of a chunk in
/// one product ([1 + directions, positions, vocabulary] within <see cref="ChunkBytes"/>), fitted 8 positions a chunk
/// for twelve directions, so each 8 positions streamed the 154 MB head: 7.2–8.5 s of a GPT-2-small-shaped card's
/// 12 s per calibration batch.
/// </remarks>
public static class LogitCurvature
{
    /// <summary>Bytes the chunk's probabilities (float32, with the log-probabilities they come from) and a vocabulary block's changes (float32, with their float64 copy) may take: 64 MiB each.</summary>
    public const long ChunkBytes = 64L << 20;

    /// <summary>
    /// At most this many words a vocabulary block: the directions' changes of a chunk ([1,992 × 768] × [768 × words]
    /// on the GPT-2-small shape, 2 threads) ran at 171 GFLOP/s in blocks of 1,024 words against 122 in blocks of
    /// 2,807 or 8,192 (scratch timing, three rounds each): a block's output then stays in cache for its centring.
    /// </summary>
    public const long BlockWords = 1024;

    /// <summary>
    /// Adds one batch's target tokens: <paramref name="h0"/> [positions, hidden] the unmoved final hidden states,
    /// <paramref name="deltas"/> each direction's change of them per unit step, <paramref name="labels"/> the target
    /// ids. Returns Σ_t −log p[y_t]. <paramref name="positionsPerChunk"/> and <paramref name="vocabularyBlock"/>
    /// override the sizes <see cref="ChunkBytes"/> gives (tests use small ones to cross the boundaries).
    /// </summary>
    public static double Accumulate(Tensor h0, Tensor labels, IReadOnlyList<Tensor> deltas, Tensor head, double[] slopes, double[,] curvature,
        long? positionsPerChunk = null, long? vocabularyBlock = null)
    {
        ArgumentNullException.ThrowIfNull(h0);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(deltas);
        ArgumentNullException.ThrowIfNull(head);
        int d = deltas.Count;
        if (slopes.Length != d || curvature.GetLength(0) != d || curvature.GetLength(1) != d)
            throw new ArgumentException($"slopes and curvature must be sized for {d} directions");
        long n = h0.shape[0], vocabulary = head.shape[0];
        long chunk = positionsPerChunk ?? Math.Clamp(ChunkBytes / (8 * vocabulary), 1, CompletionLoss.ChunkPositions);
        double lossSum = 0;
        using var scope = NewDisposeScope();
        var changes = d == 0 ? null : stack(deltas); // [directions, positions, hidden]
        for (long start = 0; start < n; start += chunk)
        {
            using var chunkScope = NewDisposeScope();
            var length = Math.Min(chunk, n - start);
            var y = labels.narrow(0, start, length);
            Tensor p;
            using (var logits = nn.functional.linear(h0.narrow(0, start, length), head))
            {
                var logP = logits.log_softmax(1);
                lossSum -= logP.gather(1, y.unsqueeze(1)).sum().to_type(ScalarType.Float64).item<double>();
                p = logP.exp_();
            }
            if (changes is null) continue;
            var dh = changes.narrow(1, start, length);
            // p'Δz_i and Δz_i[y] per position, in hidden space: [directions, positions].
            var means = (dh * p.matmul(head)).sum(-1);
            var atLabels = (dh * head.index_select(0, y)).sum(-1);
            var slopeSums = (atLabels - means).sum(1).to_type(ScalarType.Float64).data<double>().ToArray();
            for (int i = 0; i < d; i++) slopes[i] -= slopeSums[i];
            var flat = dh.reshape(d * length, -1);
            var centre = means.unsqueeze(2);
            long block = vocabularyBlock ?? Math.Clamp(ChunkBytes / (12L * d * length), 1, Math.Min(vocabulary, BlockWords));
            for (long v0 = 0; v0 < vocabulary; v0 += block)
            {
                using var blockScope = NewDisposeScope();
                var width = Math.Min(block, vocabulary - v0);
                var dz = nn.functional.linear(flat, head.narrow(0, v0, width)).view(d, length, width);
                var x = dz.sub_(centre).mul_(p.narrow(1, v0, width).sqrt()).reshape(d, -1).to_type(ScalarType.Float64);
                var gram = x.matmul(x.t()).data<double>().ToArray();
                for (int i = 0; i < d; i++)
                    for (int j = 0; j < d; j++) curvature[i, j] += gram[i * d + j];
            }
        }
        return lossSum;
    }
}
