using LayerCard.Models;
using static TorchSharp.torch;

namespace LayerCard.Tests.Models;

/// <summary>The chunked completion loss equals libtorch's cross-entropy, in value and in gradient.</summary>
public class CompletionLossTests
{
    [Theory]
    [InlineData(5, 16, 40)]
    [InlineData(CompletionLoss.ChunkPositions + 7, 12, 33)]
    [InlineData(2 * CompletionLoss.ChunkPositions, 8, 19)]
    public void ChunkedLossAndGradientEqualPlainCrossEntropy(int positions, int hiddenSize, int vocab)
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(7);
        var weight = randn([vocab, hiddenSize], generator: generator);
        var labels = randint(0, vocab, [positions], generator: generator);
        var start = randn([positions, hiddenSize], generator: generator);

        var mine = start.clone().requires_grad_(true);
        var loss = CompletionLoss.SumAt(mine, labels, weight);
        (loss * 0.5).backward();

        var reference = start.clone().requires_grad_(true);
        var expected = nn.functional.cross_entropy(nn.functional.linear(reference, weight), labels, reduction: nn.Reduction.Sum);
        (expected * 0.5).backward();

        Assert.Equal(expected.item<float>(), loss.item<float>(), 1e-3f * Math.Max(1, Math.Abs(expected.item<float>())));
        Assert.True(mine.grad!.allclose(reference.grad!, rtol: 1e-4, atol: 1e-5), $"max gradient difference {(mine.grad! - reference.grad!).abs().max().item<float>()}");
    }

    [Fact]
    public void WithoutAutogradTheValueIsTheSameAndNoGraphIsBuilt()
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(3);
        var weight = randn([9, 4], generator: generator);
        var hidden = randn([3, 4], generator: generator).requires_grad_(true);
        var labels = tensor(new long[] { 1, 2, 3 });
        using var noGrad = no_grad();
        var loss = CompletionLoss.SumAt(hidden, labels, weight);
        var expected = nn.functional.cross_entropy(nn.functional.linear(hidden, weight), labels, reduction: nn.Reduction.Sum);
        Assert.False(loss.requires_grad);
        Assert.Equal(expected.item<float>(), loss.item<float>(), 1e-4f);
    }
}
