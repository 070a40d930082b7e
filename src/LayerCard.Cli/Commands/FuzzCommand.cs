using System.CommandLine;
using System.Globalization;
using LayerCard.Common;
using LayerCard.Bench.Fuzzing;

namespace LayerCard.Cli.Commands;

/// <summary>fuzz: damaged checkpoints and tokenizers through the real readers; every case must load or be refused cleanly.</summary>
public static class FuzzCommand
{
    private const int ListedFailures = 20;

    /// <summary>layercard bench fuzz.</summary>
    public static Command Fuzz(TextWriter stdout)
    {
        var iterations = new Option<int>("--iterations") { Description = "number of cases", DefaultValueFactory = _ => 1000 };
        var seed = new Option<long>("--seed") { Description = "seed of the seed files and of every mutation", DefaultValueFactory = _ => 1 };
        var timeout = new Option<double>("--timeout-seconds") { Description = "a case that takes longer is a Hang", DefaultValueFactory = _ => 10 };
        var replay = new Option<string?>("--replay") { Description = "SEED:INDEX: run that one case again and keep its files (with the same --kinds)" };
        var kindsOption = new Option<string>("--kinds")
        {
            Description = $"comma-separated kinds to fuzz, or all, models, tokenizers (kinds: {string.Join(", ", FuzzKinds.All)})",
            DefaultValueFactory = _ => "all",
        };
        var command = new Command("fuzz",
            "Mutate tiny valid models and tokenizers (bit flips, truncation, forged sizes, odd JSON) and check that every reader loads a consistent model or refuses cleanly.")
        {
            iterations, seed, timeout, replay, kindsOption,
        };
        command.SetAction(parsed =>
        {
            var seconds = parsed.GetValue(timeout);
            if (!double.IsFinite(seconds) || seconds <= 0)
                throw new BadInputException($"--timeout-seconds must be a positive number, got {seconds.ToString(CultureInfo.InvariantCulture)}");
            // Cases are tiny; one thread keeps the fuzzer polite on a shared machine and its timings comparable.
            TorchSharp.torch.set_num_threads(1);
            var kindList = parsed.GetValue(kindsOption)!;
            var kinds = FuzzKinds.Parse(kindList)
                ?? throw new BadInputException($"--kinds {kindList}: expected kinds among {string.Join(", ", FuzzKinds.All)}, or all, models, tokenizers");
            var replayed = parsed.GetValue(replay);
            if (replayed != null) return Replay(stdout, replayed, kinds, TimeSpan.FromSeconds(seconds));
            int count = parsed.GetValue(iterations);
            if (count <= 0) throw new BadInputException($"--iterations must be positive, got {count}");
            return Run(stdout, count, parsed.GetValue(seed), kinds, TimeSpan.FromSeconds(seconds));
        });
        return command;
    }

    private static int Run(TextWriter stdout, int count, long seed, IReadOnlyList<string> kinds, TimeSpan timeout)
    {
        using var fuzzer = new Fuzzer(new FuzzOptions { Seed = seed, Timeout = timeout, Kinds = kinds });
        stdout.WriteLine($"fuzz: {count} cases, seed {seed}, timeout {timeout.TotalSeconds:0.#} s, kinds {string.Join(", ", kinds)}");
        int step = Math.Max(1, count / 10), done = 0, failures = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var summary = fuzzer.Run(count, result =>
        {
            done++;
            if (result.Outcome.IsFailure()) failures++;
            if (done % step == 0 || done == count)
            {
                stdout.WriteLine($"fuzz: {done}/{count} ({100L * done / count}%) after {clock.Elapsed.TotalSeconds:0} s, {failures} failures");
                stdout.Flush();
            }
        });
        stdout.WriteLine();
        stdout.WriteLine(summary.Table());
        stdout.WriteLine();
        stdout.WriteLine($"time {summary.Elapsed.TotalSeconds:0.0} s ({summary.Elapsed.TotalMilliseconds / Math.Max(1, summary.Total):0.0} ms per case); " +
            $"largest memory growth {summary.MaxMemoryGrowthBytes / (1024.0 * 1024):0.0} MiB; slowest case {summary.Slowest?.Case.Id} " +
            $"({summary.Slowest?.Elapsed.TotalMilliseconds:0} ms, {summary.Slowest?.Outcome})");
        if (summary.FailureCount == 0)
        {
            stdout.WriteLine("no crashes, hangs, unbounded allocations, unclear refusals or inconsistent loads");
            return ExitCodes.Success;
        }
        if (summary.StoppedBy is { } stop)
            stdout.WriteLine($"stopped after case {stop.Case.Id} ({summary.Total} of {count} run): its load was still running past the " +
                $"{fuzzer.Options.AbortBytes >> 20} MiB memory limit and cannot be stopped");
        var sameKinds = kinds.SequenceEqual(FuzzKinds.All) ? "" : $" --kinds {string.Join(",", kinds)}";
        stdout.WriteLine($"{summary.FailureCount} failures; the first {Math.Min(ListedFailures, summary.FailureCount)} (rerun one with --replay SEED:INDEX{sameKinds}):");
        foreach (var failure in summary.Failures.Take(ListedFailures)) stdout.WriteLine($"  {failure}");
        return ExitCodes.RuntimeFailure;
    }

    private static int Replay(TextWriter stdout, string reference, IReadOnlyList<string> kinds, TimeSpan timeout)
    {
        var parts = reference.Split(':');
        if (parts.Length != 2 || !long.TryParse(parts[0], CultureInfo.InvariantCulture, out var seed)
            || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out var index) || index < 0)
            throw new BadInputException($"--replay {reference}: expected SEED:INDEX, e.g. 1:417");
        using var fuzzer = new Fuzzer(new FuzzOptions { Seed = seed, Timeout = timeout, KeepFiles = true, Kinds = kinds });
        var result = fuzzer.RunCase(index);
        stdout.WriteLine(result.ToString());
        stdout.WriteLine($"files kept in {fuzzer.CaseFolder(index)} (the undamaged seeds are in {Path.Combine(fuzzer.WorkFolder, "seeds")})");
        return result.Outcome.IsFailure() ? ExitCodes.RuntimeFailure : ExitCodes.Success;
    }
}
