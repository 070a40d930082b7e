using LayerCard.Card;
using LayerCard.Tests.Models;
using static TorchSharp.torch;

namespace LayerCard.Tests.Card;

/// <summary>The token form of the signal pass (N × N kernels) against the features form (d × d sums): the same numbers.</summary>
public class SignalFormTests
{
    /// <summary>
    /// With fewer token positions than input features (3 short examples, width 64) and with more (40 examples), both
    /// forms give every module's resnorm, rank-r resnorm and gradient norm, every input's energy and the coupling to
    /// 1e-4 relative: the push-through identity is exact, only float32 versus float64 accumulation differs.
    /// </summary>
    [Theory]
    [InlineData("llama", 4)]
    [InlineData("llama", 40)]
    [InlineData("gpt2", 4)]
    public void TokenAndFeatureFormsAgree(string family, int examples)
    {
        var config = family == "gpt2" ? TinyModels.Gpt2(layers: 3) : TinyModels.Llama(layers: 3);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 21));
        var set = SignalProbeTests.FakeSet(config.Vocab, examples, 21);
        var features = SignalProbe.Run(model, set, [], new SignalOptions(BatchSize: 3, Form: SignalForm.Features), CPU);
        var tokens = SignalProbe.Run(model, set, [], new SignalOptions(BatchSize: 3, Form: SignalForm.Tokens), CPU);
        var auto = SignalProbe.Run(model, set, [], new SignalOptions(BatchSize: 3), CPU);

        static void Close(double expected, double actual, string what) =>
            Assert.True(Math.Abs(expected - actual) <= 1e-4 * Math.Max(Math.Abs(expected), 1e-12), $"{what}: features {expected}, tokens {actual}");
        Assert.Equal(features.Modules.Count, tokens.Modules.Count);
        foreach (var (f, t) in features.Modules.Zip(tokens.Modules))
        {
            Assert.Equal((f.Layer, f.Module), (t.Layer, t.Module));
            Close(f.ResNorm, t.ResNorm, $"{f.Layer} {f.Module} resnorm");
            Close(f.ResNormRankR, t.ResNormRankR, $"{f.Layer} {f.Module} rank-r resnorm");
            Close(f.GradNorm, t.GradNorm, $"{f.Layer} {f.Module} gradient norm");
        }
        foreach (var (f, t) in features.Inputs.Zip(tokens.Inputs))
        {
            Assert.Equal(f.Input, t.Input);
            Close(f.Trace, t.Trace, $"{f.Input} trace");
            Close(f.MaxEigenvalue, t.MaxEigenvalue, $"{f.Input} largest eigenvalue");
            Close(f.EffectiveRank, t.EffectiveRank, $"{f.Input} effective rank");
        }
        for (int i = 0; i < config.Layers; i++)
            for (int j = 0; j < config.Layers; j++)
                Assert.True(Math.Abs(features.SignedCorrelation[i, j] - tokens.SignedCorrelation[i, j]) < 1e-4, $"coupling {i},{j}");
        // Auto keeps whichever is smaller per input, so each module's figures equal one of the two forms'.
        for (int m = 0; m < auto.Modules.Count; m++)
        {
            var expected = auto.Tokens <= auto.Modules[m].InFeatures ? tokens.Modules[m] : features.Modules[m];
            Assert.Equal(expected.ResNorm, auto.Modules[m].ResNorm, expected.ResNorm * 1e-9);
        }
    }

    /// <summary>
    /// The features form's δ (the coupling's per-example first-order change) from its kept token rows equals the δ of
    /// a second run of each layer: the same coupling, and no second run's time.
    /// </summary>
    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void FeatureRowsKeptGiveTheSameCouplingAsASecondRun(string family)
    {
        var config = family == "gpt2" ? TinyModels.Gpt2(layers: 3) : TinyModels.Llama(layers: 3);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 21));
        var set = SignalProbeTests.FakeSet(config.Vocab, 40, 21);
        var progress = new SignalProbeTests.Collect();
        var kept = SignalProbe.Run(model, set, [], new SignalOptions(BatchSize: 3, Form: SignalForm.Features), CPU, progress);
        // Σ_e δ_e = −N resnorm² per layer: the kept rows give δ at the right scale, not only the right correlations.
        Assert.True(SignalProbeTests.CheckError(progress.Messages) < 1e-4);
        var secondRun = SignalProbe.Run(model, set, [], new SignalOptions(BatchSize: 3, Form: SignalForm.Features, FeatureRowBytes: 0), CPU);

        Assert.Equal(0, kept.SecondPassSeconds);
        Assert.True(secondRun.SecondPassSeconds > 0);
        for (int i = 0; i < config.Layers; i++)
            for (int j = 0; j < config.Layers; j++)
                Assert.True(Math.Abs(kept.SignedCorrelation[i, j] - secondRun.SignedCorrelation[i, j]) < 1e-5, $"coupling {i},{j}: {kept.SignedCorrelation[i, j]} against {secondRun.SignedCorrelation[i, j]}");
        foreach (var (k, r) in kept.Modules.Zip(secondRun.Modules))
            Assert.Equal(r.ResNorm, k.ResNorm, r.ResNorm * 1e-9);
    }
}
