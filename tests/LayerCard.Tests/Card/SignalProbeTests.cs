using System.Globalization;
using System.Text.RegularExpressions;
using LayerCard.Card;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Models;
using LayerCard.Tests.Models;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LayerCard.Tests.Card;

public class SignalProbeTests
{
    /// <summary>Random sequences of different lengths (so batches carry right padding) with loss after a short prompt.</summary>
    internal static TokenizedSet FakeSet(int vocab, int examples, long seed, int minLength = 6, int maxLength = 12)
    {
        var random = new Random((int)seed);
        var list = new List<TokenizedExample>();
        for (int e = 0; e < examples; e++)
        {
            int length = random.Next(minLength, maxLength + 1), prompt = random.Next(1, 4);
            var ids = Enumerable.Range(0, length).Select(_ => random.Next(1, vocab)).ToArray();
            var labels = new int[length];
            for (int t = 0; t < length; t++) labels[t] = t + 1 < length && t + 1 >= prompt ? ids[t + 1] : Tokenization.IgnoreLabel;
            list.Add(new TokenizedExample(ids, labels, e));
        }
        return new TokenizedSet("fake", list, 0, 0, $"{examples} fake examples");
    }

    private static void AssertWellFormed(SignalResult result, int layers)
    {
        Assert.Equal(layers, result.Layers.Count);
        foreach (var m in result.Modules)
        {
            Assert.True(double.IsFinite(m.ResNorm) && m.ResNorm > 0, $"{m.Layer} {m.Module} resnorm {m.ResNorm}");
            Assert.True(double.IsFinite(m.GradNorm) && m.GradNorm > 0);
            Assert.True(m.ResNormRankR <= m.ResNorm * (1 + 1e-9));
            Assert.True(double.IsFinite(m.PredictedGain) && m.PredictedGain > 0);
        }
        foreach (var l in result.Layers)
        {
            Assert.True(double.IsFinite(l.ResNorm) && l.ResNorm > 0);
            Assert.True(double.IsFinite(l.GradNorm) && l.GradNorm > 0);
            Assert.True(double.IsFinite(l.Energy.Trace) && l.Energy.Trace > 0);
            Assert.True(l.Energy.Condition >= 1 && double.IsFinite(l.Energy.Condition));
            Assert.True(l.Energy.EffectiveRank >= 1 - 1e-9 && l.Energy.EffectiveRank <= l.Energy.Dim + 1e-9);
            Assert.True(l.Energy.MinEigenvalue <= l.Energy.MaxEigenvalue);
            var mine = result.Modules.Where(m => m.Layer == l.Layer).ToList();
            Assert.Equal(mine.Sum(m => m.ResNorm * m.ResNorm), l.ResNorm * l.ResNorm, l.ResNorm * l.ResNorm * 1e-9);
            Assert.Equal(mine.Sum(m => m.PredictedGain), l.PredictedGain, l.PredictedGain * 1e-9);
        }
        Assert.Equal(layers, result.Coupling.GetLength(0));
        for (int i = 0; i < layers; i++)
        {
            Assert.Equal(1, result.Coupling[i, i]);
            Assert.Equal(1, result.SignedCorrelation[i, i]);
            for (int j = 0; j < layers; j++)
            {
                Assert.InRange(result.Coupling[i, j], 0, 1);
                Assert.Equal(result.Coupling[i, j], result.Coupling[j, i], 1e-12);
                Assert.Equal(result.SignedCorrelation[i, j], result.SignedCorrelation[j, i], 1e-12);
                Assert.Equal(Math.Abs(result.SignedCorrelation[i, j]), result.Coupling[i, j], 1e-15);
            }
        }
        Assert.True(result.Tokens > result.TargetTokens && result.TargetTokens > 0);
        Assert.True(result.PeakMemoryBytes > 0);
    }

    /// <summary>The second pass's Σ_e δ_{l,e} must equal −N resnorm²_l; the probe reports the relative error.</summary>
    internal static double CheckError(IEnumerable<string> messages)
    {
        var line = messages.Single(m => m.StartsWith("signal pass check", StringComparison.Ordinal));
        return double.Parse(Regex.Match(line, @"error (\S+)").Groups[1].Value, CultureInfo.InvariantCulture);
    }

