using System.Buffers.Binary;
using System.Text;
using LayerCard.Common;
using LayerCard.Models.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Tests.Checkpoints;

public sealed class SafetensorsTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Builds a file from a literal header and a data section of <paramref name="dataBytes"/> bytes.</summary>
    private string RawFile(string header, int dataBytes, string name = "raw.safetensors")
    {
        var path = _temp[name];
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static void AssertRefused(string path, Action action, string expectedFragment)
    {
        var e = Assert.Throws<BadInputException>(action);
        Assert.Contains(Path.GetFileName(path), e.Message);
        Assert.Contains(expectedFragment, e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain('\n', e.Message);
    }

    private static void AssertOpenRefused(string path, string expectedFragment) =>
        AssertRefused(path, () => SafetensorsFile.Open(path).Dispose(), expectedFragment);

    [Fact]
    public void RoundTripKeepsValuesShapesAndMetadata()
    {
        using var scope = torch.NewDisposeScope();
        var path = _temp["a.safetensors"];
        var a = torch.randn(3, 5);
        var b = torch.arange(7, dtype: ScalarType.Int64);
        var scalar = torch.tensor(2.5f);
        var empty = torch.zeros(0, 4);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["b"] = b, ["a"] = a, ["s"] = scalar, ["e"] = empty },
            new Dictionary<string, string> { ["format"] = "pt" });

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(["a", "b", "e", "s"], file.Tensors.Keys.Order());
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("I64", file.Tensors["b"].DType);
        Assert.Equal(new long[] { 3, 5 }, file.Tensors["a"].Shape);
        AssertSame(a, file.Read("a"));
        AssertSame(b, file.Read("b", ScalarType.Int64));
        Assert.Equal(2.5f, file.Read("s").item<float>());
        Assert.Equal(new long[] { 0, 4 }, file.Read("e").shape);
        // Header length is a multiple of 8 so that the data section starts aligned.
        var prefix = File.ReadAllBytes(path)[..8];
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(prefix) % 8);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, "BF16")]
    [InlineData(ScalarType.Float16, "F16")]
    [InlineData(ScalarType.Float64, "F64")]
    public void ReducedPrecisionIsStoredAsIsAndWidensExactly(ScalarType type, string dtype)
    {
        using var scope = torch.NewDisposeScope();
        var path = _temp["h.safetensors"];
        var reference = (torch.randn(4, 6) * 100).to(type);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["w"] = reference });

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(dtype, file.Tensors["w"].DType);
        var asF32 = file.Read("w");
        Assert.Equal(ScalarType.Float32, asF32.dtype);
        AssertSame(reference.to(ScalarType.Float32), asF32);
        var native = file.Read("w", type);
        Assert.Equal(type, native.dtype);
        AssertSame(reference, native);
    }

    [Fact]
    public void Bf16BitsAreTheTopHalfOfF32()
    {
        using var scope = torch.NewDisposeScope();
        // 1.0f = 0x3F800000, -2.0f = 0xC0000000, 0.15625f = 0x3E200000: BF16 words are their top 16 bits.
        var path = RawFile("{\"x\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]}}", 0);
        var bytes = File.ReadAllBytes(path).Concat(new byte[] { 0x80, 0x3F, 0x00, 0xC0, 0x20, 0x3E }).ToArray();
        File.WriteAllBytes(path, bytes);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(new[] { 1.0f, -2.0f, 0.15625f }, file.Read("x").data<float>().ToArray());
    }

    [Fact]
    public void FileShorterThanEightBytes() => AssertOpenRefused(WriteBytes("short.safetensors", [1, 2, 3]), "shorter than");

    [Fact]
    public void HeaderLengthBeyondFile()
    {
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
        AssertOpenRefused(WriteBytes("beyond.safetensors", bytes), "past the end");
    }

    [Fact]
    public void HugeHeaderLengthIsRefusedBeforeAllocating()
    {
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        AssertOpenRefused(WriteBytes("huge.safetensors", bytes), "exceeds");
    }

    [Fact]
    public void InvalidJsonHeader() => AssertOpenRefused(RawFile("{\"x\": [1, 2", 0), "not valid JSON");

    [Fact]
    public void HeaderNotAnObject() => AssertOpenRefused(RawFile("[1, 2, 3]", 0), "JSON object");

    [Fact]
    public void TruncatedDataIsOffsetsOutOfRange()
    {
        using var scope = torch.NewDisposeScope();
        var path = _temp["t.safetensors"];
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["w"] = torch.ones(16) });
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^10]);
        AssertOpenRefused(path, "outside");
    }

    [Fact]
    public void OffsetsOutOfRange() =>
        AssertOpenRefused(RawFile("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 16), "outside");

    [Fact]
    public void OverlappingOffsets() =>
        AssertOpenRefused(RawFile("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16), "overlap");

    [Fact]
    public void SizeDoesNotMatchShape() =>
        AssertOpenRefused(RawFile("{\"x\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16), "needs 8");

    [Fact]
    public void UnknownDType() =>
        AssertOpenRefused(RawFile("{\"x\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16), "unknown dtype 'F128'");

    [Fact]
    public void NegativeDimension() =>
        AssertOpenRefused(RawFile("{\"x\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16), "negative");

    [Fact]
    public void ShapeProductOverflow() =>
        AssertOpenRefused(RawFile("{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}", 16), "overflows");

    [Fact]
    public void ByteSizeOverflow() =>
        AssertOpenRefused(RawFile("{\"x\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,16]}}", 16), "overflows");

    [Theory]
    [InlineData("dtype", "{\"shape\":[1],\"data_offsets\":[0,4]}")]
    [InlineData("shape", "{\"dtype\":\"F32\",\"data_offsets\":[0,4]}")]
    [InlineData("data_offsets", "{\"dtype\":\"F32\",\"shape\":[1]}")]
    public void MissingEntryField(string field, string entry) =>
        AssertOpenRefused(RawFile("{\"x\":" + entry + "}", 4), $"missing '{field}'");

    [Fact]
    public void NonStringMetadata() =>
        AssertOpenRefused(RawFile("{\"__metadata__\":{\"n\":3}}", 0), "must be a string");

    [Fact]
    public void DuplicateTensorName() =>
        AssertOpenRefused(RawFile("{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2), "twice");

    [Fact]
    public void MissingFileNamesThePath() => AssertOpenRefused(_temp["absent.safetensors"], "cannot open");

    [Fact]
    public void UnloadableDTypeOpensButRefusesRead()
    {
        var path = RawFile("{\"x\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
        using var file = SafetensorsFile.Open(path);
        AssertRefused(path, () => file.Read("x"), "F8_E4M3");
    }

    internal static void AssertSame(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.dtype, actual.dtype);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.eq(actual).all().item<bool>(), "tensor values differ");
    }

    private string WriteBytes(string name, byte[] bytes)
    {
        var path = _temp[name];
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
