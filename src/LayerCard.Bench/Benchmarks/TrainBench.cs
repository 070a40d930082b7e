using System.Diagnostics;
using System.Text.Json.Nodes;
using LayerCard.Common;
using LayerCard.Evaluation;
using LayerCard.Lora;
using LayerCard.Models;
using LayerCard.Models.Checkpoints;
using LayerCard.Recipes;
using LayerCard.Training;
using static TorchSharp.torch;

namespace LayerCard.Bench.Benchmarks;

/// <summary>One training configuration to measure, as `layercard train` options.</summary>
public sealed record TrainCase(string Label, string Model, string Layers, string? Targets, string Data = "tinyshakespeare",
    int Steps = 10, int BatchSize = 4, int MaxLength = 128, int Rank = 8);

/// <summary>
/// Training cost of one configuration over its runs: step time (median over runs of each run's median step), the
/// fastest step of any run, and medians over runs of the mean step time, peak resident memory and wall time; also
/// the weight bytes, FLOPs per step and the number of runs.
/// </summary>
public sealed record TrainFigures(TrainCase Case, int[] Layers, long TokensPerStep, double MedianStepSeconds, double BestStepSeconds, double MeanStepSeconds,
    long PeakMemoryBytes, long WeightBytes, double WallSeconds, double StepFlops, int Runs)
{
    /// <summary>Training tokens per second at the median step time.</summary>
    public double TokensPerSecond => TokensPerStep / MedianStepSeconds;
    /// <summary>FLOP rate reached at the median step time, in GFLOP/s.</summary>
    public double AchievedGflops => StepFlops / MedianStepSeconds / 1e9;
}

/// <summary>
/// Training cost per configuration, each run in its own child process (`layercard train`), so that the
/// process peak (VmHWM) in its run-summary.json belongs to that run alone and not to whatever ran before.
/// </summary>
public static class TrainBench
{
    /// <summary>Runs <paramref name="trainCase"/> <paramref name="runs"/> times; step time is the median over runs of each run's median step after the first.</summary>
    public static TrainFigures Measure(string cliDll, TrainCase trainCase, int threads, int runs, string workFolder, Action<string>? log = null)
    {
        var config = ConfigOf(trainCase.Model);
        var layers = LayerSelection.Parse(trainCase.Layers, config.Layers);
        var medians = new List<double>();
        var best = double.PositiveInfinity;
        var means = new List<double>();
        var peaks = new List<double>();
        var walls = new List<double>();
        long tokensPerStep = 0;
        for (int run = 0; run < runs; run++)
        {
            var output = Path.Combine(workFolder, $"{Sanitize(trainCase.Label)}-{run}");
            log?.Invoke($"train {trainCase.Label} (run {run + 1}/{runs}, load {Machine.LoadAverage():F1})");
            RunChild(cliDll, Arguments(trainCase, threads, output));
            var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(output, RunSummary.FileName)))!.AsObject();
            var steps = summary["steps"]!.GetValue<int>();
            tokensPerStep = summary["tokens"]!.GetValue<long>() / steps;
            var stepTimes = StepTimes(Path.Combine(output, Trainer.MetricsFile));
            medians.Add(Statistics.Median(stepTimes.Skip(1)));
            // On a shared machine the fastest step is the best estimate of the step's own cost; the median shows what the load left.
            best = Math.Min(best, stepTimes.Skip(1).DefaultIfEmpty(double.NaN).Min());
            means.Add(summary["mean_step_seconds"]!.GetValue<double>());
            peaks.Add(summary["peak_memory_bytes"]!.GetValue<long>());
            walls.Add(summary["wall_seconds"]!.GetValue<double>());
        }
        return new TrainFigures(trainCase, layers, tokensPerStep, Statistics.Median(medians), best, Statistics.Median(means),
            (long)Statistics.Median(peaks), 4 * ModelCost.Parameters(config), Statistics.Median(walls),
            ModelCost.StepFlops(config, layers.Min(), tokensPerStep), runs);
    }

    /// <summary>The `layercard train` arguments for <paramref name="c"/>, with no held-out data so that evaluation does not add to the measured steps.</summary>
    public static IReadOnlyList<string> Arguments(TrainCase c, int threads, string output)
    {
        var args = new List<string>
        {
            "train", "--model", c.Model, "--data", c.Data, "--out", output, "--layers", c.Layers, "--rank", $"{c.Rank}",
            "--steps", $"{c.Steps}", "--batch-size", $"{c.BatchSize}", "--max-length", $"{c.MaxLength}",
            // No held-out data: evaluation would add forward passes to the measured steps.
            "--holdout", "0", "--threads", $"{threads}",
        };
        if (c.Targets != null) args.AddRange(["--targets", c.Targets]);
        return args;
    }

    private static void RunChild(string cliDll, IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(cliDll);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new RuntimeFailureException("could not start `dotnet` for a training run");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            var message = (stderr.Result + stdout.Result).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
            throw new RuntimeFailureException($"training run `layercard {string.Join(" ", args)}` failed (exit {process.ExitCode}): {message}");
        }
    }

    /// <summary>Per-step seconds from metrics.jsonl's cumulative elapsed times (its resolution is 1 ms).</summary>
    public static List<double> StepTimes(string metricsPath)
    {
        var elapsed = File.ReadLines(metricsPath).Where(l => l.Length > 0)
            .Select(l => JsonNode.Parse(l)!["elapsed_seconds"]!.GetValue<double>()).ToList();
        return elapsed.Select((e, i) => i == 0 ? e : e - elapsed[i - 1]).ToList();
    }

    /// <summary>The config alone: an HF config.json is read without loading weights; a llama2.c file is small enough to load.</summary>
    public static ModelConfig ConfigOf(string reference)
    {
        var path = Assets.Resolve(reference, "--model");
        if (Directory.Exists(path) && File.Exists(Path.Combine(path, "config.json")))
            return HfConfig.Load(path).ToModelConfig();
        using var loaded = ModelLoader.Load(reference, null, CPU);
        return loaded.Config;
    }

    private static string Sanitize(string label) =>
        new(label.Select(ch => char.IsLetterOrDigit(ch) ? ch : '-').ToArray());
}

