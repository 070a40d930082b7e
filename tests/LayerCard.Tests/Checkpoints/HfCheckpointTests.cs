using System.Text.Json.Nodes;
using LayerCard.Common;
using LayerCard.Models.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Tests.Checkpoints;

public sealed class HfCheckpointTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static Dictionary<string, Tensor> SampleTensors(ScalarType type = ScalarType.BFloat16) => new()
    {
        ["model.embed_tokens.weight"] = torch.randn(16, 8).to(type),
        ["model.layers.0.self_attn.q_proj.weight"] = torch.randn(8, 8).to(type),
        ["model.layers.0.mlp.up_proj.weight"] = torch.randn(12, 8).to(type),
        ["model.layers.1.self_attn.q_proj.weight"] = torch.randn(8, 8).to(type),
        ["model.norm.weight"] = torch.ones(8, dtype: ScalarType.Float32),
    };

    private static void AssertRefused(string expectedFile, Action action, string expectedFragment)
    {
        var e = Assert.Throws<BadInputException>(action);
        Assert.Contains(expectedFile, e.Message);
        Assert.Contains(expectedFragment, e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void SingleFileRoundTrip()
    {
        using var scope = torch.NewDisposeScope();
        var tensors = SampleTensors();
        HfCheckpoint.WriteSingle(_temp.Path, tensors);
        using var checkpoint = HfCheckpoint.Open(_temp.Path);
        Assert.Equal(tensors.Keys.Order(), checkpoint.Names.Order());
        Assert.Equal("BF16", checkpoint.FileDType);
        Assert.Equal(new long[] { 12, 8 }, checkpoint.Entry("model.layers.0.mlp.up_proj.weight").Shape);
        foreach (var (name, tensor) in tensors)
            SafetensorsTests.AssertSame(tensor.to(ScalarType.Float32), checkpoint.Read(name, ScalarType.Float32));
    }

    [Fact]
    public void ShardedRoundTripMatchesSingleFile()
    {
        using var scope = torch.NewDisposeScope();
        var tensors = SampleTensors();
        var sharded = Path.Combine(_temp.Path, "sharded");
        HfCheckpoint.WriteSharded(sharded, tensors, shards: 3);
        Assert.Equal(3, Directory.GetFiles(sharded, "model-*-of-00003.safetensors").Length);
        using var checkpoint = HfCheckpoint.Open(sharded);
        Assert.Equal(3, checkpoint.Files.Count);
        Assert.Equal(tensors.Keys.Order(), checkpoint.Names.Order());
        foreach (var (name, tensor) in tensors)
            SafetensorsTests.AssertSame(tensor, checkpoint.Read(name, tensor.dtype));
        Assert.Throws<BadInputException>(() => checkpoint.Entry("no.such.weight"));
    }

    [Fact]
    public void ContentHashIsStableAndSeesWeightChanges()
    {
        using var scope = torch.NewDisposeScope();
        var tensors = SampleTensors(ScalarType.Float32);
        var a = Path.Combine(_temp.Path, "a");
        var b = Path.Combine(_temp.Path, "b");
        HfCheckpoint.WriteSingle(a, tensors);
        HfCheckpoint.WriteSingle(b, tensors);
        string hashA, hashB;
        using (var ca = HfCheckpoint.Open(a)) hashA = ca.ContentHash();
        using (var cb = HfCheckpoint.Open(b)) hashB = cb.ContentHash();
        Assert.Equal(hashA, hashB);
        Assert.Matches("^[0-9a-f]{64}$", hashA);

        // Same names and shapes, different values: a fine-tune of the same base must not share the hash.
        tensors["model.embed_tokens.weight"] = tensors["model.embed_tokens.weight"] + 1;
        HfCheckpoint.WriteSingle(b, tensors);
        using var changed = HfCheckpoint.Open(b);
        Assert.NotEqual(hashA, changed.ContentHash());
    }

    [Fact]
    public void IndexPointingAtMissingShard()
    {
        using var scope = torch.NewDisposeScope();
        HfCheckpoint.WriteSharded(_temp.Path, SampleTensors(), shards: 2);
        File.Delete(_temp["model-00002-of-00002.safetensors"]);
        AssertRefused(HfCheckpoint.IndexFileName, () => HfCheckpoint.Open(_temp.Path), "model-00002-of-00002.safetensors' (holding");
    }

    [Fact]
    public void IndexNameMissingFromShard()
    {
        using var scope = torch.NewDisposeScope();
        HfCheckpoint.WriteSharded(_temp.Path, SampleTensors(), shards: 2);
        EditIndex(map => map["model.layers.9.extra.weight"] = "model-00001-of-00002.safetensors");
        AssertRefused(HfCheckpoint.IndexFileName, () => HfCheckpoint.Open(_temp.Path), "'model.layers.9.extra.weight' is mapped to");
    }

    [Fact]
    public void ShardTensorMissingFromIndex()
    {
        using var scope = torch.NewDisposeScope();
        HfCheckpoint.WriteSharded(_temp.Path, SampleTensors(), shards: 2);
        EditIndex(map => map.Remove("model.norm.weight"));
        AssertRefused("model-00002-of-00002.safetensors", () => HfCheckpoint.Open(_temp.Path), "does not list");
    }

    [Fact]
    public void ShardNameWithPathIsRefused()
    {
        using var scope = torch.NewDisposeScope();
        HfCheckpoint.WriteSharded(_temp.Path, SampleTensors(), shards: 2);
        EditIndex(map => map["model.norm.weight"] = "../elsewhere.safetensors");
        AssertRefused(HfCheckpoint.IndexFileName, () => HfCheckpoint.Open(_temp.Path), "not a plain file name");
    }

    [Fact]
    public void BrokenShardNamesTheShard()
    {
        using var scope = torch.NewDisposeScope();
        HfCheckpoint.WriteSharded(_temp.Path, SampleTensors(), shards: 2);
        File.WriteAllBytes(_temp["model-00001-of-00002.safetensors"], [1, 2, 3]);
        AssertRefused("model-00001-of-00002.safetensors", () => HfCheckpoint.Open(_temp.Path), "shorter than");
    }

    [Theory]
    [InlineData("pytorch_model.bin")]
    [InlineData("consolidated.00.pth")]
    [InlineData("model.pt")]
    public void PickledWeightsOnlyAreRefused(string fileName)
    {
        File.WriteAllBytes(_temp[fileName], [0x80, 0x02]);
        var e = Assert.Throws<BadInputException>(() => HfCheckpoint.Open(_temp.Path));
        Assert.Contains(_temp.Path, e.Message);
        Assert.Contains(fileName, e.Message);
        Assert.Contains("never loaded", e.Message);
        Assert.Contains("safetensors", e.Message);
    }

    [Fact]
    public void EmptyFolderAndMissingFolder()
    {
        AssertRefused(_temp.Path, () => HfCheckpoint.Open(_temp.Path), "no model.safetensors");
        var missing = _temp["nope"];
        AssertRefused(missing, () => HfCheckpoint.Open(missing), "does not exist");
    }

    private void EditIndex(Action<JsonObject> edit)
    {
        var path = _temp[HfCheckpoint.IndexFileName];
        var root = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(root["weight_map"]!.AsObject());
        File.WriteAllText(path, root.ToJsonString());
    }
}
