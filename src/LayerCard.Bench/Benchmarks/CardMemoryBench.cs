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

    /// <summary>What the card's two signal passes cost on one model; sizes in MiB, times in seconds.</summary>
    /// <param name="WeightsMiB">The fp32 weights (parameters x 4 bytes).</param>
    /// <param name="ResidentBeforeMiB">Resident memory just before the passes.</param>
    /// <param name="ResidualPeakMiB">Peak resident memory during the residual-signal pass (resnorm, energy, coupling) above resident before it.</param>
    /// <param name="ResidualSeconds">Time of the residual-signal pass.</param>
    /// <param name="FunctionSpacePeakMiB">Peak during the function-space pass (the card's default signal) above resident before it.</param>
    /// <param name="FunctionSpaceSeconds">Time of the function-space pass.</param>
    /// <param name="ForwardBackwardSeconds">One plain forward+backward over the same examples, timed just before, for the ratios.</param>
    /// <param name="Tokens">Token positions the passes averaged over.</param>
    public sealed record Figures(int Layers, long Parameters, double WeightsMiB, double ResidentBeforeMiB, double ResidualPeakMiB, double ResidualSeconds,
        double FunctionSpacePeakMiB, double FunctionSpaceSeconds, double ForwardBackwardSeconds, long Tokens);

    /// <summary>
    /// Runs the residual-signal pass and the function-space pass, every linear module probed, on a cached random
    /// Qwen3-8B-shaped model of <paramref name="layers"/> layers over <paramref name="examples"/> synthetic sequences
    /// of <paramref name="length"/> tokens, and measures their peak memory and time against one forward+backward.
    /// </summary>
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
        var stages = new StagePeaks(log);
        var clock = Stopwatch.StartNew();
        var signal = SignalProbe.Run(loaded.Model, set, [], options, CPU, stages);
        var residualSeconds = clock.Elapsed.TotalSeconds;
        var residualPeak = Math.Max(stages.Max, MemoryMeter.PeakBytes() - resident);
        var targets = loaded.Model.LayerLinears(0).Keys.ToList();
        var (_, functionSeconds, functionPeak) = Peak(() => FunctionSpaceProbe.Measure(loaded.Model, set, targets, new FunctionSpaceOptions(8, 16, options.BatchSize, 0), CPU));
        var parameters = loaded.ParameterCount;
        const double mib = 1048576.0;
        return new Figures(layers, parameters, parameters * 4 / mib, resident / mib, residualPeak / mib, residualSeconds,
            functionPeak / mib, functionSeconds, forwardBackward, signal.Tokens);
    }

    /// <summary>
    /// The peak resident memory of each stage of a pass (between two progress reports, one per layer) above the
    /// resident size before the pass; the peak is reset after each stage, so <see cref="Max"/> is the pass's peak.
    /// </summary>
    private sealed class StagePeaks(Action<string>? log) : IProgress<string>
    {
        private readonly long baseline = MemoryMeter.CurrentBytes();

        /// <summary>The largest stage peak above the baseline, in bytes.</summary>
        public long Max { get; private set; }

        /// <summary>Records and logs the stage that just ended and starts the next.</summary>
        public void Report(string value)
        {
            var peak = MemoryMeter.PeakBytes() - baseline;
            Max = Math.Max(Max, peak);
            log?.Invoke($"{value}: peak {peak / 1048576.0:F0} MiB above resident before the pass");
            MemoryMeter.ResetPeak();
        }
    }

    /// <summary>Runs <paramref name="pass"/> and returns its result, seconds and peak resident bytes above the resident size just before it.</summary>
    private static (T Result, double Seconds, long PeakAbove) Peak<T>(Func<T> pass)
    {
        MemoryMeter.ResetPeak();
        var before = MemoryMeter.CurrentBytes();
        var clock = Stopwatch.StartNew();
        var result = pass();
        var seconds = clock.Elapsed.TotalSeconds;
        return (result, seconds, MemoryMeter.PeakBytes() - before);
    }

    /// <summary>
    /// Projects the residual-signal pass to <paramref name="layers"/> layers and <paramref name="tokens"/> calibration
    /// tokens from two measured depths: time and peak grow by the measured per-layer slope, time linearly in tokens
    /// (the forward, backward and token rows are linear in N; the N × N kernels add O(N² d), which stays below the
    /// forward's O(N d²) while N ≤ d), and memory by the per-token rows of one layer plus the recorded residual
    /// streams (layers × tokens × hidden floats).
    /// </summary>
    public static (double Seconds, double PeakMiB) Project(Figures shallow, Figures deep, ModelConfig shape, int layers, long tokens)
    {
        ArgumentNullException.ThrowIfNull(shallow);
        ArgumentNullException.ThrowIfNull(deep);
        ArgumentNullException.ThrowIfNull(shape);
        double span = deep.Layers - shallow.Layers;
        double secondsPerLayer = (deep.ResidualSeconds - shallow.ResidualSeconds) / span;
        double seconds = (shallow.ResidualSeconds + (layers - shallow.Layers) * secondsPerLayer) * tokens / shallow.Tokens;
        double tokenScale = (double)tokens / shallow.Tokens;
        double streams = 4.0 * layers * tokens * shape.Hidden / 1048576.0;
        return (seconds, shallow.ResidualPeakMiB * tokenScale + streams);
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