    internal sealed class Collect : IProgress<string>
    {
        public List<string> Messages { get; } = [];
        public void Report(string value) => Messages.Add(value);
    }

    [Fact]
    public void TinyLlamaAllLinearModules()
    {
        var config = TinyModels.Llama(layers: 3);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 1));
        var set = FakeSet(config.Vocab, 10, 1);
        var progress = new Collect();
        var result = SignalProbe.Run(model, set, [], new SignalOptions(BatchSize: 4), CPU, progress);

        AssertWellFormed(result, 3);
        Assert.Equal(3 * 7, result.Modules.Count);
        Assert.Equal(10, result.Examples);
        Assert.Equal(set.TargetTokens, result.TargetTokens);
        // N counts positions up to each row's last label: here every sequence is labelled to its second-to-last token.
        Assert.Equal(set.Examples.Sum(e => e.InputIds.Length - 1), result.Tokens);
        // q/k/v share one input, gate/up another; o_proj and down_proj read their own.
        Assert.Equal(3 * 4, result.Inputs.Count);
        Assert.Equal(
            ["model.layers.0.self_attn.q_proj+self_attn.k_proj+self_attn.v_proj", "model.layers.0.self_attn.o_proj",
             "model.layers.0.mlp.gate_proj+mlp.up_proj", "model.layers.0.mlp.down_proj"],
            result.Inputs.Take(4).Select(i => i.Input));
        Assert.Equal(result.Inputs[0], result.Layers[0].Energy);
        Assert.Equal(config.Hidden, result.Inputs[0].Dim);
        Assert.Equal(config.QDim, result.Inputs[1].Dim);
        Assert.Equal(config.Intermediate, result.Inputs[3].Dim);
        Assert.True(CheckError(progress.Messages) < 1e-3, string.Join("\n", progress.Messages));
        foreach (var layer in Enumerable.Range(0, 3))
            Assert.All(model.LayerLinears(layer).Values, m => Assert.Null(m.Probe));
        Assert.Equal(0, model.GradientStartLayer);
    }

    [Fact]
    public void TinyGpt2DefaultTargets()
    {
        var config = TinyModels.Gpt2(layers: 2);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 2));
        var progress = new Collect();
        var result = SignalProbe.Run(model, FakeSet(config.Vocab, 6, 2), ["attn.c_attn"], new SignalOptions(Rank: 4, BatchSize: 4), CPU, progress);
        AssertWellFormed(result, 2);
        Assert.Equal(["attn.c_attn", "attn.c_attn"], result.Modules.Select(m => m.Module));
        Assert.Equal(3 * config.Hidden, result.Modules[0].OutFeatures);
        Assert.Equal(["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"], result.Inputs.Select(i => i.Input));
        Assert.True(CheckError(progress.Messages) < 1e-3);

        var all = SignalProbe.Run(model, FakeSet(config.Vocab, 6, 2), [], new SignalOptions(BatchSize: 3), CPU);
        AssertWellFormed(all, 2);
        Assert.Equal(2 * 4, all.Modules.Count);
        Assert.Equal(2 * 4, all.Inputs.Count);
        // The same c_attn statistics whatever else is probed and however the examples are batched.
        Assert.Equal(result.Modules[1].ResNorm, all.Modules.Single(m => m.Layer == 1 && m.Module == "attn.c_attn").ResNorm, result.Modules[1].ResNorm * 1e-4);
    }

    [Fact]
    public void QAndVShareTheAttentionInput()
    {
        var config = TinyModels.Llama(architecture: "Qwen2ForCausalLM", layers: 2);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 3));
        var result = SignalProbe.Run(model, FakeSet(config.Vocab, 4, 3), ["q_proj", "v_proj"], new SignalOptions(), CPU);
        AssertWellFormed(result, 2);
        Assert.Equal(["self_attn.q_proj", "self_attn.v_proj", "self_attn.q_proj", "self_attn.v_proj"], result.Modules.Select(m => m.Module));
        Assert.Equal(["model.layers.0.self_attn.q_proj+self_attn.v_proj", "model.layers.1.self_attn.q_proj+self_attn.v_proj"], result.Inputs.Select(i => i.Input));
    }

    [Fact]
    public void FewerExamplesThanLayersIsRefused()
    {
        var config = TinyModels.Llama(layers: 3);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 4));
        var error = Assert.Throws<BadInputException>(() => SignalProbe.Run(model, FakeSet(config.Vocab, 10, 4), [], new SignalOptions(MaxExamples: 2), CPU));
        Assert.Equal("max_examples 2: fewer examples than the model's 3 layers; the coupling needs at least 3", error.Message);
        Assert.Equal("max_examples", error.Field);
        var small = Assert.Throws<BadInputException>(() => SignalProbe.Run(model, FakeSet(config.Vocab, 2, 4), [], new SignalOptions(), CPU));
        Assert.EndsWith(": only 2 calibration examples, fewer than the model's 3 layers; the coupling needs at least 3", small.Message);
        Assert.Null(small.Field);
        var unknown = Assert.Throws<BadInputException>(() => SignalProbe.Run(model, FakeSet(config.Vocab, 4, 4), ["c_attn"], new SignalOptions(), CPU));
        Assert.StartsWith("targets: 'c_attn' names no module", unknown.Message);
        Assert.Equal("targets", unknown.Field);
        Assert.All(model.LayerLinears(0).Values, m => Assert.Null(m.Probe));

        using (var lora = LayerCard.Lora.LoraModel.Inject(model, new LayerCard.Lora.LoraConfig(2, 4, 0, false, ["v_proj"], [1]), 1))
            Assert.Throws<InvalidOperationException>(() => SignalProbe.Run(model, FakeSet(config.Vocab, 4, 4), [], new SignalOptions(), CPU));
        Assert.All(model.LayerLinears(1).Values, m => Assert.Null(m.Probe));
    }

    [Fact]
    public void ProbesAreRemovedWhenThePassFails()
    {
        var config = TinyModels.Llama(layers: 2);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 5));
        var set = FakeSet(config.Vocab, 4, 5);
        var stop = new Stop();
        Assert.Throws<OperationCanceledException>(() => SignalProbe.Run(model, set, [], new SignalOptions(BatchSize: 2), CPU, stop));
        for (int layer = 0; layer < 2; layer++) Assert.All(model.LayerLinears(layer).Values, m => Assert.Null(m.Probe));
    }

    private sealed class Stop : IProgress<string>
    {
        public void Report(string value) => throw new OperationCanceledException(value);
    }

    [Fact]
    public void MaxExamplesUsesTheFirstExamples()
    {
        var config = TinyModels.Llama(layers: 2);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 6));
        var set = FakeSet(config.Vocab, 9, 6);
        var first = new TokenizedSet("fake", set.Examples.Take(5).ToList(), 0, 0, "5");
        var a = SignalProbe.Run(model, set, ["v_proj"], new SignalOptions(MaxExamples: 5), CPU);
        var b = SignalProbe.Run(model, first, ["v_proj"], new SignalOptions(), CPU);
        Assert.Equal(5, a.Examples);
        Assert.Equal(b.Tokens, a.Tokens);
        Assert.Equal(b.Layers[1].ResNorm, a.Layers[1].ResNorm, b.Layers[1].ResNorm * 1e-6);
    }
}

