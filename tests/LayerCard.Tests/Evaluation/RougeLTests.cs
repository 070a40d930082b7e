using LayerCard.Evaluation;

namespace LayerCard.Tests.Evaluation;

public class RougeLTests
{
    private static IReadOnlyList<IReadOnlyList<string>> Refs(params string[][] sets) => sets;

    [Fact]
    public void HandComputedExample()
    {
        // hyp "the cat sat on a mat" (6), ref "the cat was sitting on the mat today" (8).
        // LCS = the cat on mat = 4 (the hypothesis has only one "the", and "a" ≠ "the").
        // P = 4/6, R = 4/8; F = (1+1.44)·(2/3)·(1/2) / (1/2 + 1.44·2/3) = 0.813333/1.46 ≈ 0.557078
        var score = RougeL.Corpus(["the cat sat on a mat"], Refs(["the cat was sitting on the mat today"]));
        var expected = 2.44 * (2.0 / 3) * 0.5 / (0.5 + 1.44 * 2.0 / 3);
        Assert.Equal(expected, score, 12);
        Assert.Equal(0.557078, score, 6);
    }

    [Fact]
    public void TakesMaxPrecisionAndMaxRecallIndependently()
    {
        // hyp "a b c d" (4). ref1 "a b" (2): LCS 2, P 1/2, R 1. ref2 "a b c x y z w v" (8): LCS 3, P 3/4, R 3/8.
        // Pmax = 3/4 (ref2), Rmax = 1 (ref1): F = 2.44·0.75 / (1 + 1.44·0.75) = 1.83/2.08.
        var score = RougeL.Corpus(["a b c d"], Refs(["a b", "a b c x y z w v"]));
        Assert.Equal(1.83 / 2.08, score, 12);
    }

    [Fact]
    public void AveragesOverHypothesesAndIgnoresPunctuationAndCase()
    {
        // First pair is identical after lowercasing and dropping "." and ",": F = 1. Second shares nothing: 0.
        var score = RougeL.Corpus(["The cat, sat.", "x y"], Refs(["the cat sat"], ["p q"]));
        Assert.Equal(0.5, score, 12);
    }

    [Fact]
    public void BetaOneIsTheHarmonicMean()
    {
        // P = 4/6, R = 4/8, harmonic mean = 2PR/(P+R) = 4/7.
        var score = RougeL.Corpus(["the cat sat on a mat"], Refs(["the cat was sitting on the mat today"]), beta: 1.0);
        Assert.Equal(4.0 / 7, score, 12);
    }

    [Fact]
    public void EmptyHypothesisScoresZero()
    {
        Assert.Equal(0.0, RougeL.Corpus(["..."], Refs(["a b"])));
    }
}
