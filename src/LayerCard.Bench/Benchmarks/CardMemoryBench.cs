using System.Diagnostics;
using LayerCard.Card;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Models;
using LayerCard.Recipes;
using static TorchSharp.torch;

namespace LayerCard.Bench.Benchmarks;

/// <summary>Memory and time of the card's signal pass on layers shaped like Qwen3-8B's (hidden 4096, MLP 12288).</summary>
public static class CardMemoryBench
{
    /// <summary>Qwen3-8B's layer shape (32 heads of 128, 8 KV heads) with few layers and a small vocabulary.</summary>
    public static ModelConfig Qwen3_8BLayers(int layers) =>
        new(ModelConfig.Llama, "Qwen3ForCausalLM", layers, 4096, 32, 8, 128, 12288, 512, 4096, 1e-6, 1_000_000, false, false, true, false, "silu");

    /// <summary>What one signal pass cost; sizes in MiB, times in seconds.</summary>
    /// <param name="WeightsMiB">The fp32 weights (parameters x 4 bytes).</param>
    /// <param name="ResidentBeforeMiB">Resident memory just before the signal pass.</param>
    /// <param name="PeakDuringMiB">Peak resident memory during the pass.</param>
    /// <param name="ProbeIncrementMiB">Peak minus resident before: what the pass itself needed.</param>
    /// <param name="PerLayerIncrementMiB">That increment divided by the layer count.</param>
    /// <param name="PredictedPerLayerMiB">The documented estimate per layer (<see cref="PredictedPerLayerBytes"/>).</param>
    /// <param name="ForwardBackwardSeconds">One plain forward+backward over the same examples, for comparison.</param>
    /// <param name="Tokens">Token positions the pass averaged over.</param>
    public sealed record Figures(int Layers, long Parameters, double WeightsMiB, double ResidentBeforeMiB, double PeakDuringMiB, double ProbeIncrementMiB,
        double PerLayerIncrementMiB, double PredictedPerLayerMiB, double SignalSeconds, double ForwardBackwardSeconds, long Tokens);

    /// <summary>Runs the signal pass, every linear module probed, on a cached random Qwen3-8B-shaped model of <paramref name="layers"/> layers over <paramref name="examples"/> synthetic sequences of <paramref name="length"/> tokens, and measures its memory and time.</summary>
    public static Figures Measure(int layers, int examples, int length, Action<string>? log = null)
    {
        var config = Qwen3_8BLayers(layers);
        var folder = RandomModels.Ensure($"qwen3-8b-layers-{layers}", config, seed: 0, target =>
        {
            var tokenizer = Assets.Resolve("stories260K", "--tokenizer");
            File.Copy(Path.Combine(tokenizer, "tok512.bin"), Path.Combine(target, "tok512.bin"));
        }, log);
        using var loaded = ModelLoader.Load(folder, null, CPU);
        var ids = Enumerable.Range(0, examples).Select(e =>
        {
            var tokens = Enumerable.Range(0, length).Select(t => 3 + (e * 131 + t * 17) % 500).ToArray();
            return new TokenizedExample(tokens, tokens.Skip(1).Append(Tokenization.IgnoreLabel).ToArray(), e);
        }).ToList();
        var set = new TokenizedSet("synthetic", ids, 0, 0, $"{examples} x {length} tokens");
        var options = new SignalOptions(BatchSize: 2);
        var forwardBackward = SignalProbe.TimeForwardBackward(loaded.Model, set, options, CPU);
        var resident = MemoryMeter.CurrentBytes();
        MemoryMeter.ResetPeak();
        var clock = Stopwatch.StartNew();
        var signal = SignalProbe.Run(loaded.Model, set, [], options, CPU);
        var seconds = clock.Elapsed.TotalSeconds;
        var peak = MemoryMeter.PeakBytes();
        var parameters = loaded.ParameterCount;
        const double mib = 1048576.0;
        return new Figures(layers, parameters, parameters * 4 / mib, resident / mib, peak / mib, (peak - resident) / mib,
            (peak - resident) / mib / layers, PredictedPerLayerBytes(config) / mib, seconds, forwardBackward, signal.Tokens);
    }

    /// <summary>
    /// docs/layer-card.md's estimate for one layer with every module probed: float64 G sums (8 bytes per weight)
    /// plus float32 ΔW* (4 bytes per weight), and one float64 Sigma per shared input (d_in² x 8 bytes).
    /// </summary>
    public static double PredictedPerLayerBytes(ModelConfig c)
    {
        long q = (long)c.Heads * c.HeadDim, kv = (long)c.KvHeads * c.HeadDim;
        long weights = c.Hidden * (q + 2 * kv) + q * c.Hidden + 3L * c.Hidden * c.Intermediate;
        long sigmas = (long)c.Hidden * c.Hidden + q * q + (long)c.Hidden * c.Hidden + (long)c.Intermediate * c.Intermediate;
        return 12.0 * weights + 8.0 * sigmas;
    }
}

/// <summary>Resident memory across a card over many layers: it must stay flat from layer to layer.</summary>
public static class CardLayersMemoryBench
{
    /// <summary>A small random Llama with <paramref name="layers"/> layers (hidden 64, 8 heads, 4 KV heads), deep enough to show per-layer growth.</summary>
    public static ModelConfig Deep(int layers) =>
        new(ModelConfig.Llama, "LlamaForCausalLM", layers, 64, 8, 4, 8, 172, 512, 512, 1e-5, 10000, true, false, false, false, "silu");

    /// <summary>Builds a probe card on a random deep model and returns the resident MiB seen before each layer's probe.</summary>
    public static (IReadOnlyList<(string Stage, double ResidentMiB)> Samples, double Seconds) Measure(int layers, int probeSteps, Action<string>? log = null)
    {
        var folder = RandomModels.Ensure($"llama-deep-{layers}", Deep(layers), seed: 0, target =>
        {
            var tokenizer = Assets.Resolve("stories260K", "--tokenizer");
            File.Copy(Path.Combine(tokenizer, "tok512.bin"), Path.Combine(target, "tok512.bin"));
        }, log);
        var samples = new List<(string, double)> { ("start", MemoryMeter.CurrentBytes() / 1048576.0) };
        var clock = Stopwatch.StartNew();
        CardRecipe.Execute(new CardRequest
        {
            Model = folder, Data = "tinyshakespeare", DataPlan = new DataPlan { MaxLength = 64 },
            Card = new CardSettings { CalibrationExamples = Math.Max(64, layers), ProbeSteps = probeSteps, ValidationExamples = 16, BatchSize = 8 },
        }, CPU, new Sampler(samples));
        samples.Add(("end", MemoryMeter.CurrentBytes() / 1048576.0));
        return (samples, clock.Elapsed.TotalSeconds);
    }

    private sealed class Sampler(List<(string, double)> samples) : IProgress<string>
    {
        /// <summary>Samples resident memory at each layer's probe and at the all-layer run.</summary>
        public void Report(string value)
        {
            if (value.StartsWith("layer ", StringComparison.Ordinal) || value.StartsWith("all ", StringComparison.Ordinal))
                samples.Add((value.Split(':')[0], MemoryMeter.CurrentBytes() / 1048576.0));
        }
    }
}
