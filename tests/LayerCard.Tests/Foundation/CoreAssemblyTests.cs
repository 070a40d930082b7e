using LayerCard.Models;

namespace LayerCard.Tests.Foundation;

/// <summary>The core library holds components only: benchmarks, the fuzzer and planted benchmarks live in LayerCard.Bench.</summary>
public class CoreAssemblyTests
{
    private static readonly System.Reflection.Assembly Core = typeof(CausalLM).Assembly;

    [Fact]
    public void TheCoreIsLayerCardCore()
    {
        Assert.Equal("LayerCard.Core", Core.GetName().Name);
    }

    [Fact]
    public void NoCoreTypeIsABenchmarkAFuzzerOrAPlantedBenchmark()
    {
        string[] banned = ["Benchmark", "Fuzz", "Planted"];
        // Namespace and type name both: LayerCard.Card.Planted.X and LayerCard.Card.PlantedX are equally out of place.
        var offending = Core.GetTypes()
            .Select(t => t.FullName ?? t.Name)
            .Where(name => name.StartsWith("LayerCard.Bench.", StringComparison.Ordinal)
                || banned.Any(word => name.Contains(word, StringComparison.OrdinalIgnoreCase)))
            .ToList();
        Assert.True(offending.Count == 0, "in LayerCard.Core: " + string.Join(", ", offending));
    }

    [Fact]
    public void TheCoreDoesNotReferenceTheBenchAssembly()
    {
        var references = Core.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain("LayerCard.Bench", references);
        // The bench assembly is the one that references the core, not the other way round.
        Assert.Contains("LayerCard.Core", typeof(LayerCard.Bench.Fuzzing.Fuzzer).Assembly.GetReferencedAssemblies().Select(a => a.Name));
    }
}
