using LayerCard.Models;
using LayerCard.Tests.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Tests.Foundation;

/// <summary>
/// End to end through the public loader: a folder laid out like a Hub download goes in, and the logits must
/// equal the float64 reference forward computed from the weights the test wrote.
/// </summary>
public sealed class HfDirectoryTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>
    /// Non-default eps and theta per family so that a loader falling back to defaults instead of reading
    /// config.json disagrees with the reference.
    /// </summary>
    private static ModelConfig ConfigFor(string architecture, int heads, int kvHeads, bool tied, int? headDim = null) => architecture switch
    {
        "GPT2LMHeadModel" => TinyModels.Gpt2(heads: heads) with { RopeTheta = 0, NormEps = 1e-5 },
        "LlamaForCausalLM" => TinyModels.Llama(architecture, heads: heads, kvHeads: kvHeads, tied: tied, headDim: headDim) with { NormEps = 1e-5, RopeTheta = 500000 },
        "MistralForCausalLM" => TinyModels.Llama(architecture, heads: heads, kvHeads: kvHeads, tied: tied, headDim: headDim) with { RopeTheta = 1000 },
        _ => TinyModels.Llama(architecture, heads: heads, kvHeads: kvHeads, tied: tied, headDim: headDim) with { RopeTheta = 1000000 },
    };

    private static long[] Ids(int length, int vocab) => Enumerable.Range(0, length).Select(i => (long)((i * 41 + 7) % vocab)).ToArray();

    private string WriteFolder(string name, ModelConfig config, Dictionary<string, Tensor> weights, int shards)
    {
        var onDisk = config.Family == ModelConfig.Gpt2 ? HfModelFolder.Gpt2HubNames(config, weights) : weights;
        return HfModelFolder.Write(Path.Combine(_temp.Path, name), config, onDisk, shards);
    }

    private static Tensor Logits(LoadedModel loaded, long[] ids)
    {
        using var noGrad = no_grad();
        return loaded.Model.Forward(tensor(ids).unsqueeze(0))[0];
    }

    public static TheoryData<string, int, int, bool, int, int> Architectures => new()
    {
        // architecture, heads, kv heads (GQA ratio heads/kv), tied head, sequence length, shards
        { "LlamaForCausalLM", 4, 4, false, 7, 1 },
        { "LlamaForCausalLM", 4, 2, true, 5, 3 },
        { "MistralForCausalLM", 4, 2, false, 9, 2 },
        { "Qwen2ForCausalLM", 4, 1, true, 11, 1 },
        { "Qwen2ForCausalLM", 4, 4, false, 1, 1 },
        { "Qwen3ForCausalLM", 4, 1, false, 3, 1 },
        { "Qwen3ForCausalLM", 4, 2, true, 13, 3 },
        { "GPT2LMHeadModel", 4, 4, true, 15, 1 },
        { "GPT2LMHeadModel", 2, 2, true, 9, 2 },
    };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void HubFolderLogitsMatchTheReference(string architecture, int heads, int kvHeads, bool tied, int length, int shards)
    {
        using var scope = NewDisposeScope();
        var config = ConfigFor(architecture, heads, kvHeads, tied);
        var weights = TinyModels.RandomWeights(config, seed: length * 10 + shards);
        var folder = WriteFolder("m", config, weights, shards);
        if (shards > 1)
        {
            Assert.True(File.Exists(Path.Combine(folder, "model.safetensors.index.json")));
            Assert.Equal(shards, Directory.GetFiles(folder, $"model-*-of-{shards:D5}.safetensors").Length);
        }

        using var loaded = ModelLoader.Load(folder, null, CPU);
        Assert.Equal(config, loaded.Config);
        Assert.Equal("F32", loaded.FileDType);
        var ids = Ids(length, config.Vocab);
        TensorAssert.Close(ReferenceForward.Logits(config, weights, ids), Logits(loaded, ids), 1e-4);
    }

    [Fact]
    public void Qwen3HeadDimWiderThanHiddenOverHeadsIsReadFromConfig()
    {
        // Qwen3 sets head_dim explicitly (128 with hidden 1024 and 16 heads in Qwen3-0.6B): q_proj is wider than hidden.
        using var scope = NewDisposeScope();
        var config = ConfigFor("Qwen3ForCausalLM", heads: 4, kvHeads: 2, tied: true, headDim: 16);
        Assert.NotEqual(config.Hidden, config.Heads * config.HeadDim);
        var weights = TinyModels.RandomWeights(config, seed: 21);
        using var loaded = ModelLoader.Load(WriteFolder("q3", config, weights, 1), null, CPU);
        Assert.Equal(16, loaded.Config.HeadDim);
        var ids = Ids(9, config.Vocab);
        TensorAssert.Close(ReferenceForward.Logits(config, weights, ids), Logits(loaded, ids), 1e-4);
    }

    [Fact]
    public void Gpt2WithTransformerPrefixAndRepeatedHeadLoadsTheSameModel()
    {
        // Checkpoints re-saved by GPT2LMHeadModel.save_pretrained keep the prefix and may repeat the tied head.
        using var scope = NewDisposeScope();
        var config = ConfigFor("GPT2LMHeadModel", 4, 4, true);
        var weights = TinyModels.RandomWeights(config, seed: 5);
        var onDisk = new Dictionary<string, Tensor>(weights) { ["lm_head.weight"] = weights["transformer.wte.weight"] };
        var folder = HfModelFolder.Write(Path.Combine(_temp.Path, "prefixed"), config, onDisk);
        using var loaded = ModelLoader.Load(folder, null, CPU);
        var ids = Ids(6, config.Vocab);
        TensorAssert.Close(ReferenceForward.Logits(config, weights, ids), Logits(loaded, ids), 1e-4);
    }

    public static TheoryData<string, string> HalfPrecision => new()
    {
        { "Qwen3ForCausalLM", "BF16" },
        { "LlamaForCausalLM", "F16" },
        { "GPT2LMHeadModel", "BF16" },
        { "MistralForCausalLM", "BF16" },
    };

    [Theory]
    [MemberData(nameof(HalfPrecision))]
    public void HalfPrecisionCheckpointsLoadAsTheirRoundedValues(string architecture, string dtype)
    {
        using var scope = NewDisposeScope();
        var type = dtype == "BF16" ? ScalarType.BFloat16 : ScalarType.Float16;
        var config = ConfigFor(architecture, 4, 2, tied: architecture != "LlamaForCausalLM");
        var stored = TinyModels.RandomWeights(config, seed: 8).ToDictionary(w => w.Key, w => w.Value.to(type));
        // The reference sees exactly the values in the file, so any loss comes from the loader, not the rounding.
        var rounded = stored.ToDictionary(w => w.Key, w => w.Value.to(ScalarType.Float32));
        using var loaded = ModelLoader.Load(WriteFolder("half", config, stored, 2), null, CPU);
        Assert.Equal(dtype, loaded.FileDType);
        Assert.All(loaded.Model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        var ids = Ids(7, config.Vocab);
        TensorAssert.Close(ReferenceForward.Logits(config, rounded, ids), Logits(loaded, ids), 1e-4);
    }

    [Theory]
    [InlineData("LlamaForCausalLM", 4, 1)]
    [InlineData("Qwen2ForCausalLM", 4, 2)]
    [InlineData("Qwen3ForCausalLM", 4, 4)]
    [InlineData("GPT2LMHeadModel", 4, 4)]
    public void CachedGreedyGenerationEqualsArgmaxOfFullRecompute(string architecture, int heads, int kvHeads)
    {
        using var scope = NewDisposeScope();
        var config = ConfigFor(architecture, heads, kvHeads, tied: false);
        var weights = TinyModels.RandomWeights(config, seed: 33);
        using var loaded = ModelLoader.Load(WriteFolder("gen", config, weights, 1), null, CPU);
        int[] prompt = [3, 17, 5, 60, 2];
        const int steps = 16;

        var cached = Generation.Generate(loaded.Model, prompt, new GenerationOptions(MaxNewTokens: steps));

        var sequence = prompt.Select(t => (long)t).ToList();
        var recomputed = new List<int>();
        for (int i = 0; i < steps; i++)
        {
            using var step = NewDisposeScope();
            var next = (int)Logits(loaded, sequence.ToArray())[-1].argmax().item<long>();
            recomputed.Add(next);
            sequence.Add(next);
        }
        Assert.Equal(recomputed, cached);
        // A constant output would make the comparison vacuous.
        Assert.True(cached.Distinct().Count() > 1, $"degenerate generation: {string.Join(" ", cached)}");
    }

    [Fact]
    public void GenerationStopsAtTheContextLimit()
    {
        using var scope = NewDisposeScope();
        var config = TinyModels.Gpt2(positions: 8) with { RopeTheta = 0 };
        var weights = TinyModels.RandomWeights(config, seed: 2);
        using var loaded = ModelLoader.Load(WriteFolder("short", config, weights, 1), null, CPU);
        var produced = Generation.Generate(loaded.Model, [1, 2, 3], new GenerationOptions(MaxNewTokens: 50));
        // The prompt and 5 fed-back tokens fill the 8 learned positions; the 6th token is predicted at
        // position 7 and never fed, since a 9th input would index past wpe.
        Assert.Equal(6, produced.Count);
    }
}
