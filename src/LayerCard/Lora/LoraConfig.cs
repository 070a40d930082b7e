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

    /// <summary>
    /// Refuses a configuration no adapter can have, with a <see cref="BadInputException"/> whose
    /// <see cref="BadInputException.Field"/> is the field name ("rank", "alpha", "dropout", "targets", "layers").
    /// </summary>
    public void Validate()
    {
        if (Rank <= 0) throw BadInputException.ForField("rank", $"must be positive, got {Rank}");
        if (!(Alpha > 0) || !double.IsFinite(Alpha)) throw BadInputException.ForField("alpha", $"must be positive, got {Alpha}");
        if (!(Dropout >= 0 && Dropout < 1)) throw BadInputException.ForField("dropout", $"must be in [0, 1), got {Dropout}");
        if (Targets.Count == 0) throw BadInputException.ForField("targets", "names no module");
        if (Layers.Count == 0) throw BadInputException.ForField("layers", "selects no layer");
    }

    /// <summary>The default targets of a family: attention query and value projections, as PEFT's defaults for these models.</summary>
    public static IReadOnlyList<string> DefaultTargets(string family) =>
        family == "gpt2" ? ["attn.c_attn"] : ["q_proj", "v_proj"];
}

/// <summary>Parses layer selections: all, 3,5,7, 2-4, top:K, bottom:K.</summary>
public static class LayerSelection
{
    /// <summary>
    /// The sorted layer indexes <paramref name="spec"/> selects on a model of <paramref name="layerCount"/> layers.
    /// A bad selection is a <see cref="BadInputException"/> about <paramref name="field"/>, the request field the
    /// selection came from ("layers", "probe_layers").
    /// </summary>
    public static int[] Parse(string spec, int layerCount, string field = "layers")
    {
        var text = spec.Trim().ToLowerInvariant();
        if (text == "all") return Enumerable.Range(0, layerCount).ToArray();
        if (text.StartsWith("top:") || text.StartsWith("bottom:"))
        {
            var top = text.StartsWith("top:");
            if (!int.TryParse(text[(text.IndexOf(':') + 1)..], out var k) || k <= 0)
                throw BadInputException.ForField(field, $"{spec}: expected a positive count after '{text[..text.IndexOf(':')]}:'");
            if (k > layerCount)
                throw BadInputException.ForField(field, $"{spec}: asks for {k} layers but the model has {layerCount}");
            return top ? Enumerable.Range(layerCount - k, k).ToArray() : Enumerable.Range(0, k).ToArray();
        }
        var layers = new SortedSet<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = part.IndexOf('-', 1);
            if (dash > 0)
            {
                var from = ParseIndex(part[..dash], spec, layerCount, field);
                var to = ParseIndex(part[(dash + 1)..], spec, layerCount, field);
                if (to < from) throw BadInputException.ForField(field, $"{spec}: range {part} is empty");
                for (int i = from; i <= to; i++) layers.Add(i);
            }
            else layers.Add(ParseIndex(part, spec, layerCount, field));
        }
        if (layers.Count == 0) throw BadInputException.ForField(field, $"{spec}: selects no layer");
        return layers.ToArray();
    }

    private static int ParseIndex(string text, string spec, int layerCount, string field)
    {
        if (!int.TryParse(text, out var index))
            throw BadInputException.ForField(field, $"{spec}: '{text}' is not a layer index (use all, 3,5,7, 2-4, top:K or bottom:K)");
        if (index < 0 || index >= layerCount)
            throw BadInputException.ForField(field, $"{spec}: layer {index} is out of range (the model has {layerCount} layers: 0-{layerCount - 1})");
        return index;
    }

    /// <summary>A selection as Parse reads it back: the indexes, comma separated.</summary>
    public static string Format(IReadOnlyList<int> layers) => string.Join(",", layers);
}
