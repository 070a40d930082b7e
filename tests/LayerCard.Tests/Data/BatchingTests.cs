using LayerCard.Data;

namespace LayerCard.Tests.Data;

public class BatchingTests
{
    private static TokenizedSet Set(int count) =>
        Tokenization.Tokenize(new TaskDataset("mem", DataFormat.PromptCompletion,
            Enumerable.Range(0, count).Select(i => new Example("p", new string('x', i % 5 + 1))).ToList(), null, null, "h"),
            new FakeTokenizer(), 64);

    private static int[] Rows(Batch b) =>
        Enumerable.Range(0, b.BatchSize).Select(r => b.InputIds.Skip(r * b.Length).Take(b.Length).Count(i => i != Batch.PadId)).ToArray();

    [Fact]
    public void PadsOnTheRightWithIgnoredLabels()
    {
        var set = Set(3);
        var batch = Batch.Collate(set.Examples);
        Assert.Equal(3, batch.BatchSize);
        Assert.Equal(set.Examples.Max(e => e.InputIds.Length), batch.Length);
        var first = set.Examples[0];
        for (int t = 0; t < batch.Length; t++)
        {
            Assert.Equal(t < first.InputIds.Length ? first.InputIds[t] : Batch.PadId, batch.InputIds[t]);
            Assert.Equal(t < first.Labels.Length ? first.Labels[t] : Tokenization.IgnoreLabel, batch.Labels[t]);
        }
        Assert.Equal(set.TargetTokens, batch.TargetTokens);
    }

    [Fact]
    public void SameSeedSameOrderDifferentSeedDifferentOrder()
    {
        var set = Set(20);
        var a = new BatchSampler(set, 3, seed: 7);
        var b = new BatchSampler(set, 3, seed: 7);
        var c = new BatchSampler(set, 3, seed: 8);
        var orderA = Enumerable.Range(0, 40).Select(p => a.IndexAt(p)).ToArray();
        Assert.Equal(orderA, Enumerable.Range(0, 40).Select(p => b.IndexAt(p)));
        Assert.NotEqual(orderA, Enumerable.Range(0, 40).Select(p => c.IndexAt(p)));
        for (int i = 0; i < 5; i++) Assert.Equal(a.Next().InputIds, b.Next().InputIds);
    }

    [Fact]
    public void EachEpochVisitsEverySequenceOnceInANewOrder()
    {
        var sampler = new BatchSampler(Set(10), 4, seed: 1);
        var epoch0 = Enumerable.Range(0, 10).Select(p => sampler.IndexAt(p)).ToArray();
        var epoch1 = Enumerable.Range(10, 10).Select(p => sampler.IndexAt(p)).ToArray();
        Assert.Equal(Enumerable.Range(0, 10), epoch0.Order());
        Assert.Equal(Enumerable.Range(0, 10), epoch1.Order());
        Assert.NotEqual(epoch0, epoch1);
        sampler.Next(); sampler.Next(); sampler.Next(); // 12 sequences: runs into epoch 1
        Assert.Equal(12, sampler.Position);
        Assert.Equal(1, sampler.Epoch);
    }

    [Fact]
    public void SeekResumesTheSameSequence()
    {
        var set = Set(11);
        var straight = new BatchSampler(set, 4, seed: 3);
        var batches = Enumerable.Range(0, 9).Select(_ => straight.Next()).ToList();

        var first = new BatchSampler(set, 4, seed: 3);
        for (int i = 0; i < 4; i++) first.Next();
        var resumed = new BatchSampler(set, 4, seed: 3);
        resumed.Seek(first.Position);
        for (int i = 4; i < 9; i++)
        {
            var batch = resumed.Next();
            Assert.Equal(batches[i].InputIds, batch.InputIds);
            Assert.Equal(batches[i].Labels, batch.Labels);
        }
        Assert.Equal(straight.Position, resumed.Position);
    }

    [Fact]
    public void EvaluationBatchesFollowFileOrder()
    {
        var set = Set(7);
        var batches = BatchSampler.Batches(set, 3).ToList();
        Assert.Equal([3, 3, 1], batches.Select(b => b.BatchSize));
        Assert.Equal(set.Examples.Select(e => e.InputIds.Length), batches.SelectMany(Rows));
    }

    [Fact]
    public void PermutationIsStable()
    {
        // Pinned so that a change to the generator, which would break resuming old checkpoints, is noticed.
        Assert.Equal(SeededShuffle.Permutation(8, 42, 0), SeededShuffle.Permutation(8, 42, 0));
        Assert.Equal(Pinned, SeededShuffle.Permutation(8, 42, 0));
    }

    private static readonly int[] Pinned = [7, 0, 3, 2, 5, 1, 6, 4];
}
