using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using LayerCard.Common;
using LayerCard.Models;
using LayerCard.Bench.Fuzzing;
using LayerCard.Tokenizers;
using static TorchSharp.torch;

namespace LayerCard.Tests.Reliability;

/// <summary>The reader bugs the fuzzer found, each reduced to the smallest input that showed it.</summary>
public sealed class FuzzFindingsTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"layercard-fuzz-findings-{Guid.NewGuid():N}");

    public FuzzFindingsTests() => Directory.CreateDirectory(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Seed(string kind)
    {
        var folder = Path.Combine(_root, kind);
        FuzzSeeds.Write(folder, kind, seed: 1);
        return folder;
    }

    private static void AssertRefused(Action load, string file, string expected)
    {
        var e = Assert.Throws<BadInputException>(load);
        Assert.Contains(file, e.Message);
        Assert.Contains(expected, e.Message);
    }

    private static void EditJson(string path, Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    [Fact]
    public void IndexThatIsNotUtf8IsRefused()
    {
        var folder = Seed(FuzzKinds.HfSharded);
        var index = Path.Combine(folder, "model.safetensors.index.json");
        var bytes = File.ReadAllBytes(index);
        int at = Array.IndexOf(bytes, (byte)'m', Array.IndexOf(bytes, (byte)':', Encoding.UTF8.GetString(bytes).IndexOf("weight_map", StringComparison.Ordinal)));
        bytes[at] = 0x94;
        File.WriteAllBytes(index, bytes);
        AssertRefused(() => ModelLoader.Load(folder, null, CPU), "model.safetensors.index.json", "not valid UTF-8");
    }

    [Fact]
    public void SafetensorsHeaderThatIsNotUtf8IsRefused()
    {
        var file = Path.Combine(Seed(FuzzKinds.HfLlama), "model.safetensors");
        var bytes = File.ReadAllBytes(file);
        bytes[8 + 2] = 0xC3;
        bytes[8 + 3] = 0x28;
        File.WriteAllBytes(file, bytes);
        AssertRefused(() => ModelLoader.Load(file, null, CPU), "model.safetensors", "not valid UTF-8");
    }

    [Fact]
    public void UnpairedSurrogateEscapesAreRefused()
    {
        var folder = Seed(FuzzKinds.HfLlama);
        var config = Path.Combine(folder, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"llama\"", "\"\\ud800\"", StringComparison.Ordinal));
        AssertRefused(() => ModelLoader.Load(folder, null, CPU), "config.json", "not valid text");

        var tokenizer = Path.Combine(Seed(FuzzKinds.TokenizerJson), "tokenizer.json");
        File.WriteAllText(tokenizer, File.ReadAllText(tokenizer).Replace("\"BPE\"", "\"\\udc00\"", StringComparison.Ordinal));
        AssertRefused(() => TokenizerLoader.Load(tokenizer), "tokenizer.json", "not valid text");
    }

    /// <summary>The tokenizers library unwraps the decoder's re-parse: before the fix this aborted the test host.</summary>
    [Fact]
    public void NumberOutOfRangeInTokenizerJsonIsRefusedBeforeTheNativeLibrarySeesIt()
    {
        var tokenizer = Path.Combine(Seed(FuzzKinds.TokenizerJson), "tokenizer.json");
        var text = File.ReadAllText(tokenizer);
        File.WriteAllText(tokenizer, text.Replace("\"decoder\":{\"type\":\"ByteLevel\",", "\"decoder\":{\"type\":\"ByteLevel\",\"x\":1e400,", StringComparison.Ordinal));
        Assert.NotEqual(text, File.ReadAllText(tokenizer));
        AssertRefused(() => TokenizerLoader.Load(tokenizer), "tokenizer.json", "number 1e400 is out of range");
    }

    /// <summary>The BPE builder slices the prefix off by length: before the fix this aborted the test host.</summary>
    [Fact]
    public void MergeShorterThanTheSubwordPrefixIsRefusedBeforeTheNativeLibrarySeesIt()
    {
        var tokenizer = Path.Combine(Seed(FuzzKinds.TokenizerJson), "tokenizer.json");
        EditJson(tokenizer, json => json["model"]!["continuing_subword_prefix"] = "../../../etc/passwd");
        AssertRefused(() => TokenizerLoader.Load(tokenizer), "tokenizer.json", "shorter than continuing_subword_prefix");
    }

    [Fact]
    public void PostProcessorTypeThatIsNotAStringDoesNotThrowInvalidOperation()
    {
        var tokenizer = Path.Combine(Seed(FuzzKinds.TokenizerJson), "tokenizer.json");
        EditJson(tokenizer, json => json["post_processor"]!["type"] = 3);
        var e = Record.Exception(() => (TokenizerLoader.Load(tokenizer) as IDisposable)?.Dispose());
        Assert.True(e is null or BadInputException, e?.ToString());
    }

    [Fact]
    public void HeadDimTimesHeadsBeyondIntRangeIsRefused()
    {
        var folder = Seed(FuzzKinds.HfSharded);
        EditJson(Path.Combine(folder, "config.json"), json => json["head_dim"] = 1_000_000_000);
        AssertRefused(() => ModelLoader.Load(folder, null, CPU), "config.json", "too wide");
    }

    [Fact]
    public void SeedFileFormatsAreWhatTheReadersExpect()
    {
        var bin = Path.Combine(Seed(FuzzKinds.TokenizerBin), "tok300.bin");
        var tokenizer = Assert.IsType<Llama2cTokenizer>(TokenizerLoader.Load(bin));
        Assert.Equal(FuzzSeeds.Vocab, tokenizer.VocabSize);
        Assert.True(tokenizer.Encode("hello the world").Length < 6, "the seed's merges should apply");
        var model = Path.Combine(Seed(FuzzKinds.Llama2c), "model.bin");
        Assert.Equal(16, BinaryPrimitives.ReadInt32LittleEndian(File.ReadAllBytes(model)));
    }
}