/// <summary>
/// Tests that run alone, after the parallel collections: ones that time work or whose outcome rests on process-wide
/// state (libtorch's thread count, glibc's allocator thresholds) that the rest of the suite changes while it runs.
/// In session 14's CI runs the signal-pass timing read a ratio of 11.4 (2.8-3.5 on a lightly loaded machine) and the
/// planted benchmark exited 1 once, each passing in the other runs.
/// </summary>
[CollectionDefinition(RunsAlone.Name, DisableParallelization = true)]
public sealed class RunsAlone
{
    /// <summary>The collection's name.</summary>
    public const string Name = "runs alone";
}

[Collection(RunsAlone.Name)]
public class SignalPassTimingTests(ITestOutputHelper output)
{
    /// <summary>
    /// The signal pass is two forward+backward passes plus two forwards of the probed linears and small solves:
    /// about 2.5-3x one plain forward+backward at scale, 2.3-4.3x on this 64-wide model whose time is per-op
    /// overhead (docs/layer-card.md). Both are timed interleaved and compared by their minima over repeats, which
    /// load on a shared machine can only inflate. Ratios of minima seen while writing this: 2.8-3.5 with light load,
    /// up to 5.5 at load average 15-18 on 2 cores. The bounds [1, 10] keep a margin against that load, while a pass
    /// that skips its own forward+backwards or one that became 3-4x slower (let alone 20x) fails. While the ratio of minima
    /// is outside the bounds, repeats go on (up to <c>MaxRepeats</c> and <c>ExtraSeconds</c>), since each repeat can
    /// only bring the minima closer to the unloaded times.
    /// </summary>
    [Fact]
    public void SignalPassCostsAboutTwoForwardBackwards()
    {
        const double Low = 1, High = 10;
        const int MinRepeats = 5, MaxRepeats = 15;
        const double ExtraSeconds = 20;
        var config = TinyModels.Llama(layers: 4, hidden: 64, intermediate: 128, vocab: 256);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 7));
        var set = SignalProbeTests.FakeSet(config.Vocab, 32, 7, 48, 64);
        var options = new SignalOptions(BatchSize: 8);
        SignalProbe.TimeForwardBackward(model, set, options, CPU); // warm-up
        SignalProbe.Run(model, set, [], options with { MaxExamples = 8 }, CPU);

        double plain = double.PositiveInfinity, signal = double.PositiveInfinity;
        int repeats = 0;
        var extra = new System.Diagnostics.Stopwatch(); // runs once the minimum repeats are done
        while (repeats < MinRepeats || (repeats < MaxRepeats && extra.Elapsed.TotalSeconds < ExtraSeconds && !(signal / plain is >= Low and <= High)))
        {
            if (repeats == MinRepeats) extra.Start();
            double once = SignalProbe.TimeForwardBackward(model, set, options, CPU);
            var result = SignalProbe.Run(model, set, [], options, CPU);
            plain = Math.Min(plain, once);
            signal = Math.Min(signal, result.FirstPassSeconds + result.SecondPassSeconds);
            repeats++;
            output.WriteLine($"repeat {repeats}: forward+backward {once:F3}s; signal pass {result.FirstPassSeconds:F3}s + {result.SecondPassSeconds:F3}s; peak {result.PeakMemoryBytes / 1e6:F0} MB");
        }
        double ratio = signal / plain;
        output.WriteLine($"minima over {repeats} repeats: forward+backward {plain:F3}s, signal pass {signal:F3}s, ratio {ratio:F2}");
        Assert.InRange(ratio, Low, High);
    }
}

