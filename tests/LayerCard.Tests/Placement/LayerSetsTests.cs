using LayerCard.Placement;

namespace LayerCard.Tests.Placement;

/// <summary>The layer sets the study trains: all of them on small models, every set up to a size plus a stated sample on deep ones.</summary>
public class LayerSetsTests
{
    [Fact]
    public void UpToTwoOfTwelveLayersIsEverySingleLayerAndEveryPair()
    {
        var sets = LayerSets.UpTo(12, 2).ToList();
        Assert.Equal(12 + 66, sets.Count);
        Assert.Equal(sets.Count, sets.Select(s => string.Join(",", s)).Distinct().Count());
        Assert.All(sets, s => Assert.True(s.SequenceEqual(s.Order()) && s.Distinct().Count() == s.Length && s.All(l => l is >= 0 and < 12)));
    }

    [Fact]
    public void UpToTheLayerCountIsEverySubset()
    {
        Assert.Equal(LayerSets.All(5).Select(s => string.Join(",", s)).Order(), LayerSets.UpTo(5, 5).Select(s => string.Join(",", s)).Order());
    }

    [Fact]
    public void ASampleHasDistinctSetsOfTheSizeAskedAndDependsOnlyOnItsSeed()
    {
        var sample = LayerSets.Sample(12, 4, 5, 1004).ToList();
        Assert.Equal(5, sample.Count);
        Assert.All(sample, s => Assert.Equal(4, s.Distinct().Count()));
        Assert.Equal(5, sample.Select(s => string.Join(",", s)).Distinct().Count());
        Assert.Equal(sample.Select(s => string.Join(",", s)), LayerSets.Sample(12, 4, 5, 1004).Select(s => string.Join(",", s)));
        Assert.NotEqual(sample.Select(s => string.Join(",", s)), LayerSets.Sample(12, 4, 5, 1005).Select(s => string.Join(",", s)));
    }
}
