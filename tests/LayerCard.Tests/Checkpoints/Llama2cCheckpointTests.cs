using System.Buffers.Binary;
using LayerCard.Common;
using LayerCard.Models;
using LayerCard.Models.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Tests.Checkpoints;

public sealed class Llama2cCheckpointTests : IDisposable
{
    private const string Stories260K = "/work/shared/assets/models/stories260K/stories260K.bin";
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static readonly ModelConfig Tiny = new("llama", "llama2c", Layers: 2, Hidden: 16, Heads: 4, KvHeads: 2, HeadDim: 4,
        Intermediate: 24, Vocab: 32, MaxPositions: 8, NormEps: 1e-5, RopeTheta: 10000, TiedEmbeddings: true, QkvBias: false,
        QkNorm: false, InterleavedRope: true, Activation: "silu");

    private static Dictionary<string, Tensor> TinyTensors(bool shared)
    {
        var t = new Dictionary<string, Tensor>
        {
            ["model.embed_tokens.weight"] = torch.randn(32, 16),
            ["model.norm.weight"] = torch.randn(16),
        };
        for (int i = 0; i < 2; i++)
        {
            var p = $"model.layers.{i}.";
            t[p + "input_layernorm.weight"] = torch.randn(16);
            t[p + "self_attn.q_proj.weight"] = torch.randn(16, 16);
            t[p + "self_attn.k_proj.weight"] = torch.randn(8, 16);
            t[p + "self_attn.v_proj.weight"] = torch.randn(8, 16);
            t[p + "self_attn.o_proj.weight"] = torch.randn(16, 16);
            t[p + "post_attention_layernorm.weight"] = torch.randn(16);
            t[p + "mlp.gate_proj.weight"] = torch.randn(24, 16);
            t[p + "mlp.down_proj.weight"] = torch.randn(16, 24);
            t[p + "mlp.up_proj.weight"] = torch.randn(24, 16);
        }
        if (!shared) t["lm_head.weight"] = torch.randn(32, 16);
        return t;
    }

    [Fact]
    public void Stories260KReadsWithItsDimensions()
    {
        using var scope = torch.NewDisposeScope();
        var (config, tensors) = Llama2cCheckpoint.Read(Stories260K);
        Assert.Equal(new ModelConfig("llama", "llama2c", 5, 64, 8, 4, 8, 172, 512, 512, 1e-5, 10000,
            TiedEmbeddings: true, QkvBias: false, QkNorm: false, InterleavedRope: true, Activation: "silu"), config);
        Assert.Equal(2 + 5 * 9, tensors.Count);
        Assert.False(tensors.ContainsKey("lm_head.weight"));
        Assert.Equal(new long[] { 512, 64 }, tensors["model.embed_tokens.weight"].shape);
        Assert.Equal(new long[] { 32, 64 }, tensors["model.layers.4.self_attn.k_proj.weight"].shape);
        Assert.Equal(new long[] { 64, 172 }, tensors["model.layers.0.mlp.down_proj.weight"].shape);
        // Trained weights: finite and not all zero (catches reading at a wrong offset into padding).
        foreach (var t in tensors.Values) Assert.True(t.isfinite().all().item<bool>());
        Assert.True(tensors["model.norm.weight"].abs().sum().item<float>() > 0);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WriteReadRoundTrip(bool shared)
    {
        using var scope = torch.NewDisposeScope();
        var path = _temp["tiny.bin"];
        var tensors = TinyTensors(shared);
        Llama2cCheckpoint.Write(path, Tiny with { TiedEmbeddings = shared }, tensors);
        var (config, read) = Llama2cCheckpoint.Read(path);
        Assert.Equal(Tiny with { TiedEmbeddings = shared }, config);
        Assert.Equal(tensors.Keys.Order(), read.Keys.Order());
        foreach (var (name, tensor) in tensors) SafetensorsTests.AssertSame(tensor, read[name]);
    }

    [Fact]
    public void TruncatedFileNamesExpectedAndActualSize()
    {
        var path = _temp["cut.bin"];
        File.WriteAllBytes(path, File.ReadAllBytes(Stories260K)[..100_000]);
        var e = Assert.Throws<BadInputException>(() => Llama2cCheckpoint.Read(path));
        Assert.StartsWith(path + ":", e.Message);
        Assert.Contains("1056540", e.Message);
        Assert.Contains("100000", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void TrailingDataIsRefused()
    {
        var path = _temp["long.bin"];
        File.WriteAllBytes(path, [.. File.ReadAllBytes(Stories260K), 0, 0, 0, 0]);
        var e = Assert.Throws<BadInputException>(() => Llama2cCheckpoint.Read(path));
        Assert.Contains("1056544", e.Message);
    }

    [Fact]
    public void ShorterThanHeader()
    {
        var path = _temp["tiny.bin"];
        File.WriteAllBytes(path, new byte[10]);
        var e = Assert.Throws<BadInputException>(() => Llama2cCheckpoint.Read(path));
        Assert.Contains(path, e.Message);
    }

    [Theory]
    [InlineData(0, 0, "dim")]
    [InlineData(2, 1000, "n_layers")]
    [InlineData(3, 7, "not divisible by n_heads 7")]
    [InlineData(4, 3, "not divisible by n_kv_heads 3")]
    [InlineData(5, int.MinValue, "vocab_size")]
    public void BadHeaderFieldsAreRefused(int field, int value, string fragment)
    {
        var path = _temp["bad.bin"];
        var bytes = File.ReadAllBytes(Stories260K);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(field * 4), value);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<BadInputException>(() => Llama2cCheckpoint.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void HugeHeaderIsRefusedBySizeNotByAllocating()
    {
        // A forged header describing ~1e17 bytes must fail on the size check, not on an allocation.
        var path = _temp["forged.bin"];
        var bytes = new byte[64];
        int[] header = [999_984, 999_999, 999, 8, 8, 999_999, 999_999];
        for (int i = 0; i < 7; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 4), header[i]);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<BadInputException>(() => Llama2cCheckpoint.Read(path));
        Assert.Contains("but is 64 bytes", e.Message);
    }

    [Fact]
    public void VersionedExportIsRefused()
    {
        var path = _temp["v1.bin"];
        var bytes = new byte[256];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, 0x616b3432);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<BadInputException>(() => Llama2cCheckpoint.Read(path));
        Assert.Contains("version", e.Message);
    }
}
