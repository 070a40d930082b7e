using LayerCard.Common;

namespace LayerCard.Data;

/// <summary>
/// A loaded data file: either examples (prompt/completion pairs) or, for <see cref="DataFormat.PlainText"/>, one
/// document in <see cref="PlainText"/>. <see cref="ContentHash"/> identifies the file's bytes so that a resumed
/// run can refuse data that changed under it.
/// </summary>
public sealed class TaskDataset
{
    /// <summary>The first <paramref name="count"/> examples; plain text is cut into windows only when tokenized, so it stays whole.</summary>
    public TaskDataset First(int? count) =>
        PlainText != null || count is not int n || Examples.Count <= n ? this : new TaskDataset(Source, Format, Examples.Take(n).ToList(), null, Labels, ContentHash);

    /// <summary>A loaded dataset. Plain text carries <paramref name="plainText"/> and no examples; every other format carries examples and no text. <paramref name="format"/> must be concrete (not Auto).</summary>
    public TaskDataset(string source, DataFormat format, IReadOnlyList<Example> examples, string? plainText,
        IReadOnlyList<string>? labels, string contentHash)
    {
        if (format == DataFormat.Auto) throw new ArgumentException("a loaded dataset has a concrete format", nameof(format));
        if ((format == DataFormat.PlainText) != (plainText != null))
            throw new ArgumentException("plain text data carries text and only plain text data does", nameof(plainText));
        Source = source;
        Format = format;
        Examples = examples;
        PlainText = plainText;
        Labels = labels;
        ContentHash = contentHash;
    }

    /// <summary>The file the data came from; error messages name it.</summary>
    public string Source { get; }
    /// <summary>The format the file was read as (never Auto).</summary>
    public DataFormat Format { get; }
    /// <summary>The examples in file order (empty for plain text).</summary>
    public IReadOnlyList<Example> Examples { get; }
    /// <summary>The whole document for plain text; null for every other format.</summary>
    public string? PlainText { get; }
    /// <summary>Label words in index order, for classification.</summary>
    public IReadOnlyList<string>? Labels { get; }
    /// <summary>Lower-case hex sha256 of the file's bytes (the same for both halves of a split).</summary>
    public string ContentHash { get; }

    /// <summary>
    /// Holds out about <paramref name="fraction"/> of the data. Plain text gives up its tail (cut at a line
    /// break, so no line is split); examples give a seeded random subset, and examples sharing a
    /// <see cref="Example.Group"/> stay on the same side so held-out E2E inputs were never trained on. Both
    /// halves keep file order.
    /// </summary>
    public (TaskDataset Train, TaskDataset HeldOut) Split(double fraction, long seed)
    {
        if (double.IsNaN(fraction) || fraction < 0 || fraction >= 1)
            throw new BadInputException($"the held-out fraction must be at least 0 and below 1, not {fraction}");
        if (fraction == 0) return (this, With([], PlainText == null ? null : ""));
        return PlainText != null ? SplitText(PlainText, fraction) : SplitExamples(fraction, seed);
    }

    private (TaskDataset, TaskDataset) SplitText(string text, double fraction)
    {
        int cut = (int)Math.Floor(text.Length * (1 - fraction));
        int lineStart = cut > 0 ? text.LastIndexOf('\n', cut - 1) + 1 : 0;
        if (lineStart > 0) cut = lineStart;
        if (cut <= 0 || cut >= text.Length)
            throw BadInputException.InFile(Source, $"too little text to hold out {Percent(fraction)} of it");
        return (With([], text[..cut]), With([], text[cut..]));
    }

    private (TaskDataset, TaskDataset) SplitExamples(double fraction, long seed)
    {
        // Groups in order of first appearance; an example without a group is a group of its own.
        var groups = new List<List<int>>();
        var byName = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (int i = 0; i < Examples.Count; i++)
        {
            var name = Examples[i].Group;
            if (name != null && byName.TryGetValue(name, out var members)) { members.Add(i); continue; }
            var group = new List<int> { i };
            groups.Add(group);
            if (name != null) byName[name] = group;
        }
        if (groups.Count < 2)
            throw BadInputException.InFile(Source, $"cannot hold out {Percent(fraction)}: the data has only one " +
                (Examples.Count > 1 ? "group of examples" : "example"));

        int target = Math.Max(1, (int)Math.Round(fraction * Examples.Count, MidpointRounding.AwayFromZero));
        var held = new List<int>();
        var takenGroups = 0;
        foreach (var g in SeededShuffle.Permutation(groups.Count, seed, SplitStream))
        {
            if (held.Count >= target || takenGroups == groups.Count - 1) break;
            held.AddRange(groups[g]);
            takenGroups++;
        }
        var isHeld = new bool[Examples.Count];
        foreach (var i in held) isHeld[i] = true;
        var train = Examples.Where((_, i) => !isHeld[i]).ToList();
        var heldOut = Examples.Where((_, i) => isHeld[i]).ToList();
        return (With(train, null), With(heldOut, null));
    }

    // Epoch orders use streams 0, 1, 2, ...; the split draws from a stream no epoch reaches.
    private const long SplitStream = -0x5EED;

    private static string Percent(double fraction) => $"{fraction * 100:0.##}%";

    private TaskDataset With(IReadOnlyList<Example> examples, string? text) =>
        new(Source, Format, examples, text, Labels, ContentHash);
}
