namespace LayerCard.Evaluation;

/// <summary>
/// E2E data lists one (MR, reference) pair per line, with several lines per MR; the metrics score one output
/// per MR against all of that MR's references. Grouping by exact input string mirrors E2E's loader.
/// </summary>
public static class ReferenceGrouping
{
    /// <summary>
    /// Distinct inputs in order of first appearance, each with its references in file order. Inputs are
    /// compared ordinally and verbatim: E2E does not normalise MRs, and a silently merged pair of MRs would
    /// change the number of scored outputs.
    /// </summary>
    public static (List<string> Inputs, List<List<string>> References) Group(
        IEnumerable<(string Input, string Reference)> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        var inputs = new List<string>();
        var references = new List<List<string>>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (input, reference) in pairs)
        {
            ArgumentNullException.ThrowIfNull(input);
            ArgumentNullException.ThrowIfNull(reference);
            if (!index.TryGetValue(input, out var i))
            {
                i = inputs.Count;
                index[input] = i;
                inputs.Add(input);
                references.Add([]);
            }
            references[i].Add(reference);
        }
        return (inputs, references);
    }
}
