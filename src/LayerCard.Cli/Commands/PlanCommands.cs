using System.CommandLine;
using LayerCard.Card;
using LayerCard.Common;
using LayerCard.Models;
using LayerCard.Placement;

namespace LayerCard.Cli.Commands;

/// <summary>layercard plan: choose layers from a card for an objective.</summary>
public static class PlanCommands
{
    /// <summary>The objective an --objective value names (case-insensitive); anything else is a <see cref="BadInputException"/>.</summary>
    public static PlanObjective ParseObjective(string text) => text.ToLowerInvariant() switch
    {
        "performance" => PlanObjective.Performance,
        "cost" => PlanObjective.Cost,
        "budget" => PlanObjective.Budget,
        var o => throw new BadInputException($"--objective {o}: expected performance, cost or budget"),
    };

    /// <summary>layercard plan.</summary>
    public static Command Plan(TextWriter stdout)
    {
        var cardOption = new Option<string>("--card") { Description = "card.json from `layercard card`", Required = true };
        var model = new Option<string?>("--model") { Description = "check that the card was made for this model" };
        var objective = new Option<string>("--objective") { Description = "performance, cost or budget", DefaultValueFactory = _ => "performance" };
        var layers = new Option<int?>("--layers") { Description = "number of layers to adapt (performance)" };
        var target = new Option<double?>("--target-gain") { Description = "fraction of the full-layer gain to reach at least cost (cost), e.g. 0.95" };
        var budgetTime = new Option<double?>("--budget-time") { Description = "at most this fraction of the full-layer step time" };
        var budgetMemory = new Option<double?>("--budget-memory") { Description = "at most this fraction of the full-layer peak memory" };
        var maxLayers = new Option<int?>("--max-adapted-layers");
        var pareto = new Option<bool>("--pareto") { Description = "also print and save the cost / predicted-gain front" };
        var output = new Option<string>("--out") { Description = "plan.json (adapter_config.json is written beside it)", DefaultValueFactory = _ => "plan.json" };
        var steps = new Option<int?>("--steps") { Description = $"steps of the fine-tune the plan is for: the card's gain fractions are read at that budget (default: the card's own {GainModel.ReferenceSteps}-step fractions)" };
        var command = new Command("plan", "Choose the layers to adapt from a Layer Card.") { cardOption, model, objective, layers, target, budgetTime, budgetMemory, maxLayers, pareto, steps, output };
        command.SetAction(parsed =>
        {
            var cardPath = Path.GetFullPath(parsed.GetValue(cardOption)!);
            var card = CardDocument.Load(cardPath);
            if (parsed.GetValue(model) is string m)
            {
                using var loaded = ModelLoader.Load(m, null, TorchSharp.torch.CPU);
                card.RequireModel(loaded.ContentHash, m, cardPath);
            }
            var kind = PlanCommands.ParseObjective(parsed.GetValue(objective)!);
            var request = new PlanRequest(kind, parsed.GetValue(layers), parsed.GetValue(target), parsed.GetValue(budgetTime), parsed.GetValue(budgetMemory), parsed.GetValue(maxLayers));
            if (kind == PlanObjective.Budget && request.BudgetTime is null && request.BudgetMemory is null && request.MaxAdaptedLayers is null)
                throw new BadInputException("--objective budget needs --budget-time, --budget-memory or --max-adapted-layers");
            if (parsed.GetValue(steps) is <= 0) throw new BadInputException($"--steps must be positive, got {parsed.GetValue(steps)}");
            var gainModel = new GainModel(card, parsed.GetValue(steps));
            var plan = Planner.Choose(gainModel, request);
            var front = parsed.GetValue(pareto) ? Planner.Pareto(gainModel) : null;
            var outPath = Path.GetFullPath(parsed.GetValue(output)!);
            PlanOutput.Write(outPath, card, plan, front, gainModel);
            stdout.WriteLine($"layers {string.Join(",", plan.Layers)}: predicted {plan.PredictedGainFraction:P0} of the full-layer gain at {plan.PredictedTimeFraction:P0} of its step time and {plan.PredictedMemoryFraction:P0} of its peak memory ({plan.AdapterParameters:N0} adapter parameters): predicted to save {1 - plan.PredictedTimeFraction:P0} of the all-layer training time");
            foreach (var reason in plan.Reasons) stdout.WriteLine($"  layer {reason.Layer}: {reason.Why}");
            if (front != null)
            {
                stdout.WriteLine("Pareto front (time fraction -> gain fraction):");
                foreach (var p in front) stdout.WriteLine($"  {p.PredictedTimeFraction,6:P0} -> {p.PredictedGainFraction,6:P0}  layers {string.Join(",", p.Layers)}");
            }
            stdout.WriteLine($"wrote {outPath} and {Path.Combine(Path.GetDirectoryName(outPath)!, "adapter_config.json")} (layers_to_transform for PEFT; peft_layers_to_transform for axolotl)");
            return ExitCodes.Success;
        });
        return command;
    }
}
