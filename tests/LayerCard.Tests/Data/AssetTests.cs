using LayerCard.Common;
using LayerCard.Data;

namespace LayerCard.Tests.Data;

/// <summary>The shared datasets load as the later stages expect (they live beside the repository).</summary>
public class AssetTests
{
    private static TaskDataset Load(string reference) => DatasetLoader.Load(reference, new DataOptions());

    [Fact]
    public void Sst2TestHasLabelledExamples()
    {
        var data = Load("sst2:test");
        Assert.Equal(DataFormat.Classification, data.Format);
        Assert.Equal(872, data.Examples.Count);
        Assert.Equal(["negative", "positive"], data.Labels!);
        Assert.All(data.Examples, e => Assert.Contains(e.Label, new int?[] { 0, 1 }));
        Assert.Equal(" " + data.Labels![data.Examples[0].Label!.Value], data.Examples[0].Completion);
        Assert.Equal("Review: it 's a charming and often affecting journey .\nSentiment:", data.Examples[0].Prompt);
        Assert.EndsWith(Path.Combine("sst2", "test.tsv"), data.Source);
    }

    [Fact]
    public void BareNamesMeanTheTrainSplit()
    {
        var sst2 = Load("sst2");
        Assert.EndsWith("train.tsv", sst2.Source);
        Assert.Equal(File.ReadLines(sst2.Source).Count(l => l.Trim().Length > 0) - 1, sst2.Examples.Count);
        Assert.Equal(7473, Load("gsm8k").Examples.Count);
        // A path into the shared sst2 folder gets the same default labels as the name.
        Assert.Equal(["negative", "positive"], DatasetLoader.Load(sst2.Source, new DataOptions(Limit: 3)).Labels!);
    }

    [Fact]
    public void Gsm8kTestHas1319Problems()
    {
        var data = Load("gsm8k:test");
        Assert.Equal(DataFormat.Gsm8k, data.Format);
        Assert.Equal(1319, data.Examples.Count);
        Assert.Contains("\n#### 18", data.Examples[0].Completion);
        Assert.EndsWith("train.jsonl", DatasetLoader.ResolveReference("gsm8k").Path);
    }

    [Fact]
    public void E2eTestHasGroups()
    {
        var data = Load("e2e:test");
        Assert.Equal(DataFormat.E2e, data.Format);
        var groups = data.Examples.GroupBy(e => e.Group).ToList();
        Assert.True(groups.Count > 100 && groups.Count < data.Examples.Count);
        Assert.Contains(groups, g => g.Count() > 1);
        Assert.EndsWith("valid.txt", DatasetLoader.ResolveReference("e2e").Path);
        var (train, heldOut) = data.Split(0.1, 0);
        Assert.Empty(train.Examples.Select(e => e.Group).Intersect(heldOut.Examples.Select(e => e.Group)));
    }

    [Fact]
    public void TinyShakespeareIsPlainText()
    {
        var data = Load("tinyshakespeare");
        Assert.Equal(DataFormat.PlainText, data.Format);
        Assert.StartsWith("First Citizen:", data.PlainText);
        var set = Tokenization.Tokenize(data, new FakeTokenizer(), 256);
        Assert.Equal(data.PlainText!.Length - 1, set.TargetTokens); // ASCII: one token per character
    }

    [Fact]
    public void Stories12LIsAKnownModelWithoutADownloadAddress()
    {
        var asset = Assets.Find("stories12l")!;
        Assert.Equal("stories12L", asset.Name);
        Assert.Equal("model", asset.Kind);
        Assert.False(asset.Downloadable);
        Assert.Equal("models/stories12L/stories12L.bin", asset.PrimaryFile);
        Assert.True(File.Exists(Path.Combine(Assets.ResolveAsset(asset), "stories12L.bin")));
    }

    [Fact]
    public void AMissingAssetWithoutADownloadAddressSaysWhereItLookedAndThatThereIsNoDownload()
    {
        var ghost = new KnownAsset("ghost12L", "model", "models/ghost12L",
            [new AssetFile("models/ghost12L/ghost12L.bin", null, new string('0', 64)), new AssetFile("models/ghost12L/tok512.bin", null, new string('0', 64))]);
        var message = Assert.Throws<BadInputException>(() => Assets.ResolveAsset(ghost)).Message;
        Assert.StartsWith("asset 'ghost12L' not found in ", message);
        foreach (var root in Assets.SearchRoots()) Assert.Contains(root, message);
        Assert.Contains("it has no download address", message);
        Assert.Contains("put ghost12L.bin and tok512.bin into models/ghost12L", message);
        Assert.Contains("$" + Assets.EnvironmentVariable, message);
        Assert.False(Directory.Exists(Path.Combine(Assets.CacheRoot(), "models", "ghost12L")));
    }
}
