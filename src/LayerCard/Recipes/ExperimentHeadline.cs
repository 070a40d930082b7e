using System.Globalization;
using System.Text;
using LayerCard.Card;
using LayerCard.Lora;
using LayerCard.Placement;
using LayerCard.Reports;

namespace LayerCard.Recipes;

/// <summary>
/// The paper's headline measured in a study: per task, the smallest number of layers K whose best trained placement
/// reaches 95 % of the all-layer gain, the training time and memory it saves, whether the card finds it (its regret
/// at that K against every baseline) and what the card cost; with gain-against-layers and gain-against-time plots.
/// </summary>
public static class ExperimentHeadline
{
    /// <summary>The share of the all-layer gain the headline asks for.</summary>
    public const double Target = 0.95;

    /// <summary>The full fine-tune a probe-free card is weighed against: this many all-layer steps at the study's measured step time.</summary>
    public const int FineTuneSteps = 300;

    /// <summary>The baselines whose regret at K the headline reports (the study trains their choices at K).</summary>
    public static readonly IReadOnlyList<string> BaselineMethods = ["random", "even", "top", "bottom", "resnorm-top"];

    /// <summary>Appends the headline section of <paramref name="task"/> to <paramref name="md"/> and writes its two plots into <paramref name="folder"/>.</summary>
    public static void Append(StringBuilder md, ExperimentResults results, string task, string folder)
    {
        var subsets = results.Subsets.Where(s => s.Task == task).ToList();
        // Cards come task by task, one per seed in the config's order.
        var taskIndex = results.Config.Tasks.Select(t => t.Name).ToList().IndexOf(task);
        var cards = results.Cards.Skip(taskIndex * results.Config.Seeds.Count).Take(results.Config.Seeds.Count).ToList();
        if (subsets.Count == 0 || cards.Count == 0) return;
        int layers = cards[0].Layers.Count;
        var trainingSeeds = subsets.Select(s => s.Seed).Distinct().Order().ToList();
        var exactUpTo = results.Config.ExhaustiveMaxSize ?? layers;
        md.AppendLine();
        md.AppendLine($"### {task}: how few layers reach {Target:P0} of the all-layer gain");
        md.AppendLine();
        var rows = new List<IReadOnlyList<object?>>();
        var points = new List<(int Size, double Gain, double Time, string Label)>();
        var cardPoints = new List<(int Size, double Gain, double Time, string Label)>();
        foreach (var trainingSeed in trainingSeeds)
        {
            var trained = subsets.Where(s => s.Seed == trainingSeed).ToDictionary(s => Key(s.Layers));
            if (!trained.TryGetValue(Key(Enumerable.Range(0, layers).ToList()), out var all) || all.Gain <= 0) continue;
            double Fraction(SubsetResult s) => s.Gain / all.Gain;
            points.AddRange(trained.Values.Select(s => (s.Layers.Count, Fraction(s), s.StepSeconds / all.StepSeconds, "")));
            int k = SmallestSize(trained.Values, all.Gain);
            var best = trained.Values.Where(s => s.Layers.Count == k).MaxBy(s => s.Gain)!;
            var exact = k <= exactUpTo;
            // Cards that calibrated for this training seed: all of them when the training seed is fixed, else the card of the same seed.
            var seedCards = results.Config.TrainingSeed is null ? cards.Where((c, i) => results.Config.Seeds[i] == trainingSeed).ToList() : cards;
            var cardChoices = seedCards.Select(c => Planner.Choose(new GainModel(c), new PlanRequest(PlanObjective.Performance, Layers: k)).Layers.Order().ToArray()).ToList();
            string Regret(int[] set) => trained.TryGetValue(Key(set), out var r) ? F(best.Gain - r.Gain) : "not trained";
            // The card's choice at every enumerated size and at K, where it was trained, marked on the plots.
            var marked = seedCards.SelectMany(card => Enumerable.Range(1, Math.Min(exactUpTo, layers - 1)).Where(size => size != k)
                .Select(size => Planner.Choose(new GainModel(card), new PlanRequest(PlanObjective.Performance, Layers: size)).Layers.Order().ToArray()))
                .Concat(cardChoices);
            foreach (var choice in marked)
            {
                var label = $"card {LayerSelection.Format(choice)}";
                if (trained.TryGetValue(Key(choice), out var r) && cardPoints.All(p => p.Label != label))
                    cardPoints.Add((choice.Length, Fraction(r), r.StepSeconds / all.StepSeconds, label));
            }
            var baselineSeeds = results.Config.TrainingSeed is null ? [trainingSeed] : results.Config.Seeds;
            var baselineRegrets = BaselineMethods.Select(m => $"{m} {string.Join(" / ", baselineSeeds.Select(seed => Regret(Baselines.Choose(m, layers, k, seed, seedCards[0]))))}");
            rows.Add(
            [
                trainingSeed, exact ? $"{k}" : $"≤ {k} (sizes above {exactUpTo} sampled)", LayerSelection.Format(best.Layers), F(Fraction(best)),
                F(1 - best.StepSeconds / all.StepSeconds), F(all.PeakMemoryIncrementBytes > 0 ? 1 - (double)best.PeakMemoryIncrementBytes / all.PeakMemoryIncrementBytes : double.NaN),
                string.Join(" / ", cardChoices.Select(LayerSelection.Format)), string.Join(" / ", cardChoices.Select(Regret)), string.Join("; ", baselineRegrets),
                string.Join(" / ", seedCards.Select(c => F(c.Timing.CardSeconds / Math.Max(all.TrainSeconds, 1e-9)))),
                string.Join(" / ", seedCards.Select(c => F(c.Timing.SignalSeconds / Math.Max(FineTuneSteps * all.StepSeconds, 1e-9)))),
            ]);
        }
        md.AppendLine(Markdown.Table(["training seed", "K", "best placement at K", "its gain fraction", "step time saved", "peak memory saved",
            "card's choice at K (per card seed)", "card's regret", "baselines' regret (per seed)", "card cost / all-layer run", $"probe-free card / {FineTuneSteps}-step all-layer fine-tune"], rows));
        md.AppendLine();
        md.AppendLine("Regret is the best trained placement of K layers' test-loss gain minus the method's. Time and memory saved are of one training step against all layers, measured in the same study. " +
                      "Card cost is the whole card as the study built it (with its probes when the config asks for them); the probe-free card is its signals alone (resnorm passes and function-space pass).");
        var byLayers = Path.Combine(folder, $"{Slug(task)}-gain-vs-layers.png");
        Charts.SavePng(byLayers, Charts.ScatterChart($"{task}: gain against number of adapted layers", "layers adapted", "fraction of all-layer gain",
            [Series("trained placements", points, p => p.Size), Series("card's choices", cardPoints, p => p.Size, labelled: true)]));
        var byTime = Path.Combine(folder, $"{Slug(task)}-gain-vs-time.png");
        Charts.SavePng(byTime, Charts.ScatterChart($"{task}: gain against training step time", "step time / all-layer step time", "fraction of all-layer gain",
            [Series("trained placements", points, p => p.Time), Series("card's choices", cardPoints, p => p.Time, labelled: true)]));
        md.AppendLine();
        md.AppendLine($"![gain against layers]({Path.GetFileName(byLayers)}) ![gain against time]({Path.GetFileName(byTime)})");
    }

    /// <summary>The headline's K: the fewest layers of any trained placement reaching <see cref="Target"/> of the all-layer gain (positive; all layers always reach it).</summary>
    public static int SmallestSize(IEnumerable<SubsetResult> trained, double allLayerGain) =>
        trained.Where(s => s.Gain / allLayerGain >= Target).Min(s => s.Layers.Count);

    private static ScatterSeries Series(string name, IReadOnlyList<(int Size, double Gain, double Time, string Label)> points, Func<(int Size, double Gain, double Time, string Label), double> x, bool labelled = false) =>
        new(name, points.Select(x).ToList(), points.Select(p => p.Gain).ToList(), labelled ? points.Select(p => p.Label).ToList() : null);

    private static string Key(IReadOnlyList<int> layers) => LayerSelection.Format(layers.Order().ToList());

    private static string F(double v) => double.IsNaN(v) ? "n/a" : v.ToString("0.000", CultureInfo.InvariantCulture);

    private static string Slug(string text) => new(text.ToLowerInvariant().Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());
}
