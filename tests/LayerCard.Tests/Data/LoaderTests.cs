using LayerCard.Common;
using LayerCard.Data;

namespace LayerCard.Tests.Data;

public sealed class LoaderTests : IDisposable
{
    private readonly TempFolder temp = new();
    public void Dispose() => temp.Dispose();

    private static TaskDataset Load(string path, DataFormat format = DataFormat.Auto, IReadOnlyList<string>? labels = null, int? limit = null) =>
        DatasetLoader.Load(path, new DataOptions(format, labels, Limit: limit));

    private static string Error(Action load) => Assert.Throws<BadInputException>(load).Message;

    [Fact]
    public void ReadsTextRecords()
    {
        var data = Load(temp.Write("a.jsonl", "{\"text\": \"hello\"}\n\n{\"text\": \"world\"}\n"));
        Assert.Equal(DataFormat.Text, data.Format);
        Assert.Equal([new Example("", "hello"), new Example("", "world")], data.Examples);
    }

    [Fact]
    public void ReadsPromptCompletionVerbatim()
    {
        var data = Load(temp.Write("a.jsonl", "{\"prompt\": \"2+2=\", \"completion\": \" 4\", \"extra\": 1}\r\n"));
        Assert.Equal(DataFormat.PromptCompletion, data.Format);
        Assert.Equal(new Example("2+2=", " 4"), data.Examples.Single());
    }

    [Fact]
    public void ReadsAlpacaWithAndWithoutInput()
    {
        var data = Load(temp.Write("a.json",
            "{\"instruction\": \"Add\", \"input\": \"1 2\", \"output\": \"3\"}\n{\"instruction\": \"Hi\", \"output\": \"Hello\"}\n" +
            "{\"instruction\": \"Hi\", \"input\": \"\", \"output\": \"Hey\"}"));
        Assert.Equal(DataFormat.Alpaca, data.Format);
        Assert.Equal("### Instruction:\nAdd\n\n### Input:\n1 2\n\n### Response:\n", data.Examples[0].Prompt);
        Assert.Equal("3", data.Examples[0].Completion);
        Assert.Equal("### Instruction:\nHi\n\n### Response:\n", data.Examples[1].Prompt);
        Assert.Equal(data.Examples[1].Prompt, data.Examples[2].Prompt);
    }

    [Fact]
    public void ReadsAJsonArray()
    {
        var data = Load(temp.Write("a.json", "[{\"text\": \"a\"},\n {\"text\": \"b\"}]"));
        Assert.Equal(["a", "b"], data.Examples.Select(e => e.Completion));
    }

    [Fact]
    public void ReadsGsm8kKeepingTheRawAnswer()
    {
        var data = Load(temp.Write("g.jsonl", "{\"question\": \"1+1?\", \"answer\": \"1+1=2\\n#### 2\"}"));
        Assert.Equal(DataFormat.Gsm8k, data.Format);
        Assert.Equal(new Example("Question: 1+1?\nAnswer:", " 1+1=2\n#### 2"), data.Examples.Single());
    }

    [Fact]
    public void ReadsClassificationWithLabelWords()
    {
        var data = Load(temp.Write("c.tsv", "sentence\tlabel\ngood film \t1\n\nbad film\t0\n"), labels: ["neg", "pos"]);
        Assert.Equal(DataFormat.Classification, data.Format);
        Assert.Equal(["neg", "pos"], data.Labels!);
        Assert.Equal([new Example("Review: good film\nSentiment:", " pos", 1), new Example("Review: bad film\nSentiment:", " neg", 0)],
            data.Examples);
    }

    [Fact]
    public void ReadsE2eWithGroups()
    {
        var data = Load(temp.Write("e.txt", "name : A | food : B||A serves B . \nname : A | food : B||B at A .\nname : C||C .\n"));
        Assert.Equal(DataFormat.E2e, data.Format);
        Assert.Equal(new Example("name : A | food : B\nDescription:", " A serves B .", null, "name : A | food : B"), data.Examples[0]);
        Assert.Equal(["name : A | food : B", "name : A | food : B", "name : C"], data.Examples.Select(e => e.Group));
    }

    [Fact]
    public void ReadsPlainTextWhole()
    {
        var data = Load(temp.Write("p.txt", "To be,\nor not to be.\n"));
        Assert.Equal(DataFormat.PlainText, data.Format);
        Assert.Equal("To be,\nor not to be.\n", data.PlainText);
        Assert.Empty(data.Examples);
    }

    [Fact]
    public void FormatOptionOverridesDetection()
    {
        var e2eLooking = temp.Write("e.txt", "a||b\n");
        Assert.Equal("a||b\n", Load(e2eLooking, DataFormat.PlainText).PlainText);
        var both = temp.Write("b.jsonl", "{\"text\": \"t\", \"prompt\": \"p\", \"completion\": \"c\"}");
        Assert.Equal(DataFormat.PromptCompletion, Load(both).Format);
        Assert.Equal(new Example("", "t"), Load(both, DataFormat.Text).Examples.Single());
    }

    [Fact]
    public void LimitKeepsTheFirstExamplesInFileOrder()
    {
        var data = Load(temp.Write("a.jsonl", "{\"text\": \"1\"}\n{\"text\": \"2\"}\n{\"text\": \"3\"}\nnot json"), limit: 2);
        Assert.Equal(["1", "2"], data.Examples.Select(e => e.Completion));
    }

