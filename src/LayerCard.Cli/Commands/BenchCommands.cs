using System.CommandLine;
using System.Globalization;
using LayerCard.Bench.Benchmarks;
using LayerCard.Common;
using LayerCard.Models;

namespace LayerCard.Cli.Commands;

/// <summary>bench generate | train | memory: measured figures for this machine, printed as tables and optionally saved as JSON.</summary>
public static class BenchCommands
{
    /// <summary>layercard bench: the generate, train, memory, fuzz, card-memory, memory-card and planted subcommands.</summary>
    public static Command Bench(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("bench", "Measure generation speed, training cost and memory stability on this machine.");
        command.Subcommands.Add(Generate(stdout, stderr));
        command.Subcommands.Add(Train(stdout, stderr));
        command.Subcommands.Add(Memory(stdout, stderr));
        command.Subcommands.Add(FuzzCommand.Fuzz(stdout));
        command.Subcommands.Add(CardMemory(stdout, stderr));
        command.Subcommands.Add(CardLayersMemory(stdout, stderr));
        command.Subcommands.Add(PlantedCommand.Planted(stdout));
        command.Subcommands.Add(PeerCommand.Peer(stdout, stderr));
        command.Subcommands.Add(PeerCommand.Profile(stdout, stderr));
        return command;
    }

    /// <summary>--threads and --json, which every bench takes.</summary>
    private sealed class Shared
    {
        /// <summary>--threads: CPU threads for tensor work (default 2).</summary>
        public Option<int> Threads { get; } = new("--threads") { Description = "CPU threads for tensor work", DefaultValueFactory = _ => 2 };
        /// <summary>--json: a file to also save the figures to.</summary>
        public Option<string?> Json { get; } = new("--json") { Description = "also save the figures to this JSON file (written atomically)" };

        /// <summary>Adds both options to a bench command.</summary>
        public void AddTo(Command command)
        {
            command.Options.Add(Threads);
            command.Options.Add(Json);
        }

        /// <summary>Sets libtorch's thread count from --threads (which must be positive) and returns it.</summary>
        public int Apply(ParseResult parsed)
        {
            var threads = parsed.GetValue(Threads);
            if (threads <= 0) throw new BadInputException($"--threads must be positive, got {threads}");
            TorchSharp.torch.set_num_threads(threads);
            return threads;
        }

        /// <summary>Prints the tables and, with --json, saves them under <paramref name="benchmark"/>'s name.</summary>
        public void Finish(ParseResult parsed, TextWriter stdout, string benchmark, params BenchTable[] tables)
        {
            foreach (var table in tables) table.Print(stdout);
            if (parsed.GetValue(Json) is string path)
            {
                BenchTable.Save(path, benchmark, tables);
                stdout.WriteLine($"wrote {Path.GetFullPath(path)}");
            }
        }
    }

