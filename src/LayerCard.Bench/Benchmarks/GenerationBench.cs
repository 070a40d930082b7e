using System.Diagnostics;
using LayerCard.Evaluation;
using LayerCard.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Bench.Benchmarks;

/// <summary>
/// Generation speed of one model: medians over the repeats of the whole call's rate, the decode rate after the first
/// token and the time to the first token, plus the slowest and fastest decode rate.
/// </summary>
public sealed record GenerationFigures(string Model, long Parameters, int PromptTokens, int NewTokens, int Repeats,
    double TokensPerSecond, double DecodeTokensPerSecond, double FirstTokenMs, double MinDecodeTokensPerSecond, double MaxDecodeTokensPerSecond);

/// <summary>Greedy decoding speed with the KV cache: the whole call, and the steady per-token rate after the first token.</summary>
public static class GenerationBench
{
    /// <summary>The prompt every generation run continues.</summary>
    public const string Prompt = "Once upon a time";

    /// <summary>Greedy generation of <paramref name="newTokens"/> tokens (fewer when the context is shorter) after a short warm-up, timed over <paramref name="repeats"/> runs; <paramref name="label"/> names the model in the figures.</summary>
    public static GenerationFigures Measure(string label, LoadedModel loaded, int newTokens, int repeats)
    {
        var tokenizer = loaded.RequireTokenizer();
        var prompt = tokenizer.Encode(Prompt, addBos: tokenizer.BosId.HasValue).ToList();
        var room = (int)Math.Min(int.MaxValue, loaded.Config.MaxPositions - prompt.Count);
        if (newTokens > room) newTokens = room;
        // No stop token: every repeat must decode exactly newTokens, whatever a random model picks.
        var options = new GenerationOptions(newTokens, Temperature: 0.0, StopToken: null);
        Generation.Generate(loaded.Model, prompt, options with { MaxNewTokens = Math.Min(4, newTokens) }); // warm-up
        var whole = new List<double>();
        var decode = new List<double>();
        var first = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            var clock = Stopwatch.StartNew();
            double firstAt = 0;
            int seen = 0;
            var produced = Generation.Generate(loaded.Model, prompt, options, _ =>
            {
                if (seen++ == 0) firstAt = clock.Elapsed.TotalSeconds;
            });
            var total = clock.Elapsed.TotalSeconds;
            whole.Add(produced.Count / total);
            first.Add(firstAt * 1000);
            decode.Add(produced.Count > 1 ? (produced.Count - 1) / Math.Max(total - firstAt, 1e-9) : double.NaN);
        }
        return new GenerationFigures(label, loaded.ParameterCount, prompt.Count, newTokens, repeats,
            Statistics.Median(whole), Statistics.Median(decode), Statistics.Median(first), decode.Min(), decode.Max());
    }
}

/// <summary>The fp32 matrix-multiply rate for one shape: median, slowest and fastest over the repeats, in GFLOP/s.</summary>
public sealed record MatmulFigures(string Shape, double Gflops, double MinGflops, double MaxGflops, int Repeats);

/// <summary>
/// The fp32 matrix-multiply rate this machine reaches with the current thread count: the ceiling against
/// which training steps are compared.
/// </summary>
public static class MatmulRate
{
    /// <summary>[m,k] x [k,n]: square 1024, and a GPT-2-small MLP projection over 512 tokens (768 -> 3072).</summary>
    public static readonly (long M, long K, long N)[] DefaultShapes = [(1024, 1024, 1024), (512, 768, 3072)];

    /// <summary>Times an fp32 [m,k] x [k,n] product over <paramref name="repeats"/> timings of about 50 ms each; rates in GFLOP/s.</summary>
    public static MatmulFigures Measure(long m, long k, long n, int repeats)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var generator = new torch.Generator(0);
        var a = randn([m, k], generator: generator);
        var b = randn([k, n], generator: generator);
        for (int i = 0; i < 3; i++) torch.matmul(a, b).Dispose();
        // Each timing covers enough products to last ~50 ms, so timer resolution and one-off stalls matter less.
        double flops = 2.0 * m * k * n;
        var probe = Stopwatch.StartNew();
        torch.matmul(a, b).Dispose();
        int inner = Math.Clamp((int)(0.05 / Math.Max(probe.Elapsed.TotalSeconds, 1e-6)), 1, 200);
        var rates = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < inner; i++) torch.matmul(a, b).Dispose();
            rates.Add(flops * inner / clock.Elapsed.TotalSeconds / 1e9);
        }
        return new MatmulFigures($"{m}x{k} @ {k}x{n}", Statistics.Median(rates), rates.Min(), rates.Max(), repeats);
    }
}
