using LayerCard.Card;
using LayerCard.Data;
using LayerCard.Models;
using LayerCard.Tests.Models;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LayerCard.Tests.Card;

/// <summary>
/// The coupling of two layers is the correlation over examples of their first-order loss changes δ_{l,e}. A tiny
/// Llama is built so that one pair of layers carries the very same signal and another pair carries signals on
/// disjoint sets of examples; the measured coupling must tell them apart.
/// </summary>
/// <remarks>
/// Only o_proj is probed, so δ_{l,e} = Σ_t d_t' ΔW*_l h_t with h the attention output of layer l and d the gradient
/// reaching the residual stream after layer l's attention.
/// <list type="bullet">
/// <item>Redundant pair (2, 3): layer 3's input norm, q, k and v are copies of layer 2's; both o_proj are zero and so is
/// layer 2's down_proj. Layer 2 then leaves the residual stream unchanged, so both layers read the same input and
/// compute the same h, and no gradient leaks through the zeroed branches, so both see the same d: δ_2 = δ_3.</item>
/// <item>Independent pair (0, 1): tokens 1-48 embed in the first half of the hidden coordinates, tokens 49-96 in the
/// second, and each example uses tokens of one half only. Layer 0 is inert (o_proj and down_proj zero), so both
/// layers read the embeddings; layer 0's v_proj reads only the first half and layer 1's only the second. So h_0
/// (hence δ_0) vanishes on the second kind of example and h_1 (hence δ_1) on the first: Σ_e δ_0,e δ_1,e = 0.</item>
/// </list>
/// Layers 1 and 3 keep their random MLP (and layer 1 its o_proj), so the model is not inert as a whole.
/// </remarks>
public class CouplingTests(ITestOutputHelper output)
{
    private const int Hidden = 32, Vocab = 97, Half = Hidden / 2, FirstHalfTokens = 48;

    private static CausalLM BuildModel(long seed, bool plantStructure)
    {
        var config = TinyModels.Llama(layers: 4, hidden: Hidden, vocab: Vocab);
        var w = TinyModels.RandomWeights(config, seed);
        if (!plantStructure) return TinyModels.Build(config, w);
        var firstCoordinates = cat([ones(Half), zeros(Hidden - Half)]);
        var secondCoordinates = 1 - firstCoordinates;

        // Token t < 49 lives on the first half of the hidden coordinates, the others on the second half.
        var firstTokens = (arange(Vocab) <= FirstHalfTokens).to_type(ScalarType.Float32).unsqueeze(1);
        var embed = w["model.embed_tokens.weight"];
        w["model.embed_tokens.weight"] = embed * (firstTokens * firstCoordinates + (1 - firstTokens) * secondCoordinates);

        // Independent pair: layer 0 inert, reading the first half; layer 1 reading the second half.
        w["model.layers.0.self_attn.o_proj.weight"] = zeros_like(w["model.layers.0.self_attn.o_proj.weight"]);
        w["model.layers.0.mlp.down_proj.weight"] = zeros_like(w["model.layers.0.mlp.down_proj.weight"]);
        w["model.layers.0.self_attn.v_proj.weight"] = w["model.layers.0.self_attn.v_proj.weight"] * firstCoordinates;
        w["model.layers.1.self_attn.v_proj.weight"] = w["model.layers.1.self_attn.v_proj.weight"] * secondCoordinates;

        // Redundant pair: layer 3's attention a copy of layer 2's, both without output, layer 2's MLP inert.
        foreach (var name in new[] { "input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj" })
            w[$"model.layers.3.{name}.weight"] = w[$"model.layers.2.{name}.weight"].clone();
        foreach (var name in new[] { "model.layers.2.self_attn.o_proj.weight", "model.layers.3.self_attn.o_proj.weight", "model.layers.2.mlp.down_proj.weight" })
            w[name] = zeros_like(w[name]);
        return TinyModels.Build(config, w);
    }

    /// <summary>Examples alternate between tokens 1-48 and tokens 49-96, never mixing the two within one example.</summary>
    private static TokenizedSet SplitVocabularySet(int examples, long seed)
    {
        var random = new Random((int)seed);
        var list = new List<TokenizedExample>();
        for (int e = 0; e < examples; e++)
        {
            var (low, high) = e % 2 == 0 ? (1, FirstHalfTokens + 1) : (FirstHalfTokens + 1, Vocab);
            int length = random.Next(6, 13), prompt = random.Next(1, 4);
            var ids = Enumerable.Range(0, length).Select(_ => random.Next(low, high)).ToArray();
            var labels = new int[length];
            for (int t = 0; t < length; t++) labels[t] = t + 1 < length && t + 1 >= prompt ? ids[t + 1] : Tokenization.IgnoreLabel;
            list.Add(new TokenizedExample(ids, labels, e));
        }
        return new TokenizedSet("split", list, 0, 0, $"{examples} examples, each from one half of the vocabulary");
    }

    private static string Format(double[,] m) =>
        string.Join("\n", Enumerable.Range(0, m.GetLength(0)).Select(i => string.Join(" ", Enumerable.Range(0, m.GetLength(1)).Select(j => $"{m[i, j],7:F4}"))));

    [Theory]
    [InlineData(1L)]
    [InlineData(2L)]
    public void RedundantLayersCoupleMoreThanIndependentOnes(long seed)
    {
        var model = BuildModel(seed, plantStructure: true);
        var result = SignalProbe.Run(model, SplitVocabularySet(16, seed), ["o_proj"], new SignalOptions(BatchSize: 8), CPU);
        output.WriteLine(Format(result.SignedCorrelation));

        // Every probed layer carries a signal, so the correlations are not 0/0.
        Assert.All(result.Layers, l => Assert.True(l.ResNorm > 0, $"layer {l.Layer} has no signal"));
        Assert.True(result.Coupling[2, 3] > 0.999, $"the redundant pair couples {result.Coupling[2, 3]}");
        Assert.True(result.SignedCorrelation[2, 3] > 0.999, $"the redundant pair's signed correlation is {result.SignedCorrelation[2, 3]}");
        Assert.True(result.Coupling[0, 1] < 1e-3, $"the independent pair couples {result.Coupling[0, 1]}");
        Assert.True(result.Coupling[2, 3] > result.Coupling[0, 1]);
    }

    /// <summary>
    /// Control: the same data on the random model without the planted structure couples neither pair like that, so
    /// the test above reads the structure, not something the probe reports for these layers anyway.
    /// </summary>
    [Theory]
    [InlineData(1L)]
    [InlineData(2L)]
    public void WithoutThePlantedStructureNeitherPairIsSpecial(long seed)
    {
        var model = BuildModel(seed, plantStructure: false);
        var result = SignalProbe.Run(model, SplitVocabularySet(16, seed), ["o_proj"], new SignalOptions(BatchSize: 8), CPU);
        output.WriteLine(Format(result.SignedCorrelation));
        Assert.True(result.Coupling[2, 3] < 0.99, $"layers 2 and 3 of a random model couple {result.Coupling[2, 3]}");
        Assert.True(result.Coupling[0, 1] > 1e-2, $"layers 0 and 1 of a random model couple {result.Coupling[0, 1]}");
    }
}
