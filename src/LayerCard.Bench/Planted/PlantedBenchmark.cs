using System.Diagnostics;
using LayerCard.Card;
using LayerCard.Evaluation;
using static TorchSharp.torch;

namespace LayerCard.Bench.Planted;

/// <summary>
/// The card's ground truth. A teacher equals the base model except for a low-rank change planted in the target
/// modules of a random set P of layers; data labelled by the teacher's greedy predictions can only be fitted by
/// undoing that change, so the layers a placement method should pick are known. Every column of the card is
/// computed on the base model with that data, and a column recovers P when its top |P| layers are exactly P.
/// </summary>
public static class PlantedBenchmark
{
    /// <summary>Runs every (model, size, seed) case, logging a line per case, and summarises each (model, size) group; sizes not smaller than a model's layer count are refused.</summary>
    public static PlantedReport Run(PlantedOptions options, Device device, Action<string>? log = null)
    {
        options.Validate();
        var clock = Stopwatch.StartNew();
        var cases = new List<PlantedCase>();
        foreach (var name in options.Models)
        {
            using var model = PlantedModels.Load(name, device);
            var layers = model.Model.Config.Layers;
            // Inputs carry no plant, so one draw per model serves every case (sampling them is a large share of a case's time).
            var inputs = PlantedModels.Inputs(model, options.TrainExamples + options.ValidationExamples, options.Length, 1 + options.Models.ToList().IndexOf(name));
            foreach (var size in options.Sizes)
            {
                if (size >= layers) throw new Common.BadInputException($"--sizes {size}: {name} has only {layers} layers");
                for (int seed = 0; seed < options.Seeds; seed++)
                {
                    var planted = RunCase(model, size, seed, options, device, inputs);
                    cases.Add(planted);
                    log?.Invoke(CaseLine(planted));
                }
            }
        }
        var groups = cases.GroupBy(c => (c.Model, c.Size)).Select(g => Summarise(g.ToList())).ToList();
        return new PlantedReport(options, groups, cases, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The planted set of a case: |P| distinct layers drawn from (model, size, seed), sorted.</summary>
    public static IReadOnlyList<int> PlantedSet(string model, int layers, int size, int seed) =>
        Shuffled(Enumerable.Range(0, layers).ToArray(), StableSeed(model, size, seed)).Take(size).Order().ToList();

    /// <summary>One case: plants a change in a seeded set of |P| layers, labels the inputs with the teacher, then scores every layer with the signal pass and a single-layer probe on the base model. <paramref name="inputs"/>, when given, are reused instead of drawn afresh.</summary>
    public static PlantedCase RunCase(PlantedBase model, int size, int seed, PlantedOptions options, Device device, List<int[]>? inputs = null)
    {
        var clock = Stopwatch.StartNew();
        var lm = model.Model;
        int layers = lm.Config.Layers;
        var caseSeed = StableSeed(model.Name, size, seed);
        var planted = PlantedSet(model.Name, layers, size, seed);
        inputs ??= PlantedModels.Inputs(model, options.TrainExamples + options.ValidationExamples, options.Length, caseSeed);
        var basePredictions = PlantedModels.Greedy(lm, inputs, 32);

        // Each layer's change is sized on a slice of the train inputs only, so nothing about validation is tuned.
        var calibrationInputs = inputs.Take(Math.Min(16, options.TrainExamples)).ToList();
        var generator = new Generator((ulong)caseSeed + 1);
        var plant = new List<(Models.AdaptableLinear Module, Tensor Direction, double Scale)>();
        var scales = new List<double>();
        foreach (var layer in planted)
        {
            var directions = PlantedModels.Directions(lm, layer, options.PlantTargets ?? options.Targets, options.PlantRank, generator);
            var scale = PlantedModels.CalibrateScale(lm, directions, calibrationInputs, basePredictions[..calibrationInputs.Count], options.PlantFlips, 32);
            scales.Add(scale);
            plant.AddRange(directions.Select(d => (d.Module, d.Direction, scale)));
        }
        var teacherGreedy = PlantedModels.WithPlant(plant, () => PlantedModels.Greedy(lm, inputs, 32));
        var teacherPredictions = options.Labels == "sampled"
            ? PlantedModels.WithPlant(plant, () => PlantedModels.Sampled(lm, inputs, 32, caseSeed + 2)) : teacherGreedy;
        foreach (var p in plant) p.Direction.Dispose();
        var flips = PlantedModels.Flips(teacherGreedy, basePredictions);

        var train = PlantedModels.Labelled("planted-train", inputs[..options.TrainExamples], teacherPredictions[..options.TrainExamples]);
        var validation = PlantedModels.Labelled("planted-validation", inputs[options.TrainExamples..], teacherPredictions[options.TrainExamples..], options.TrainExamples);

        var signal = SignalProbe.Run(lm, train, options.Targets, new SignalOptions(Rank: options.SignalRank, BatchSize: options.BatchSize, MaxExamples: options.CalibrationExamples), device);
        var baseLoss = LossEvaluation.MeanLoss(lm, validation, 16, device).MeanLoss;
        var settings = new ProbeSettings(options.Targets, options.ProbeRank, options.ProbeAlpha, options.ProbeSteps, options.BatchSize, options.ProbeLearningRate, seed);
        var gains = Enumerable.Range(0, layers)
            .Select(l => LayerProbes.Measure(lm, [l], train, validation, baseLoss, settings, device).Gain ?? double.NaN).ToList();

        var scores = new Dictionary<string, IReadOnlyList<double>>
        {
            [PlantedColumns.Probe] = gains,
            [PlantedColumns.ResNorm] = signal.Layers.Select(l => l.ResNorm).ToList(),
            [PlantedColumns.RankR] = signal.Layers.Select(l => l.ResNormRankR).ToList(),
            [PlantedColumns.GradNorm] = signal.Layers.Select(l => l.GradNorm).ToList(),
            [PlantedColumns.Energy] = signal.Layers.Select(l => l.Energy.Trace).ToList(),
        };
        var ranks = scores.ToDictionary(s => s.Key, s => (IReadOnlyList<int>)PlantedRanks(s.Value, planted));
        var recovered = ranks.ToDictionary(r => r.Key, r => r.Value.All(rank => rank <= planted.Count));
        return new PlantedCase(model.Name, layers, size, seed, planted, scales, flips, baseLoss, scores, ranks, recovered, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The rank (1 = largest score) of each planted layer. Ties and NaN count against the column: a layer's rank
    /// is one plus the number of layers scoring at least as high, other than itself, so a column that cannot
    /// separate the planted layers from the rest does not recover them by the order of a sort.
    /// </summary>
    public static List<int> PlantedRanks(IReadOnlyList<double> scores, IReadOnlyList<int> planted) =>
        planted.Select(p => 1 + Enumerable.Range(0, scores.Count).Count(l => l != p && !(scores[l] < scores[p]))).ToList();

    /// <summary>Recovery counts and mean planted ranks of every column over one group's cases, with the chance recovery 1 / C(L, |P|).</summary>
    public static PlantedGroup Summarise(IReadOnlyList<PlantedCase> cases)
    {
        var first = cases[0];
        var columns = PlantedColumns.All.Select(c => new ColumnRecovery(c, cases.Count(x => x.Recovered[c]), cases.Count,
            cases.SelectMany(x => x.PlantedRanks[c]).Average())).ToList();
        return new PlantedGroup(first.Model, first.Layers, first.Size, columns, cases.Average(c => c.TeacherFlips), 1.0 / Binomial(first.Layers, first.Size));
    }

    /// <summary>One log line for a case: the planted set and scales, the teacher's flips and base loss, each column's hit or miss with its top layers, and the probe gains.</summary>
    public static string CaseLine(PlantedCase c) =>
        $"{c.Model} |P|={c.Size} seed {c.Seed}: planted [{string.Join(",", c.Planted)}] (scale {string.Join(",", c.PlantScales.Select(s => s.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture)))}, " +
        $"{c.TeacherFlips:P0} of predictions changed, base loss {c.BaseLoss:F3}); " +
        string.Join(", ", PlantedColumns.All.Select(col => $"{col} {(c.Recovered[col] ? "ok" : "miss")} top [{string.Join(",", Top(c.Scores[col], c.Size))}]")) +
        $"; gains {string.Join(" ", c.Scores[PlantedColumns.Probe].Select(g => g.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))} ({c.Seconds:F0} s)";

    private static IEnumerable<int> Top(IReadOnlyList<double> scores, int k) =>
        Enumerable.Range(0, scores.Count).OrderByDescending(l => double.IsNaN(scores[l]) ? double.NegativeInfinity : scores[l]).Take(k);

    private static double Binomial(int n, int k)
    {
        double result = 1;
        for (int i = 1; i <= k; i++) result = result * (n - k + i) / i;
        return result;
    }

    private static int StableSeed(string model, int size, int seed)
    {
        // string.GetHashCode is randomised per process; the case must be the same in every run.
        uint h = 2166136261;
        foreach (var ch in $"{model}|{size}|{seed}") h = (h ^ ch) * 16777619;
        return (int)(h & 0x7fffffff);
    }

    private static IEnumerable<int> Shuffled(int[] items, int seed)
    {
        var random = new Random(seed);
        var copy = items.ToArray();
        for (int i = copy.Length - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (copy[i], copy[j]) = (copy[j], copy[i]);
        }
        return copy;
    }
}
