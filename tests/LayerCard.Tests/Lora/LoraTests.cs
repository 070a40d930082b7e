using LayerCard.Common;
using LayerCard.Lora;
using LayerCard.Models;
using LayerCard.Tests.Models;
using static TorchSharp.torch;

namespace LayerCard.Tests.Lora;

public class LoraTests
{
    private static readonly long[] Ids = [3, 14, 15, 92, 65, 35, 89];

    private static (CausalLM Model, ModelConfig Config) Tiny(string architecture)
    {
        var config = architecture == "GPT2LMHeadModel" ? TinyModels.Gpt2(layers: 3) : TinyModels.Llama(architecture, layers: 3);
        return (TinyModels.Build(config, TinyModels.RandomWeights(config, 1)), config);
    }

    private static Tensor Logits(CausalLM model)
    {
        using var noGrad = no_grad();
        return model.Forward(tensor(Ids).unsqueeze(0));
    }

    private static void Perturb(LoraModel lora)
    {
        using var noGrad = no_grad();
        foreach (var adapter in lora.Adapters.Values) adapter.B.normal_(0, 0.05);
    }

    [Theory]
    [InlineData("Qwen3ForCausalLM")]
    [InlineData("GPT2LMHeadModel")]
    public void AFreshAdapterLeavesTheModelUnchanged(string architecture)
    {
        var (model, config) = Tiny(architecture);
        var before = Logits(model);
        using var lora = LoraModel.Inject(model, new LoraConfig(4, 8, 0, false, LoraConfig.DefaultTargets(config.Family), [0, 2]), seed: 1);
        Assert.Equal(2 * LoraConfig.DefaultTargets(config.Family).Count, lora.Adapters.Count);
        TensorAssert.Close(before, Logits(model), 1e-6);
    }

    [Theory]
    [InlineData("LlamaForCausalLM", false)]
    [InlineData("GPT2LMHeadModel", true)]
    public void MergedWeightsGiveTheSameLogitsAsTheAdapter(string architecture, bool rsLora)
    {
        var (model, config) = Tiny(architecture);
        var targets = config.Family == "gpt2" ? new[] { "attn.c_attn", "mlp.c_proj" } : new[] { "q_proj", "v_proj", "down_proj" };
        var baseLogits = Logits(model);
        using var lora = LoraModel.Inject(model, new LoraConfig(4, 16, 0, rsLora, targets, [1, 2]), seed: 2);
        Perturb(lora);
        var adapted = Logits(model);
        Assert.True((adapted - baseLogits).abs().max().item<float>() > 1e-3, "the perturbed adapter should change the logits");
        lora.Merge();
        TensorAssert.Close(adapted, Logits(model), 1e-5);
        lora.Unmerge();
        TensorAssert.Close(adapted, Logits(model), 1e-5);
        lora.Dispose();
        TensorAssert.Close(baseLogits, Logits(model), 1e-5);
    }

    [Fact]
    public void InitialisationFollowsPeft()
    {
        var (model, _) = Tiny("LlamaForCausalLM");
        using var lora = LoraModel.Inject(model, new LoraConfig(8, 16, 0, false, ["q_proj"], [0]), seed: 3);
        var adapter = lora.Adapters.Values.Single();
        Assert.Equal(new long[] { 8, 32 }, adapter.A.shape);
        Assert.Equal(new long[] { 32, 8 }, adapter.B.shape);
        Assert.Equal(0f, adapter.B.abs().max().item<float>());
        var bound = 1 / Math.Sqrt(32);
        Assert.True(adapter.A.abs().max().item<float>() <= bound);
        Assert.True(adapter.A.abs().max().item<float>() > 0.8 * bound);
        Assert.Equal(2.0, adapter.Scaling);
        Assert.Equal(16 / Math.Sqrt(8), new LoraConfig(8, 16, 0, true, ["q_proj"], [0]).Scaling, 12);
    }

    [Fact]
    public void NothingBelowTheLowestAdaptedLayerRunsUnderAutograd()
    {
        var (model, _) = Tiny("LlamaForCausalLM");
        using var lora = LoraModel.Inject(model, new LoraConfig(4, 8, 0, false, ["q_proj"], [2]), seed: 4);
        var probes = Enumerable.Range(0, 3).Select(l => new GradientRecorder(model.LayerLinears(l)["mlp.down_proj"])).ToList();
        var logits = model.Forward(tensor(Ids).unsqueeze(0));
        Assert.False(probes[0].OutputRequiredGrad);
        Assert.False(probes[1].OutputRequiredGrad);
        Assert.True(probes[2].OutputRequiredGrad);
        logits.sum().backward();
        Assert.All(lora.TrainableParameters(), p => Assert.NotNull(p.grad));
    }

    [Theory]
    [InlineData("nope")]
    [InlineData("c_attn")]
    public void UnknownTargetsAreRefused(string target)
    {
        var (model, _) = Tiny("Qwen3ForCausalLM");
        var error = Assert.Throws<BadInputException>(() => LoraModel.Inject(model, new LoraConfig(4, 8, 0, false, [target], [0]), 1));
        Assert.Contains(target, error.Message);
    }

    [Theory]
    [InlineData("all", 5, "0,1,2,3,4")]
    [InlineData("top:2", 5, "3,4")]
    [InlineData("bottom:2", 5, "0,1")]
    [InlineData("4,1, 2", 5, "1,2,4")]
    [InlineData("1-3", 5, "1,2,3")]
    public void LayerSelectionsParse(string spec, int layers, string expected) =>
        Assert.Equal(expected, LayerSelection.Format(LayerSelection.Parse(spec, layers)));

    [Theory]
    [InlineData("5", "out of range")]
    [InlineData("top:9", "asks for 9 layers")]
    [InlineData("x", "is not a layer index")]
    [InlineData("-1", "out of range")]
    public void BadLayerSelectionsAreRefused(string spec, string message) =>
        Assert.Contains(message, Assert.Throws<BadInputException>(() => LayerSelection.Parse(spec, 5)).Message);

    private sealed class GradientRecorder : ILinearProbe
    {
        public GradientRecorder(AdaptableLinear module) => module.Probe = this;
        public bool OutputRequiredGrad { get; private set; }
        public Tensor Observe(AdaptableLinear module, Tensor input, Tensor output)
        {
            OutputRequiredGrad = output.requires_grad;
            return output;
        }
    }
}
