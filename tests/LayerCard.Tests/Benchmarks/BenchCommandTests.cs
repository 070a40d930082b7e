using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LayerCard.Bench.Benchmarks;
using LayerCard.Tests.Models;
using LayerCard.Tests.Training;
using static LayerCard.Tests.Training.TrainingFixtures;

namespace LayerCard.Tests.Benchmarks;

/// <summary>Each bench command on tiny settings: it must finish and print positive figures. Real sizes are never built here.</summary>
[Collection("training")]
public class BenchCommandTests
{
    private static string TinyGpt2(TempFolder folder) =>
        TinyHfDirectory.Write(folder["gpt2"], TinyModels.Gpt2(layers: 4, positions: 64), TinyModels.RandomWeights(TinyModels.Gpt2(layers: 4, positions: 64), 5));

    private static string Text(TempFolder folder)
    {
        var path = folder["text.txt"];
        File.WriteAllText(path, string.Concat(Enumerable.Repeat("First Citizen: we are accounted poor citizens, the patricians good.\n", 40)));
        return path;
    }

    /// <summary>The numbers on the table row that starts with <paramref name="label"/>.</summary>
    private static double[] Row(string output, string label)
    {
        var line = output.Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith(label, StringComparison.Ordinal))
            ?? throw new Xunit.Sdk.XunitException($"no row '{label}' in:\n{output}");
        return Regex.Matches(line[(line.IndexOf(label, StringComparison.Ordinal) + label.Length)..], @"-?\d+(\.\d+)?")
            .Select(m => double.Parse(m.Value, CultureInfo.InvariantCulture)).ToArray();
    }

    [Fact]
    public void PeerSaysHowToGetPyTorchWhenThePythonIsMissing()
    {
        var (code, output, err) = RunCli("bench", "peer", "--python", "/no/such/python3", "--rounds", "1");
        Assert.Equal(1, code);
        Assert.Contains("apt-get install python3-torch", err);
        Assert.Equal("", output);
    }

    [Fact]
    public void ProfileTimesEveryPhaseOfAStep()
    {
        using var folder = new TempFolder();
        var (code, output, err) = RunCli("bench", "profile", "--model", TinyGpt2(folder), "--steps", "2", "--max-length", "16", "--threads", "1");
        Assert.True(code == 0, err + output);
        foreach (var phase in new[] { "forward (layers)", "loss (head + cross-entropy)", "backward", "optimizer" })
            Assert.True(Row(output, phase)[0] > 0, phase);
        Assert.True(Row(output, "step (sum)")[0] >= Row(output, "backward")[0]);
    }

    [Fact]
    public void GenerateReportsTokensPerSecond()
    {
        using var folder = new TempFolder();
        var model = TinyGpt2(folder);
        var (code, output, err) = RunCli("bench", "generate", "--model", model, "--tokens", "5", "--repeats", "2", "--threads", "1", "--json", folder["g.json"]);
        Assert.True(code == 0, err + output);
        var figures = Row(output, model);
        Assert.Equal(5, figures[2]); // new tokens
        Assert.True(figures[3] > 0 && figures[4] > 0, output);
        var json = JsonNode.Parse(File.ReadAllText(folder["g.json"]))!;
        Assert.True(json["tables"]![0]!["rows"]![0]!["tokens/s"]!.GetValue<double>() > 0);
    }

    [Fact]
    public void TrainRunsEachConfigurationInAChildProcess()
    {
        using var folder = new TempFolder();
        var model = TinyGpt2(folder);
        var (code, output, err) = RunCli("bench", "train", "--model", model, "--top", "1", "--data", Text(folder), "--steps", "3",
            "--batch-size", "2", "--max-length", "16", "--rank", "2", "--matmul-repeats", "2", "--threads", "1");
        Assert.True(code == 0, err + output);
        Assert.True(Row(output, "1024x1024 @ 1024x1024")[^4] > 0, output); // GFLOP/s
        foreach (var label in new[] { $"{model} top-1", $"{model} all" })
        {
            var f = Row(output, label);
            // From the end: tokens/step, step ms, best step ms, mean step ms, tokens/s, peak, peak - weights, GFLOP/step, GFLOP/s, %, runs.
            Assert.True(f.Length >= 11, output);
            Assert.Equal(32, f[^11]); // 2 x 16
            Assert.All(f[^9..], v => Assert.True(v != 0, output));
            Assert.True(f[^7] > 0 && f[^6] > 0, output); // tokens/s, peak MiB
        }
        Assert.Contains("step time x", output);
    }

    [Fact]
    public void MemoryReportsResidentSizesAndGrowth()
    {
        using var folder = new TempFolder();
        var model = TinyGpt2(folder);
        var (code, output, err) = RunCli("bench", "memory", "--model", model, "--data", Text(folder), "--steps", "20", "--every", "5",
            "--warmup", "5", "--max-length", "16", "--batch-size", "2", "--threads", "1", "--max-growth-mib", "1000");
        Assert.True(code == 0, err + output);
        Assert.Contains("growth from warm-up (step 5) to end", output);
        foreach (var step in new[] { "5", "10", "15", "20" })
            Assert.True(Row(output, step)[^2] > 0, output); // resident MiB
    }

    [Fact]
    public void FlopEstimateFollowsTheDocumentedFormula()
    {
        var c = RandomModels.Gpt2Small;
        Assert.Equal(124_439_808, ModelCost.Parameters(c)); // GPT-2 small, tied head counted once
        long t = 512, layer = 12L * 768 * 768, head = 50257L * 768;
        Assert.Equal(layer, ModelCost.LayerMatmulParameters(c));
        var all = 2.0 * t * (12 * layer + head) * 3;
        Assert.Equal(all, ModelCost.StepFlops(c, 0, t), 1e-6 * all);
        var top3 = 2.0 * t * (12 * layer + head) + 4.0 * t * (3 * layer + head);
        Assert.Equal(top3, ModelCost.StepFlops(c, 9, t), 1e-6 * top3);
    }
}
