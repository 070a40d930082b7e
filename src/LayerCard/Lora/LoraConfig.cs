using LayerCard.Common;

namespace LayerCard.Lora;

/// <summary>
/// What PEFT's LoraConfig holds that matters here: rank, alpha, dropout, rsLoRA, the target modules and
/// the adapted layers. Everything but the layer set is held fixed when placements are compared.
/// </summary>
public sealed record LoraConfig(int Rank, double Alpha, double Dropout, bool UseRsLora, IReadOnlyList<string> Targets, IReadOnlyList<int> Layers)
{
    /// <summary>PEFT's scaling: alpha / r, or alpha / sqrt(r) with rsLoRA.</summary>
    public double Scaling => UseRsLora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank;

    public void Validate()
    {
        if (Rank <= 0) throw new BadInputException($"--rank must be positive, got {Rank}");
        if (!(Alpha > 0) || !double.IsFinite(Alpha)) throw new BadInputException($"--alpha must be positive, got {Alpha}");
        if (!(Dropout >= 0 && Dropout < 1)) throw new BadInputException($"--dropout must be in [0, 1), got {Dropout}");
        if (Targets.Count == 0) throw new BadInputException("--targets names no module");
        if (Layers.Count == 0) throw new BadInputException("--layers selects no layer");
    }

    /// <summary>The default targets of a family: attention query and value projections, as PEFT's defaults for these models.</summary>
    public static IReadOnlyList<string> DefaultTargets(string family) =>
        family == "gpt2" ? ["attn.c_attn"] : ["q_proj", "v_proj"];
}

/// <summary>Parses layer selections: all, 3,5,7, 2-4, top:K, bottom:K.</summary>
public static class LayerSelection
{
    public static int[] Parse(string spec, int layerCount, string optionName = "--layers")
    {
        var text = spec.Trim().ToLowerInvariant();
        if (text == "all") return Enumerable.Range(0, layerCount).ToArray();
        if (text.StartsWith("top:") || text.StartsWith("bottom:"))
        {
            var top = text.StartsWith("top:");
            if (!int.TryParse(text[(text.IndexOf(':') + 1)..], out var k) || k <= 0)
                throw new BadInputException($"{optionName} {spec}: expected a positive count after '{text[..text.IndexOf(':')]}:'");
            if (k > layerCount)
                throw new BadInputException($"{optionName} {spec}: asks for {k} layers but the model has {layerCount}");
            return top ? Enumerable.Range(layerCount - k, k).ToArray() : Enumerable.Range(0, k).ToArray();
        }
        var layers = new SortedSet<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = part.IndexOf('-', 1);
            if (dash > 0)
            {
                var from = ParseIndex(part[..dash], spec, layerCount, optionName);
                var to = ParseIndex(part[(dash + 1)..], spec, layerCount, optionName);
                if (to < from) throw new BadInputException($"{optionName} {spec}: range {part} is empty");
                for (int i = from; i <= to; i++) layers.Add(i);
            }
            else layers.Add(ParseIndex(part, spec, layerCount, optionName));
        }
        if (layers.Count == 0) throw new BadInputException($"{optionName} {spec}: selects no layer");
        return layers.ToArray();
    }

    private static int ParseIndex(string text, string spec, int layerCount, string optionName)
    {
        if (!int.TryParse(text, out var index))
            throw new BadInputException($"{optionName} {spec}: '{text}' is not a layer index (use all, 3,5,7, 2-4, top:K or bottom:K)");
        if (index < 0 || index >= layerCount)
            throw new BadInputException($"{optionName} {spec}: layer {index} is out of range (the model has {layerCount} layers: 0-{layerCount - 1})");
        return index;
    }

    public static string Format(IReadOnlyList<int> layers) => string.Join(",", layers);
}
