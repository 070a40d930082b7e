using System.Diagnostics;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Models;
using LayerCard.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Bench.Benchmarks;

/// <summary>Where one training step's time goes: median seconds per phase, and the process's user and system CPU time per step.</summary>
public sealed record StepPhases(IReadOnlyDictionary<string, double> Seconds, double UserSecondsPerStep, double SystemSecondsPerStep, int Steps);

/// <summary>
/// A LoRA training step cut into phases (forward to the final hidden states, loss, backward, gradient clipping,
/// optimizer), each timed on its own with random token batches of a fixed shape. CPU work is synchronous, so a
/// stopwatch around each phase is its cost.
/// </summary>
public static class StepProfile
{
    /// <summary>Profiles <paramref name="steps"/> steps after one untimed warm-up step.</summary>
    public static StepPhases Run(CausalLM model, LoraConfig config, int batchSize, int length, int steps, Device device)
    {
        using var lora = LoraModel.Inject(model, config, seed: 0);
        var parameters = lora.TrainableParameters().ToList();
        using var optimizer = new AdamW(parameters);
        var generator = new torch.Generator(1);
        var phases = new Dictionary<string, List<double>>();
        void Time(string phase, Action work)
        {
            var clock = Stopwatch.StartNew();
            work();
            if (!phases.TryGetValue(phase, out var list)) phases[phase] = list = [];
            list.Add(clock.Elapsed.TotalSeconds);
        }
        model.train();
        var (user0, system0) = (0.0, 0.0);
        for (int step = 0; step <= steps; step++)
        {
            if (step == 1) (user0, system0) = CpuSeconds();
            using var scope = NewDisposeScope();
            var ids = randint(0, model.Config.Vocab, [batchSize, length + 1], generator: generator, dtype: ScalarType.Int64);
            var labels = ids.narrow(1, 1, length).reshape(-1);
            var batchIds = ids.narrow(1, 0, length).contiguous();
            Tensor hidden = null!, loss = null!;
            Time("forward (layers)", () => hidden = model.Hidden(batchIds.to(device)));
            Time("loss (head + cross-entropy)", () => loss = CompletionLoss.SumAt(hidden.reshape(-1, hidden.shape[^1]), labels.to(device), model.HeadWeight) / labels.shape[0]);
            Time("backward", () => loss.backward());
            Time("clip", () =>
            {
                using var noGrad = no_grad();
                var norm = stack(parameters.Select(p => OwnedScalars.Square(p.grad!).sum()).ToList()).sum().sqrt().item<float>();
                using var scale = (1 / norm).ToScalar();
                if (norm > 1) foreach (var p in parameters) p.grad!.mul_(scale);
            });
            Time("optimizer", () => { optimizer.Step(1e-4); optimizer.ZeroGrad(); });
            Time("free (scope end)", scope.Dispose);
            if (step == 0) phases.Clear();
        }
        var (user1, system1) = CpuSeconds();
        model.eval();
        return new StepPhases(phases.ToDictionary(p => p.Key, p => Statistics.Median(p.Value)), (user1 - user0) / steps, (system1 - system0) / steps, steps);
    }

    /// <summary>This process's user and system CPU seconds (/proc/self/stat, clock ticks of 10 ms).</summary>
    public static (double User, double System) CpuSeconds()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11]) / 100.0, long.Parse(fields[12]) / 100.0);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException)
        {
            return (double.NaN, double.NaN);
        }
    }
}

/// <summary>Microseconds per product for a model's small projection shapes in the two weight layouts libtorch can multiply.</summary>
public static class MatmulLayouts
{
    /// <summary>For each [m,k] x [k,n]: linear(x, W[n,k]) (BLAS transposes W) against x.matmul(W[k,n]) (a weight stored transposed).</summary>
    public static IEnumerable<(string Shape, double LinearMicroseconds, double StoredTransposedMicroseconds)> Measure(IEnumerable<(long M, long K, long N)> shapes, int repeats = 1000)
    {
        using var noGrad = no_grad();
        foreach (var (m, k, n) in shapes)
        {
            using var scope = NewDisposeScope();
            var x = randn(m, k);
            var w = randn(n, k);
            var wt = w.t().contiguous();
            yield return ($"{m}x{k} -> {n}", Time(() => nn.functional.linear(x, w), repeats), Time(() => x.matmul(wt), repeats));
        }
    }

    private static double Time(Func<Tensor> product, int repeats)
    {
        for (int i = 0; i < 20; i++) product().Dispose();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < repeats; i++) product().Dispose();
        return clock.Elapsed.TotalMilliseconds * 1000 / repeats;
    }
}

/// <summary>The fixed cost of one tensor operation from .NET: a small element-wise add, with and without autograd recording.</summary>
public static class OperationOverhead
{
    /// <summary>Microseconds per add of two [batch, positions, hidden] tensors, timed over many repeats.</summary>
    public static (double NoGradMicroseconds, double GradMicroseconds) Measure(long batch, long positions, long hidden, int repeats = 2000)
    {
        using var scope = NewDisposeScope();
        var a = randn(batch, positions, hidden);
        var b = randn(batch, positions, hidden).requires_grad_(true);
        double Time(Func<Tensor> op)
        {
            for (int i = 0; i < 50; i++) op().Dispose();
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < repeats; i++) op().Dispose();
            return clock.Elapsed.TotalMilliseconds * 1000 / repeats;
        }
        double plain;
        using (no_grad()) plain = Time(() => a.add(b, OwnedScalars.One));
        return (plain, Time(() => a.add(b, OwnedScalars.One)));
    }
}
