using System.Globalization;
using LayerCard.Models;
using LayerCard.Tests.Models;
using LayerCard.Tests.Tokenizers;
using static TorchSharp.torch;

namespace LayerCard.Tests.Foundation;

/// <summary>The model commands as a user runs them, against the real assets and tiny Hub-layout folders.</summary>
public sealed class CliTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static void AssertSuccess(CliResult result)
    {
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("", result.Stderr);
    }

    /// <summary>
    /// stories260K: the continuation llama2.c's run.c prints at temperature 0. stories12L: the continuation recorded in
    /// the shared assets' SOURCES.md (checked there against an independent PyTorch forward).
    /// </summary>
    [Theory]
    [InlineData("stories260K", 70, "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. " +
        "One day, she saw a big, red ball. She wanted to play with it, but it was too high.")]
    [InlineData("stories12L", 100, "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. " +
        "One day, she saw a big box with a big box. The boy was very happy and wanted to play with it.\nLily's mommy said, ")]
    public void GreedyGenerationTellsTheRecordedStory(string model, int tokens, string expected)
    {
        var result = CliRunner.Run("generate", "--model", model, "--temperature", "0", "--max-new-tokens", $"{tokens}");
        AssertSuccess(result);
        Assert.StartsWith(expected, result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void PromptIsEchoedAndContinued()
    {
        var result = CliRunner.Run("generate", "--model", "stories260K", "--prompt", "Tom had a dog", "--max-new-tokens", "20");
        AssertSuccess(result);
        Assert.StartsWith("Tom had a dog", result.Stdout, StringComparison.Ordinal);
        Assert.True(result.Stdout.TrimEnd().Length > "Tom had a dog".Length + 10, result.Stdout);
    }

    [Fact]
    public void ZeroNewTokensPrintsOnlyThePrompt()
    {
        var result = CliRunner.Run("generate", "--model", "stories260K", "--prompt", "Tom had a dog", "--max-new-tokens", "0");
        AssertSuccess(result);
        Assert.Equal("Tom had a dog" + Environment.NewLine, result.Stdout);
    }

    [Fact]
    public void SeededSamplingIsReproducibleAndSeedDependent()
    {
        string Sample(string seed)
        {
            var result = CliRunner.Run("generate", "--model", "stories260K", "--temperature", "0.8", "--top-k", "5", "--seed", seed, "--max-new-tokens", "40");
            AssertSuccess(result);
            return result.Stdout;
        }
        var first = Sample("3");
        Assert.Equal(first, Sample("3"));
        Assert.NotEqual(first, Sample("4"));
        var greedy = CliRunner.Run("generate", "--model", "stories260K", "--max-new-tokens", "40").Stdout;
        Assert.NotEqual(greedy, first);
    }

    [Theory]
    [InlineData("gpt2", "15496 995 11 1752 2402 257 640")]
    [InlineData("qwen3", "9707 1879 11 3055 5193 264 882")]
    public void TokenizePrintsTheReferenceIds(string tokenizer, string ids)
    {
        // Ids from the Hugging Face tokenizers library for the same text.
        var result = CliRunner.Run("tokenize", "--tokenizer", tokenizer, "--text", "Hello world, once upon a time");
        AssertSuccess(result);
        Assert.Equal(ids + Environment.NewLine, result.Stdout);
    }

    [Fact]
    public void TokenizeWithBosPrependsTheLlama2cBos()
    {
        var plain = CliRunner.Run("tokenize", "--model", "stories260K", "--text", "Once upon a time");
        var withBos = CliRunner.Run("tokenize", "--model", "stories260K", "--text", "Once upon a time", "--bos");
        AssertSuccess(plain);
        AssertSuccess(withBos);
        Assert.Equal("1 " + plain.Stdout, withBos.Stdout);
    }

    private static Dictionary<string, string> InfoRows(CliResult result)
    {
        AssertSuccess(result);
        return result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .ToDictionary(line => line[..18].Trim(), line => line[19..].TrimEnd('\r'));
    }

    [Fact]
    public void InfoDescribesAShardedBf16HubFolder()
    {
        using var scope = NewDisposeScope();
        var config = TinyModels.Llama("Qwen3ForCausalLM", layers: 3, hidden: 32, heads: 4, kvHeads: 2, headDim: 16, tied: true);
        var weights = TinyModels.RandomWeights(config, seed: 4).ToDictionary(w => w.Key, w => w.Value.to(ScalarType.BFloat16));
        var folder = HfModelFolder.Write(Path.Combine(_temp.Path, "qwen3-tiny"), config, weights, shards: 2);

        var rows = InfoRows(CliRunner.Run("info", "--model", folder));
        Assert.Equal(folder, rows["source"]);
        Assert.Equal("Qwen3ForCausalLM", rows["architecture"]);
        Assert.Equal("llama", rows["family"]);
        Assert.Equal("3", rows["layers"]);
        Assert.Equal("32", rows["hidden size"]);
        Assert.Equal("48", rows["intermediate size"]);
        Assert.Equal("4", rows["heads"]);
        Assert.Equal("2", rows["kv heads"]);
        Assert.Equal("16", rows["head dim"]);
        Assert.Equal("97", rows["vocab"]);
        Assert.Equal(weights.Values.Sum(w => w.numel()).ToString("N0", CultureInfo.InvariantCulture), rows["parameters"]);
        Assert.Equal("yes", rows["tied head"]);
        Assert.Equal("BF16", rows["file dtype"]);
        Assert.Equal("not found", rows["tokenizer"]);
        Assert.Matches("^[0-9a-f]{64}$", rows["content sha256"]);
    }

    [Fact]
    public void InfoOfStories12LShowsTwelveLayers()
    {
        var rows = InfoRows(CliRunner.Run("info", "--model", "stories12L"));
        Assert.Equal("llama2c", rows["architecture"]);
        Assert.Equal("12", rows["layers"]);
        Assert.Equal("128", rows["hidden size"]);
        Assert.Equal("8", rows["heads"]);
        Assert.Equal("4", rows["kv heads"]);
        Assert.Equal("512", rows["vocab"]);
        Assert.Equal("found (512 tokens)", rows["tokenizer"]);
        Assert.Equal("19665edf1b406f2582fbfe9295b3db64de0f08d46bb76fb43202e58fb7cce4e2", rows["content sha256"]);
    }

    [Fact]
    public void InfoOfGpt2HubFolderCountsTheTiedHeadOnce()
    {
        using var scope = NewDisposeScope();
        var config = TinyModels.Gpt2(layers: 2);
        var weights = TinyModels.RandomWeights(config, seed: 6);
        var folder = HfModelFolder.Write(Path.Combine(_temp.Path, "gpt2-tiny"), config, HfModelFolder.Gpt2HubNames(config, weights));
        var rows = InfoRows(CliRunner.Run("info", "--model", Path.Combine(folder, "model.safetensors")));
        Assert.Equal("GPT2LMHeadModel", rows["architecture"]);
        Assert.Equal("gpt2", rows["family"]);
        Assert.Equal("2", rows["layers"]);
        Assert.Equal("yes", rows["tied head"]);
        // The attn.bias masks are buffers, not parameters.
        Assert.Equal(weights.Values.Sum(w => w.numel()).ToString("N0", CultureInfo.InvariantCulture), rows["parameters"]);
    }

    [Fact]
    public void ContentHashIsStableAndSeesAChangedWeight()
    {
        using var scope = NewDisposeScope();
        var config = TinyModels.Llama(layers: 1);
        var weights = TinyModels.RandomWeights(config, seed: 9);
        var a = HfModelFolder.Write(Path.Combine(_temp.Path, "a"), config, weights);
        var again = HfModelFolder.Write(Path.Combine(_temp.Path, "again"), config, weights);
        var changed = new Dictionary<string, Tensor>(weights);
        changed["model.layers.0.mlp.down_proj.weight"] = weights["model.layers.0.mlp.down_proj.weight"].clone();
        changed["model.layers.0.mlp.down_proj.weight"][3, 5] = tensor(0.5f);
        var b = HfModelFolder.Write(Path.Combine(_temp.Path, "b"), config, changed);

        string Hash(string folder) => InfoRows(CliRunner.Run("info", "--model", folder))["content sha256"];
        Assert.Equal(Hash(a), Hash(again));
        Assert.NotEqual(Hash(a), Hash(b));
    }

    [Fact]
    public void GenerateRunsATinyHubFolderWithAnExplicitTokenizer()
    {
        // A model whose embedding covers GPT-2's 50257 tokens, so --tokenizer gpt2 is accepted.
        using var scope = NewDisposeScope();
        var config = TinyModels.Gpt2(layers: 1, hidden: 8, heads: 2, vocab: 50257, positions: 32);
        var weights = TinyModels.RandomWeights(config, seed: 12);
        var folder = HfModelFolder.Write(Path.Combine(_temp.Path, "gpt2-wide"), config, HfModelFolder.Gpt2HubNames(config, weights));
        var result = CliRunner.Run("generate", "--model", folder, "--tokenizer", "gpt2", "--prompt", "Hello world", "--max-new-tokens", "5");
        AssertSuccess(result);
        Assert.StartsWith("Hello world", result.Stdout, StringComparison.Ordinal);

        using var loaded = ModelLoader.Load(folder, null, CPU);
        var tok = TokenizerAssets.Gpt2;
        var prompt = tok.Encode("Hello world", addBos: tok.BosId.HasValue).ToList();
        var expected = Generation.Generate(loaded.Model, prompt, new GenerationOptions(MaxNewTokens: 5, StopToken: tok.EosId));
        Assert.Equal(5, expected.Count);
        var completion = tok.Decode(prompt.Concat(expected))[tok.Decode(prompt).Length..];
        Assert.Equal("Hello world" + completion + Environment.NewLine, result.Stdout);
    }
}