    [Fact]
    public void HashesTheFileBytes()
    {
        var a = Load(temp.Write("a.jsonl", "{\"text\": \"1\"}\n"));
        Assert.Matches("^[0-9a-f]{64}$", a.ContentHash);
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(a.Source)));
        Assert.Equal(expected, a.ContentHash);
        Assert.NotEqual(a.ContentHash, Load(temp.Write("b.jsonl", "{\"text\": \"2\"}\n")).ContentHash);
    }

    // ---- errors ----

    [Fact]
    public void MissingFile()
    {
        var message = Error(() => Load(Path.Combine(temp.Path, "nope.jsonl")));
        Assert.Contains("nope.jsonl", message);
        Assert.Contains("no such file", message);
    }

    [Fact]
    public void UnknownSplitOfAKnownDataset() =>
        Assert.Contains("no split 'train'", Error(() => DatasetLoader.ResolveReference("e2e:train")));

    [Fact]
    public void InvalidJsonLine()
    {
        var path = temp.Write("a.jsonl", "{\"text\": \"ok\"}\n{\"text\": oops}\n");
        Assert.StartsWith($"{path}:2: not valid JSON (", Error(() => Load(path)));
    }

    [Fact]
    public void MissingField()
    {
        var path = temp.Write("a.jsonl", "{\"prompt\": \"p\", \"completion\": \"c\"}\n\n{\"prompt\": \"p\"}\n");
        Assert.Equal($"{path}:3: missing field 'completion'", Error(() => Load(path)));
    }

    [Fact]
    public void WrongFieldType()
    {
        var path = temp.Write("a.jsonl", "{\"question\": \"q\", \"answer\": 18}\n");
        Assert.Equal($"{path}:1: field 'answer' must be a string, not a number", Error(() => Load(path)));
        var notObject = temp.Write("b.jsonl", "{\"text\": \"a\"}\n[1, 2]\n");
        Assert.Equal($"{notObject}:2: expected a JSON object, not an array", Error(() => Load(notObject)));
        var item = temp.Write("c.json", "[{\"text\": \"a\"}, {\"text\": null}]");
        Assert.Equal($"{item}: item 2: field 'text' must be a string, not null", Error(() => Load(item)));
    }

    [Fact]
    public void UnknownFields()
    {
        var path = temp.Write("a.jsonl", "{\"foo\": \"x\"}\n");
        Assert.StartsWith($"{path}:1: cannot tell the format from the fields (foo)", Error(() => Load(path)));
    }

    [Fact]
    public void EmptyDataset()
    {
        foreach (var (name, content) in new[] { ("a.jsonl", "\n \n"), ("b.tsv", "sentence\tlabel\n"), ("c.txt", "  \n"), ("d.tsv", "") })
        {
            var path = temp.Write(name, content);
            Assert.StartsWith($"{path}: no examples", Error(() => Load(path, labels: name.EndsWith(".tsv") ? ["a", "b"] : null)));
        }
        var e2e = temp.Write("e.txt", "\n");
        Assert.Equal($"{e2e}: no examples", Error(() => Load(e2e, DataFormat.E2e)));
    }

    [Fact]
    public void BadTsvHeaderAndRows()
    {
        string[] labels = ["n", "p"];
        var header = temp.Write("h.tsv", "text\tclass\nfine\t1\n");
        Assert.StartsWith($"{header}:1: expected a header with tab-separated 'sentence' and 'label' columns", Error(() => Load(header, labels: labels)));
        var noTab = temp.Write("t.tsv", "sentence\tlabel\nfine\t1\nno tab here 1\n");
        Assert.StartsWith($"{noTab}:3: no tab", Error(() => Load(noTab, labels: labels)));
        var notInteger = temp.Write("i.tsv", "sentence\tlabel\n\nfine\tpositive\n");
        Assert.Equal($"{notInteger}:3: label 'positive' is not an integer", Error(() => Load(notInteger, labels: labels)));
    }

    [Fact]
    public void LabelOutsideTheLabelList()
    {
        var path = temp.Write("c.tsv", "sentence\tlabel\na\t0\nb\t2\n");
        var message = Error(() => Load(path, labels: ["n", "p"]));
        Assert.StartsWith($"{path}:3: label 2 is outside labels", message);
    }

    [Fact]
    public void ClassificationNeedsLabelsExceptForSst2()
    {
        var path = temp.Write("c.tsv", "sentence\tlabel\na\t0\n");
        Assert.Contains("needs labels", Error(() => Load(path)));
        Assert.Contains(": labels applies to classification data only", Error(() => Load(temp.Write("a.jsonl", "{\"text\": \"a\"}"), labels: ["x"])));
        Assert.Contains("appears twice", Error(() => Load(path, labels: ["x", "x"])));
    }

    [Fact]
    public void E2eLineWithoutSeparator()
    {
        var path = temp.Write("e.txt", "a||b\nno separator\n");
        Assert.Equal($"{path}:2: expected 'meaning representation||reference'", Error(() => Load(path)));
    }

    [Fact]
    public void UnknownExtensionAndBadLimit()
    {
        var path = temp.Write("a.csv", "x,y\n");
        Assert.EndsWith("name it with format", Error(() => Load(path)));
        Assert.Equal("limit must be a positive number, not 0", Error(() => Load(path, limit: 0)));
    }

    [Fact]
    public void InvalidUtf8()
    {
        var path = Path.Combine(temp.Path, "bad.txt");
        File.WriteAllBytes(path, [0x61, 0xff, 0x62]);
        Assert.Equal($"{path}: not valid UTF-8 text", Error(() => Load(path)));
    }
}
