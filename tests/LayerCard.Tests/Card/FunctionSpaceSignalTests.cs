using LayerCard.Card;
using LayerCard.Models;
using LayerCard.Tests.Models;
using static TorchSharp.torch;

namespace LayerCard.Tests.Card;

/// <summary>The function-space signal: forward finite differences agree with autograd, and the quadratic model behaves as one.</summary>
public class FunctionSpaceSignalTests
{
    private static FunctionSpaceResult Measure(StepDirection direction, int examples = 8, int batchSize = 8, string family = "llama", bool? keepInputs = null, bool? stackBranches = null,
        bool perModule = false, bool perBatch = false, bool lineSearch = false, bool directPath = false)
    {
        var (_, model, set, targets) = Tiny(family, examples);
        return FunctionSpaceProbe.Measure(model, set, targets, new FunctionSpaceOptions(4, 8, batchSize, 11, direction, keepInputs, stackBranches, perModule, perBatch, lineSearch, directPath), CPU);
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void TheLineSearchRescalesEachDirectionsCurvatureAndKeepsSlopesAndCorrelations(string family)
    {
        var tangent = Measure(StepDirection.Sign, examples: 8, batchSize: 4, family: family);
        var secant = Measure(StepDirection.Sign, examples: 8, batchSize: 4, family: family, lineSearch: true);
        int n = tangent.Slopes.Count;
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(tangent.Slopes[i], secant.Slopes[i], Math.Abs(tangent.Slopes[i]) * 1e-9);
            Assert.True(secant.Curvature[i][i] > 0);
            for (int j = 0; j < n; j++)
            {
                double Correlation(FunctionSpaceResult r) => r.Curvature[i][j] / Math.Sqrt(r.Curvature[i][i] * r.Curvature[j][j]);
                Assert.Equal(Correlation(tangent), Correlation(secant), 1e-9);
            }
        }
        // The real loss along a direction is not the quadratic model's: some direction's curvature moved.
        Assert.Contains(Enumerable.Range(0, n), i => Math.Abs(secant.Curvature[i][i] / tangent.Curvature[i][i] - 1) > 1e-3);
    }

    [Fact]
    public void PerBatchDirectionsAreTheLayersStepWithOneBatchAndOnePerBatchWithMore()
    {
        // One batch: that batch's step is the layer's step.
        var layerStep = Measure(StepDirection.Sign, examples: 8, batchSize: 8);
        var oneBatch = Measure(StepDirection.Sign, examples: 8, batchSize: 8, perBatch: true);
        Assert.Null(oneBatch.DirectionLayers);
        AssertSameSignal(layerStep, oneBatch);
        // Two batches: two directions per layer, each with the slope of its own batch's step (first steps lower the loss).
        var twoBatches = Measure(StepDirection.Sign, examples: 8, batchSize: 4, perBatch: true);
        Assert.Equal(Enumerable.Range(0, 3).SelectMany(l => new[] { l, l }), twoBatches.DirectionLayers!);
        Assert.All(twoBatches.Slopes, s => Assert.True(double.IsFinite(s)));
        for (int l = 0; l < 3; l++) Assert.True(twoBatches.LayerSetGain([l]) > 0);
    }

