using LayerCard.Evaluation;

namespace LayerCard.Tests.Evaluation;

public class BleuTests
{
    private static IReadOnlyList<IReadOnlyList<string>> Refs(params string[][] sets) => sets;

    [Fact]
    public void IdenticalStringsScoreOne()
    {
        var score = Bleu.Corpus(["The Eagle is a cheap coffee shop near Burger King."],
            Refs(["The Eagle is a cheap coffee shop near Burger King."]));
        Assert.Equal(1.0, score, 12);
    }

    [Fact]
    public void HandComputedExample()
    {
        // hyp "the cat sat on a mat" (6 tokens), ref "the cat sat on red mat today" (7 tokens)
        // 1-grams: the cat sat on a mat            -> matched the cat sat on mat      = 5/6
        // 2-grams: the·cat cat·sat sat·on on·a a·mat -> matched the·cat cat·sat sat·on = 3/5
        // 3-grams: the·cat·sat cat·sat·on sat·on·a on·a·mat -> the·cat·sat cat·sat·on = 2/4
        // 4-grams: the·cat·sat·on cat·sat·on·a sat·on·a·mat -> the·cat·sat·on       = 1/3
        // geometric mean = (5/6 · 3/5 · 2/4 · 1/3)^(1/4) = (1/12)^(1/4)
        // c = 6 <= r = 7, BP = exp(1 − 7/6) = exp(−1/6); BLEU = exp(−1/6)·12^(−1/4) ≈ 0.454802
        var stats = Bleu.CorpusStatistics(["the cat sat on a mat"], Refs(["the cat sat on red mat today"]));
        Assert.Equal(new long[] { 5, 3, 2, 1 }, stats.Matches);
        Assert.Equal(new long[] { 6, 5, 4, 3 }, stats.Totals);
        Assert.Equal(6, stats.HypothesisLength);
        Assert.Equal(7, stats.ReferenceLength);
        var expected = Math.Exp(-1.0 / 6) * Math.Pow(12, -0.25);
        Assert.Equal(expected, Bleu.Corpus(["the cat sat on a mat"], Refs(["the cat sat on red mat today"])), 12);
        Assert.Equal(0.454802, expected, 6);
    }

    [Fact]
    public void BrevityPenaltyForShortHypothesis()
    {
        // All precisions are 1; c = 4, r = 8, BP = exp(1 − 8/4) = e^−1.
        var score = Bleu.Corpus(["a b c d"], Refs(["a b c d e f g h"]));
        Assert.Equal(Math.Exp(-1), score, 12);
    }

    [Fact]
    public void ClippingLimitsRepeatedWords()
    {
        // "the" appears 4 times but only once in the reference: unigram precision 1/4, and no bigram
        // "the the" exists in the reference, so BLEU-4 is 0. c = 4 > r = 2, so no brevity penalty.
        Assert.Equal(0.25, Bleu.Corpus(["the the the the"], Refs(["the cat"]), maxOrder: 1), 12);
        Assert.Equal(0.0, Bleu.Corpus(["the the the the"], Refs(["the cat"])));
    }

    [Fact]
    public void ClipsByMaxCountOverReferencesNotTheSum()
    {
        // "the" ×3 in the hypothesis; counts per reference are 1 and 2, so the clip is max = 2 (sum would be 3).
        // Matches: the 2 + cat 1 = 3 of 4. Closest reference length is 3 < c = 4, so BP = 1.
        var score = Bleu.Corpus(["the the the cat"], Refs(["the cat", "the the dog"]), maxOrder: 1);
        Assert.Equal(0.75, score, 12);
    }

    [Fact]
    public void ClosestReferenceLengthTieTakesTheShorter()
    {
        // c = 4; references of length 3 and 5 are equally close, the shorter (3) wins so BP = 1.
        // Taking 5 would give exp(1 − 5/4).
        var score = Bleu.Corpus(["a b c d"], Refs(["a b c", "a b c d e"]), maxOrder: 1);
        Assert.Equal(1.0, score, 12);
    }

    [Fact]
    public void CountsAreSummedOverTheCorpusBeforeDividing()
    {
        // Sentence 1: unigrams 2/2, sentence 2: 0/2 -> corpus 2/4 = 0.5 (lengths equal, BP = 1).
        var score = Bleu.Corpus(["a b", "c d"], Refs(["a b"], ["x y"]), maxOrder: 1);
        Assert.Equal(0.5, score, 12);
    }

    [Fact]
    public void CaseAndPunctuationAreNormalisedBeforeMatching()
    {
        Assert.Equal(1.0, Bleu.Corpus(["THE CAT, SAT ON THE MAT."], Refs(["the cat , sat on the mat ."])), 12);
    }

    [Fact]
    public void RejectsMismatchedInputs()
    {
        Assert.Throws<ArgumentException>(() => Bleu.Corpus(["a"], Refs()));
        Assert.Throws<ArgumentException>(() => Bleu.Corpus(["a"], Refs([])));
    }

    [Fact]
    public void EmptyHypothesisScoresZero()
    {
        Assert.Equal(0.0, Bleu.Corpus([""], Refs(["a b c d"])));
    }
}
