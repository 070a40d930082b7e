namespace LayerCard.Bench.Fuzzing;

/// <summary>
/// How a reader dealt with one damaged input. Loaded and Refused are the two acceptable ends; the rest are bugs:
/// Inconsistent (accepted, but the model or tokenizer does not work as its files say), Unclear (refused, but the
/// message is empty, spans lines or does not name the file), Crash (any exception other than a refusal),
/// Hang (no answer within the timeout) and Unbounded (memory grew past the limit).
/// </summary>
public enum FuzzOutcome { Loaded, Refused, Inconsistent, Unclear, Crash, Hang, Unbounded }

public static class FuzzOutcomes
{
    public static bool IsFailure(this FuzzOutcome outcome) => outcome is not (FuzzOutcome.Loaded or FuzzOutcome.Refused);
}

/// <summary>One case: <see cref="Seed"/> and <see cref="Index"/> rebuild it exactly (fuzz --replay SEED:INDEX).</summary>
public sealed record FuzzCase(long Seed, int Index, string Kind, string Target, IReadOnlyList<string> Mutations)
{
    public string Id => $"{Seed}:{Index}";
    public string Description => Mutations.Count == 0 ? "no mutation (control)" : string.Join("; ", Mutations);
}

public sealed record FuzzResult(FuzzCase Case, FuzzOutcome Outcome, string Detail, TimeSpan Elapsed, long MemoryGrowthBytes)
{
    public override string ToString() =>
        $"{Case.Id} {Case.Kind} {Outcome}: {Case.Description} [load {Case.Target}] -> {Detail}";
}

/// <summary>Counts per outcome and per kind, and the failures in the order they happened.</summary>
public sealed class FuzzSummary
{
    private readonly Dictionary<(string Kind, FuzzOutcome Outcome), int> _counts = [];
    private readonly List<FuzzResult> _failures = [];
    private readonly Dictionary<string, TimeSpan> _time = [];

    public int Total { get; private set; }
    public TimeSpan Elapsed { get; set; }
    public long MaxMemoryGrowthBytes { get; private set; }
    public FuzzResult? Slowest { get; private set; }
    public IReadOnlyList<FuzzResult> Failures => _failures;

    public void Add(FuzzResult result)
    {
        Total++;
        var key = (result.Case.Kind, result.Outcome);
        _counts[key] = _counts.GetValueOrDefault(key) + 1;
        _time[result.Case.Kind] = _time.GetValueOrDefault(result.Case.Kind) + result.Elapsed;
        if (result.Outcome.IsFailure()) _failures.Add(result);
        MaxMemoryGrowthBytes = Math.Max(MaxMemoryGrowthBytes, result.MemoryGrowthBytes);
        if (Slowest == null || result.Elapsed > Slowest.Elapsed) Slowest = result;
    }

    public int Count(FuzzOutcome outcome) => _counts.Where(p => p.Key.Outcome == outcome).Sum(p => p.Value);

    public int Count(string kind, FuzzOutcome outcome) => _counts.GetValueOrDefault((kind, outcome));

    public int FailureCount => _failures.Count;

    /// <summary>A plain-text table: one row per kind, one column per outcome, and a total row.</summary>
    public string Table()
    {
        var outcomes = Enum.GetValues<FuzzOutcome>();
        var kinds = FuzzKinds.All.Where(k => outcomes.Any(o => Count(k, o) > 0)).ToList();
        const int first = 16, width = 13;
        var lines = new List<string>
        {
            "kind".PadRight(first) + string.Concat(outcomes.Select(o => o.ToString().PadLeft(width))) + "total".PadLeft(width) + "ms/case".PadLeft(width),
        };
        foreach (var kind in kinds)
        {
            int total = outcomes.Sum(o => Count(kind, o));
            lines.Add(kind.PadRight(first) + string.Concat(outcomes.Select(o => Count(kind, o).ToString().PadLeft(width)))
                + total.ToString().PadLeft(width) + (_time.GetValueOrDefault(kind).TotalMilliseconds / total).ToString("0.0").PadLeft(width));
        }
        lines.Add("all".PadRight(first) + string.Concat(outcomes.Select(o => Count(o).ToString().PadLeft(width))) + Total.ToString().PadLeft(width));
        return string.Join(Environment.NewLine, lines);
    }
}