    [Fact]
    public void WithOneCalibrationBatchAdamsMomentRatioIsTheSignStep()
    {
        // One batch: mean / sqrt(mean square) = g / |g| = sign(g) coordinate by coordinate.
        var sign = Measure(StepDirection.Sign, examples: 8, batchSize: 8);
        var ratio = Measure(StepDirection.MomentRatio, examples: 8, batchSize: 8);
        AssertSameSignal(sign, ratio);
        // Two batches: coordinates whose gradient flips between them move less, so the step is another.
        var twoBatches = Measure(StepDirection.MomentRatio, examples: 8, batchSize: 4);
        var twoBatchesSign = Measure(StepDirection.Sign, examples: 8, batchSize: 4);
        Assert.True(Enumerable.Range(0, twoBatches.Slopes.Count).Any(l => Math.Abs(twoBatches.Slopes[l] - twoBatchesSign.Slopes[l]) > 1e-3 * Math.Abs(twoBatchesSign.Slopes[l])),
            "with two batches the moment ratio gave the sign step's slopes");
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void PerModuleDirectionsAddUpToTheLayersStepAndNeverPredictLess(string family)
    {
        var (_, _, _, targets) = Tiny(family, 8);
        var perLayer = Measure(StepDirection.Sign, family: family);
        var perModule = Measure(StepDirection.Sign, family: family, perModule: true);
        Assert.Null(perLayer.DirectionLayers);
        Assert.Equal(Enumerable.Range(0, 3).SelectMany(l => Enumerable.Repeat(l, targets.Length)), perModule.DirectionLayers!);
        for (int l = 0; l < 3; l++)
        {
            // The layer's step is the sum of its modules' parts, and slopes are linear in the step (to the finite
            // difference's truncation, of the order of its 1e-2 step).
            var moduleSlopes = Enumerable.Range(0, perModule.Slopes.Count).Where(k => perModule.DirectionLayers![k] == l).Sum(k => perModule.Slopes[k]);
            Assert.Equal(perLayer.Slopes[l], moduleSlopes, Math.Abs(perLayer.Slopes[l]) * 0.02);
            // The layer's step lies in the span of its modules' parts: the best step in that span does at least as well.
            Assert.True(perModule.LayerSetGain([l]) >= perLayer.SetGain([l]) * 0.98, $"layer {l}: per module {perModule.LayerSetGain([l])} against {perLayer.SetGain([l])}");
        }
        Assert.True(perModule.LayerSetGain([0, 1, 2]) >= perLayer.SetGain([0, 1, 2]) * 0.98);
    }

    /// <summary>A tiny random 3-layer model of the family, a fake calibration set and a few of its modules as targets.</summary>
    private static (ModelConfig Config, CausalLM Model, LayerCard.Data.TokenizedSet Set, string[] Targets) Tiny(string family, int examples)
    {
        var config = family == "llama" ? TinyModels.Llama(layers: 3) : TinyModels.Gpt2(layers: 3);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 7));
        var set = SignalProbeTests.FakeSet(config.Vocab, examples, 3);
        var targets = family == "llama" ? new[] { "q_proj", "v_proj", "down_proj" } : new[] { "c_attn", "c_fc" };
        return (config, model, set, targets);
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void RecomputingTheLayerInputsGivesTheSameSignalAsKeepingThem(string family)
    {
        // Two batches, so that the recomputed forward runs per batch.
        var kept = Measure(StepDirection.Sign, examples: 8, batchSize: 4, family: family, keepInputs: true);
        var recomputed = Measure(StepDirection.Sign, examples: 8, batchSize: 4, family: family, keepInputs: false, stackBranches: false);
        AssertSameSignal(kept, recomputed);
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void StackingTheBranchesGivesTheSameSignalAsRunningThemOneAtATime(string family)
    {
        var oneAtATime = Measure(StepDirection.Sign, examples: 8, batchSize: 4, family: family, keepInputs: false, stackBranches: false);
        var stacked = Measure(StepDirection.Sign, examples: 8, batchSize: 4, family: family, keepInputs: false, stackBranches: true);
        AssertSameSignal(oneAtATime, stacked);
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void TheDirectPathMatchesTheFullBranchesAtTheTopLayerAndNotBelowIt(string family)
    {
        var full = Measure(StepDirection.Sign, examples: 8, batchSize: 4, family: family);
        var direct = Measure(StepDirection.Sign, examples: 8, batchSize: 4, family: family, directPath: true);
        // No layer above the top one responds to its step: its slope and curvature are the full branch's.
        int top = full.Slopes.Count - 1;
        Assert.Equal(full.Slopes[top], direct.Slopes[top], Math.Abs(full.Slopes[top]) * 1e-4);
        Assert.Equal(full.Curvature[top][top], direct.Curvature[top][top], full.Curvature[top][top] * 1e-4);
        // Below it the layers above do respond, and the direct path leaves that out.
        Assert.True(Math.Abs(full.Curvature[0][0] - direct.Curvature[0][0]) > full.Curvature[0][0] * 1e-3,
            $"layer 0's curvature {direct.Curvature[0][0]} by the direct path, {full.Curvature[0][0]} through the layers above");
    }

    /// <summary>
    /// Equal to 1e-4 of each slope and of the curvature's diagonal: the branches go through products of other
    /// shapes (or with other threads), and float32 rounding of ~1e-7 of the hidden states becomes ~1e-5 of the
    /// differences after the division by the 1e-2 step; still far below the finite difference's own truncation
    /// error, which is of the order of the step.
    /// </summary>
    private static void AssertSameSignal(FunctionSpaceResult expected, FunctionSpaceResult actual)
    {
        for (int i = 0; i < expected.Slopes.Count; i++)
        {
            Assert.NotEqual(0, expected.Slopes[i]);
            Assert.Equal(expected.Slopes[i], actual.Slopes[i], Math.Abs(expected.Slopes[i]) * 1e-4);
            for (int j = 0; j < expected.Slopes.Count; j++)
                Assert.Equal(expected.Curvature[i][j], actual.Curvature[i][j], Math.Abs(expected.Curvature[i][i]) * 1e-4);
        }
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void TheFiniteDifferenceSlopeAlongTheGradientIsMinusTheGradientNormFromAutograd(string family)
    {
        // One calibration batch: the Fisher trace is |∇_B L|² from autograd, and the slope along the unit descent
        // direction, measured by forward finite differences of the logits, must be −|∇_B L|.
        var result = Measure(StepDirection.Gradient, examples: 8, batchSize: 8, family: family);
        for (int l = 0; l < result.Slopes.Count; l++)
        {
            var gradientNorm = Math.Sqrt(result.FisherTrace[l]);
            Assert.True(gradientNorm > 0);
            Assert.Equal(-gradientNorm, result.Slopes[l], gradientNorm * 0.02);
        }
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void TheTopRankSlopeIsMinusScalingTimesTheNormOfTheRankRPartOfTheWeightGradient(string family)
    {
        // One batch. Along B = −U_r S_r / |S_r| with A = V_r' the weights move by −scaling · G_r / |G_r| per unit step,
        // so the loss falls at scaling · |G_r| = scaling · sqrt(Σ_m Σ_{k≤r} σ_k²), with G from autograd here.
        var (config, model, set, targets) = Tiny(family, 8);
        const int rank = 2;
        const double alpha = 8;
        var result = FunctionSpaceProbe.Measure(model, set, targets, new FunctionSpaceOptions(rank, alpha, 8, 11, StepDirection.TopRank), CPU);

        var batch = LayerCard.Data.BatchSampler.Batches(set, 8).Single();
        var modules = Enumerable.Range(0, config.Layers)
            .Select(l => model.LayerLinears(l).Where(m => targets.Any(t => LayerCard.Lora.LoraModel.MatchesTarget(m.Key, t))).Select(m => m.Value).ToList()).ToList();
        foreach (var m in modules.SelectMany(x => x)) m.Weight.requires_grad_(true);
        var loss = CompletionLoss.Sum(model, batch, CPU) / batch.TargetTokens;
        var grads = autograd.grad([loss], modules.SelectMany(x => x).Select(m => (Tensor)m.Weight).ToList());
        foreach (var m in modules.SelectMany(x => x)) m.Weight.requires_grad_(false);
        int g = 0;
        for (int l = 0; l < config.Layers; l++)
        {
            double squared = 0;
            foreach (var _ in modules[l])
            {
                var singular = linalg.svdvals(grads[g++].to_type(ScalarType.Float64));
                squared += singular.narrow(0, 0, rank).square().sum().item<double>();
            }
            double expected = -(alpha / rank) * Math.Sqrt(squared);
            Assert.True(expected < 0);
            Assert.Equal(expected, result.Slopes[l], Math.Abs(expected) * 0.02);
        }
    }

    [Fact]
    public void TheCurvatureIsSymmetricPositiveAndEveryStepLowersTheLossToFirstOrder()
    {
        var result = Measure(StepDirection.Sign);
        int n = result.Slopes.Count;
        for (int i = 0; i < n; i++)
        {
            Assert.True(result.Slopes[i] < 0, $"layer {i} slope {result.Slopes[i]}");
            Assert.True(result.Curvature[i][i] > 0);
            for (int j = 0; j < n; j++)
            {
                Assert.Equal(result.Curvature[i][j], result.Curvature[j][i], Math.Abs(result.Curvature[i][j]) * 1e-9 + 1e-15);
                // Cauchy-Schwarz holds for a Gram matrix.
                Assert.True(result.Curvature[i][j] * result.Curvature[i][j] <= result.Curvature[i][i] * result.Curvature[j][j] * (1 + 1e-9));
            }
        }
    }

    [Fact]
    public void ASingleLayersGainIsHalfTheSquaredSlopeOverItsCurvatureAndSetsNeverLoseByGrowing()
    {
        var result = Measure(StepDirection.Sign);
        int n = result.Slopes.Count;
        for (int l = 0; l < n; l++)
            Assert.Equal(0.5 * result.Slopes[l] * result.Slopes[l] / result.Curvature[l][l], result.SetGain([l]), result.SetGain([l]) * 1e-4);
        Assert.True(result.SetGain([0, 1]) >= Math.Max(result.SetGain([0]), result.SetGain([1])) * (1 - 1e-9));
        Assert.True(result.SetGain([0, 1, 2]) >= result.SetGain([0, 1]) * (1 - 1e-9));
        Assert.Equal(0, result.SetGain([]));
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void ThePassMeasuresTheBaseModelsMeanCompletionLossOnTheCalibrationSample(string family)
    {
        var (_, model, set, targets) = Tiny(family, 8);
        var result = FunctionSpaceProbe.Measure(model, set, targets, new FunctionSpaceOptions(4, 8, 4, 11), CPU);
        var expected = LayerCard.Evaluation.LossEvaluation.MeanLoss(model, set, 8, CPU).MeanLoss;
        Assert.NotNull(result.BaseLoss);
        Assert.Equal(expected, result.BaseLoss!.Value, expected * 1e-5);
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void RunningTheModelFromAnyLayersRecordedInputGivesTheSameFinalHiddenStates(string family)
    {
        var config = family == "llama" ? TinyModels.Llama(layers: 3) : TinyModels.Gpt2(layers: 3);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 5));
        using var noGrad = no_grad();
        var ids = randint(1, config.Vocab, [2, 9], dtype: ScalarType.Int64);
        var inputs = new List<Tensor>();
        var full = model.Hidden(ids, layerInputs: inputs);
        for (int l = 0; l < config.Layers; l++)
            Assert.True(model.HiddenFrom(l, inputs[l]).allclose(full, rtol: 1e-5, atol: 1e-5), $"from layer {l}");
    }

    [Theory]
    [InlineData("llama", StepDirection.Gradient, 1e-4)]
    [InlineData("gpt2", StepDirection.Gradient, 1e-4)]
    [InlineData("llama", StepDirection.Sign, 1e-4)]
    public void TheGradientGatheredByTheResidualPassGivesTheSameSignalAsTheFunctionSpaceSweep(string family, StepDirection direction, double tolerance)
    {
        var config = family == "llama" ? TinyModels.Llama(layers: 3) : TinyModels.Gpt2(layers: 3);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 7));
        var set = SignalProbeTests.FakeSet(config.Vocab, 8, 3);
        var targets = family == "llama" ? new[] { "q_proj", "v_proj", "down_proj" } : new[] { "c_attn", "c_fc" };
        var options = new FunctionSpaceOptions(4, 8, 4, 11, direction);
        var own = FunctionSpaceProbe.Measure(model, set, targets, options, CPU);

        using var gathered = FunctionSpaceProbe.GradientToGather(model, set, targets, options);
        SignalProbe.Run(model, set, targets, new SignalOptions(BatchSize: 4), CPU, freshGradient: gathered);
        var shared = FunctionSpacePart.Combine([FunctionSpaceProbe.MeasurePart(model, set, targets, options, CPU, 0, 1, gathered)]);

        for (int i = 0; i < own.Slopes.Count; i++)
        {
            Assert.Equal(own.FisherTrace[i], shared.FisherTrace[i], own.FisherTrace[i] * tolerance);
            Assert.Equal(own.Slopes[i], shared.Slopes[i], Math.Abs(own.Slopes[i]) * tolerance);
            for (int j = 0; j < own.Slopes.Count; j++)
                Assert.Equal(own.Curvature[i][j], shared.Curvature[i][j], Math.Abs(own.Curvature[i][i]) * tolerance);
        }
    }

    [Fact]
    public void AGradientGatheredForOtherAdaptersIsRefused()
    {
        var config = TinyModels.Llama(layers: 2);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 7));
        var set = SignalProbeTests.FakeSet(config.Vocab, 8, 3);
        string[] targets = ["q_proj", "v_proj"];
        using var gathered = FunctionSpaceProbe.GradientToGather(model, set, targets, new FunctionSpaceOptions(4, 8, 4, Seed: 11));
        SignalProbe.Run(model, set, targets, new SignalOptions(BatchSize: 4), CPU, freshGradient: gathered);
        // Another seed draws other A matrices: the gathered gradient is not of them.
        var error = Assert.Throws<InvalidOperationException>(() => FunctionSpaceProbe.MeasurePart(model, set, targets, new FunctionSpaceOptions(4, 8, 4, Seed: 12), CPU, 0, 1, gathered));
        Assert.Contains("not of the adapters seeded here", error.Message);
    }
}
