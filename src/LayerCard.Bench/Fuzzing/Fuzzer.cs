using System.Diagnostics;
using LayerCard.Common;
using LayerCard.Models;
using LayerCard.Tokenizers;
using static TorchSharp.torch;

namespace LayerCard.Bench.Fuzzing;

/// <summary>Settings of a <see cref="Fuzzer"/>.</summary>
public sealed record FuzzOptions
{
    /// <summary>Seed of the seed files and of every case's mutations; with a case index it rebuilds the case exactly.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>Time one case may take before it counts as a Hang.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Peak memory growth during one case above which the case counts as Unbounded.</summary>
    public long UnboundedBytes { get; init; } = 512L << 20;

    /// <summary>
    /// Growth while a case is still loading at which the fuzzer gives up on it: the case is reported Unbounded with
    /// <see cref="FuzzResult.StopsRun"/> set and <see cref="Fuzzer.Run"/> runs no further case. A runaway allocation
    /// cannot be taken back from a worker thread and the machine is shared, so the host process should end soon
    /// after (the fuzz command reports the case and exits with code 1).
    /// </summary>
    public long AbortBytes { get; init; } = 4L << 30;

    /// <summary>Where seeds and cases are written; a fresh temp folder when null. Removed on Dispose unless KeepFiles.</summary>
    public string? WorkFolder { get; init; }

    /// <summary>The kinds cases cycle through (case INDEX is kind INDEX mod count); <see cref="FuzzKinds.All"/> by default.</summary>
    public IReadOnlyList<string> Kinds { get; init; } = FuzzKinds.All;

    /// <summary>Keep every case's files (and the work folder) instead of deleting them after the case.</summary>
    public bool KeepFiles { get; init; }
}

/// <summary>
/// Builds valid seed files, damages a copy of one per case, runs the real loader on it (ModelLoader.Load for model
/// kinds, TokenizerLoader.Load for tokenizer kinds) on a worker thread with a timeout and a memory watch, and
/// classifies what happened. Case INDEX of seed SEED is the same on every run, so any failure replays.
/// </summary>
public sealed class Fuzzer : IDisposable
{
    private readonly string _seeds;
    private readonly bool _ownsFolder;

    /// <summary>The settings this fuzzer runs with.</summary>
    public FuzzOptions Options { get; }

    /// <summary>Absolute path of the folder holding the seeds (seeds/) and the cases (cases/INDEX).</summary>
    public string WorkFolder { get; }

    /// <summary>Writes the seed files of <see cref="FuzzOptions.Kinds"/> for <see cref="FuzzOptions.Seed"/> into the work folder.</summary>
    public Fuzzer(FuzzOptions? options = null)
    {
        Options = options ?? new FuzzOptions();
        if (Options.Kinds.Count == 0 || Options.Kinds.Any(k => !FuzzKinds.All.Contains(k)))
            throw new ArgumentException($"kinds must be some of {string.Join(", ", FuzzKinds.All)}", nameof(options));
        _ownsFolder = Options.WorkFolder == null && !Options.KeepFiles;
        WorkFolder = Path.GetFullPath(Options.WorkFolder ?? Path.Combine(Path.GetTempPath(), $"layercard-fuzz-{Guid.NewGuid():N}"));
        _seeds = Path.Combine(WorkFolder, "seeds");
        // Only the kinds in use: model seeds need libtorch, which a tokenizer-only run does without.
        foreach (var kind in Options.Kinds) FuzzSeeds.Write(Path.Combine(_seeds, kind), kind, Options.Seed);
    }

    /// <summary>
    /// Runs cases 0..iterations-1 (or from <paramref name="start"/>), reporting each result as it comes. Stops early,
    /// with <see cref="FuzzSummary.StoppedBy"/> set, after a case whose load ran past <see cref="FuzzOptions.AbortBytes"/>.
    /// </summary>
    public FuzzSummary Run(int iterations, Action<FuzzResult>? onResult = null, int start = 0)
    {
        var summary = new FuzzSummary();
        var clock = Stopwatch.StartNew();
        for (int i = start; i < start + iterations; i++)
        {
            var result = RunCase(i);
            summary.Add(result);
            onResult?.Invoke(result);
            if (result.StopsRun) break;
        }
        summary.Elapsed = clock.Elapsed;
        return summary;
    }

