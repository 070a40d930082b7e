using System.CommandLine;
using System.Text.RegularExpressions;
using LayerCard.Bench.Planted;
using LayerCard.Cli.Commands;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LayerCard.Tests.CardPlanted;

/// <summary>
/// A small run of the planted-layer benchmark: on a reconditioned random model the single-layer LoRA probes must
/// find the planted layer, and the command must print the recovery table with every column.
/// </summary>
[Collection(LayerCard.Tests.Card.RunsAlone.Name)]
public class PlantedBenchmarkTests(ITestOutputHelper output)
{
    // Small enough for ~10-20 s on a shared 2-core machine: fewer layers, data and steps than the full benchmark,
    // so a stronger plant (30 % of predictions flipped) keeps the planted layer clear after 24 steps.
    private static readonly string[] FastArgs =
    [
        "planted", "--models", "random6", "--seeds", "2", "--sizes", "1", "--probe-steps", "24", "--plant-flips", "0.3",
        "--train-examples", "192", "--calibration-examples", "32", "--validation-examples", "32", "--length", "32", "--threads", "1",
    ];

    [Fact]
    public void TheProbeColumnRecoversThePlantedLayerAndTheCommandPrintsTheTable()
    {
        using var writer = new StringWriter();
        using var errors = new StringWriter();
        var json = Path.Combine(Path.GetTempPath(), $"planted-{Guid.NewGuid():N}.json");
        try
        {
            // The command's error stream is kept so that a failing run shows why (one CI run exited 1 after its first case).
            var code = new RootCommand { PlantedCommand.Planted(writer) }.Parse([.. FastArgs, "--json", json])
                .Invoke(new InvocationConfiguration { Output = writer, Error = errors });
            var text = writer.ToString();
            output.WriteLine(text);
            output.WriteLine(errors.ToString());
            Assert.Equal(0, code);
            var row = text.Split("\n").Last(l => l.StartsWith("random6 ", StringComparison.Ordinal)); // after the per-case lines
            var header = text.Split('\n').Single(l => l.StartsWith("model ", StringComparison.Ordinal));
            var headers = Regex.Split(header.Trim(), @"\s{2,}").ToList();
            var cells = Regex.Split(row.Trim(), @"\s{2,}");
            foreach (var column in PlantedColumns.All) Assert.Contains(column, headers);
            Assert.Equal(headers.Count, cells.Length);
            // Both cases recovered, the planted layer ranked first each time.
            Assert.Equal("2/2 (1.0)", cells[headers.IndexOf(PlantedColumns.Probe)]);
            Assert.True(File.Exists(json));
            Assert.Contains("\"planted_ranks\"", File.ReadAllText(json));
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Fact]
    public void PlantedSetsAreSeededDistinctAndInRange()
    {
        var a = PlantedBenchmark.PlantedSet("random12", 12, 3, 4);
        Assert.Equal(a, PlantedBenchmark.PlantedSet("random12", 12, 3, 4));
        Assert.Equal(3, a.Distinct().Count());
        Assert.All(a, l => Assert.InRange(l, 0, 11));
        var sets = Enumerable.Range(0, 10).Select(s => string.Join(",", PlantedBenchmark.PlantedSet("random12", 12, 1, s))).Distinct().Count();
        Assert.True(sets > 3, "the planted layer should change with the seed");
    }

    [Fact]
    public void TiesAndNaNDoNotCountAsRecovered()
    {
        Assert.Equal([1], PlantedBenchmark.PlantedRanks([0.1, 0.5, 0.2], [1]));
        Assert.Equal([2], PlantedBenchmark.PlantedRanks([0.5, 0.5, 0.2], [1]));
        Assert.Equal([3], PlantedBenchmark.PlantedRanks([0.1, double.NaN, 0.2], [1]));
    }

    [Fact]
    public void ThePlantIsRemovedExactly()
    {
        using var model = PlantedModels.RandomLlama(2, seed: 3, CPU);
        var before = model.BaseParameters().ToDictionary(p => p.Key, p => p.Value.detach().clone());
        var directions = PlantedModels.Directions(model, 1, ["q_proj", "v_proj"], 2, new Generator(5));
        Assert.Equal(2, directions.Count);
        var changed = PlantedModels.WithPlant(directions.Select(d => (d.Module, d.Direction, 1.0)),
            () => model.BaseParameters().Count(p => !p.Value.allclose(before[p.Key], rtol: 0, atol: 0)));
        Assert.Equal(2, changed);
        Assert.All(model.BaseParameters(), p => Assert.True(p.Value.allclose(before[p.Key], rtol: 0, atol: 0), p.Key));
    }
}
