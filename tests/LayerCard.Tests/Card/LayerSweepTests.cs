using LayerCard.Card;
using LayerCard.Data;
using LayerCard.Tests.Models;
using static TorchSharp.torch;

namespace LayerCard.Tests.Card;

/// <summary>The layer sweep's recorded streams: kept in memory or spilled to disk, the sweep sees the same inputs.</summary>
public class LayerSweepTests
{
    [Fact]
    public void SpilledStreamsReadBackExactlyInTheOrderWrittenAndTheirFolderIsDeleted()
    {
        string folder;
        using (var spilled = new SpilledStreams(2))
        {
            folder = spilled.Folder;
            var first = randn(2, 3, 5);
            var second = randn(1, 4, 5);
            spilled.Write(0, first);
            spilled.Write(0, second);
            var back = spilled.Read(0, CPU);
            Assert.Equal(2, back.Count);
            Assert.True(Same(back[0], first));
            Assert.True(Same(back[1], second));
            Assert.Throws<InvalidOperationException>(() => spilled.Read(1, CPU));
            Assert.True(Directory.Exists(folder));
        }
        Assert.False(Directory.Exists(folder));
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void ASweepWithItsStreamsSpilledToDiskSeesTheSameInputsAndGradientsAsOneInMemory(string family)
    {
        var config = family == "llama" ? TinyModels.Llama(layers: 3) : TinyModels.Gpt2(layers: 3);
        var model = TinyModels.Build(config, TinyModels.RandomWeights(config, 3));
        var batches = BatchSampler.Batches(SignalProbeTests.FakeSet(config.Vocab, 8, 5), 3).ToList();
        using var inMemory = LayerSweep.Record(model, batches, CPU, spill: false);
        using var onDisk = LayerSweep.Record(model, batches, CPU, spill: true);
        for (int layer = config.Layers - 1; layer >= 0; layer--)
        {
            for (int b = 0; b < batches.Count; b++)
            {
                Assert.True(Same(inMemory.Input(layer, b), onDisk.Input(layer, b)), $"layer {layer}, batch {b}");
                // The gradient carried down from above must match too: the layer's weights' gradient shows it.
                var weight = model.LayerLinears(layer).Values.First().Weight;
                weight.requires_grad_(true);
                var expected = inMemory.Backward(b, () => [weight])[0];
                var actual = onDisk.Backward(b, () => [weight])[0];
                weight.requires_grad_(false);
                Assert.True(Same(expected, actual), $"gradient at layer {layer}, batch {b}");
            }
            if (layer > 0)
            {
                inMemory.Descend();
                onDisk.Descend();
            }
        }
    }

    /// <summary>Same shape, type and every element bitwise equal.</summary>
    private static bool Same(Tensor a, Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();
}
