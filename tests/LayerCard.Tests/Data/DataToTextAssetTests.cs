using System.Text.Json;
using LayerCard.Common;
using LayerCard.Data;

namespace LayerCard.Tests.Data;

/// <summary>
/// The shared DART and WebNLG dev files (microsoft/LoRA @ c4593f06) as the readers see them, with counts checked
/// against an independent walk over the same JSON.
/// </summary>
public class DataToTextAssetTests
{
    private static TaskDataset Load(string reference) => DatasetLoader.Load(reference, new DataOptions());

    [Fact]
    public void DartDevHas2768TripleSetsWith6980References()
    {
        var data = Load("dart");
        Assert.Equal(DataFormat.Dart, data.Format);
        Assert.EndsWith(Path.Combine("dart", "dev.json"), data.Source);
        Assert.Equal(Assets.Find("dart")!.Files[0].Sha256, data.ContentHash);

        using var json = JsonDocument.Parse(File.ReadAllText(data.Source));
        var entries = json.RootElement.EnumerateArray().ToList();
        Assert.Equal(2768, entries.Count);
        Assert.Equal(6980, entries.Sum(e => e.GetProperty("annotations").GetArrayLength()));
        Assert.Equal(6980, data.Examples.Count);
        // 47 of the 2,768 triple sets repeat an earlier one, so their references join its group.
        Assert.Equal(2721, data.Examples.Select(e => e.Group).Distinct().Count());

        const string first = "Mars Hill College : joined : 1973 | Mars Hill College : location : Mars Hill, North Carolina";
        Assert.Equal(new Example(first + "\nDescription:", " A school from Mars Hill, North Carolina, joined in 1973.", null, first), data.Examples[0]);
        Assert.Equal(data.Source, DatasetLoader.ResolveReference("dart:dev").Path);
    }

    [Fact]
    public void WebNlgDevHas2258GoodReferencesOf871Entries()
    {
        var data = Load("webnlg");
        Assert.Equal(DataFormat.WebNlg, data.Format);
        Assert.EndsWith(Path.Combine("webnlg", "dev.json"), data.Source);
        Assert.Equal(Assets.Find("webnlg")!.Files[0].Sha256, data.ContentHash);

        using var json = JsonDocument.Parse(File.ReadAllText(data.Source));
        var entries = json.RootElement.GetProperty("entries").EnumerateArray().Select(e => e.EnumerateObject().Single().Value).ToList();
        Assert.Equal(872, entries.Count);
        var lexicalisations = entries.SelectMany(e => e.GetProperty("lexicalisations").EnumerateArray()).ToList();
        Assert.Equal(2268, lexicalisations.Count);
        // 10 lexicalisations are commented "toFix" and are no references; entry 69 has only such, so gives none.
        Assert.Equal(10, lexicalisations.Count(l => l.GetProperty("comment").GetString() != "good"));
        Assert.Equal(2258, data.Examples.Count);
        Assert.DoesNotContain(data.Examples, e => e.Group == "Japan : ethnicGroup : Brazilians_in_Japan");
        // Entries 75 and 154 hold the same triple set: 871 entries with references make 870 groups.
        Assert.Equal(870, data.Examples.Select(e => e.Group).Distinct().Count());

        Assert.Equal(new Example("Aarhus : leaderName : Jacob_Bundsgaard\nDescription:", " The leader of Aarhus is Jacob Bundsgaard.", null,
            "Aarhus : leaderName : Jacob_Bundsgaard"), data.Examples[0]);
    }

    [Theory]
    [InlineData("dart")]
    [InlineData("webnlg")]
    public void SplitsOfTheRealFileNeverShareATripleSet(string name)
    {
        var data = Load(name);
        var (train, test) = data.Split(0.1, seed: 0);
        Assert.Equal(data.Examples.Count, train.Examples.Count + test.Examples.Count);
        Assert.InRange(test.Examples.Count, data.Examples.Count / 20, data.Examples.Count / 5);
        Assert.Empty(train.Examples.Select(e => e.Group).Intersect(test.Examples.Select(e => e.Group)));
        Assert.Empty(train.Examples.Select(e => e.Prompt).Intersect(test.Examples.Select(e => e.Prompt)));

        // A run's three parts likewise.
        var plan = new DataPlan { MaxLength = 512, ValidationFraction = 0.1, TestFraction = 0.1 };
        var parts = TaskData.Prepare(data, null, null, plan, new FakeTokenizer());
        var groups = new[] { parts.Train, parts.Validation!, parts.Test! }.Select(p => p.Raw.Examples.Select(e => e.Group).ToHashSet()).ToList();
        Assert.Empty(groups[0].Intersect(groups[1]));
        Assert.Empty(groups[0].Intersect(groups[2]));
        Assert.Empty(groups[1].Intersect(groups[2]));
    }
}
