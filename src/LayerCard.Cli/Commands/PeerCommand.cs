using System.CommandLine;
using System.Globalization;
using LayerCard.Bench.Benchmarks;
using LayerCard.Common;

namespace LayerCard.Cli.Commands;

/// <summary>layercard bench peer: LayerCard's LoRA step against plain PyTorch's, side by side in one run.</summary>
public static class PeerCommand
{
    /// <summary>The command.</summary>
    public static Command Peer(TextWriter stdout, TextWriter stderr)
    {
        var rounds = new Option<int>("--rounds") { Description = "alternating rounds (each runs both engines on both placements)", DefaultValueFactory = _ => 2 };
        var steps = new Option<int>("--steps") { Description = "steps per run (the first is not timed)", DefaultValueFactory = _ => 4 };
        var threads = new Option<int>("--threads") { Description = "CPU threads for both engines", DefaultValueFactory = _ => 2 };
        var python = new Option<string>("--python") { Description = "the Python with PyTorch", DefaultValueFactory = _ => "/usr/bin/python3" };
        var json = new Option<string?>("--json") { Description = "also save the figures to this JSON file (written atomically)" };
        var command = new Command("peer", "LayerCard against plain PyTorch on the same LoRA step (GPT-2-small shape, LoRA on attn.c_attn, batch 4 x 256): step time, tokens/s, peak memory and their ratios.")
        {
            rounds, steps, threads, python, json,
        };
        command.SetAction(parsed =>
        {
            int roundCount = parsed.GetValue(rounds), stepCount = parsed.GetValue(steps), threadCount = parsed.GetValue(threads);
            if (roundCount <= 0) throw new BadInputException($"--rounds must be positive, got {roundCount}");
            if (stepCount < 2) throw new BadInputException("--steps must be at least 2 (the first step is not timed)");
            if (threadCount <= 0) throw new BadInputException($"--threads must be positive, got {threadCount}");
            if (PeerBench.MissingPeer(parsed.GetValue(python)!) is string missing) throw new RuntimeFailureException(missing);
            var loadBefore = Machine.LoadAverage();
            var gpt2 = RandomModels.EnsureGpt2Small(stderr.WriteLine);
            var work = Path.Combine(Path.GetTempPath(), $"layercard-peer-{Environment.ProcessId}-{Guid.NewGuid():N}");
            IReadOnlyList<EngineFigures> figures;
            try
            {
                figures = PeerBench.Measure(typeof(CliApp).Assembly.Location, gpt2, parsed.GetValue(python)!, roundCount, stepCount, threadCount, work, stderr.WriteLine);
            }
            finally
            {
                try { Directory.Delete(work, recursive: true); } catch (IOException) { }
            }
            var table = new BenchTable($"peer: GPT-2-small shape (random weights), LoRA r 8 on attn.c_attn, AdamW, batch 4 x 256, {threadCount} threads, {stepCount} steps per run, {roundCount} alternating rounds",
                "engine", "placement", "step ms", "best step ms", "tokens/s", "peak MiB", "runs");
            foreach (var f in figures.OrderBy(f => f.Placement).ThenBy(f => f.Engine))
                table.Add(f.Engine, f.Placement, f.StepSeconds * 1000, f.BestStepSeconds * 1000, f.TokensPerSecond, f.PeakMemoryBytes / 1048576.0, f.Runs);
            EngineFigures Get(string engine, string placement) => figures.Single(f => f.Engine == engine && f.Placement == placement);
            foreach (var (placement, _) in PeerBench.Placements)
            {
                var (ours, peer) = (Get("LayerCard", placement), Get("PyTorch", placement));
                table.Notes.Add($"{placement}: LayerCard tokens/s = {Ratio(ours.TokensPerSecond, peer.TokensPerSecond)}x PyTorch's; peak memory {Ratio(ours.PeakMemoryBytes, peer.PeakMemoryBytes)}x");
            }
            foreach (var engine in new[] { "LayerCard", "PyTorch" })
            {
                var (top, all) = (Get(engine, "top 3"), Get(engine, "all 12"));
                table.Notes.Add($"{engine} top 3 / all 12: step time {Ratio(top.StepSeconds, all.StepSeconds)}x, peak memory {Ratio(top.PeakMemoryBytes, all.PeakMemoryBytes)}x");
            }
            table.Notes.Add("step ms = median over rounds of each run's median step after the first; peak = the process's VmHWM over the training steps (reset after the model is built), each run its own process");
            table.Notes.Add($"load average {loadBefore.ToString("F1", CultureInfo.InvariantCulture)} before, {Machine.LoadAverage().ToString("F1", CultureInfo.InvariantCulture)} after, on {Environment.ProcessorCount} cores");
            table.Print(stdout);
            if (parsed.GetValue(json) is string path)
            {
                BenchTable.Save(path, "peer", [table]);
                stdout.WriteLine($"wrote {Path.GetFullPath(path)}");
            }
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>layercard bench profile: one training step cut into phases.</summary>
    public static Command Profile(TextWriter stdout, TextWriter stderr)
    {
        var model = new Option<string?>("--model") { Description = "default: the random GPT-2-small-shaped model of `bench peer`" };
        var layers = new Option<string>("--layers") { DefaultValueFactory = _ => "all" };
        var targets = new Option<string?>("--targets") { Description = "default: the family's (GPT-2 attn.c_attn)" };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 4 };
        var length = new Option<int>("--max-length") { DefaultValueFactory = _ => 256 };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 3 };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 2 };
        var command = new Command("profile", "Where a LoRA training step's time goes: forward, loss, backward, clipping, optimizer, freeing; CPU user and system time.")
        {
            model, layers, targets, batch, length, steps, threads,
        };
        command.SetAction(parsed =>
        {
            if (parsed.GetValue(threads) <= 0) throw new BadInputException($"--threads must be positive, got {parsed.GetValue(threads)}");
            if (parsed.GetValue(steps) <= 0) throw new BadInputException($"--steps must be positive, got {parsed.GetValue(steps)}");
            TorchSharp.torch.set_num_threads(parsed.GetValue(threads));
            var reference = parsed.GetValue(model) ?? RandomModels.EnsureGpt2Small(stderr.WriteLine);
            using var loaded = Models.ModelLoader.Load(reference, null, TorchSharp.torch.CPU);
            var config = new Lora.LoraConfig(8, 16, 0, false, Lora.LoraTargets.Resolve(ListOption.Split(parsed.GetValue(targets)), loaded.Model, Lora.LoraTargets.QueryValue),
                Lora.LayerSelection.Parse(parsed.GetValue(layers)!, loaded.Config.Layers));
            var phases = StepProfile.Run(loaded.Model, config, parsed.GetValue(batch), parsed.GetValue(length), parsed.GetValue(steps), TorchSharp.torch.CPU);
            var table = new BenchTable($"profile: {reference}, LoRA on layers {parsed.GetValue(layers)}, batch {parsed.GetValue(batch)} x {parsed.GetValue(length)}, {parsed.GetValue(threads)} threads", "phase", "ms");
            foreach (var (phase, seconds) in phases.Seconds) table.Add(phase, seconds * 1000);
            table.Add("step (sum)", phases.Seconds.Values.Sum() * 1000);
            var h = loaded.Config.Hidden;
            foreach (var (shape, linear, transposed) in MatmulLayouts.Measure([(parsed.GetValue(batch) * parsed.GetValue(length), h, h), (parsed.GetValue(batch) * parsed.GetValue(length), h, loaded.Config.Intermediate),
                (parsed.GetValue(batch) * parsed.GetValue(length), loaded.Config.Intermediate, h), (parsed.GetValue(batch) * parsed.GetValue(length), h, 8)], loaded.Config.Hidden >= 512 ? 20 : 1000))
                table.Notes.Add($"matmul {shape}: linear (W [out, in]) {linear:F1} us, matmul (W stored [in, out]) {transposed:F1} us");
            var (plainOp, recordedOp) = OperationOverhead.Measure(parsed.GetValue(batch), parsed.GetValue(length), h);
            table.Notes.Add($"one element-wise add of [{parsed.GetValue(batch)}, {parsed.GetValue(length)}, {h}]: {plainOp:F1} us without autograd, {recordedOp:F1} us recorded for backward");
            table.Notes.Add($"CPU per step: user {phases.UserSecondsPerStep:F2} s, system {phases.SystemSecondsPerStep:F2} s (system time is mostly page faults); medians over {phases.Steps} steps after a warm-up step");
            table.Print(stdout);
            return ExitCodes.Success;
        });
        return command;
    }

    private static string Ratio(double a, double b) => (a / b).ToString("F2", CultureInfo.InvariantCulture);
}
