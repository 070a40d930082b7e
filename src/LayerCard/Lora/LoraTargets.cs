using LayerCard.Common;
using LayerCard.Models;

namespace LayerCard.Lora;

/// <summary>Which modules of each layer get adapters when the user names none, and checks of names they give.</summary>
public static class LoraTargets
{
    /// <summary>Every linear module of a layer, by its path within the layer ("self_attn.q_proj", "mlp.c_fc"): what `run` adapts by default.</summary>
    public static IReadOnlyList<string> AllLinear(CausalLM model) => model.LayerLinears(0).Keys.Order(StringComparer.Ordinal).ToList();

    /// <summary>The given targets, or <paramref name="fallback"/> of the model when none are given; every name must match a module.</summary>
    public static IReadOnlyList<string> Resolve(IReadOnlyList<string>? requested, CausalLM model, Func<CausalLM, IReadOnlyList<string>> fallback)
    {
        var targets = requested is { Count: > 0 } ? requested : fallback(model);
        var modules = model.LayerLinears(0).Keys.ToList();
        var unmatched = targets.FirstOrDefault(t => !modules.Any(name => LoraModel.MatchesTarget(name, t)));
        if (unmatched != null)
            throw BadInputException.ForField("targets", $"'{unmatched}' names no module of {model.Config.Architecture} (modules: {string.Join(" ", modules)})");
        return targets;
    }

    /// <summary>PEFT's defaults for these families: the attention query and value projections.</summary>
    public static IReadOnlyList<string> QueryValue(CausalLM model) => LoraConfig.DefaultTargets(model.Config.Family);
}
