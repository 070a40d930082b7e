using System.Text.Json;
using System.Text.Json.Nodes;
using LayerCard.Card;
using LayerCard.Common;
using LayerCard.Lora;

namespace LayerCard.Placement;

/// <summary>
/// Writes plan.json and a PEFT adapter_config.json whose layers_to_transform carries the plan, so the same
/// placement runs in PEFT, axolotl (peft_layers_to_transform) or unsloth on their own engines.
/// </summary>
public static class PlanOutput
{
    /// <summary>The card's LoRA configuration (targets, rank, alpha) on <paramref name="layers"/>, with dropout 0.05 and no rsLoRA.</summary>
    public static LoraConfig LoraConfigOf(CardDocument card, IReadOnlyList<int> layers) =>
        new(card.Lora.Rank, card.Lora.Alpha, 0.05, false, card.Lora.Targets, layers);

    /// <summary>PEFT's adapter_config.json for the card's LoRA on <paramref name="layers"/>.</summary>
    public static JsonObject AdapterConfig(CardDocument card, IReadOnlyList<int> layers)
    {
        var gpt2 = card.Model.Architecture == "GPT2LMHeadModel";
        return PeftAdapter.ConfigJson(LoraConfigOf(card, layers), gpt2 ? "h" : "layers", gpt2, card.Model.Reference);
    }

    /// <summary>Writes plan.json at <paramref name="planPath"/> (the plan, its predictions, reasons per layer, an axolotl snippet and the Pareto front when given) and adapter_config.json beside it, each atomically.</summary>
    public static void Write(string planPath, CardDocument card, Plan plan, IReadOnlyList<Plan>? pareto, GainModel model)
    {
        var json = new JsonObject
        {
            ["schema"] = "layercard/plan",
            ["schema_version"] = 1,
            ["card"] = card.CacheKey,
            ["model"] = card.Model.Reference,
            ["model_sha256"] = card.Model.ContentSha256,
            ["objective"] = plan.Objective,
            ["layers"] = new JsonArray(plan.Layers.Select(l => (JsonNode)l).ToArray()),
            ["predicted_gain"] = plan.PredictedGain,
            ["predicted_gain_fraction"] = plan.PredictedGainFraction,
            ["full_layer_gain"] = model.FullGain,
            ["gains_from"] = model.GainsFrom,
            ["coupling_scale"] = model.CouplingScale,
            ["predicted_step_seconds"] = plan.PredictedStepSeconds,
            ["predicted_time_fraction"] = plan.PredictedTimeFraction,
            ["predicted_memory_fraction"] = plan.PredictedMemoryFraction,
            ["adapter_parameters"] = plan.AdapterParameters,
            ["reasons"] = new JsonArray(plan.Reasons.Select(r => (JsonNode)new JsonObject { ["layer"] = r.Layer, ["why"] = r.Why }).ToArray()),
            ["axolotl"] = new JsonObject
            {
                ["adapter"] = "lora", ["lora_r"] = card.Lora.Rank, ["lora_alpha"] = card.Lora.Alpha,
                ["lora_target_modules"] = new JsonArray(card.Lora.Targets.Select(t => (JsonNode)t).ToArray()),
                ["peft_layers_to_transform"] = new JsonArray(plan.Layers.Select(l => (JsonNode)l).ToArray()),
            },
        };
        if (pareto != null)
            json["pareto"] = new JsonArray(pareto.Select(p => (JsonNode)new JsonObject
            {
                ["layers"] = new JsonArray(p.Layers.Select(l => (JsonNode)l).ToArray()),
                ["predicted_gain_fraction"] = p.PredictedGainFraction,
                ["predicted_time_fraction"] = p.PredictedTimeFraction,
                ["predicted_memory_fraction"] = p.PredictedMemoryFraction,
            }).ToArray());
        var options = new JsonSerializerOptions { WriteIndented = true };
        AtomicFile.WriteAllText(planPath, json.ToJsonString(options));
        var adapterConfig = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(planPath))!, PeftAdapter.ConfigFile);
        AtomicFile.WriteAllText(adapterConfig, AdapterConfig(card, plan.Layers).ToJsonString(options));
    }
}