    /// <summary>The folder case <paramref name="index"/> is built in; kept after the case when KeepFiles is set.</summary>
    public string CaseFolder(int index) => Path.Combine(WorkFolder, "cases", index.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>
    /// Builds case <paramref name="index"/>, loads it under the timeout and memory watch, and classifies what
    /// happened. After a result with <see cref="FuzzResult.StopsRun"/> the load is still running: run no more cases.
    /// </summary>
    public FuzzResult RunCase(int index)
    {
        var folder = CaseFolder(index);
        var fuzzCase = Prepare(index, folder);
        try
        {
            return Execute(fuzzCase, folder);
        }
        finally
        {
            if (!Options.KeepFiles) TryDelete(folder);
        }
    }

    /// <summary>Copies the kind's seed into <paramref name="folder"/> and damages it as the case's generator says.</summary>
    public FuzzCase Prepare(int index, string folder)
    {
        var rng = new Random(CaseSeed(Options.Seed, index));
        var kind = Options.Kinds[index % Options.Kinds.Count];
        TryDelete(folder);
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(Path.Combine(_seeds, kind)))
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));

        int roll = rng.Next(100);
        int count = roll < 4 ? 0 : roll < 64 ? 1 : roll < 88 ? 2 : 3;
        var mutations = new List<string>();
        for (int m = 0; m < count; m++)
        {
            var files = Directory.GetFiles(folder).Order(StringComparer.Ordinal).ToList();
            if (files.Count == 0) break;
            mutations.Add(Mutate(PickFile(files, kind, rng), rng));
        }
        return new FuzzCase(Options.Seed, index, kind, PickTarget(folder, kind, rng), mutations);
    }

    /// <summary>SplitMix64 of seed and index: neighbouring cases get unrelated generators.</summary>
    public static int CaseSeed(long seed, int index)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)index + 0x632BE59BD9B4E019UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return unchecked((int)(z ^ (z >> 31)));
    }

    private static string PickFile(List<string> files, string kind, Random rng)
    {
        // Weights and config hold the size fields that drive allocation, so they are damaged most often.
        double Weight(string file) => Path.GetFileName(file) switch
        {
            "config.json" => 2.5,
            "model.safetensors.index.json" => 2,
            "tokenizer_config.json" => 0.5,
            var n when n.EndsWith(".safetensors", StringComparison.Ordinal) => kind == FuzzKinds.HfSharded ? 1.2 : 3,
            "model.bin" => 3,
            _ => FuzzKinds.IsModel(kind) ? 1 : 3,
        };
        double total = files.Sum(Weight), pick = rng.NextDouble() * total;
        foreach (var file in files)
        {
            pick -= Weight(file);
            if (pick < 0) return file;
        }
        return files[^1];
    }

    private static string Mutate(string file, Random rng)
    {
        var name = Path.GetFileName(file);
        int roll = rng.Next(100);
        if (name.EndsWith(".safetensors", StringComparison.Ordinal)) return roll < 65 ? BinaryMutations.Safetensors(file, rng) : BinaryMutations.Generic(file, rng);
        if (name == "model.bin") return roll < 50 ? BinaryMutations.Llama2cHeader(file, rng) : BinaryMutations.Generic(file, rng);
        if (name.EndsWith(".bin", StringComparison.Ordinal)) return roll < 60 ? BinaryMutations.TokenizerBin(file, rng) : BinaryMutations.Generic(file, rng);
        if (name == "model.safetensors.index.json") return roll < 80 ? JsonMutations.IndexFile(file, rng) : BinaryMutations.Generic(file, rng);
        if (name.EndsWith(".json", StringComparison.Ordinal)) return roll < 80 ? JsonMutations.MutateFile(file, rng) : BinaryMutations.Generic(file, rng);
        if (name == "merges.txt") return JsonMutations.MergesText(file, rng);
        return BinaryMutations.Generic(file, rng);
    }

    /// <summary>What the user would pass: usually the folder, sometimes one of its files (the loaders accept both).</summary>
    private static string PickTarget(string folder, string kind, Random rng)
    {
        string[] files = kind switch
        {
            FuzzKinds.Llama2c => ["model.bin", "model.bin", ""],
            FuzzKinds.TokenizerJson => ["", "tokenizer.json"],
            FuzzKinds.VocabMerges => ["", "vocab.json", "merges.txt"],
            FuzzKinds.TokenizerBin => ["tok300.bin", ""],
            FuzzKinds.HfSharded => ["", "", "", "model.safetensors.index.json"],
            _ => ["", "", "", "config.json", "model.safetensors"],
        };
        var file = files[rng.Next(files.Length)];
        return file.Length == 0 ? folder : Path.Combine(folder, file);
    }

    private FuzzResult Execute(FuzzCase fuzzCase, string folder)
    {
        var watched = CaseWatch.Run(() => LoadOrClassify(fuzzCase, folder), $"fuzz {fuzzCase.Id}", Options.Timeout, Options.AbortBytes);
        long growth = watched.MemoryGrowthBytes;
        if (watched.End == WatchEnd.TimedOut)
            return new FuzzResult(fuzzCase, FuzzOutcome.Hang, $"no result after {Options.Timeout.TotalSeconds:0.#} s", watched.Elapsed, growth);
        if (watched.End == WatchEnd.MemoryLimit)
            return new FuzzResult(fuzzCase, FuzzOutcome.Unbounded,
                $"memory grew by {growth >> 20} MiB while still loading; the load cannot be stopped, so fuzzing stops here", watched.Elapsed, growth)
            { StopsRun = true };
        var (outcome, detail) = watched.Result;
        if (growth > Options.UnboundedBytes && outcome != FuzzOutcome.Unbounded)
            (outcome, detail) = (FuzzOutcome.Unbounded, $"memory grew by {growth >> 20} MiB ({outcome}: {detail})");
        return new FuzzResult(fuzzCase, outcome, detail.Replace(folder, "<case>", StringComparison.Ordinal), watched.Elapsed, growth);
    }

    private static (FuzzOutcome, string) LoadOrClassify(FuzzCase fuzzCase, string folder)
    {
        try { return Load(fuzzCase); }
        catch (Exception e) { return Classify(e, folder); }
    }

    private static (FuzzOutcome, string) Load(FuzzCase fuzzCase)
    {
        if (FuzzKinds.IsModel(fuzzCase.Kind))
        {
            using var loaded = ModelLoader.Load(fuzzCase.Target, null, CPU);
            try
            {
                var problem = FuzzChecks.Model(loaded, out var note);
                return problem == null ? (FuzzOutcome.Loaded, note) : (FuzzOutcome.Inconsistent, problem);
            }
            finally
            {
                (loaded.Tokenizer as IDisposable)?.Dispose();
            }
        }
        var tokenizer = TokenizerLoader.Load(fuzzCase.Target);
        try
        {
            var problem = FuzzChecks.Tokenizer(tokenizer, modelVocab: null);
            return problem == null ? (FuzzOutcome.Loaded, $"{tokenizer.GetType().Name}, {tokenizer.VocabSize} tokens") : (FuzzOutcome.Inconsistent, problem);
        }
        finally
        {
            (tokenizer as IDisposable)?.Dispose();
        }
    }

    /// <summary>A refusal must be one non-empty line naming the file (or folder) it is about; anything else escaped the readers.</summary>
    private static (FuzzOutcome, string) Classify(Exception e, string folder)
    {
        if (e is BadInputException refusal)
        {
            var message = refusal.Message;
            if (string.IsNullOrWhiteSpace(message)) return (FuzzOutcome.Unclear, "BadInputException with an empty message");
            if (message.Contains('\n') || message.Contains('\r')) return (FuzzOutcome.Unclear, $"multi-line message: {Describe(e)}");
            if (!message.Contains(folder, StringComparison.Ordinal)) return (FuzzOutcome.Unclear, $"message names no file: {message}");
            return (FuzzOutcome.Refused, message);
        }
        if (e is OutOfMemoryException or InsufficientMemoryException) return (FuzzOutcome.Unbounded, Describe(e));
        return (FuzzOutcome.Crash, Describe(e));
    }

    /// <summary>Type, first line of the message, and the innermost LayerCard frame, which is where the fix goes.</summary>
    public static string Describe(Exception e)
    {
        var message = e.Message.Split('\n')[0].Trim();
        if (message.Length > 300) message = message[..300] + "...";
        var frame = (e.StackTrace ?? "").Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Contains("LayerCard.", StringComparison.Ordinal));
        var inner = e.InnerException != null ? $" (inner {e.InnerException.GetType().Name}: {e.InnerException.Message.Split('\n')[0]})" : "";
        return $"{e.GetType().Name}: {message}{inner}" + (frame != null ? $" {frame}" : "");
    }

    private static void TryDelete(string folder)
    {
        try { if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Deletes the work folder if this fuzzer made it and files are not kept.</summary>
    public void Dispose()
    {
        if (_ownsFolder) TryDelete(WorkFolder);
    }
}
