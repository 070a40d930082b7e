using System.Text.Json.Nodes;
using LayerCard.Card;
using LayerCard.Placement;
using LayerCard.Tests.Training;
using static LayerCard.Tests.Training.TrainingFixtures;

namespace LayerCard.Tests.Placement;

[Collection("training")]
public class CardAndPlanTests
{
    private static string[] CardArgs(string model, string data, string output, params string[] extra) =>
    [
        "card", "--model", model, "--data", data, "--out", output, "--targets", "q_proj,v_proj", "--rank", "4",
        "--calibration-examples", "16", "--batch-size", "4", "--max-length", "32", "--threads", "1", "--no-cache", "--validation-examples", "8", .. extra,
    ];

    [Fact]
    public void ACardWithProbesHasEveryColumnAndAPlanFollowsFromIt()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder, layers: 4);
        var (code, output, err) = RunCli(CardArgs(model, CountingTask(folder), folder["card.json"], "--probe-steps", "3", "--html", folder["card.html"]));
        Assert.True(code == 0, err + output);
        var card = CardDocument.Load(folder["card.json"]);
        Assert.Equal(4, card.Layers.Count);
        Assert.All(card.Layers, r =>
        {
            Assert.True(double.IsFinite(r.ResNorm) && r.ResNorm > 0);
            Assert.True(r.ResNormRankR <= r.ResNorm + 1e-9);
            Assert.True(double.IsFinite(r.EnergyTrace) && r.EnergyTrace > 0);
            Assert.NotNull(r.MeasuredGain);
            Assert.NotNull(r.StepSeconds);
            Assert.True(r.AdapterParameters > 0);
        });
        Assert.Equal(4, card.Coupling.Length);
        Assert.All(Enumerable.Range(0, 4), i => Assert.Equal(1.0, card.Coupling[i][i], 6));
        Assert.NotNull(card.CostModel);
        Assert.NotNull(card.Predictiveness);
        Assert.Contains("resnorm", card.Predictiveness!.SpearmanWithMeasuredGain.Keys);
        Assert.True(card.Timing.CardSeconds > 0 && card.Timing.FullFineTuneSeconds > 0);
        Assert.Contains("| layer |", output);
        var html = File.ReadAllText(folder["card.html"]);
        Assert.Equal(9, System.Text.RegularExpressions.Regex.Matches(html, "<img[^>]+src=\"data:image/png").Count);
        Assert.Equal(9, Directory.GetFiles(folder.Path, "card-*.png").Length);
        Assert.False(File.Exists(folder["card.json.progress.json"]), "the progress file is removed once the card is complete");

        (code, output, err) = RunCli("plan", "--card", folder["card.json"], "--model", model, "--objective", "performance", "--layers", "2", "--pareto", "--out", folder["plan/plan.json"]);
        Assert.True(code == 0, err);
        var plan = JsonNode.Parse(File.ReadAllText(folder["plan/plan.json"]))!.AsObject();
        Assert.Equal(2, plan["layers"]!.AsArray().Count);
        Assert.Equal(2, plan["reasons"]!.AsArray().Count);
        Assert.Equal(plan["layers"]!.ToJsonString(), plan["axolotl"]!["peft_layers_to_transform"]!.ToJsonString());
        AssertPeftLoraConfig(JsonNode.Parse(File.ReadAllText(folder["plan/adapter_config.json"]))!.AsObject());

        (code, output, err) = RunCli("plan", "--card", folder["card.json"], "--objective", "cost", "--target-gain", "0.8", "--out", folder["plan2.json"]);
        Assert.True(code == 0, err);
        // The command passes the objective and target to the planner and writes what it chose for this card.
        var costPlan = JsonNode.Parse(File.ReadAllText(folder["plan2.json"]))!.AsObject();
        var expected = Planner.Choose(new GainModel(card), new PlanRequest(PlanObjective.Cost, TargetGain: 0.8));
        Assert.Equal(expected.Layers, costPlan["layers"]!.AsArray().Select(n => n!.GetValue<int>()));
        Assert.Equal(expected.PredictedGainFraction, costPlan["predicted_gain_fraction"]!.GetValue<double>(), 9);
    }

    [Fact]
    public void ASignalOnlyCardIsReusedFromTheCache()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder);
        var data = CountingTask(folder);
        var args = CardArgs(model, data, folder["a.json"], "--no-probes").Where(a => a != "--no-cache").ToArray();
        var first = RunCli(args);
        Assert.True(first.Code == 0, first.Err);
        var card = CardDocument.Load(folder["a.json"]);
        Assert.All(card.Layers, r => Assert.Null(r.MeasuredGain));
        Assert.Null(card.Probes);
        Assert.False(card.CostModel!.MemoryFitted); // time terms only, from the timed sets
        var second = RunCli(args.Select(a => a == folder["a.json"] ? folder["b.json"] : a).ToArray());
        Assert.True(second.Code == 0, second.Err);
        Assert.Contains("reusing the cached card", second.Out);
        Assert.Equal(card.CacheKey, CardDocument.Load(folder["b.json"]).CacheKey);
    }

    [Fact]
    public void ADefaultCardPredictsFromItsFunctionSpaceSignalWithoutProbes()
    {
        using var folder = new TempFolder();
        var (code, output, err) = RunCli(CardArgs(TinyModel(folder), CountingTask(folder), folder["card.json"]));
        Assert.True(code == 0, err + output);
        var card = CardDocument.Load(folder["card.json"]);
        Assert.Null(card.Probes);
        Assert.All(card.Layers, r => Assert.Null(r.MeasuredGain));
        var signal = card.FunctionSpace!.ToResult();
        Assert.Equal("sign", card.FunctionSpace.Direction);
        // Each layer's predicted gain is the quadratic model's single-layer gain; the paper's column is kept beside it.
        Assert.All(card.Layers, r => Assert.Equal(signal.SetGain([r.Layer]), r.PredictedGain, 12));
        Assert.All(card.Layers, r => Assert.True(r.ResNormGain > 0 && r.FisherTrace > 0));
        // The planner's set gains are the signal's, and the card weighs itself against a timed full fine-tune.
        var model = new GainModel(card);
        Assert.False(model.UsesMeasuredGains);
        Assert.Equal(signal.SetGain([0, 2]), model.Gain([0, 2]), 12);
        Assert.True(card.Timing.FullFineTuneSeconds > 0 && card.Timing.CardOverFullFineTune > 0);
        Assert.Contains("\"function_space\"", File.ReadAllText(folder["card.json"]));
    }

    [Fact]
    public void ThePlannerPrefersLayersThatAreNotRedundant()
    {
        // Layers 0 and 1 gain most but are fully coupled; layer 2 is independent: the best pair is {0 or 1, 2}.
        var card = SyntheticCard([1.0, 0.95, 0.6, 0.1], (i, j) => i == j ? 1 : (i < 2 && j < 2 ? 1.0 : 0.0));
        var model = new GainModel(card);
        var plan = Planner.Choose(model, new PlanRequest(PlanObjective.Performance, Layers: 2));
        Assert.Equal([0, 2], plan.Layers);
        Assert.Equal(1.6, model.Gain([0, 2]), 9);
        Assert.Equal(1.0, model.Gain([0, 1]), 9);
        var front = Planner.Pareto(model);
        Assert.True(front.Zip(front.Skip(1)).All(p => p.First.PredictedTimeFraction <= p.Second.PredictedTimeFraction && p.First.PredictedGain < p.Second.PredictedGain));
    }

    [Fact]
    public void AtALongerBudgetEachSetsShortfallShrinksAndTheCostTargetNeedsFewerLayers()
    {
        // Four independent layers of equal slope: at the card's own budget each adds a quarter of the all-layer gain.
        var identity = Enumerable.Range(0, 4).Select(i => Enumerable.Range(0, 4).Select(j => i == j ? 1.0 : 0.0).ToArray()).ToArray();
        var card = SyntheticCard([0.5, 0.5, 0.5, 0.5], (i, j) => i == j ? 1 : 0) with { FunctionSpace = new CardFunctionSpace("sign", [1, 1, 1, 1], identity, 0) };
        var own = new GainModel(card);
        Assert.Equal(1, own.ShortfallScale);
        Assert.Equal(1, new GainModel(card, GainModel.ReferenceSteps).ShortfallScale);
        Assert.Equal(0.5, own.GainFraction([0, 1]), 12);

        var longer = new GainModel(card, 300);
        var scale = Math.Pow(300.0 / GainModel.ReferenceSteps, -GainModel.BudgetExponent);
        Assert.Equal(scale, longer.ShortfallScale, 12);
        Assert.Equal(1 - 0.75 * scale, longer.GainFraction([2]), 12);
        Assert.Equal(1 - 0.5 * scale, longer.GainFraction([0, 3]), 12);
        Assert.Equal(1, longer.GainFraction([0, 1, 2, 3]), 12);
        Assert.Equal(0, longer.GainFraction([]));
        // The set gains in nats stay the card's; only the fractions are read at the budget.
        Assert.Equal(own.Gain([0, 3]), longer.Gain([0, 3]), 12);
        Assert.Contains("300 training steps", longer.GainsFrom);

        var target = new PlanRequest(PlanObjective.Cost, TargetGain: 0.6);
        Assert.Equal(3, Planner.Choose(own, target).Layers.Count);
        Assert.Equal(2, Planner.Choose(longer, target).Layers.Count);
        // Cards without the function-space signal (probe-measured gains) are read as they are.
        Assert.Equal(1, new GainModel(SyntheticCard([0.5, 0.5], (i, j) => i == j ? 1 : 0), 300).ShortfallScale);
    }

    [Theory]
    [InlineData(1.4)]
    [InlineData(1.8)]
    public void TheCouplingIsCalibratedToTheMeasuredAllLayerRun(double measuredAll)
    {
        var card = SyntheticCard([1.0, 0.6, 0.4], (i, j) => i == j ? 1 : 0.8);
        card = card with { Probes = new CardProbes(3, 4, 1e-3, 0, 2.0, new SetMeasurement([0, 1, 2], 3, 0.1, 1000, 2.0 - measuredAll, measuredAll), []) };
        var model = new GainModel(card);
        Assert.Equal(measuredAll, model.Gain([0, 1, 2]), 6);
        Assert.InRange(model.CouplingScale, 0, 1);
        Assert.True(model.Gain([0, 1]) > 1.2 && model.Gain([0, 1]) < 1.6);
        // Beyond the plain sum the gains are taken as additive; at or below the best single layer, as fully coupled.
        Assert.Equal(0, new GainModel(card with { Probes = card.Probes! with { AllLayers = card.Probes.AllLayers with { Gain = 2.5 } } }).CouplingScale);
    }

    [Theory]
    [InlineData(5, 0.5)]
    [InlineData(2, 1.5)]
    public void ImpossibleRequestsAreRefused(int layers, double target)
    {
        var model = new GainModel(SyntheticCard([1, 1, 1, 1], (i, j) => i == j ? 1 : 0));
        if (layers > 4) Assert.Contains("has 4 layers", Assert.Throws<LayerCard.Common.BadInputException>(() => Planner.Choose(model, new PlanRequest(PlanObjective.Performance, Layers: layers))).Message);
        else Assert.StartsWith("target_gain 1.5:", Assert.Throws<LayerCard.Common.BadInputException>(() => Planner.Choose(model, new PlanRequest(PlanObjective.Cost, TargetGain: target))).Message);
    }

    /// <summary>Field names and JSON types of PEFT's LoraConfig (peft/tuners/lora/config.py) that an adapter config uses.</summary>
    internal static void AssertPeftLoraConfig(JsonObject config)
    {
        var expected = new Dictionary<string, System.Text.Json.JsonValueKind[]>
        {
            ["peft_type"] = [System.Text.Json.JsonValueKind.String], ["task_type"] = [System.Text.Json.JsonValueKind.String],
            ["r"] = [System.Text.Json.JsonValueKind.Number], ["lora_alpha"] = [System.Text.Json.JsonValueKind.Number],
            ["lora_dropout"] = [System.Text.Json.JsonValueKind.Number], ["target_modules"] = [System.Text.Json.JsonValueKind.Array],
            ["layers_to_transform"] = [System.Text.Json.JsonValueKind.Array], ["layers_pattern"] = [System.Text.Json.JsonValueKind.String],
            ["use_rslora"] = [System.Text.Json.JsonValueKind.True, System.Text.Json.JsonValueKind.False],
            ["fan_in_fan_out"] = [System.Text.Json.JsonValueKind.True, System.Text.Json.JsonValueKind.False],
            ["bias"] = [System.Text.Json.JsonValueKind.String], ["base_model_name_or_path"] = [System.Text.Json.JsonValueKind.String],
            ["inference_mode"] = [System.Text.Json.JsonValueKind.True, System.Text.Json.JsonValueKind.False],
            ["init_lora_weights"] = [System.Text.Json.JsonValueKind.True, System.Text.Json.JsonValueKind.False],
            ["use_dora"] = [System.Text.Json.JsonValueKind.True, System.Text.Json.JsonValueKind.False],
            ["rank_pattern"] = [System.Text.Json.JsonValueKind.Object], ["alpha_pattern"] = [System.Text.Json.JsonValueKind.Object],
            ["modules_to_save"] = [System.Text.Json.JsonValueKind.Null, System.Text.Json.JsonValueKind.Array],
            ["revision"] = [System.Text.Json.JsonValueKind.Null, System.Text.Json.JsonValueKind.String],
        };
        foreach (var (name, kinds) in expected)
        {
            Assert.True(config.ContainsKey(name), $"missing {name}");
            var kind = config[name]?.GetValueKind() ?? System.Text.Json.JsonValueKind.Null;
            Assert.Contains(kind, kinds);
        }
        Assert.Equal(expected.Keys.Order(), config.Select(p => p.Key).Order());
        Assert.Equal("LORA", config["peft_type"]!.GetValue<string>());
        Assert.Equal("CAUSAL_LM", config["task_type"]!.GetValue<string>());
        Assert.Contains(config["bias"]!.GetValue<string>(), new[] { "none", "all", "lora_only" });
        Assert.All(config["layers_to_transform"]!.AsArray(), n => Assert.Equal(System.Text.Json.JsonValueKind.Number, n!.GetValueKind()));
    }

    internal static CardDocument SyntheticCard(double[] gains, Func<int, int, double> coupling)
    {
        var n = gains.Length;
        var rows = gains.Select((g, l) => new CardLayerRow(l, g, g * 0.8, g * 1.1, g, 10 + l, 2, 0.1, 20, 3, 100, 0.01 * (n - l), 1_000_000L * (n - l), 0.001, g, 2 - g)).ToList();
        var matrix = Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n).Select(j => coupling(i, j)).ToArray()).ToArray();
        return new CardDocument
        {
            CacheKey = "synthetic", Created = DateTimeOffset.UnixEpoch,
            Model = new CardModel("m", "m", "LlamaForCausalLM", n, 8, 1, "00"), Dataset = new CardDataset("d", "Text", "00", 1, 1, ""),
            Lora = new CardLora(["q_proj"], 4, 8), Calibration = new CardCalibration(1, 1, 1, 1e-3, 4),
            Layers = rows, Modules = [], Coupling = matrix, SignedCorrelation = matrix,
            Timing = new CardTiming(0, 0, 0, 0, 0, 1, null, null),
        };
    }
}
