using LayerCard.Recipes;
using System.Text.Json;
using System.Text.Json.Nodes;
using LayerCard.Tests.Training;
using static LayerCard.Tests.Training.TrainingFixtures;

namespace LayerCard.Tests.Recipes;

[Collection("training")]
public class RecipeTests
{
    [Fact]
    public void RunComparesTheCardGuidedPlacementWithAllLayers()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder, layers: 3);
        var data = CountingTask(folder, 64);
        var (code, output, err) = RunCli("run", "--model", model, "--data", data, "--targets", "q_proj,v_proj", "--steps", "6", "--batch-size", "4",
            "--max-length", "32", "--objective", "performance", "--layers", "1", "--eval-limit", "16", "--threads", "1", "--out", folder["run"]);
        Assert.True(code == 0, err + output);
        Assert.Contains("| card-guided", output);
        Assert.Contains("| all layers", output);
        Assert.Contains("| base model", output);
        // One model load for card, both trainings and every evaluation; every figure says which part it is from.
        Assert.Single(output.Split('\n'), line => line.Contains("loaded once", StringComparison.Ordinal));
        Assert.Contains("test -loss", output);
        Assert.Contains("test loss", output);
        Assert.Contains("economics: card", output);
        foreach (var file in new[] { "card.json", "plan/plan.json", "plan/adapter_config.json", "report.html", "card-guided/adapter_model.safetensors", "all-layers/run-summary.json" })
            Assert.True(File.Exists(folder["run/" + file]), file);
        var plan = JsonNode.Parse(File.ReadAllText(folder["run/plan/plan.json"]))!;
        Assert.Single(plan["layers"]!.AsArray());
        var guided = JsonNode.Parse(File.ReadAllText(folder["run/card-guided/run-summary.json"]))!;
        Assert.Equal(plan["layers"]!.ToJsonString(), guided["layers"]!.ToJsonString());
        Assert.Contains("Card-guided placement against full-layer LoRA", File.ReadAllText(folder["run/report.html"]));
    }

    [Fact]
    public void AnExhaustiveStudyGivesEveryMethodAnExactRegret()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder, layers: 3);
        var config = new
        {
            name = "tiny", model, seeds = new[] { 0 }, k = 1, steps = 48, batch_size = 4, learning_rate = 0.01, targets = new[] { "q_proj", "v_proj" },
            exhaustive = true, calibration_examples = 8, card_probe_steps = 2, predictor_probe_steps = new[] { 2 }, output_directory = folder.Path,
            tasks = new[] { new { name = "counting", data = CountingTask(folder, 48), max_length = 32, eval_limit = 8 } },
        };
        File.WriteAllText(folder["study.json"], JsonSerializer.Serialize(config));
        var (code, output, err) = RunCli("experiment", "--config", folder["study.json"], "--threads", "1");
        Assert.True(code == 0, err + output);
        var results = JsonNode.Parse(File.ReadAllText(folder["tiny/results.json"]))!;
        Assert.Equal(7, results["subsets"]!.AsArray().Count);
        var methods = results["methods"]!.AsArray();
        Assert.Equal(ExperimentRunner.Methods.Count, methods.Count);
        Assert.All(methods, m => Assert.True(m!["regret_gain"]!.GetValue<double>() >= -1e-12));
        Assert.Contains(methods, m => m!["regret_gain"]!.GetValue<double>() < 1e-12);
        Assert.Contains("## counting", File.ReadAllText(folder["tiny/results.md"]));
        Assert.True(File.Exists(folder["tiny/counting-regret.png"]));
        // The headline: the smallest K reaching 95 % of the all-layer gain, with the card's choices on both plots.
        Assert.Contains("how few layers reach 95 % of the all-layer gain", File.ReadAllText(folder["tiny/results.md"]));
        Assert.True(File.Exists(folder["tiny/counting-gain-vs-layers.png"]) && File.Exists(folder["tiny/counting-gain-vs-time.png"]));

        // Every card column is scored against the trained subsets it never saw.
        var predictors = results["predictors"]!.AsArray();
        Assert.Contains(predictors, p => p!["score"]!["predictor"]!.GetValue<string>() == "resnorm");
        Assert.Contains(predictors, p => p!["score"]!["predictor"]!.GetValue<string>() == "probes, 2 steps" && p["score"]!["trains_inside"]!.GetValue<bool>());
        Assert.Contains(predictors, p => p!["score"]!["predictor"]!.GetValue<string>() == "function space, sign step (card default)" && !p["score"]!["trains_inside"]!.GetValue<bool>());
        Assert.All(predictors, p => Assert.True(p!["score"]!["gain_fraction_error"]!.GetValue<double>() >= 0));
        Assert.All(predictors, p => Assert.InRange(p!["score"]!["spearman"]!.GetValue<double>(), -1, 1));
        Assert.All(predictors, p => Assert.True(p!["score"]!["pair_regret"]!.GetValue<double>() >= -1e-12));
        Assert.Contains("Spearman with single-layer gains", File.ReadAllText(folder["tiny/results.md"]));
        // Past the card's 40-step reference the card is also scored as plans read it at the study's steps: the same
        // singles' order and best pair, fractions with each shortfall scaled.
        var card = predictors.Single(p => p!["score"]!["predictor"]!.GetValue<string>() == "function space, sign step (card default)")!["score"]!;
        var atBudget = predictors.Single(p => p!["score"]!["predictor"]!.GetValue<string>() == "function space, card default read at 48 steps (as plans read it)")!["score"]!;
        Assert.Equal(card["spearman"]!.GetValue<double>(), atBudget["spearman"]!.GetValue<double>(), 12);
        Assert.Equal(card["pair_regret"]!.GetValue<double>(), atBudget["pair_regret"]!.GetValue<double>(), 12);
        Assert.NotEqual(card["gain_fraction_error"]!.GetValue<double>(), atBudget["gain_fraction_error"]!.GetValue<double>(), 9);

        // A rerun (as after a kill) trains nothing again: every subset comes from the cache, with the same gains.
        var (again, againOutput, againErr) = RunCli("experiment", "--config", folder["study.json"], "--threads", "1", "--out", folder["again"]);
        Assert.True(again == 0, againErr + againOutput);
        Assert.Equal(7, againOutput.Split('\n').Count(l => l.Contains("(cached)", StringComparison.Ordinal)));
        var rerun = JsonNode.Parse(File.ReadAllText(folder["again/results.json"]))!;
        Assert.Equal(results["subsets"]!.ToJsonString(), rerun["subsets"]!.ToJsonString());
    }

    /// <summary>
    /// A study that samples the larger sets still trains the card's and every baseline's choice at the headline K, so
    /// the headline reads a regret for each of them instead of "not trained".
    /// </summary>
    [Fact]
    public void ASampledStudyTrainsEveryChoiceAtTheHeadlineK()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder, layers: 4);
        var config = new
        {
            name = "sampled", model, seeds = new[] { 0 }, k = 1, steps = 3, batch_size = 4, learning_rate = 0.01, targets = new[] { "q_proj", "v_proj" },
            exhaustive = true, exhaustive_max_size = 1, sampled_sizes = new[] { 2, 3 }, samples_per_size = 1, calibration_examples = 8,
            predictor_probe_steps = new[] { 2 }, output_directory = folder.Path,
            tasks = new[] { new { name = "counting", data = CountingTask(folder, 48), max_length = 32, eval_limit = 8 } },
        };
        File.WriteAllText(folder["study.json"], JsonSerializer.Serialize(config));
        var (code, output, err) = RunCli("experiment", "--config", folder["study.json"], "--threads", "1");
        Assert.True(code == 0, err + output);
        var markdown = File.ReadAllText(folder["sampled/results.md"]);
        var headline = markdown[markdown.IndexOf("how few layers reach", StringComparison.Ordinal)..];
        Assert.Matches(@"\n\|\s*0\s*\|", headline);
        Assert.False(headline.Contains("not trained", StringComparison.Ordinal), headline);
    }

    [Fact]
    public void AStudyWithABadRankNamesTheConfigAndItsFieldNotAnOption()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder, layers: 2);
        var config = new
        {
            name = "bad-rank", model, seeds = new[] { 0 }, k = 1, rank = 0, steps = 1, batch_size = 4, targets = new[] { "q_proj" },
            exhaustive = false, calibration_examples = 8, card_probe_steps = 1, output_directory = folder.Path,
            tasks = new[] { new { name = "counting", data = CountingTask(folder, 24), max_length = 32, eval_limit = 8 } },
        };
        File.WriteAllText(folder["study.json"], JsonSerializer.Serialize(config));
        var (code, output, err) = RunCli("experiment", "--config", folder["study.json"], "--threads", "1");
        Assert.True(code == 2, err + output);
        Assert.Contains($"{folder["study.json"]}: rank must be", err);
        Assert.DoesNotContain("--rank", err);
    }

    [Fact]
    public void AStudyTaskWithAnUnknownLongPromptPolicyNamesTheConfigTaskAndField()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder, layers: 2);
        var config = new
        {
            name = "bad-long-prompts", model, seeds = new[] { 0 }, k = 1, steps = 1, batch_size = 4, targets = new[] { "q_proj" },
            exhaustive = false, calibration_examples = 8, output_directory = folder.Path,
            tasks = new[] { new { name = "counting", data = CountingTask(folder, 24), max_length = 32, eval_limit = 8, long_prompts = "sideways" } },
        };
        File.WriteAllText(folder["study.json"], JsonSerializer.Serialize(config));
        var (code, output, err) = RunCli("experiment", "--config", folder["study.json"], "--threads", "1");
        Assert.True(code == 2, err + output);
        Assert.Contains($"{folder["study.json"]}: task counting: long_prompts", err);
        Assert.Contains("sideways", err);
        Assert.Single(err.Trim().Split('\n'));
    }
}
