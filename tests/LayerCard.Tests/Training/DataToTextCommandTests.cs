using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using static LayerCard.Tests.Training.TrainingFixtures;

namespace LayerCard.Tests.Training;

/// <summary>`train` and `eval` on the shared DART and WebNLG dev sets by name, through the real command line.</summary>
[Collection("training")]
public class DataToTextCommandTests
{
    [Fact]
    public void TrainOnDartByNameRunsAndWritesTheAdapter()
    {
        using var folder = new TempFolder();
        var (code, output, err) = RunCli("train", "--model", "stories260K", "--data", "dart", "--steps", "2", "--batch-size", "2", "--max-length", "128",
            "--limit", "20", "--eval-limit", "4", "--threads", "1", "--out", folder["run"]);
        Assert.True(code == 0, err + output);
        Assert.Equal("", err);
        foreach (var file in new[] { "adapter_config.json", "adapter_model.safetensors", "run-summary.json", "metrics.jsonl" })
            Assert.True(File.Exists(folder["run/" + file]), file);
        var summary = JsonNode.Parse(File.ReadAllText(folder["run/run-summary.json"]))!.AsObject();
        Assert.Contains("first 20 of", summary["train_data"]!.GetValue<string>());
        Assert.Contains("first 4 of", summary["validation_data"]!.GetValue<string>());
        Assert.Equal(2, File.ReadAllLines(folder["run/metrics.jsonl"]).Length);
    }

    [Fact]
    public void EvalOnWebNlgByNamePrintsBleu4AndRougeL()
    {
        var (code, output, err) = RunCli("eval", "--model", "stories260K", "--data", "webnlg", "--limit", "5", "--max-new-tokens", "8", "--threads", "1");
        Assert.True(code == 0, err + output);
        // The first 5 references belong to 4 triple sets (entry 2 has two), and each set is scored once.
        Assert.Matches(new Regex(@"^examples\s+4$", RegexOptions.Multiline), output);
        Assert.Matches(new Regex(@"^BLEU-4\s+\d+\.\d\d$", RegexOptions.Multiline), output);
        Assert.Matches(new Regex(@"^ROUGE-L\s+\d+\.\d\d$", RegexOptions.Multiline), output);
    }
}
