using LayerCard.Common;

namespace LayerCard.Placement;

/// <summary>What a plan optimises.</summary>
public enum PlanObjective
{
    /// <summary>The best predicted gain from exactly <see cref="PlanRequest.Layers"/> layers.</summary>
    Performance,
    /// <summary>The cheapest placement predicted to reach <see cref="PlanRequest.TargetGain"/>.</summary>
    Cost,
    /// <summary>The best predicted gain within the budgets.</summary>
    Budget,
}

/// <summary>
/// What to plan for. Refusals name its fields in snake_case: "objective", "layers", "target_gain", "budget_time",
/// "budget_memory", "max_adapted_layers".
/// </summary>
/// <param name="Objective">What the plan optimises.</param>
/// <param name="Layers">How many layers to adapt (performance).</param>
/// <param name="TargetGain">The fraction of the full-layer gain to reach, in (0, 1] (cost).</param>
/// <param name="BudgetTime">At most this fraction of the full-layer step time.</param>
/// <param name="BudgetMemory">At most this fraction of the full-layer peak memory.</param>
/// <param name="MaxAdaptedLayers">At most this many adapted layers.</param>
public sealed record PlanRequest(
    PlanObjective Objective, int? Layers = null, double? TargetGain = null, double? BudgetTime = null,
    double? BudgetMemory = null, int? MaxAdaptedLayers = null);

/// <summary>Why a layer is in a plan: its single-layer gain and rank, its strongest coupling within the plan, and whether it sets the backward span.</summary>
public sealed record LayerReason(int Layer, string Why);

/// <summary>A chosen placement with its predictions.</summary>
/// <param name="Objective">The objective's name in lower case, or "pareto" for front members.</param>
/// <param name="Layers">The adapted layers, ascending.</param>
/// <param name="PredictedGain">Predicted validation-loss reduction, in nats per target token.</param>
/// <param name="PredictedGainFraction">Predicted gain as a fraction of adapting every layer.</param>
/// <param name="PredictedStepSeconds">Predicted seconds per training step (relative units when the card has no cost model).</param>
/// <param name="PredictedTimeFraction">Step time as a fraction of adapting every layer.</param>
/// <param name="PredictedMemoryFraction">Peak memory increment as a fraction of adapting every layer.</param>
/// <param name="AdapterParameters">LoRA parameters of the placement.</param>
public sealed record Plan(
    string Objective, IReadOnlyList<int> Layers, double PredictedGain, double PredictedGainFraction,
    double? PredictedStepSeconds, double PredictedTimeFraction, double PredictedMemoryFraction, long AdapterParameters,
    IReadOnlyList<LayerReason> Reasons);

/// <summary>
/// Chooses layers from a card for an objective. Small models are searched exhaustively; beyond
/// <see cref="ExhaustiveLimit"/> layers, for every lowest layer m (which fixes most of the cost) layers above m
/// are added greedily by marginal predicted gain, which spreads choices where coupling is strong.
/// </summary>
public static class Planner
{
    /// <summary>Models with at most this many layers have every subset searched; larger ones use the greedy search.</summary>
    public const int ExhaustiveLimit = 16;

    /// <summary>
    /// The placement that best meets <paramref name="request"/>'s objective on <paramref name="model"/>'s predictions.
    /// A request no placement can meet is a <see cref="BadInputException"/> naming the request field at fault.
    /// </summary>
    public static Plan Choose(GainModel model, PlanRequest request)
    {
        Validate(request, model.Layers);
        var candidates = Candidates(model).ToList();
        IEnumerable<int[]> feasible = candidates;
        if (request.MaxAdaptedLayers is int cap) feasible = feasible.Where(s => s.Length <= cap);
        if (request.BudgetTime is double time) feasible = feasible.Where(s => model.TimeFraction(s) <= time + 1e-9);
        if (request.BudgetMemory is double memory) feasible = feasible.Where(s => model.MemoryFraction(s) <= memory + 1e-9);
        var pool = feasible.ToList();
        int[] chosen;
        switch (request.Objective)
        {
            case PlanObjective.Performance:
                var k = request.Layers ?? throw BadInputException.Naming("layers", n => $"{n("objective")} performance needs {n("layers")} K");
                chosen = pool.Where(s => s.Length == k).MaxBy(s => (model.Gain(s), -model.TimeFraction(s)))
                    ?? throw new BadInputException($"no placement of {k} layers fits the given budgets");
                break;
            case PlanObjective.Cost:
                var target = request.TargetGain ?? throw BadInputException.Naming("target_gain", n => $"{n("objective")} cost needs {n("target_gain")} F");
                if (pool.Count == 0) throw BadInputException.ForField("target_gain", $"{target}: no placement fits the given budgets");
                chosen = pool.Where(s => model.GainFraction(s) >= target - 1e-12).OrderBy(s => model.TimeFraction(s)).ThenBy(s => s.Length).ThenByDescending(s => model.Gain(s)).FirstOrDefault()
                    ?? throw BadInputException.ForField("target_gain", $"{target}: no placement is predicted to reach it within the budgets (best: {pool.Max(s => model.GainFraction(s)):P1} of full-layer gain)");
                break;
            default:
                if (pool.Count == 0) throw new BadInputException("no placement fits the given budgets");
                chosen = pool.MaxBy(s => (model.Gain(s), -model.TimeFraction(s)))!;
                break;
        }
        return Describe(model, request.Objective.ToString().ToLowerInvariant(), chosen);
    }

