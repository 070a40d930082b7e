using LayerCard.Card;
using static TorchSharp.torch;

namespace LayerCard.Tests.Card;

/// <summary>The function-space reduction against the definition, computed naively in float64 from the full logits.</summary>
public class LogitCurvatureTests
{
    [Theory]
    [InlineData(null, null)]
    [InlineData(4L, 7L)]
    [InlineData(1L, 50L)]
    [InlineData(13L, 1L)]
    public void ChunksAndVocabularyBlocksGiveTheDefinitionsSlopesCurvatureAndLoss(long? positions, long? block)
    {
        manual_seed(5);
        const int n = 13, hidden = 16, vocabulary = 50, d = 3;
        var head = randn(vocabulary, hidden);
        var h0 = randn(n, hidden);
        var deltas = Enumerable.Range(0, d).Select(_ => randn(n, hidden) * 0.3).ToList();
        var labels = randint(0, vocabulary, [n], dtype: ScalarType.Int64);
        var slopes = new double[d];
        var curvature = new double[d, d];
        double loss = LogitCurvature.Accumulate(h0, labels, deltas, head, slopes, curvature, positions, block);

        // The definition: p the softmax of the unmoved logits, c_i = Δz_i − p'Δz_i.
        var w = head.to_type(ScalarType.Float64);
        var logP = h0.to_type(ScalarType.Float64).matmul(w.t()).log_softmax(1);
        var p = logP.exp();
        var expectedLoss = -logP.gather(1, labels.unsqueeze(1)).sum().item<double>();
        var centred = deltas.Select(delta =>
        {
            var dz = delta.to_type(ScalarType.Float64).matmul(w.t());
            return dz - (dz * p).sum(1, keepdim: true);
        }).ToList();
        Assert.Equal(expectedLoss, loss, Math.Abs(expectedLoss) * 1e-6);
        for (int i = 0; i < d; i++)
        {
            var slope = -centred[i].gather(1, labels.unsqueeze(1)).sum().item<double>();
            Assert.Equal(slope, slopes[i], Math.Abs(slope) * 1e-5 + 1e-5);
            for (int j = 0; j < d; j++)
            {
                var m = (p * centred[i] * centred[j]).sum().item<double>();
                Assert.Equal(m, curvature[i, j], Math.Abs(m) * 1e-5 + 1e-5);
            }
        }
        Assert.True(curvature[0, 0] > 0);
    }
}