public class SignalGradientTests
{
    /// <summary>N · G = Σ_t d_t h_t' is the gradient of the summed loss w.r.t. the module's weight; check ||G||_F against autograd.</summary>
    [Theory]
    [InlineData("llama", 0, "self_attn.v_proj")]
    [InlineData("llama", 2, "mlp.down_proj")]
    [InlineData("gpt2", 1, "attn.c_attn")]
    public void GradNormIsTheWeightGradientPerToken(string family, int layer, string module)
    {
        var config = family == "gpt2" ? TinyModels.Gpt2(layers: 3) : TinyModels.Llama(layers: 3);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 8));
        var set = SignalProbeTests.FakeSet(config.Vocab, 5, 8);
        var result = SignalProbe.Run(model, set, [], new SignalOptions(BatchSize: 2), CPU);
        var signal = result.Modules.Single(m => m.Layer == layer && m.Module == module);

        var weight = model.LayerLinears(layer)[module].Weight;
        weight.requires_grad = true;
        try
        {
            foreach (var batch in BatchSampler.Batches(set, 5))
                LayerCard.Models.CompletionLoss.Sum(model, batch, CPU).backward();
            double expected = weight.grad!.norm().item<float>() / result.Tokens;
            Assert.Equal(expected, signal.GradNorm, expected * 1e-4);
        }
        finally
        {
            weight.requires_grad = false;
            weight.grad?.zero_();
        }
    }
}
