using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Models;

/// <summary>
/// Causal self-attention for narrow heads (head dimension ≤ <see cref="MaxHeadDim"/>) on the CPU, written out row by
/// row with 8-wide vectors over the keys. libtorch's kernels run such heads at ~8 GFLOP/s: every product there has 8
/// columns or a depth of 8, which leaves nothing to vectorise over, so on stories260K (head dimension 8) attention
/// was half of a training step (docs/benchmarks). Here the scores of one query row against all its keys are formed
/// at once from keys stored transposed, the softmax is taken in the same pass, and the backward recomputes each row's
/// probabilities (as flash attention does) instead of keeping the [positions × positions] matrix. Grouped-query heads
/// read their shared key/value head directly. Results equal libtorch's to float rounding (tests).
/// </summary>
public static class NarrowHeadAttention
{
    /// <summary>The widest head this kernel takes; wider heads are what libtorch's kernels are built for.</summary>
    public const int MaxHeadDim = 16;

    /// <summary>
    /// The widest head the models send here. At 8 dims (stories260K) the kernel is 2.5–2.8x libtorch's forward+backward;
    /// at 16 (stories12L) it measured the same forward and 0–15 % faster forward+backward, and a stories12L card, which
    /// is mostly forwards, ran 8 % slower with it, so 16-wide heads stay with libtorch.
    /// </summary>
    public const int FasterUpTo = 8;

    private const int Lanes = 8;

    /// <summary>Whether <see cref="Causal"/> takes these queries: float32 on the CPU with heads of at most <see cref="MaxHeadDim"/>.</summary>
    public static bool Takes(Tensor q) =>
        q.device_type == DeviceType.CPU && q.dtype == ScalarType.Float32 && q.dim() == 4 && q.shape[3] <= MaxHeadDim;

    /// <summary>
    /// Causal attention of every position over itself and the positions before it; differentiable in all three inputs.
    /// </summary>
    /// <param name="q">[batch, heads, positions, headDim]</param>
    /// <param name="k">[batch, kvHeads, positions, headDim]; heads is a multiple of kvHeads, and query head h reads key/value head h / (heads / kvHeads)</param>
    /// <param name="v">[batch, kvHeads, positions, headDim]</param>
    /// <returns>[batch, heads, positions, headDim]</returns>
    public static Tensor Causal(Tensor q, Tensor k, Tensor v)
    {
        if (!Takes(q)) throw new ArgumentException($"NarrowHeadAttention takes float32 CPU heads of at most {MaxHeadDim} dims.", nameof(q));
        if (q.shape[1] % k.shape[1] != 0) throw new ArgumentException("The query heads must be a multiple of the key/value heads.", nameof(k));
        // Without a gradient to take (the card's forwards, generation), the kernel runs without an autograd node.
        if (!torch.is_grad_enabled() || !(q.requires_grad || k.requires_grad || v.requires_grad))
        {
            var (output, contiguousQ, keys, values, logSumExp) = CausalFunction.Output(q, k, v);
            keys.Dispose();
            values.Dispose();
            logSumExp.Dispose();
            if (!ReferenceEquals(contiguousQ, q)) contiguousQ.Dispose();
            return output;
        }
        return CausalFunction.apply(q, k, v);
    }

    /// <summary>The shapes of one call, and the key/value layout the kernels read: [batch, kvHeads, headDim, paddedPositions].</summary>
    private readonly record struct Shape(long Batch, long Heads, long KvHeads, long Positions, long HeadDim)
    {
        public long Padded => (Positions + Lanes - 1) / Lanes * Lanes;
        public long Group => Heads / KvHeads;
        public float Scale => (float)(1.0 / Math.Sqrt(HeadDim));

        public static Shape Of(Tensor q, Tensor k) => new(q.shape[0], q.shape[1], k.shape[1], q.shape[2], q.shape[3]);

        /// <summary>Keys or values as [batch, kvHeads, headDim, paddedPositions], zero past the last position, so a row's last 8-wide load stays inside.</summary>
        public Tensor Transposed(Tensor keysOrValues)
        {
            var transposed = zeros(Batch, KvHeads, HeadDim, Padded, dtype: ScalarType.Float32);
            transposed.narrow(3, 0, Positions).copy_(keysOrValues.transpose(2, 3));
            return transposed;
        }
    }

    private sealed class CausalFunction : torch.autograd.SingleTensorFunction<CausalFunction>
    {
        public override string Name => nameof(NarrowHeadAttention);

        public override Tensor forward(torch.autograd.AutogradContext ctx, params object[] vars)
        {
            var (output, q, keys, values, logSumExp) = Output((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2]);
            ctx.save_for_backward([q, keys, values, logSumExp]);
            return output;
        }

