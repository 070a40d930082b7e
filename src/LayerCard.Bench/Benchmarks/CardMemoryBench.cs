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
    /// <param name="ResidualPeakMiB">Peak resident memory during the residual-signal pass (resnorm, energy, coupling, and the gathering of the function-space pass's gradient) above resident before it.</param>
    /// <param name="ResidualSeconds">Time of the residual-signal pass.</param>
    /// <param name="FunctionSpacePeakMiB">Peak during the function-space pass's finite differences (the card's default signal, its gradient gathered by the residual pass) above resident before it.</param>
    /// <param name="FunctionSpaceSeconds">Time of the function-space pass's finite differences.</param>
    /// <param name="ForwardBackwardSeconds">One plain forward+backward over the same examples, timed just before, for the ratios.</param>
    /// <param name="Tokens">Token positions the passes averaged over.</param>
    /// <param name="LayerPeaksMiB">The residual pass's peak above resident while each layer was probed, top layer first.</param>
    public sealed record Figures(int Layers, long Parameters, double WeightsMiB, double ResidentBeforeMiB, double ResidualPeakMiB, double ResidualSeconds,
        double FunctionSpacePeakMiB, double FunctionSpaceSeconds, double ForwardBackwardSeconds, long Tokens, IReadOnlyList<double> LayerPeaksMiB);

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
        // The scope the card's builder opens over its passes (and their forward+backward).
        using var bounded = LayerSweep.BoundedMemory(loaded.Model);
        var forwardBackward = SignalProbe.TimeForwardBackward(loaded.Model, set, options, CPU);
        var resident = MemoryMeter.CurrentBytes();

        MemoryMeter.ResetPeak();
        var stages = new StagePeaks(log);
        var clock = Stopwatch.StartNew();
        // As the card runs them: the residual pass gathers the fresh adapters' gradient, then the function-space
        // pass runs its finite differences from it.
        var targets = loaded.Model.LayerLinears(0).Keys.ToList();
        var functionOptions = new FunctionSpaceOptions(8, 16, options.BatchSize, 0);
        using var gathered = FunctionSpaceProbe.GradientToGather(loaded.Model, set, targets, functionOptions);
        var signal = SignalProbe.Run(loaded.Model, set, [], options, CPU, stages, gathered);
        var residualSeconds = clock.Elapsed.TotalSeconds;
        var residualPeak = Math.Max(stages.Max, MemoryMeter.PeakBytes() - resident);
        var (_, functionSeconds, functionPeak) = Peak(() => FunctionSpaceProbe.MeasurePart(loaded.Model, set, targets, functionOptions, CPU, 0, 1, gathered));
        var parameters = loaded.ParameterCount;
        const double mib = 1048576.0;
        return new Figures(layers, parameters, parameters * 4 / mib, resident / mib, residualPeak / mib, residualSeconds,
            functionPeak / mib, functionSeconds, forwardBackward, signal.Tokens, stages.Peaks.Select(p => p / mib).ToList());
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
        /// <summary>Each layer's peak above the baseline, in bytes, in the order the pass met the layers.</summary>
        public List<long> Peaks { get; } = [];

        /// <summary>Records and logs the stage that just ended and starts the next.</summary>
        public void Report(string value)
        {
            var peak = MemoryMeter.PeakBytes() - baseline;
            Max = Math.Max(Max, peak);
            if (value.StartsWith("signal pass: layer ", StringComparison.Ordinal)) Peaks.Add(peak);
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

    /// <summary>Weights of one decoder layer's linear modules (attention and MLP; norms left out).</summary>
    public static double LayerWeights(ModelConfig c)
    {
        double q = (double)c.Heads * c.HeadDim, kv = (double)c.KvHeads * c.HeadDim;
        return c.Hidden * (q + 2 * kv) + q * c.Hidden + 3.0 * c.Hidden * c.Intermediate;
    }

    /// <summary>
    /// Matrix-product FLOPs of the residual-signal pass: a recording forward (2 per weight and token) and each layer's
    /// forward and input-gradient backward from its recorded input (4 per weight and token; the frozen weights get no
    /// gradient), so 6 · layer weights · layers · tokens. The N × N kernels (O(N² d) per input) are left out.
    /// </summary>
    public static double ResidualFlops(ModelConfig c, int layers, double tokens) => 6 * LayerWeights(c) * layers * tokens;

    /// <summary>
    /// Matrix-product FLOPs of the function-space pass as the card runs it (its gradient gathered by the residual
    /// pass): the forward that recomputes each layer's input (2 per weight and token), a partial forward from every
    /// layer up (layers (layers + 1) / 2 layer forwards per token) and the output head on every layer's hidden-state
    /// change at the target tokens (2 · hidden · vocabulary per layer and target token).
    /// </summary>
    public static double FunctionSpaceFlops(ModelConfig c, int layers, double tokens, double targetTokens) =>
        2 * LayerWeights(c) * layers * tokens + 2 * LayerWeights(c) * tokens * layers * (layers + 1) / 2.0 + 2.0 * layers * c.Hidden * c.Vocab * targetTokens;

    /// <summary>
    /// Peak bytes of the residual-signal pass above the weights at <paramref name="tokens"/> calibration tokens: one
    /// layer's token rows (every input and output gradient, float32), six N × N float64 matrices while an input is
    /// reduced, the recorded residual streams of one layer (tokens × hidden, float32: on wide layers the others wait
    /// on disk, 4 · layers · tokens · hidden bytes there, see <see cref="Card.SpilledStreams"/>), and the activations of one layer on
    /// one batch (<paramref name="activationBytes"/>, measured: they depend on the batch, not on the calibration size).
    /// Valid while the token form holds (tokens at most the narrowest input width); beyond it the features form needs
    /// about 16 · d_in² bytes for its widest input instead of the N × N matrices.
    /// </summary>
    public static double ResidualPeakBytes(ModelConfig c, double tokens, double activationBytes)
    {
        double q = (double)c.Heads * c.HeadDim, kv = (double)c.KvHeads * c.HeadDim;
        double inputs = c.Hidden + q + c.Hidden + c.Intermediate, outputs = q + 2 * kv + c.Hidden + 2.0 * c.Intermediate + c.Hidden;
        return 4 * tokens * (inputs + outputs) + 6 * 8 * tokens * tokens + 4.0 * tokens * c.Hidden + activationBytes;
    }

    /// <summary>
    /// Projects both passes to a full model from a measured run: FLOPs by the formulas above, at the rates measured
    /// here (FLOPs of the measured run / its seconds) and at <paramref name="gpuFlopsPerSecond"/> on paper; the residual
    /// pass's peak by <see cref="ResidualPeakBytes"/> with the activations measured here.
    /// </summary>
    public static Projection Project(Figures measured, ModelConfig full, long tokens, double gpuFlopsPerSecond)
    {
        ArgumentNullException.ThrowIfNull(measured);
        ArgumentNullException.ThrowIfNull(full);
        var shape = Qwen3_8BLayers(measured.Layers);
        double targets = tokens / 2.0; // completions are about half of a prompt/completion sequence
        double residualRate = ResidualFlops(shape, measured.Layers, measured.Tokens) / measured.ResidualSeconds;
        double functionRate = FunctionSpaceFlops(shape, measured.Layers, measured.Tokens, measured.Tokens) / measured.FunctionSpaceSeconds;
        double residual = ResidualFlops(full, full.Layers, tokens), function = FunctionSpaceFlops(full, full.Layers, tokens, targets);
        double activations = Math.Max(0, measured.ResidualPeakMiB * 1048576.0 - ResidualPeakBytes(shape, measured.Tokens, 0));
        return new Projection(full.Layers, tokens, residual, function, residual / residualRate, function / functionRate,
            residual / gpuFlopsPerSecond, function / gpuFlopsPerSecond, ResidualPeakBytes(full, tokens, activations) / 1048576.0, residualRate, functionRate);
    }

    /// <summary>A full card projected from a measured run (<see cref="Project"/>); FLOPs, seconds here and on a GPU on paper, the residual pass's peak MiB above the weights.</summary>
    public sealed record Projection(int Layers, long Tokens, double ResidualFlops, double FunctionSpaceFlops, double ResidualSecondsHere, double FunctionSpaceSecondsHere,
        double ResidualSecondsGpu, double FunctionSpaceSecondsGpu, double ResidualPeakMiB, double ResidualRateHere, double FunctionSpaceRateHere);
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