    /// <summary>The cost / predicted-gain front: placements no other is both cheaper and better than.</summary>
    public static IReadOnlyList<Plan> Pareto(GainModel model)
    {
        var points = Candidates(model).Select(s => (Set: s, Cost: model.TimeFraction(s), Gain: model.Gain(s))).OrderBy(p => p.Cost).ThenByDescending(p => p.Gain).ToList();
        var front = new List<int[]>();
        var best = double.NegativeInfinity;
        foreach (var p in points)
        {
            if (p.Gain <= best + 1e-12) continue;
            best = p.Gain;
            front.Add(p.Set);
        }
        return front.Select(s => Describe(model, "pareto", s)).ToList();
    }

    /// <summary>The plan for a given set of layers: its predictions and a reason per layer.</summary>
    public static Plan Describe(GainModel model, string objective, IReadOnlyList<int> layers)
    {
        var set = layers.Order().ToArray();
        var reasons = set.Select(l =>
        {
            var (other, rho) = model.StrongestCoupling(l, set);
            var rank = model.SingleGains.Select((g, i) => (g, i)).OrderByDescending(p => p.g).Select(p => p.i).ToList().IndexOf(l) + 1;
            var why = $"single-layer gain {model.SingleGains[l]:G4} ({(model.UsesMeasuredGains ? "measured" : "predicted")}, rank {rank} of {model.Layers})";
            why += other >= 0 ? $"; strongest coupling with chosen layer {other}: rho {rho:F2}" : "; no other chosen layer";
            if (l == set[0]) why += $"; lowest adapted layer: backward runs over {model.Layers - l} of {model.Layers} layers";
            return new LayerReason(l, why);
        }).ToList();
        return new Plan(objective, set, model.Gain(set), model.GainFraction(set), model.Cost.StepSeconds(set), model.TimeFraction(set),
            model.MemoryFraction(set), model.AdapterParameters(set), reasons);
    }

    private static IEnumerable<int[]> Candidates(GainModel model)
    {
        int layers = model.Layers;
        if (layers <= ExhaustiveLimit)
        {
            foreach (var set in LayerSets.All(layers)) yield return set;
            yield break;
        }
        for (int lowest = 0; lowest < layers; lowest++)
        {
            var set = new List<int> { lowest };
            yield return set.ToArray();
            var rest = Enumerable.Range(lowest + 1, layers - lowest - 1).ToList();
            while (rest.Count > 0)
            {
                var next = rest.MaxBy(l => model.Gain([.. set, l]));
                set.Add(next);
                rest.Remove(next);
                yield return set.Order().ToArray();
            }
        }
    }

    /// <summary>Refuses a request no card can plan for; with <paramref name="layerCount"/> null, only what does not depend on the model.</summary>
    public static void Validate(PlanRequest request, int? layerCount)
    {
        if (request.Layers is int k && (k <= 0 || k > (layerCount ?? int.MaxValue)))
            throw BadInputException.ForField("layers", $"{k}: the model has {layerCount} layers; ask for 1 to {layerCount}");
        if (request.TargetGain is double t && !(t > 0 && t <= 1))
            throw BadInputException.ForField("target_gain", $"{t}: a fraction of the full-layer gain must be in (0, 1]");
        if (request.BudgetTime is double bt && !(bt > 0)) throw BadInputException.ForField("budget_time", $"{bt}: must be a positive fraction of the full-layer step time");
        if (request.BudgetMemory is double bm && !(bm > 0)) throw BadInputException.ForField("budget_memory", $"{bm}: must be a positive fraction of the full-layer peak memory");
        if (request.MaxAdaptedLayers is int m && (m <= 0 || m > (layerCount ?? int.MaxValue)))
            throw BadInputException.ForField("max_adapted_layers", $"{m}: the model has {layerCount} layers");
    }
}