        /// <summary>The attention output, and what the backward reads: contiguous queries, keys and values transposed, each row's log-sum-exp.</summary>
        public static (Tensor Output, Tensor Q, Tensor Keys, Tensor Values, Tensor LogSumExp) Output(Tensor q, Tensor k, Tensor v)
        {
            q = q.contiguous();
            var shape = Shape.Of(q, k);
            var keys = shape.Transposed(k);
            var values = shape.Transposed(v);
            var output = empty(shape.Batch, shape.Heads, shape.Positions, shape.HeadDim, dtype: ScalarType.Float32);
            var logSumExp = empty(shape.Batch, shape.Heads, shape.Positions, dtype: ScalarType.Float32);
            Kernels.Forward(shape, q, keys, values, output, logSumExp);
            return (output, q, keys, values, logSumExp);
        }

        public override List<Tensor> backward(torch.autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            var (q, keys, values, logSumExp) = (saved[0], saved[1], saved[2], saved[3]);
            var shape = new Shape(q.shape[0], q.shape[1], keys.shape[1], q.shape[2], q.shape[3]);
            var gradQ = empty_like(q);
            var gradKeys = zeros_like(keys);
            var gradValues = zeros_like(values);
            Kernels.Backward(shape, q, keys, values, logSumExp, gradOutput.contiguous(), gradQ, gradKeys, gradValues);
            return
            [
                gradQ,
                gradKeys.narrow(3, 0, shape.Positions).transpose(2, 3).contiguous(),
                gradValues.narrow(3, 0, shape.Positions).transpose(2, 3).contiguous(),
            ];
        }
    }

    /// <summary>
    /// The row kernels. Rows go in pairs (i, i+1) so that every key and value load serves two queries; an odd last row
    /// is paired with a phantom row whose gradient is zero and whose results are dropped. Work is split over (batch,
    /// key/value head): each task owns its key/value gradients. The row loops are compiled fully optimised at their first
    /// call with the helpers inlined into them: a card makes only some 65 calls, and under tiered compilation they ran
    /// unoptimised vector code (a stories260K card's residual sweep 1.2–1.4 s instead of 0.9 s; training's steady state
    /// measured the same either way).
    /// </summary>
    private static unsafe class Kernels
    {
        public static void Forward(Shape shape, Tensor q, Tensor keys, Tensor values, Tensor output, Tensor logSumExp)
        {
            float* lse = Floats(logSumExp);
            float* qBase = Floats(q);
            float* kBase = Floats(keys);
            float* vBase = Floats(values);
            float* oBase = Floats(output);
            long dims = shape.HeadDim, stride = shape.Padded;
            ForEachKvHead(shape, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (batch, kvHead) =>
            {
                var rowBuffers = new float[2 * stride];
                var phantom = new float[MaxHeadDim + 1];
                long kvOffset = (batch * shape.KvHeads + kvHead) * dims * stride;
                float* k = kBase + kvOffset, v = vBase + kvOffset;
                fixed (float* pa = rowBuffers, spare = phantom)
                {
                    float* pb = pa + stride;
                    for (long head = kvHead * shape.Group; head < (kvHead + 1) * shape.Group; head++)
                    {
                        long rows = (batch * shape.Heads + head) * shape.Positions;
                        for (long i = 0; i < shape.Positions; i += 2)
                        {
                            bool pair = i + 1 < shape.Positions;
                            float* qa = qBase + (rows + i) * dims;
                            float* oa = oBase + (rows + i) * dims;
                            long chunks = PairScores(shape, qa, pair ? qa + dims : qa, k, i, pair, pa, pb);
                            var (maxA, sumA) = Exponentials(pa, chunks);
                            var (maxB, sumB) = Exponentials(pb, chunks);
                            lse[rows + i] = maxA + MathF.Log(sumA);
                            *(pair ? lse + rows + i + 1 : spare + MaxHeadDim) = maxB + MathF.Log(sumB);
                            float* ob = pair ? oa + dims : spare;
                            for (long d = 0; d < dims; d++)
                            {
                                var (a, b) = PairDot(pa, pb, v + d * stride, chunks);
                                oa[d] = a / sumA;
                                ob[d] = b / sumB;
                            }
                        }
                    }
                }
            });
        }

