using LayerCard.Models;
using static TorchSharp.torch;

namespace LayerCard.Tests.Models;

/// <summary>The written-out narrow-head attention equals libtorch's causal attention, in value and in all three gradients.</summary>
public class NarrowHeadAttentionTests
{
    [Theory]
    [InlineData(2, 8, 8, 128, 8, 1)] // stories260K's heads without grouping
    [InlineData(2, 8, 4, 37, 8, 1)] // grouped query heads (stories260K: 8 heads over 4), an odd number of positions
    [InlineData(1, 6, 2, 9, 16, 1)] // the widest head it takes
    [InlineData(3, 2, 1, 2, 4, 1)] // two positions, one key/value head for all
    [InlineData(1, 2, 2, 17, 8, 12)] // scores in the hundreds: exp would overflow without the row's shift
    public void OutputAndGradientsEqualLibtorchsCausalAttention(int batch, int heads, int kvHeads, int positions, int headDim, float magnitude)
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(11);
        var q = (magnitude * randn([batch, heads, positions, headDim], generator: generator)).requires_grad_(true);
        var k = (magnitude * randn([batch, kvHeads, positions, headDim], generator: generator)).requires_grad_(true);
        var v = randn([batch, kvHeads, positions, headDim], generator: generator).requires_grad_(true);
        var gradOutput = randn([batch, heads, positions, headDim], generator: generator);

        var output = NarrowHeadAttention.Causal(q, k, v);
        var mine = autograd.grad([output], [q, k, v], [gradOutput]);

        int group = heads / kvHeads;
        var expected = nn.functional.scaled_dot_product_attention(q, k.repeat_interleave(group, 1), v.repeat_interleave(group, 1), is_casual: true);
        var reference = autograd.grad([expected], [q, k, v], [gradOutput]);

        AssertClose(expected, output, "output");
        using (no_grad()) Assert.True(NarrowHeadAttention.Causal(q, k, v).eq(output).all().item<bool>(), "without autograd the output differs");
        AssertClose(reference[0], mine[0], "dq");
        AssertClose(reference[1], mine[1], "dk");
        AssertClose(reference[2], mine[2], "dv");
    }

    [Fact]
    public void EachPositionSeesOnlyItselfAndThePositionsBefore()
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(5);
        var q = randn([1, 2, 12, 8], generator: generator);
        var k = randn([1, 2, 12, 8], generator: generator);
        var v = randn([1, 2, 12, 8], generator: generator);
        var before = NarrowHeadAttention.Causal(q, k, v);
        var changedLater = v.clone();
        changedLater.narrow(2, 7, 5).add_(100);
        var after = NarrowHeadAttention.Causal(q, k, changedLater);
        Assert.True(before.narrow(2, 0, 7).eq(after.narrow(2, 0, 7)).all().item<bool>(), "a later value changed an earlier position's output");
        Assert.False(before.narrow(2, 7, 5).allclose(after.narrow(2, 7, 5)), "a position did not see its own value");
    }

    [Fact]
    public void TwoThreadsGiveTheSameResultAsOne()
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(9);
        var q = randn([2, 4, 20, 8], generator: generator).requires_grad_(true);
        var k = randn([2, 2, 20, 8], generator: generator).requires_grad_(true);
        var v = randn([2, 2, 20, 8], generator: generator).requires_grad_(true);
        var gradOutput = randn([2, 4, 20, 8], generator: generator);
        int threads = get_num_threads();
        try
        {
            set_num_threads(1);
            var one = autograd.grad([NarrowHeadAttention.Causal(q, k, v)], [q, k, v], [gradOutput]);
            set_num_threads(2);
            var two = autograd.grad([NarrowHeadAttention.Causal(q, k, v)], [q, k, v], [gradOutput]);
            for (int i = 0; i < 3; i++) Assert.True(one[i].eq(two[i]).all().item<bool>(), $"gradient {i} differs between one and two threads");
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    [Fact]
    public void WideHeadsAndOtherDevicesOrTypesAreNotTaken()
    {
        using var scope = NewDisposeScope();
        Assert.True(NarrowHeadAttention.Takes(zeros(1, 2, 3, 16)));
        Assert.False(NarrowHeadAttention.Takes(zeros(1, 2, 3, 17)));
        Assert.False(NarrowHeadAttention.Takes(zeros(1, 2, 3, 8, dtype: ScalarType.Float64)));
        Assert.Throws<ArgumentException>(() => NarrowHeadAttention.Causal(zeros(1, 2, 3, 64), zeros(1, 2, 3, 64), zeros(1, 2, 3, 64)));
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what) =>
        Assert.True(actual.allclose(expected, rtol: 1e-4, atol: 1e-4 * Math.Max(1, expected.abs().max().item<float>())),
            $"{what}: max difference {(actual - expected).abs().max().item<float>()} (largest value {expected.abs().max().item<float>()})");
}
