using LayerCard.Card;
using LayerCard.Placement;

namespace LayerCard.Tests.Placement;

/// <summary>
/// The cost and budget objectives on a synthetic card whose gains and costs the test computes on its own: layers
/// fall into groups that are fully coupled inside (rho 1) and independent across, so a set's gain is the sum over
/// groups of its best single gain in the group, and the step time is the card's linear cost model. Every subset
/// of the 8 layers is enumerated here and the planner's choice compared with the best one.
/// </summary>
public class PlannerObjectiveTests
{
    // Strong layers sit low (expensive: the backward runs from the lowest adapted layer up), and two pairs are redundant.
    private static readonly double[] Gains = [0.9, 0.2, 0.5, 0.45, 0.1, 0.6, 0.3, 0.35];
    private static readonly int[] Group = [0, 1, 2, 2, 4, 5, 6, 5]; // {2, 3} and {5, 7} are fully coupled
    private const int Layers = 8;
    private const double TimeBase = 0.05, TimePerBackwardLayer = 0.1, TimePerAdaptedLayer = 0.03;

    private static GainModel Model()
    {
        var card = CardAndPlanTests.SyntheticCard(Gains, (i, j) => Group[i] == Group[j] ? 1 : 0) with
        {
            CostModel = new CostModel(Layers, TimeBase, TimePerBackwardLayer, TimePerAdaptedLayer, 1e6, 1e5, 1e4, null, null, 0),
        };
        return new GainModel(card);
    }

    private static double GainOf(IReadOnlyCollection<int> set) =>
        set.GroupBy(l => Group[l]).Sum(g => g.Max(l => Gains[l]));

    private static double SecondsOf(IReadOnlyCollection<int> set) =>
        TimeBase + TimePerBackwardLayer * (Layers - set.Min()) + TimePerAdaptedLayer * set.Count;

    private static readonly double FullGain = GainOf(Enumerable.Range(0, Layers).ToArray());

    private static List<int[]> AllSubsets() =>
        Enumerable.Range(1, (1 << Layers) - 1).Select(mask => Enumerable.Range(0, Layers).Where(l => (mask & (1 << l)) != 0).ToArray()).ToList();

    private static IEnumerable<double> Targets() => Enumerable.Range(1, 20).Select(k => k * 0.05);

    [Fact]
    public void TheCostPlanIsTheCheapestSetThatReachesTheTarget()
    {
        var model = Model();
        var subsets = AllSubsets();
        var cheapest = new List<double>();
        foreach (var target in Targets())
        {
            var plan = Planner.Choose(model, new PlanRequest(PlanObjective.Cost, TargetGain: target));
            var reaching = subsets.Where(s => GainOf(s) / FullGain >= target - 1e-12).ToList();
            double best = reaching.Min(SecondsOf);

            Assert.Equal(GainOf(plan.Layers) / FullGain, plan.PredictedGainFraction, 9);
            Assert.Equal(SecondsOf(plan.Layers), plan.PredictedStepSeconds!.Value, 9);
            Assert.True(GainOf(plan.Layers) / FullGain >= target - 1e-12, $"target {target}: [{string.Join(",", plan.Layers)}] falls short");
            Assert.True(Math.Abs(SecondsOf(plan.Layers) - best) < 1e-12,
                $"target {target}: [{string.Join(",", plan.Layers)}] costs {SecondsOf(plan.Layers)} s but [{string.Join(",", reaching.MinBy(SecondsOf)!)}] reaches it for {best} s");
            cheapest.Add(best);
        }
        // The brute force itself is not trivial on this card: the cheapest cost changes several times with the target.
        Assert.True(cheapest.Distinct().Count() >= 4, string.Join(" ", cheapest));
    }

    [Fact]
    public void AHigherTargetNeverYieldsACheaperPlan()
    {
        var model = Model();
        var plans = Targets().Select(t => (Target: t, Plan: Planner.Choose(model, new PlanRequest(PlanObjective.Cost, TargetGain: t)))).ToList();
        foreach (var (lower, higher) in plans.Zip(plans.Skip(1)))
            Assert.True(higher.Plan.PredictedStepSeconds >= lower.Plan.PredictedStepSeconds - 1e-12,
                $"target {higher.Target} costs {higher.Plan.PredictedStepSeconds} s, less than target {lower.Target} at {lower.Plan.PredictedStepSeconds} s");
        // Reaching the whole gain needs one layer of each group and layer 0, so the backward spans every layer.
        Assert.Equal(SecondsOf([0, 1, 2, 4, 5, 6]), plans[^1].Plan.PredictedStepSeconds!.Value, 9);
    }

    [Fact]
    public void TheBudgetPlanIsTheBestSetWithinTheBudget()
    {
        var model = Model();
        var subsets = AllSubsets();
        double full = SecondsOf(Enumerable.Range(0, Layers).ToArray());
        double previous = 0;
        foreach (var budget in Enumerable.Range(1, 20).Select(k => k * 0.05))
        {
            var within = subsets.Where(s => SecondsOf(s) / full <= budget + 1e-9).ToList();
            if (within.Count == 0)
            {
                Assert.Throws<LayerCard.Common.BadInputException>(() => Planner.Choose(model, new PlanRequest(PlanObjective.Budget, BudgetTime: budget)));
                continue;
            }
            var plan = Planner.Choose(model, new PlanRequest(PlanObjective.Budget, BudgetTime: budget));
            Assert.True(SecondsOf(plan.Layers) / full <= budget + 1e-9, $"budget {budget}: [{string.Join(",", plan.Layers)}] is over it");
            Assert.Equal(within.Max(GainOf), GainOf(plan.Layers), 12);
            Assert.True(GainOf(plan.Layers) >= previous - 1e-12, $"budget {budget} gains less than a smaller budget");
            previous = GainOf(plan.Layers);
        }
        Assert.Equal(FullGain, previous, 12);
    }
}