        public static void Backward(Shape shape, Tensor q, Tensor keys, Tensor values, Tensor logSumExp, Tensor gradOutput,
            Tensor gradQ, Tensor gradKeys, Tensor gradValues)
        {
            float* lse = Floats(logSumExp);
            float* qBase = Floats(q);
            float* kBase = Floats(keys);
            float* vBase = Floats(values);
            float* dOBase = Floats(gradOutput);
            float* dQBase = Floats(gradQ);
            float* dKBase = Floats(gradKeys);
            float* dVBase = Floats(gradValues);
            float scale = shape.Scale;
            long dims = shape.HeadDim, stride = shape.Padded;
            ForEachKvHead(shape, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (batch, kvHead) =>
            {
                var rowBuffers = new float[4 * stride];
                var phantom = new float[2 * MaxHeadDim];
                long kvOffset = (batch * shape.KvHeads + kvHead) * dims * stride;
                float* k = kBase + kvOffset, v = vBase + kvOffset, dK = dKBase + kvOffset, dV = dVBase + kvOffset;
                fixed (float* pa = rowBuffers, spare = phantom)
                {
                    float* pb = pa + stride, ga = pa + 2 * stride, gb = pa + 3 * stride;
                    // The phantom row's output gradient: zero, so its probabilities add nothing to any gradient.
                    float* zeroRow = spare + MaxHeadDim;
                    for (long head = kvHead * shape.Group; head < (kvHead + 1) * shape.Group; head++)
                    {
                        long rows = (batch * shape.Heads + head) * shape.Positions;
                        for (long i = 0; i < shape.Positions; i += 2)
                        {
                            bool pair = i + 1 < shape.Positions;
                            float* qa = qBase + (rows + i) * dims, qb = pair ? qa + dims : qa;
                            float* dOa = dOBase + (rows + i) * dims, dOb = pair ? dOa + dims : zeroRow;
                            float* dQa = dQBase + (rows + i) * dims, dQb = pair ? dQa + dims : spare;
                            long chunks = PairScores(shape, qa, qb, k, i, pair, pa, pb);
                            Shifted(pa, lse[rows + i], chunks);
                            Shifted(pb, lse[rows + i + (pair ? 1 : 0)], chunks);
                            // g = dL/dp: dO_i · v_j.
                            PairWeightedSum(v, stride, dOa, dOb, dims, chunks, ga, gb);
                            // Softmax backward: dL/ds_j = p_j (g_j − Σ p g), with the score's scale folded in.
                            var (deltaA, _) = PairDot(pa, pa, ga, chunks);
                            var (deltaB, _) = PairDot(pb, pb, gb, chunks);
                            SoftmaxGradient(pa, ga, deltaA, scale, chunks);
                            SoftmaxGradient(pb, gb, deltaB, scale, chunks);
                            for (long d = 0; d < dims; d++)
                            {
                                (dQa[d], dQb[d]) = PairDot(ga, gb, k + d * stride, chunks);
                                PairAxpy(qa[d], ga, qb[d], gb, dK + d * stride, chunks);
                                PairAxpy(dOa[d], pa, dOb[d], pb, dV + d * stride, chunks);
                            }
                        }
                    }
                }
            });
        }

        /// <summary>
        /// The scaled scores of rows i and i+1 against keys 0..i+1 into <paramref name="pa"/> and <paramref name="pb"/>,
        /// over whole 8-wide chunks, each row −∞ past its own position; returns the chunks written. A phantom second
        /// row (<paramref name="pair"/> false) repeats row i and stops where it does, so its probabilities stay finite.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static long PairScores(Shape shape, float* qa, float* qb, float* keys, long i, bool pair, float* pa, float* pb)
        {
            long chunks = (i + 2 + Lanes - 1) / Lanes;
            var scaled = stackalloc float[2 * MaxHeadDim];
            for (long d = 0; d < shape.HeadDim; d++)
            {
                scaled[d] = qa[d] * shape.Scale;
                scaled[MaxHeadDim + d] = qb[d] * shape.Scale;
            }
            PairWeightedSum(keys, shape.Padded, scaled, scaled + MaxHeadDim, shape.HeadDim, chunks, pa, pb);
            // Only the last chunk can hold keys after a row's position: when it starts past row i, row i's earlier chunk ends at i.
            long last = (chunks - 1) * Lanes;
            var lanes = Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7) + Vector256.Create((float)last);
            var never = Vector256.Create(float.NegativeInfinity);
            Vector256.ConditionalSelect(Vector256.LessThanOrEqual(lanes, Vector256.Create((float)i)), Vector256.Load(pa + last), never).Store(pa + last);
            Vector256.ConditionalSelect(Vector256.LessThanOrEqual(lanes, Vector256.Create((float)(pair ? i + 1 : i))), Vector256.Load(pb + last), never).Store(pb + last);
            return chunks;
        }

