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
            var q = ((Tensor)vars[0]).contiguous();
            var k = (Tensor)vars[1];
            var v = (Tensor)vars[2];
            var shape = Shape.Of(q, k);
            var keys = shape.Transposed(k);
            var values = shape.Transposed(v);
            var output = empty(shape.Batch, shape.Heads, shape.Positions, shape.HeadDim, dtype: ScalarType.Float32);
            var logSumExp = empty(shape.Batch, shape.Heads, shape.Positions, dtype: ScalarType.Float32);
            Kernels.Forward(shape, q, keys, values, output, logSumExp);
            ctx.save_for_backward([q, keys, values, logSumExp]);
            return output;
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

    /// <summary>The row kernels. Work is split over (batch, key/value head): each task owns its key/value gradients.</summary>
    private static unsafe class Kernels
    {
        public static void Forward(Shape shape, Tensor q, Tensor keys, Tensor values, Tensor output, Tensor logSumExp)
        {
            float* lse = Floats(logSumExp);
            float* qBase = Floats(q);
            float* kBase = Floats(keys);
            float* vBase = Floats(values);
            float* oBase = Floats(output);
            ForEachKvHead(shape, (batch, kvHead) =>
            {
                var probabilities = new float[shape.Padded];
                long kvOffset = (batch * shape.KvHeads + kvHead) * shape.HeadDim * shape.Padded;
                fixed (float* p = probabilities)
                {
                    for (long head = kvHead * shape.Group; head < (kvHead + 1) * shape.Group; head++)
                    {
                        long rows = (batch * shape.Heads + head) * shape.Positions;
                        for (long i = 0; i < shape.Positions; i++)
                        {
                            float* qi = qBase + (rows + i) * shape.HeadDim;
                            var (max, sum) = RowExponentials(shape, qi, kBase + kvOffset, i, p);
                            lse[rows + i] = max + MathF.Log(sum);
                            float* oi = oBase + (rows + i) * shape.HeadDim;
                            float inverse = 1f / sum;
                            for (long d = 0; d < shape.HeadDim; d++)
                                oi[d] = Dot(p, vBase + kvOffset + d * shape.Padded, i + 1) * inverse;
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
            ForEachKvHead(shape, (batch, kvHead) =>
            {
                var probabilityRow = new float[shape.Padded];
                var gradRow = new float[shape.Padded];
                long kvOffset = (batch * shape.KvHeads + kvHead) * shape.HeadDim * shape.Padded;
                float* k = kBase + kvOffset, v = vBase + kvOffset, dK = dKBase + kvOffset, dV = dVBase + kvOffset;
                fixed (float* p = probabilityRow, g = gradRow)
                {
                    for (long head = kvHead * shape.Group; head < (kvHead + 1) * shape.Group; head++)
                    {
                        long rows = (batch * shape.Heads + head) * shape.Positions;
                        for (long i = 0; i < shape.Positions; i++)
                        {
                            long n = i + 1;
                            float* qi = qBase + (rows + i) * shape.HeadDim;
                            float* dOi = dOBase + (rows + i) * shape.HeadDim;
                            float* dQi = dQBase + (rows + i) * shape.HeadDim;
                            RowProbabilities(shape, qi, k, i, lse[rows + i], p);
                            // g = dL/dp for this row: dO_i · v_j.
                            WeightedSum(v, shape.Padded, dOi, shape.HeadDim, n, g);
                            // Softmax backward: dL/ds_j = p_j (g_j − Σ p g), with the score's scale folded in.
                            float delta = Dot(p, g, n);
                            SoftmaxGradient(p, g, delta, scale, n);
                            for (long d = 0; d < shape.HeadDim; d++)
                            {
                                dQi[d] = Dot(g, k + d * shape.Padded, n);
                                Axpy(qi[d], g, dK + d * shape.Padded, n);
                                Axpy(dOi[d], p, dV + d * shape.Padded, n);
                            }
                        }
                    }
                }
            });
        }

        /// <summary>
        /// Row i's scores over keys 0..i into <paramref name="p"/> as exp(score − max), zero up to the next multiple of
        /// 8; returns the row's max and its sum of exponentials (unnormalised, so the caller divides once per output).
        /// </summary>
        private static (float Max, float Sum) RowExponentials(Shape shape, float* qi, float* keys, long i, float* p)
        {
            long chunks = Scores(shape, qi, keys, i, p);
            var max = Vector256.Create(float.NegativeInfinity);
            for (long c = 0; c < chunks; c++) max = Vector256.Max(max, Vector256.Load(p + c * Lanes));
            float rowMax = HorizontalMax(max);
            var maxes = Vector256.Create(rowMax);
            var sum = Vector256<float>.Zero;
            for (long c = 0; c < chunks; c++)
            {
                var e = Vector256.Exp(Vector256.Load(p + c * Lanes) - maxes);
                e.Store(p + c * Lanes);
                sum += e;
            }
            return (rowMax, Vector256.Sum(sum));
        }

        /// <summary>Row i's probabilities exp(score − logSumExp) over keys 0..i into <paramref name="p"/>, zero up to the next multiple of 8.</summary>
        private static void RowProbabilities(Shape shape, float* qi, float* keys, long i, float logSumExp, float* p)
        {
            long chunks = Scores(shape, qi, keys, i, p);
            var shift = Vector256.Create(logSumExp);
            for (long c = 0; c < chunks; c++) Vector256.Exp(Vector256.Load(p + c * Lanes) - shift).Store(p + c * Lanes);
        }

        /// <summary>Row i's scaled scores into <paramref name="p"/>, −∞ past key i in the last chunk; returns the chunks written.</summary>
        private static long Scores(Shape shape, float* qi, float* keys, long i, float* p)
        {
            long n = i + 1;
            long chunks = (n + Lanes - 1) / Lanes;
            var scaledQuery = stackalloc float[MaxHeadDim];
            for (long d = 0; d < shape.HeadDim; d++) scaledQuery[d] = qi[d] * shape.Scale;
            WeightedSum(keys, shape.Padded, scaledQuery, shape.HeadDim, n, p);
            long lastStart = (chunks - 1) * Lanes;
            var inRow = Vector256.LessThanOrEqual(Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7), Vector256.Create((float)(i - lastStart)));
            Vector256.ConditionalSelect(inRow, Vector256.Load(p + lastStart), Vector256.Create(float.NegativeInfinity)).Store(p + lastStart);
            return chunks;
        }

        /// <summary>out[j] = Σ_d weights[d] · rows[d · stride + j] for j &lt; n, rounded up to a multiple of 8.</summary>
        private static void WeightedSum(float* rows, long stride, float* weights, long depth, long n, float* output)
        {
            long chunks = (n + Lanes - 1) / Lanes;
            for (long c = 0; c < chunks; c++)
            {
                var acc = Vector256<float>.Zero;
                for (long d = 0; d < depth; d++)
                    acc = Vector256.FusedMultiplyAdd(Vector256.Create(weights[d]), Vector256.Load(rows + d * stride + c * Lanes), acc);
                acc.Store(output + c * Lanes);
            }
        }

        /// <summary>g[j] ← scale · p[j] (g[j] − delta) over whole chunks; p is zero past the row, so g is too.</summary>
        private static void SoftmaxGradient(float* p, float* g, float delta, float scale, long n)
        {
            long chunks = (n + Lanes - 1) / Lanes;
            var deltas = Vector256.Create(delta);
            var scales = Vector256.Create(scale);
            for (long c = 0; c < chunks; c++)
                (Vector256.Load(p + c * Lanes) * (Vector256.Load(g + c * Lanes) - deltas) * scales).Store(g + c * Lanes);
        }

        /// <summary>Σ a[j] b[j] over whole chunks covering n; callers keep a zero past n.</summary>
        private static float Dot(float* a, float* b, long n)
        {
            long chunks = (n + Lanes - 1) / Lanes;
            var acc = Vector256<float>.Zero;
            for (long c = 0; c < chunks; c++)
                acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + c * Lanes), Vector256.Load(b + c * Lanes), acc);
            return Vector256.Sum(acc);
        }

        /// <summary>y[j] += alpha · x[j] over whole chunks covering n.</summary>
        private static void Axpy(float alpha, float* x, float* y, long n)
        {
            long chunks = (n + Lanes - 1) / Lanes;
            var alphas = Vector256.Create(alpha);
            for (long c = 0; c < chunks; c++)
                Vector256.FusedMultiplyAdd(alphas, Vector256.Load(x + c * Lanes), Vector256.Load(y + c * Lanes)).Store(y + c * Lanes);
        }

        /// <summary>The first float of a contiguous CPU tensor. Its memory is libtorch's, not the managed heap's, so the address stays valid while the tensor lives.</summary>
        private static float* Floats(Tensor tensor) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(tensor.bytes));

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
