using System.Text.Json.Nodes;
using LayerCard.Card;
using LayerCard.Tests.Models;
using LayerCard.Tests.Training;
using static LayerCard.Tests.Training.TrainingFixtures;

namespace LayerCard.Tests.Card;

/// <summary>`card --shard i/n --stats-out DIR` and `card merge`: shards of one card add up to the card of one pass; shards of another card are refused.</summary>
[Collection("training")]
public class CardShardTests
{
    private static string[] CardArgs(string model, string data, params string[] extra) =>
    [
        "card", "--model", model, "--data", data, "--targets", "q_proj,v_proj", "--rank", "4", "--calibration-examples", "16", "--batch-size", "4",
        "--max-length", "32", "--threads", "1", "--no-cache", "--validation-examples", "8", .. extra,
    ];

    private static void Close(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-6 * Math.Max(Math.Abs(expected), 1e-12), $"{what}: single pass {expected}, merged {actual}");

    /// <summary>
    /// Four shards (one calibration batch of finite differences each) merged give the single-pass card's function-space
    /// slopes and curvature, predicted gains and residual columns to 1e-6 relative, while each shard alone does not.
    /// </summary>
    [Fact]
    public void FourShardsMergedEqualTheSinglePassCard()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder, layers: 3);
        var data = CountingTask(folder);
        var (code, output, err) = RunCli(CardArgs(model, data, "--out", folder["single.json"]));
        Assert.True(code == 0, err + output);
        for (int i = 0; i < 4; i++)
        {
            (code, output, err) = RunCli(CardArgs(model, data, "--shard", $"{i}/4", "--stats-out", folder["stats"]));
            Assert.True(code == 0, err + output);
            Assert.Contains($"wrote shard {i} of 4", output);
        }
        (code, output, err) = RunCli("card", "merge", folder["stats"], "--out", folder["merged.json"]);
        Assert.True(code == 0, err + output);

        var single = CardDocument.Load(folder["single.json"]);
        var merged = CardDocument.Load(folder["merged.json"]);
        var shard0 = CardShard.Load(Path.Combine(folder["stats"], CardShard.FileName(0, 4)));
        Assert.NotNull(single.FunctionSpace);
        Assert.NotNull(merged.FunctionSpace);
        // The base loss the set gains saturate at is summed over the shards' parts like the slopes.
        Assert.True(single.FunctionSpace!.Saturation && merged.FunctionSpace!.Saturation);
        Close(single.FunctionSpace.BaseLoss!.Value, merged.FunctionSpace.BaseLoss!.Value, "base loss");
        for (int i = 0; i < 3; i++)
        {
            Close(single.FunctionSpace!.Slopes[i], merged.FunctionSpace!.Slopes[i], $"slope {i}");
            for (int j = 0; j < 3; j++) Close(single.FunctionSpace.Curvature[i][j], merged.FunctionSpace.Curvature[i][j], $"curvature {i},{j}");
            Close(single.Layers[i].PredictedGain, merged.Layers[i].PredictedGain, $"predicted gain {i}");
            Close(single.Layers[i].ResNorm, merged.Layers[i].ResNorm, $"resnorm {i}");
            Close(single.Layers[i].FisherTrace!.Value, merged.Layers[i].FisherTrace!.Value, $"Fisher trace {i}");
            for (int j = 0; j < 3; j++) Close(single.Coupling[i][j], merged.Coupling[i][j], $"coupling {i},{j}");
        }
        // The split is real: one shard's own part does not give the whole pass's slopes.
        var largest = Enumerable.Range(0, 3).Max(i => Math.Abs(shard0.Card.FunctionSpace!.Slopes[i] - single.FunctionSpace!.Slopes[i]) / Math.Abs(single.FunctionSpace.Slopes[i]));
        Assert.True(largest > 1e-4, $"shard 0's own slopes differ from the whole pass's by at most {largest} relative");
    }

    /// <summary>
    /// `card --line-search` records a line-searched function-space signal (the same slopes as without it, other
    /// curvature) and is refused with --shard in one line naming the option (exit 2): a shard cannot search along the
    /// whole sample's best steps.
    /// </summary>
    [Fact]
    public void ALineSearchedCardKeepsTheSlopesAndIsRefusedAsAShard()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder, layers: 3);
        var data = CountingTask(folder);
        var (code, output, err) = RunCli(CardArgs(model, data, "--out", folder["plain.json"]));
        Assert.True(code == 0, err + output);
        Assert.DoesNotContain("Line-searched", output);
        (code, output, err) = RunCli(CardArgs(model, data, "--line-search", "--out", folder["searched.json"]));
        Assert.True(code == 0, err + output);
        Assert.Contains("Line-searched", output);
        var plain = CardDocument.Load(folder["plain.json"]).FunctionSpace!;
        var searched = CardDocument.Load(folder["searched.json"]).FunctionSpace!;
        Assert.False(plain.LineSearch);
        Assert.True(searched.LineSearch);
        // The default card's single-layer levels are shrunk to the layers' mean; line-searched, the real loss sets them.
        Assert.Equal(FunctionSpaceResult.CardLevelShrink, plain.LevelShrink);
        Assert.Equal(1, searched.LevelShrink);
        Assert.Equal(FunctionSpaceResult.CardRedundancy, plain.Redundancy);
        Assert.Equal(0, searched.Redundancy);
        var plainCard = CardDocument.Load(folder["plain.json"]);
        var model0 = plain.ToResult();
        for (int l = 0; l < 3; l++) Close(model0.SetGain([l]), plainCard.Layers[l].PredictedGain, $"predicted gain {l}");
        for (int i = 0; i < 3; i++) Close(plain.Slopes[i], searched.Slopes[i], $"slope {i}");
        Assert.Contains(Enumerable.Range(0, 3), i => Math.Abs(searched.Curvature[i][i] / plain.Curvature[i][i] - 1) > 1e-3);

        (code, output, err) = RunCli(CardArgs(model, data, "--line-search", "--shard", "0/2", "--stats-out", folder["stats"]));
        Assert.Equal(2, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--line-search", line);
        Assert.False(Directory.Exists(folder["stats"]) && Directory.EnumerateFiles(folder["stats"]).Any());
    }

    /// <summary>A shard built with another model, tokenizer, target set or rank, or a missing shard, stops the merge with one line naming the file and the difference (exit 2).</summary>
    [Theory]
    [InlineData("model", "another model")]
    [InlineData("tokenizer", "another tokenizer")]
    [InlineData("targets", "other target modules")]
    [InlineData("rank", "rank 2, not 4")]
    [InlineData("missing", "shard 1 of 2 is missing")]
    public void MergeRefusesShardsOfAnotherCard(string change, string expected)
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder, layers: 3);
        var data = CountingTask(folder);
        var (code, output, err) = RunCli(CardArgs(model, data, "--shard", "0/2", "--stats-out", folder["stats"]));
        Assert.True(code == 0, err + output);
        if (change != "missing")
        {
            var args = CardArgs(change switch
            {
                "model" => OtherWeights(folder),
                "tokenizer" => OtherTokenizer(folder, model),
                _ => model,
            }, data, "--shard", "1/2", "--stats-out", folder["stats"]);
            if (change == "targets") args[Array.IndexOf(args, "q_proj,v_proj")] = "q_proj";
            if (change == "rank") args[Array.IndexOf(args, "--rank") + 1] = "2";
            (code, output, err) = RunCli(args);
            Assert.True(code == 0, err + output);
        }
        (code, output, err) = RunCli("card", "merge", folder["stats"], "--out", folder["merged.json"]);
        Assert.Equal(2, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line);
        Assert.Contains("shard-", line);
        Assert.False(File.Exists(folder["merged.json"]));
    }

    private static string OtherWeights(TempFolder folder)
    {
        var config = TinyModels.Llama("Qwen3ForCausalLM", layers: 3);
        return TinyHfDirectory.Write(folder["other-model"], config, TinyModels.RandomWeights(config, 12));
    }

    /// <summary>The same weights with a tokenizer whose ids of 'a' and 'b' are swapped.</summary>
    private static string OtherTokenizer(TempFolder folder, string model)
    {
        var copy = folder["other-tokenizer"];
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(model)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        var path = Path.Combine(copy, "tokenizer.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var vocab = json["model"]!["vocab"]!.AsObject();
        var (a, b) = (vocab["a"]!.GetValue<int>(), vocab["b"]!.GetValue<int>());
        vocab["a"] = b;
        vocab["b"] = a;
        File.WriteAllText(path, json.ToJsonString());
        return copy;
    }
}
