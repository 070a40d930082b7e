using LayerCard.Card;
using LayerCard.Data;
using LayerCard.Models;
using LayerCard.Tests.Models;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LayerCard.Tests.Card;

/// <summary>
/// A teacher equal to the model except for a low-rank change to layer 1's v_proj labels random inputs with its
/// greedy predictions; the probe must rank layer 1 first by resnorm.
/// </summary>
/// <remarks>
/// The tiny model is conditioned like a trained one rather than TinyModels' raw init: embeddings of unit RMS, a
/// confident head, and residual branches (o_proj, down_proj) scaled down as in GPT-2's init. With the raw init each
/// branch is as large as the residual stream, so the gradient reaching a layer roughly doubles per layer towards
/// the input and every signal (‖G‖ too) ranks layer 0 first whatever is planted; with the conditioned init and no
/// plant the top layer changes with the seed (checked while writing this test).
/// </remarks>
public class PlantedLayerTests(ITestOutputHelper output)
{
    private const int PlantedLayer = 1;

    internal static TokenizedSet TeacherLabelled(CausalLM teacher, int vocab, int examples, int length, long seed)
    {
        var random = new Random((int)seed);
        var list = new List<TokenizedExample>();
        using var noGrad = no_grad();
        for (int e = 0; e < examples; e++)
        {
            using var scope = NewDisposeScope();
            var ids = Enumerable.Range(0, length).Select(_ => random.Next(1, vocab)).ToArray();
            var predicted = teacher.Forward(tensor(ids.Select(i => (long)i).ToArray()).unsqueeze(0))[0].argmax(-1);
            var labels = predicted.data<long>().Select(x => (int)x).ToArray();
            labels[0] = Tokenization.IgnoreLabel; // a one-token prompt
            list.Add(new TokenizedExample(ids, labels, e));
        }
        return new TokenizedSet("teacher", list, 0, 0, $"{examples} teacher-labelled sequences");
    }

    private static Dictionary<string, Tensor> ConditionedWeights(ModelConfig config, long seed)
    {
        var w = TinyModels.RandomWeights(config, seed);
        Tensor Scaled(string name, float factor) => (w[name] * factor).DetachFromDisposeScope();
        w["model.embed_tokens.weight"] = Scaled("model.embed_tokens.weight", 5f); // RMS 1
        w["lm_head.weight"] = Scaled("lm_head.weight", 5f);
        foreach (var name in w.Keys.Where(k => k.EndsWith(".o_proj.weight", StringComparison.Ordinal) || k.EndsWith(".down_proj.weight", StringComparison.Ordinal)).ToList())
            w[name] = Scaled(name, 0.1f);
        return w;
    }

    private static (CausalLM Student, CausalLM Teacher) Planted(ModelConfig config, long seed, float scale)
    {
        var student = TinyModels.Build(config, ConditionedWeights(config, seed));
        var weights = ConditionedWeights(config, seed);
        var name = $"model.layers.{PlantedLayer}.self_attn.v_proj.weight";
        var w = weights[name];
        var generator = new TorchSharp.torch.Generator((ulong)(seed + 1000));
        var u = randn([w.shape[0], 2], generator: generator);
        var v = randn([2, w.shape[1]], generator: generator);
        weights[name] = (w + scale * u.matmul(v) / Math.Sqrt(w.shape[1])).DetachFromDisposeScope();
        return (student, TinyModels.Build(config, weights));
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(2L)]
    [InlineData(3L)]
    public void ThePlantedLayerRanksFirst(long seed)
    {
        var config = TinyModels.Llama(layers: 4);
        var (student, teacher) = Planted(config, seed, scale: 8f);
        var set = TeacherLabelled(teacher, config.Vocab, 24, 16, seed);
        foreach (var targets in new[] { new[] { "v_proj" }, new[] { "q_proj", "v_proj" } })
        {
            var result = SignalProbe.Run(student, set, targets, new SignalOptions(BatchSize: 8), CPU);
            output.WriteLine($"seed {seed} [{string.Join(",", targets)}] resnorm " + string.Join(" ", result.Layers.Select(l => $"{l.ResNorm:F4}")) +
                " rank-8 " + string.Join(" ", result.Layers.Select(l => $"{l.ResNormRankR:F4}")));
            Assert.Equal(PlantedLayer, result.Layers.MaxBy(l => l.ResNorm)!.Layer);
        }
    }
}
