namespace LayerCard.Bench.Fuzzing;

/// <summary>How a reader dealt with one damaged input. Loaded and Refused are the two acceptable ends; the rest are bugs.</summary>
public enum FuzzOutcome
{
    /// <summary>The reader accepted the input and the result passed the consistency checks.</summary>
    Loaded,

    /// <summary>The reader refused the input with a one-line message naming the file or folder.</summary>
    Refused,

    /// <summary>Accepted, but the model or tokenizer does not work as its files say.</summary>
    Inconsistent,

    /// <summary>Refused, but the message is empty, spans lines or does not name the file.</summary>
    Unclear,

    /// <summary>Any exception other than a refusal.</summary>
    Crash,

    /// <summary>No answer within the timeout.</summary>
    Hang,

    /// <summary>Memory grew past the limit.</summary>
    Unbounded,
}

/// <summary>Helpers on <see cref="FuzzOutcome"/>.</summary>
public static class FuzzOutcomes
{
    /// <summary>True for every outcome but the two acceptable ones, Loaded and Refused.</summary>
    public static bool IsFailure(this FuzzOutcome outcome) => outcome is not (FuzzOutcome.Loaded or FuzzOutcome.Refused);
}

/// <summary>One case: <see cref="Seed"/> and <see cref="Index"/> rebuild it exactly (fuzz --replay SEED:INDEX).</summary>
public sealed record FuzzCase(long Seed, int Index, string Kind, string Target, IReadOnlyList<string> Mutations)
{
    /// <summary>SEED:INDEX, the form fuzz --replay takes.</summary>
    public string Id => $"{Seed}:{Index}";

    /// <summary>The mutations applied, or "no mutation (control)".</summary>
    public string Description => Mutations.Count == 0 ? "no mutation (control)" : string.Join("; ", Mutations);
}

/// <summary>What happened to one case.</summary>
/// <param name="Case">The case.</param>
/// <param name="Outcome">How the reader dealt with it.</param>
/// <param name="Detail">The refusal message, the loaded model's description or what went wrong, with the case folder shown as &lt;case&gt;.</param>
/// <param name="Elapsed">Wall time of the load.</param>
/// <param name="MemoryGrowthBytes">Growth of resident memory during the load.</param>
public sealed record FuzzResult(FuzzCase Case, FuzzOutcome Outcome, string Detail, TimeSpan Elapsed, long MemoryGrowthBytes)
{
    /// <summary>
    /// The load was still running when memory passed <see cref="FuzzOptions.AbortBytes"/>. Its thread cannot be
    /// stopped, so the run ends with this case and the host process should end soon.
    /// </summary>
    public bool StopsRun { get; init; }

    /// <summary>One line: id, kind, outcome, mutations, the path loaded and the detail.</summary>
    public override string ToString() =>
        $"{Case.Id} {Case.Kind} {Outcome}: {Case.Description} [load {Case.Target}] -> {Detail}";
}

/// <summary>Counts per outcome and per kind, and the failures in the order they happened.</summary>
public sealed class FuzzSummary
{
    private readonly Dictionary<(string Kind, FuzzOutcome Outcome), int> _counts = [];
    private readonly List<FuzzResult> _failures = [];
    private readonly Dictionary<string, TimeSpan> _time = [];

    /// <summary>Number of cases run.</summary>
    public int Total { get; private set; }

    /// <summary>Wall time of the whole run.</summary>
    public TimeSpan Elapsed { get; set; }

    /// <summary>The largest memory growth of any case.</summary>
    public long MaxMemoryGrowthBytes { get; private set; }

    /// <summary>The case that took longest, or null before the first case.</summary>
    public FuzzResult? Slowest { get; private set; }

    /// <summary>The failing cases, in the order they ran.</summary>
    public IReadOnlyList<FuzzResult> Failures => _failures;

    /// <summary>The case that ended the run early (<see cref="FuzzResult.StopsRun"/>), or null if the run went to the end.</summary>
    public FuzzResult? StoppedBy { get; private set; }

    /// <summary>Counts one result.</summary>
    public void Add(FuzzResult result)
    {
        if (result.StopsRun) StoppedBy ??= result;
        Total++;
        var key = (result.Case.Kind, result.Outcome);
        _counts[key] = _counts.GetValueOrDefault(key) + 1;
        _time[result.Case.Kind] = _time.GetValueOrDefault(result.Case.Kind) + result.Elapsed;
        if (result.Outcome.IsFailure()) _failures.Add(result);
        MaxMemoryGrowthBytes = Math.Max(MaxMemoryGrowthBytes, result.MemoryGrowthBytes);
        if (Slowest == null || result.Elapsed > Slowest.Elapsed) Slowest = result;
    }

    /// <summary>Cases with <paramref name="outcome"/>, over all kinds.</summary>
    public int Count(FuzzOutcome outcome) => _counts.Where(p => p.Key.Outcome == outcome).Sum(p => p.Value);

    /// <summary>Cases of <paramref name="kind"/> with <paramref name="outcome"/>.</summary>
    public int Count(string kind, FuzzOutcome outcome) => _counts.GetValueOrDefault((kind, outcome));

    /// <summary>Number of failing cases.</summary>
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