        /// <summary>p ← exp(p − max) over the chunks; returns the max and the sum of the exponentials.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static (float Max, float Sum) Exponentials(float* p, long chunks)
        {
            var max = Vector256.Create(float.NegativeInfinity);
            for (long c = 0; c < chunks; c++) max = Vector256.Max(max, Vector256.Load(p + c * Lanes));
            float rowMax = HorizontalMax(max);
            Shifted(p, rowMax, chunks);
            var sum = Vector256<float>.Zero;
            for (long c = 0; c < chunks; c++) sum += Vector256.Load(p + c * Lanes);
            return (rowMax, Vector256.Sum(sum));
        }

        /// <summary>p ← exp(p − shift) over the chunks: the probabilities when the shift is the row's log-sum-exp.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Shifted(float* p, float shift, long chunks)
        {
            var shifts = Vector256.Create(shift);
            for (long c = 0; c < chunks; c++) Vector256.Exp(Vector256.Load(p + c * Lanes) - shifts).Store(p + c * Lanes);
        }

        /// <summary>outA[j] = Σ_d wa[d] · rows[d · stride + j], and outB likewise with wb, each row load serving both.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void PairWeightedSum(float* rows, long stride, float* wa, float* wb, long depth, long chunks, float* outA, float* outB)
        {
            for (long c = 0; c < chunks; c++)
            {
                var accA = Vector256<float>.Zero;
                var accB = Vector256<float>.Zero;
                for (long d = 0; d < depth; d++)
                {
                    var row = Vector256.Load(rows + d * stride + c * Lanes);
                    accA = Vector256.FusedMultiplyAdd(Vector256.Create(wa[d]), row, accA);
                    accB = Vector256.FusedMultiplyAdd(Vector256.Create(wb[d]), row, accB);
                }
                accA.Store(outA + c * Lanes);
                accB.Store(outB + c * Lanes);
            }
        }

        /// <summary>g ← scale · p (g − delta) over the chunks; p is zero past the row, so g is too.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void SoftmaxGradient(float* p, float* g, float delta, float scale, long chunks)
        {
            var deltas = Vector256.Create(delta);
            var scales = Vector256.Create(scale);
            for (long c = 0; c < chunks; c++)
                (Vector256.Load(p + c * Lanes) * (Vector256.Load(g + c * Lanes) - deltas) * scales).Store(g + c * Lanes);
        }

        /// <summary>(Σ a·x, Σ b·x) over the chunks, each load of x serving both.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static (float A, float B) PairDot(float* a, float* b, float* x, long chunks)
        {
            var accA = Vector256<float>.Zero;
            var accB = Vector256<float>.Zero;
            for (long c = 0; c < chunks; c++)
            {
                var xs = Vector256.Load(x + c * Lanes);
                accA = Vector256.FusedMultiplyAdd(Vector256.Load(a + c * Lanes), xs, accA);
                accB = Vector256.FusedMultiplyAdd(Vector256.Load(b + c * Lanes), xs, accB);
            }
            return (Vector256.Sum(accA), Vector256.Sum(accB));
        }

        /// <summary>y += alphaA · a + alphaB · b over the chunks, one load and store of y for both.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void PairAxpy(float alphaA, float* a, float alphaB, float* b, float* y, long chunks)
        {
            var alphasA = Vector256.Create(alphaA);
            var alphasB = Vector256.Create(alphaB);
            for (long c = 0; c < chunks; c++)
            {
                var sum = Vector256.FusedMultiplyAdd(alphasA, Vector256.Load(a + c * Lanes), Vector256.Load(y + c * Lanes));
                Vector256.FusedMultiplyAdd(alphasB, Vector256.Load(b + c * Lanes), sum).Store(y + c * Lanes);
            }
        }

        /// <summary>The first float of a contiguous CPU tensor. Its memory is libtorch's, not the managed heap's, so the address stays valid while the tensor lives.</summary>
        private static float* Floats(Tensor tensor) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(tensor.bytes));


        [MethodImpl(MethodImplOptions.AggressiveInlining)]


        private static float HorizontalMax(Vector256<float> v)
        {
            float max = v[0];
            for (int l = 1; l < Lanes; l++) max = MathF.Max(max, v[l]);
            return max;
        }

        private static void ForEachKvHead(Shape shape, Action<long, long> body)
        {
            long tasks = shape.Batch * shape.KvHeads;
            int threads = Math.Max(1, torch.get_num_threads());
            if (threads == 1 || tasks == 1)
            {
                for (long t = 0; t < tasks; t++) body(t / shape.KvHeads, t % shape.KvHeads);
                return;
            }
            Parallel.For(0L, tasks, new ParallelOptions { MaxDegreeOfParallelism = threads },
                t => body(t / shape.KvHeads, t % shape.KvHeads));
        }
    }
}
