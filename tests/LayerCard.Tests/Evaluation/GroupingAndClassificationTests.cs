using LayerCard.Evaluation;

namespace LayerCard.Tests.Evaluation;

public class ReferenceGroupingTests
{
    [Fact]
    public void GroupsByInputInFirstAppearanceOrder()
    {
        var (inputs, refs) = ReferenceGrouping.Group([
            ("name[B]", "b1"), ("name[A]", "a1"), ("name[B]", "b2"), ("name[C]", "c1"), ("name[A]", "a2"),
        ]);
        Assert.Equal(["name[B]", "name[A]", "name[C]"], inputs);
        Assert.Equal(3, refs.Count);
        Assert.Equal(["b1", "b2"], refs[0]);
        Assert.Equal(["a1", "a2"], refs[1]);
        Assert.Equal(["c1"], refs[2]);
    }

    [Fact]
    public void EmptyInputGivesEmptyGroups()
    {
        var (inputs, refs) = ReferenceGrouping.Group([]);
        Assert.Empty(inputs);
        Assert.Empty(refs);
    }
}

public class ClassificationMetricsTests
{
    [Fact]
    public void AccuracyCountsAgreements()
    {
        Assert.Equal(0.75, ClassificationMetrics.Accuracy([1, 0, 2, 2], [1, 0, 2, 1]), 12);
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Accuracy([1], [1, 2]));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Accuracy([], []));
    }

    [Fact]
    public void MajorityBaselineUsesTrainingLabels()
    {
        // Train majority is 2 (three times); gold has two 2s out of five.
        var (label, accuracy) = ClassificationMetrics.MajorityBaseline([2, 0, 2, 1, 2], [0, 2, 0, 2, 0]);
        Assert.Equal(2, label);
        Assert.Equal(0.4, accuracy, 12);
    }

    [Fact]
    public void MajorityTieGoesToSmallestLabel()
    {
        var (label, accuracy) = ClassificationMetrics.MajorityBaseline([3, 1, 3, 1], [1, 1, 3]);
        Assert.Equal(1, label);
        Assert.Equal(2.0 / 3, accuracy, 12);
    }
}