/// <summary>
/// Parameter and FLOP counts from a config. Step FLOPs use the usual dense-matmul estimate:
///   forward  = 2 * T * (sum over all layers of P_layer + P_head)
///   backward = 2 * forward of the span it runs through, i.e. 2 * 2 * T * (sum over layers >= m of P_layer + P_head)
///   step     = forward + backward
/// with T the tokens in the step, P_layer a layer's matmul weights, P_head = vocab * hidden (the output
/// projection) and m the lowest adapted layer: layers below m run without autograd (CausalLM.GradientStartLayer),
/// so backward stops there. Attention score products, norms, LoRA's rank-r products and the embedding lookup
/// are left out (a few percent at 128 positions). With the base weights frozen no weight gradients are formed,
/// so the backward really needed is nearer 1x forward; the 2x keeps the familiar 6*N*T convention.
/// </summary>
public static class ModelCost
{
    /// <summary>The FLOP formula, as printed under the train table.</summary>
    public const string Formula = "step FLOPs = 2*T*(P_layers + P_head) + 2 * [2*T*(P_layers >= m + P_head)], T tokens/step, m lowest adapted layer, P matmul weights";

    /// <summary>Matmul weights of one transformer layer (attention and MLP projections).</summary>
    public static long LayerMatmulParameters(ModelConfig c) => c.Family == ModelConfig.Gpt2
        ? (long)c.Hidden * 3 * c.Hidden + (long)c.Hidden * c.Hidden + 2L * c.Hidden * c.Intermediate
        : (long)c.Hidden * c.QDim * 2 + 2L * c.Hidden * c.KvDim + 3L * c.Hidden * c.Intermediate;

    /// <summary>Matmul weights of the output head (vocab x hidden).</summary>
    public static long HeadMatmulParameters(ModelConfig c) => (long)c.Vocab * c.Hidden;

    /// <summary>All parameters held in memory, norms and biases included (the tied head counted once).</summary>
    public static long Parameters(ModelConfig c)
    {
        long embeddings = (long)c.Vocab * c.Hidden + (c.Family == ModelConfig.Gpt2 ? (long)c.MaxPositions * c.Hidden : 0);
        long perLayerExtra = c.Family == ModelConfig.Gpt2
            ? 3L * c.Hidden + c.Hidden + c.Intermediate + c.Hidden + 4L * c.Hidden // c_attn, c_proj, c_fc, c_proj biases; two LayerNorms
            : 2L * c.Hidden + (c.QkNorm ? 2L * c.HeadDim : 0) + (c.QkvBias ? c.QDim + 2L * c.KvDim : 0);
        long final = c.Family == ModelConfig.Gpt2 ? 2L * c.Hidden : c.Hidden;
        long head = c.TiedEmbeddings ? 0 : HeadMatmulParameters(c);
        return embeddings + c.Layers * (LayerMatmulParameters(c) + perLayerExtra) + final + head;
    }

    /// <summary>Estimated FLOPs of one training step over <paramref name="tokens"/> tokens: a full forward plus twice the forward cost of the span backward runs over, from <paramref name="lowestAdaptedLayer"/> up, and the head.</summary>
    public static double StepFlops(ModelConfig c, int lowestAdaptedLayer, long tokens)
    {
        double layer = LayerMatmulParameters(c), head = HeadMatmulParameters(c);
        double forward = 2.0 * tokens * (c.Layers * layer + head);
        double backwardSpan = 2.0 * tokens * ((c.Layers - lowestAdaptedLayer) * layer + head);
        return forward + 2.0 * backwardSpan;
    }
}
