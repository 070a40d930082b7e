using System.Diagnostics;
using System.Text.Json.Nodes;
using LayerCard.Common;
using LayerCard.Evaluation;

namespace LayerCard.Bench.Benchmarks;

/// <summary>One engine's figures for one placement: median step after the first, tokens per second, peak resident memory.</summary>
public sealed record EngineFigures(string Engine, string Placement, double StepSeconds, double BestStepSeconds, long TokensPerStep, long PeakMemoryBytes, int Runs)
{
    /// <summary>Training tokens per second at the median step.</summary>
    public double TokensPerSecond => TokensPerStep / StepSeconds;
}

/// <summary>
/// LayerCard against plain PyTorch on the same LoRA step: a GPT-2-small-shaped model, LoRA on attn.c_attn, AdamW,
/// the same batch, threads and data shapes. Every run is its own child process (LayerCard: `layercard train`;
/// the peer: <c>peer_lora_step.py</c> beside this assembly), engines and placements alternate within each round,
/// so both see the same machine load; figures are medians over rounds.
/// </summary>
public static class PeerBench
{
    /// <summary>The peer script, copied beside the bench assembly at build time.</summary>
    public static string ScriptPath => Path.Combine(AppContext.BaseDirectory, "Peer", "peer_lora_step.py");

    /// <summary>Below this fp32 matmul rate the peer's BLAS is not a real one.</summary>
    public const double MinimumPeerGflops = 10;

    /// <summary>The placements compared: all 12 layers and the top 3.</summary>
    public static readonly IReadOnlyList<(string Name, string Layers)> Placements = [("all 12", "all"), ("top 3", "top:3")];

    /// <summary>Whether <paramref name="python"/> can import torch; the reason when it cannot.</summary>
    public static string? MissingPeer(string python)
    {
        if (!File.Exists(ScriptPath)) return $"the peer script is missing ({ScriptPath})";
        try
        {
            var (code, output) = RunProcess(python, ["-c", "import torch; print(torch.__version__)"]);
            return code == 0 ? null : $"{python} cannot import torch ({output.Trim().Split('\n').Last()}); install it with `apt-get install python3-torch libopenblas0` (Debian; without OpenBLAS its matmul falls back to the reference BLAS) or `pip install torch`";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return $"{python} was not found; install Python 3 and PyTorch (`apt-get install python3-torch`) or pass --python";
        }
    }

    /// <summary>Runs <paramref name="rounds"/> rounds of (LayerCard, peer) x (all 12, top 3), alternating, and returns both engines' figures per placement.</summary>
    public static IReadOnlyList<EngineFigures> Measure(string cliDll, string gpt2Folder, string python, int rounds, int steps, int threads, string work, Action<string>? log)
    {
        var samples = new Dictionary<(string Engine, string Placement), List<(double Median, double Best, long Tokens, long Peak)>>();
        void Add(string engine, string placement, (double, double, long, long) s)
        {
            if (!samples.TryGetValue((engine, placement), out var list)) samples[(engine, placement)] = list = [];
            list.Add(s);
        }
        for (int round = 0; round < rounds; round++)
        {
            foreach (var (name, layers) in Placements)
            {
                log?.Invoke($"round {round + 1}/{rounds}: LayerCard, {name} (load {Machine.LoadAverage():F1})");
                var figures = TrainBench.Measure(cliDll, new TrainCase($"layercard {name}", gpt2Folder, layers, "attn.c_attn", Steps: steps, BatchSize: 4, MaxLength: 256),
                    threads, runs: 1, Path.Combine(work, $"r{round}"), null);
                Add("LayerCard", name, (figures.MedianStepSeconds, figures.BestStepSeconds, figures.TokensPerStep, figures.PeakMemoryBytes));
                log?.Invoke($"round {round + 1}/{rounds}: PyTorch, {name} (load {Machine.LoadAverage():F1})");
                Add("PyTorch", name, RunPeer(python, layers, steps, threads));
            }
        }
        return samples.Select(kv => new EngineFigures(kv.Key.Engine, kv.Key.Placement, Statistics.Median(kv.Value.Select(v => v.Median)),
            kv.Value.Min(v => v.Best), kv.Value[0].Tokens, (long)Statistics.Median(kv.Value.Select(v => (double)v.Peak)), kv.Value.Count)).ToList();
    }

    private static (double Median, double Best, long Tokens, long Peak) RunPeer(string python, string layers, int steps, int threads)
    {
        var (code, output) = RunProcess(python, [ScriptPath, "--adapted", layers, "--steps", $"{steps}", "--threads", $"{threads}", "--batch-size", "4", "--max-length", "256"]);
        if (code != 0) throw new RuntimeFailureException($"the PyTorch peer failed (exit {code}): {output.Trim().Split('\n').Last()}");
        var json = JsonNode.Parse(output.Trim().Split('\n').Last())!;
        var times = json["step_seconds"]!.AsArray().Select(t => t!.GetValue<double>()).Skip(1).ToList();
        var gflops = json["matmul_gflops"]!.GetValue<double>();
        // Debian's python3-torch without OpenBLAS multiplies with the reference BLAS (about 1-2 GFLOP/s): no fair peer.
        if (gflops < MinimumPeerGflops)
            throw new RuntimeFailureException($"the PyTorch peer multiplies at {gflops:F1} GFLOP/s (reference BLAS?); install OpenBLAS (`apt-get install libopenblas0`) for a fair comparison");
        return (Statistics.Median(times), times.Min(), json["tokens_per_step"]!.GetValue<long>(), json["peak_memory_bytes"]!.GetValue<long>());
    }

    private static (int Code, string Output) RunProcess(string file, IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new RuntimeFailureException($"could not start {file}");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, process.ExitCode == 0 ? stdout.Result : stderr.Result + stdout.Result);
    }
}