    private static Command CardMemory(TextWriter stdout, TextWriter stderr)
    {
        var shared = new Shared();
        var layers = new Option<string>("--layers") { Description = "comma-separated layer counts to measure (the first and last give the per-layer growth)", DefaultValueFactory = _ => "1,4" };
        var examples = new Option<int>("--examples") { DefaultValueFactory = _ => 4 };
        var length = new Option<int>("--length") { DefaultValueFactory = _ => 64 };
        var projectLayers = new Option<int>("--project-layers") { Description = "depth of the projected full card (Qwen3-8B: 36)", DefaultValueFactory = _ => 36 };
        var projectTokens = new Option<long>("--project-tokens") { Description = "calibration tokens of the projected full card", DefaultValueFactory = _ => 4096 };
        var command = new Command("card-memory", "Memory and time of the card's signal passes on layers shaped like Qwen3-8B's (hidden 4096, MLP 12288), and a projection to the full model.")
            { layers, examples, length, projectLayers, projectTokens };
        shared.AddTo(command);
        command.SetAction(parsed =>
        {
            var threads = shared.Apply(parsed);
            var counts = (parsed.GetValue(layers) ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(x => int.TryParse(x, out var n) && n > 0 ? n : throw new BadInputException($"--layers: '{x}' is not a positive layer count")).ToList();
            if (counts.Count == 0 || parsed.GetValue(examples) <= 0 || parsed.GetValue(length) < 2 || parsed.GetValue(projectLayers) <= 0 || parsed.GetValue(projectTokens) <= 0)
                throw new BadInputException("--layers, --examples, --project-layers and --project-tokens must be positive and --length at least 2");
            var loadBefore = Machine.LoadAverage();
            var figures = counts.Select(n => CardMemoryBench.Measure(n, parsed.GetValue(examples), parsed.GetValue(length), stderr.WriteLine)).ToList();
            var table = new BenchTable($"card-memory: the card's signal passes, every linear module probed, Qwen3-8B-shaped layers (vocabulary 512), {threads} threads",
                "layers", "parameters", "weights MiB", "resident before MiB", "forward+backward s", "tokens",
                "residual pass s", "residual / fwd+bwd", "residual peak above resident MiB", "function-space pass s", "function-space / fwd+bwd", "function-space peak above resident MiB");
            foreach (var f in figures)
                table.Add(f.Layers, f.Parameters, f.WeightsMiB, f.ResidentBeforeMiB, f.ForwardBackwardSeconds, f.Tokens, f.ResidualSeconds, f.ResidualSeconds / f.ForwardBackwardSeconds,
                    f.ResidualPeakMiB, f.FunctionSpaceSeconds, f.FunctionSpaceSeconds / f.ForwardBackwardSeconds, f.FunctionSpacePeakMiB);
            var layerTable = new BenchTable("card-memory: residual pass, peak above resident while each layer is probed (top layer first; its stage includes the recording forward)",
                "layers", "per-layer peaks MiB", "largest / smallest");
            foreach (var f in figures)
                layerTable.Add(f.Layers, string.Join(" ", f.LayerPeaksMiB.Select(p => p.ToString("F0", System.Globalization.CultureInfo.InvariantCulture))),
                    f.LayerPeaksMiB.Count > 0 ? f.LayerPeaksMiB.Max() / f.LayerPeaksMiB.Min() : double.NaN);
            if (figures.Count > 1)
            {
                var (first, last) = (figures[0], figures[^1]);
                table.Notes.Add($"peak above resident, {last.Layers} layers against {first.Layers}: residual pass {last.ResidualPeakMiB / first.ResidualPeakMiB:0.00}x, function-space pass {last.FunctionSpacePeakMiB / first.FunctionSpacePeakMiB:0.00}x");
            }
            int pl = parsed.GetValue(projectLayers);
            long pt = parsed.GetValue(projectTokens);
            const double Gpu = 100e12;
            var full = CardMemoryBench.Qwen3_8BLayers(pl) with { Vocab = 151_936 };
            var p = CardMemoryBench.Project(figures[^1], full, pt, Gpu);
            var projection = new BenchTable($"card-memory: projected full card, Qwen3-8B shape ({pl} layers, vocabulary 151,936), {pt} calibration tokens (half of them targets)",
                "pass", "TFLOP", "rate here GFLOP/s", "seconds here", "seconds on a GPU at 100 TFLOP/s (on paper)", "peak above weights MiB");
            projection.Add("residual signal", p.ResidualFlops / 1e12, p.ResidualRateHere / 1e9, p.ResidualSecondsHere, p.ResidualSecondsGpu, p.ResidualPeakMiB);
            projection.Add("function space", p.FunctionSpaceFlops / 1e12, p.FunctionSpaceRateHere / 1e9, p.FunctionSpaceSecondsHere, p.FunctionSpaceSecondsGpu, double.NaN);
            projection.Notes.Add("FLOPs: residual 6·W·L·N; function space (its gradient gathered by the residual pass, as in `card`) 2·W·L·N + W·N·L(L+1) + 2·L·hidden·vocab·T (W weights per layer, N tokens, T target tokens); " +
                "rates are those of the measured run with the most layers; peak: 4·N·(inputs + output gradients of a layer) + 48·N² + 4·N·hidden bytes (one layer's recorded streams; the others wait on disk, 4·L·N·hidden bytes) + the measured activations of one layer (token form, N ≤ 4096)");
            projection.Notes.Add("the function-space pass's L(L+1)/2 partial forwards dominate a deep card; `card --shard i/n` splits exactly that part across jobs");
            table.Notes.Add(LoadNote(loadBefore));
            shared.Finish(parsed, stdout, "card-memory", table, layerTable, projection);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command CardLayersMemory(TextWriter stdout, TextWriter stderr)
    {
        var shared = new Shared();
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => 24 };
        var steps = new Option<int>("--probe-steps") { DefaultValueFactory = _ => 3 };
        var command = new Command("memory-card", "Resident memory before each layer's probe while a card is built over a random deep model (must stay flat).") { layers, steps };
        shared.AddTo(command);
        command.SetAction(parsed =>
        {
            var threads = shared.Apply(parsed);
            if (parsed.GetValue(layers) < 2 || parsed.GetValue(steps) < 1) throw new BadInputException("--layers must be at least 2 and --probe-steps at least 1");
            var (samples, seconds) = CardLayersMemoryBench.Measure(parsed.GetValue(layers), parsed.GetValue(steps), stderr.WriteLine);
            var table = new BenchTable($"memory-card: random {parsed.GetValue(layers)}-layer Llama (dim 64), probes of {parsed.GetValue(steps)} steps, {threads} threads", "stage", "resident MiB");
            foreach (var (stage, mib) in samples) table.Add(stage, mib);
            var probes = samples.Where(s => s.Stage.StartsWith("layer ", StringComparison.Ordinal)).Select(s => s.ResidentMiB).ToList();
            if (probes.Count > 2)
                table.Notes.Add($"from the second probe to the last: {probes[^1] - probes[1]:+0.0;-0.0} MiB over {probes.Count - 2} layers; card built in {seconds:F0} s");
            shared.Finish(parsed, stdout, "memory-card", table);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Generate(TextWriter stdout, TextWriter stderr)
    {
        var shared = new Shared();
        var model = new Option<string?>("--model") { Description = "one model to measure (default: stories260K and a random GPT-2-small-shaped model)" };
        var tokens = new Option<int>("--tokens") { Description = "new tokens per generation", DefaultValueFactory = _ => 128 };
        var repeats = new Option<int>("--repeats") { Description = "generations per model (the median is reported)", DefaultValueFactory = _ => 5 };
        var command = new Command("generate", "Greedy generation speed with the KV cache (tokens/s).") { model, tokens, repeats };
        shared.AddTo(command);
        command.SetAction(parsed =>
        {
            var threads = shared.Apply(parsed);
            int n = parsed.GetValue(tokens), r = parsed.GetValue(repeats);
            if (n < 2) throw new BadInputException($"--tokens must be at least 2, got {n}");
            if (r <= 0) throw new BadInputException($"--repeats must be positive, got {r}");
            var models = parsed.GetValue(model) is string m
                ? [(m, m)]
                : new[] { ("stories260K", "stories260K"), ("gpt2-small (random)", RandomModels.EnsureGpt2Small(stderr.WriteLine)) };
            var table = new BenchTable($"generate: greedy, KV cache, {threads} threads, prompt \"{GenerationBench.Prompt}\"",
                "model", "parameters", "prompt", "new tokens", "tokens/s", "decode tokens/s", "first token ms", "decode min", "decode max", "runs");
            var loadBefore = Machine.LoadAverage();
            foreach (var (label, reference) in models)
            {
                using var loaded = ModelLoader.Load(reference, null, TorchSharp.torch.CPU);
                var f = GenerationBench.Measure(label, loaded, n, r);
                table.Add(f.Model, f.Parameters, f.PromptTokens, f.NewTokens, f.TokensPerSecond, f.DecodeTokensPerSecond, f.FirstTokenMs,
                    f.MinDecodeTokensPerSecond, f.MaxDecodeTokensPerSecond, f.Repeats);
            }
            table.Notes.Add("tokens/s = new tokens / whole call (prompt pass included); decode tokens/s = tokens after the first / time after the first; medians over runs");
            table.Notes.Add(LoadNote(loadBefore));
            shared.Finish(parsed, stdout, "generate", table);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Train(TextWriter stdout, TextWriter stderr)
    {
        var shared = new Shared();
        var model = new Option<string?>("--model") { Description = "measure this model's top-K and all-layer runs (default: stories260K all layers; random GPT-2-small top-3 vs all 12)" };
        var top = new Option<int>("--top") { Description = "K for the top-K run", DefaultValueFactory = _ => 3 };
        var data = new Option<string>("--data") { DefaultValueFactory = _ => "tinyshakespeare" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 10 };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 4 };
        var maxLength = new Option<int>("--max-length") { DefaultValueFactory = _ => 128 };
        var rank = new Option<int>("--rank") { DefaultValueFactory = _ => 8 };
        var targets = new Option<string?>("--targets") { Description = "default: the family's (q_proj,v_proj; GPT-2 attn.c_attn)" };
        var repeats = new Option<int>("--repeats") { Description = "child runs per configuration (the median is reported)", DefaultValueFactory = _ => 1 };
        var matmulRepeats = new Option<int>("--matmul-repeats") { DefaultValueFactory = _ => 9 };
        var command = new Command("train", "Training throughput, step time and peak memory per configuration (each in its own process), against the machine's fp32 matmul rate.")
        {
            model, top, data, steps, batch, maxLength, rank, targets, repeats, matmulRepeats,
        };
        shared.AddTo(command);
        command.SetAction(parsed =>
        {
            var threads = shared.Apply(parsed);
            int runs = parsed.GetValue(repeats), k = parsed.GetValue(top);
            if (runs <= 0) throw new BadInputException($"--repeats must be positive, got {runs}");
            if (parsed.GetValue(steps) < 2) throw new BadInputException("--steps must be at least 2 (the first step is not timed)");
            var loadBefore = Machine.LoadAverage();
            TrainCase Case(string label, string m, string layers, string? t) => new(label, m, layers, parsed.GetValue(targets) ?? t, parsed.GetValue(data)!,
                parsed.GetValue(steps), parsed.GetValue(batch), parsed.GetValue(maxLength), parsed.GetValue(rank));
            var cases = new List<(TrainCase Case, string? Pair)>();
            if (parsed.GetValue(model) is string single)
            {
                cases.Add((Case($"{single} top-{k}", single, $"top:{k}", null), "top"));
                cases.Add((Case($"{single} all", single, "all", null), "all"));
            }
            else
            {
                var gpt2 = RandomModels.EnsureGpt2Small(stderr.WriteLine);
                cases.Add((Case("stories260K all", "stories260K", "all", null), null));
                cases.Add((Case($"gpt2-small top-{k}", gpt2, $"top:{k}", "attn.c_attn"), "top"));
                cases.Add((Case("gpt2-small all-12", gpt2, "all", "attn.c_attn"), "all"));
            }

            var matmul = new BenchTable($"fp32 matmul, {threads} threads", "shape", "GFLOP/s", "min", "max", "runs");
            var rates = MatmulRate.DefaultShapes.Select(s => MatmulRate.Measure(s.M, s.K, s.N, parsed.GetValue(matmulRepeats))).ToList();
            foreach (var r in rates) matmul.Add(r.Shape, r.Gflops, r.MinGflops, r.MaxGflops, r.Repeats);
            var ceiling = rates.Max(r => r.Gflops);
            matmul.Notes.Add($"reference rate for training steps: {ceiling.ToString("F1", CultureInfo.InvariantCulture)} GFLOP/s (the faster shape's median)");

            var work = Path.Combine(Path.GetTempPath(), $"layercard-bench-{Environment.ProcessId}-{Guid.NewGuid():N}");
            var cli = typeof(CliApp).Assembly.Location;
            var results = new List<(TrainFigures Figures, string? Pair)>();
            try
            {
                foreach (var (c, pair) in cases) results.Add((TrainBench.Measure(cli, c, threads, runs, work, stderr.WriteLine), pair));
            }
            finally
            {
                try { Directory.Delete(work, recursive: true); } catch (IOException) { }
            }

            var first = cases[0].Case;
            var table = new BenchTable($"train: LoRA rank {first.Rank}, batch {first.BatchSize} x {first.MaxLength} tokens, {first.Steps} steps, data {first.Data}, {threads} threads, no evaluation",
                "configuration", "layers", "tokens/step", "step ms", "best step ms", "mean step ms", "tokens/s", "peak MiB", "peak - weights MiB", "GFLOP/step", "GFLOP/s", "% of matmul", "runs");
            foreach (var (f, _) in results)
                table.Add(f.Case.Label, LayerText(f.Layers), f.TokensPerStep, f.MedianStepSeconds * 1000, f.BestStepSeconds * 1000, f.MeanStepSeconds * 1000, f.TokensPerSecond,
                    f.PeakMemoryBytes / 1048576.0, (f.PeakMemoryBytes - f.WeightBytes) / 1048576.0, f.StepFlops / 1e9, f.AchievedGflops,
                    100 * f.AchievedGflops / ceiling, f.Runs);
            table.Notes.Add("step ms = median step after the first (median over runs); best = fastest such step of any run; tokens/s = tokens per step / step ms; peak = process VmHWM during training (child process per run)");
            table.Notes.Add("peak - weights = peak minus 4 bytes per parameter (runtime, data, activations, adapter state)");
            table.Notes.Add(ModelCost.Formula + "; backward counted as 2x forward of the span it runs through");
            var topRun = results.FirstOrDefault(r => r.Pair == "top").Figures;
            var allRun = results.FirstOrDefault(r => r.Pair == "all").Figures;
            if (topRun != null && allRun != null)
                table.Notes.Add($"{topRun.Case.Label} / {allRun.Case.Label}: step time x{Ratio(topRun.MedianStepSeconds, allRun.MedianStepSeconds)} (best x{Ratio(topRun.BestStepSeconds, allRun.BestStepSeconds)}), " +
                    $"peak memory x{Ratio(topRun.PeakMemoryBytes, allRun.PeakMemoryBytes)}, " +
                    $"peak - weights x{Ratio(topRun.PeakMemoryBytes - topRun.WeightBytes, allRun.PeakMemoryBytes - allRun.WeightBytes)}, " +
                    $"estimated FLOPs x{Ratio(topRun.StepFlops, allRun.StepFlops)}");
            table.Notes.Add(LoadNote(loadBefore));
            shared.Finish(parsed, stdout, "train", matmul, table);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Memory(TextWriter stdout, TextWriter stderr)
    {
        var shared = new Shared();
        var model = new Option<string>("--model") { DefaultValueFactory = _ => "stories260K" };
        var data = new Option<string>("--data") { DefaultValueFactory = _ => "tinyshakespeare" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 1000 };
        var every = new Option<int>("--every") { Description = "sample resident memory every N steps", DefaultValueFactory = _ => 100 };
        var warmup = new Option<int>("--warmup") { Description = "the step after which memory must stay flat", DefaultValueFactory = _ => 100 };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 4 };
        var maxLength = new Option<int>("--max-length") { DefaultValueFactory = _ => 64 };
        var layers = new Option<string>("--layers") { DefaultValueFactory = _ => "all" };
        var targets = new Option<string?>("--targets") { Description = "default: the family's" };
        var limit = new Option<double>("--max-growth-mib") { Description = "exit 1 when memory grows more than this after warm-up", DefaultValueFactory = _ => MemoryFigures.FlatLimitBytes / 1048576.0 };
        var command = new Command("memory", "A long LoRA training run (default: all layers) sampling resident memory: it must stay flat after warm-up.")
        {
            model, data, steps, every, warmup, batch, maxLength, layers, targets, limit,
        };
        shared.AddTo(command);
        command.SetAction(parsed =>
        {
            var threads = shared.Apply(parsed);
            var loadBefore = Machine.LoadAverage();
            var f = MemoryBench.Run(parsed.GetValue(model)!, parsed.GetValue(data)!, parsed.GetValue(steps), parsed.GetValue(every),
                parsed.GetValue(warmup), parsed.GetValue(batch), parsed.GetValue(maxLength), parsed.GetValue(layers)!, ListOption.Split(parsed.GetValue(targets)));
            var table = new BenchTable($"memory: {parsed.GetValue(model)} on {parsed.GetValue(data)}, LoRA layers {parsed.GetValue(layers)}, batch {parsed.GetValue(batch)} x {parsed.GetValue(maxLength)}, " +
                $"{parsed.GetValue(steps)} steps, {threads} threads", "step", "when", "resident MiB", "load");
            foreach (var s in f.Samples) table.Add(s.Step, s.When.Length == 0 ? null : s.When, s.ResidentBytes / 1048576.0, s.LoadAverage);
            var growth = f.GrowthBytes / 1048576.0;
            var allowed = parsed.GetValue(limit);
            var flat = growth <= allowed;
            table.Notes.Add($"growth from warm-up (step {f.WarmupStep}) to end: {growth.ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture)} MiB " +
                $"({(flat ? "flat" : "GROWING")}: limit +{allowed.ToString("F1", CultureInfo.InvariantCulture)} MiB); after warm-up resident stayed within " +
                $"{Mib(f.AfterWarmup.Min(s => s.ResidentBytes))}-{Mib(f.AfterWarmup.Max(s => s.ResidentBytes))} MiB; {f.StepsPerSecond.ToString("F1", CultureInfo.InvariantCulture)} steps/s");
            table.Notes.Add("resident = VmRSS (libtorch and .NET heaps together)");
            table.Notes.Add(LoadNote(loadBefore));
            shared.Finish(parsed, stdout, "memory", table);
            if (!flat) throw new RuntimeFailureException($"resident memory grew by {growth:F1} MiB after warm-up (limit {allowed:F1} MiB): something is kept alive every step");
            return ExitCodes.Success;
        });
        return command;
    }

    private static string LayerText(int[] layers) =>
        layers.Length > 2 && layers[^1] - layers[0] == layers.Length - 1 ? $"{layers[0]}-{layers[^1]}" : string.Join(",", layers);

    private static string Mib(long bytes) => (bytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture);

    private static string Ratio(double a, double b) => (a / b).ToString("F2", CultureInfo.InvariantCulture);

    private static string LoadNote(double before) =>
        $"load average {before.ToString("F1", CultureInfo.InvariantCulture)} before, {Machine.LoadAverage().ToString("F1", CultureInfo.InvariantCulture)} after, on {Environment.ProcessorCount} cores (other work shares the CPU)";
}
