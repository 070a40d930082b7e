using LayerCard.Reports;

namespace LayerCard.Tests.Reports;

public sealed class MarkdownTests
{
    [Fact]
    public void Columns_are_padded_and_numbers_right_aligned()
    {
        var table = Markdown.Table(["layer", "gain", "note"],
        [
            ["L0", 0.5, "ok"],
            ["L12", 12.25, "a|b"],
            ["L3", double.NaN, ""],
        ]);
        var expected = string.Join('\n',
            "| layer |  gain | note |",
            "| ----- | ----: | ---- |",
            "| L0    |   0.5 | ok   |",
            "| L12   | 12.25 | a\\|b |",
            "| L3    |   NaN |      |",
            "");
        Assert.Equal(expected, table);
    }

    [Fact]
    public void Line_breaks_stay_inside_the_cell_and_empty_tables_have_headers()
    {
        var table = Markdown.Table(["a"], [["x\ny"]]);
        Assert.Equal("| a   |\n| --- |\n| x y |\n", table);
        Assert.Equal("| a   | b   |\n| --- | --- |\n", Markdown.Table(["a", "b"], []));
    }

    [Fact]
    public void Rows_of_the_wrong_width_are_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Markdown.Table(["a", "b"], [["1", "2"], ["3"]]));
        Assert.Contains("row 1", e.Message);
    }
}
