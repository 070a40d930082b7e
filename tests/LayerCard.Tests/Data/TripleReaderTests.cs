using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Evaluation;

namespace LayerCard.Tests.Data;

/// <summary>The DART and WebNLG readers on small files: linearisation, grouping, "good" references, limits, detection.</summary>
public sealed class TripleReaderTests : IDisposable
{
    private readonly TempFolder temp = new();
    public void Dispose() => temp.Dispose();

    private static TaskDataset Load(string path, DataFormat format = DataFormat.Auto, int? limit = null) =>
        DatasetLoader.Load(path, new DataOptions(format, Limit: limit));

    private static string Error(Action load) => Assert.Throws<BadInputException>(load).Message;

    private const string Dart = """
        [
          {"tripleset": [["Mars Hill College", "JOINED", "1973"], ["Mars Hill College", "LOCATION", "Mars Hill, North Carolina"]],
           "subtree_was_extended": true,
           "annotations": [{"source": "WikiSQL_decl_sents", "text": "A school from Mars Hill, North Carolina, joined in 1973. "},
                           {"source": "e2e", "text": "Mars Hill College joined in 1973."}]},
          {"tripleset": [["Newberry College", "NICKNAME", "Wolves"]],
           "annotations": [{"source": "WikiSQL_decl_sents", "text": "Newberry College's nickname is the wolves."}]},
          {"tripleset": [["Mars Hill College", "joined", "1973"], ["Mars Hill College", "location", "Mars Hill, North Carolina"]],
           "annotations": [{"source": "webnlg", "text": "In 1973 Mars Hill College joined."}]}
        ]
        """;

    private const string WebNlg = """
        {"entries": [
          {"1": {"category": "Airport", "modifiedtripleset": [{"object": "Jacob_Bundsgaard", "property": "leaderName", "subject": "Aarhus"}],
                 "lexicalisations": [{"comment": "good", "lang": "", "lex": "The leader of Aarhus is Jacob Bundsgaard.", "xml_id": "Id1"}]}},
          {"2": {"category": "Building", "modifiedtripleset": [{"object": "Brazilians_in_Japan", "property": "ethnicGroup", "subject": "Japan"}],
                 "lexicalisations": [{"comment": "toFix", "lang": "", "lex": "One of the ethnic groups in Japan in the Brazilians.", "xml_id": "Id1"}]}},
          {"3": {"category": "Airport",
                 "modifiedtripleset": [{"object": "2702.0", "property": "runwayLength", "subject": "Aarhus_Airport"},
                                       {"object": "\"Aarhus Airport\"", "property": "officialName", "subject": "Aarhus_Airport"}],
                 "lexicalisations": [{"comment": "good", "lex": "Aarhus Airport's runway length is 2702.0."},
                                     {"comment": "toFix", "lex": "Aarhus Airport runway length 2702.0"},
                                     {"comment": "good", "lex": " The Aarhus Airport has a runway length of 2702.0."}]}}
        ]}
        """;

    [Fact]
    public void DartLinearisesTriplesAsTheLoraConverterWithRelationsLowerCased()
    {
        var data = Load(temp.Write("dart.json", Dart));
        Assert.Equal(DataFormat.Dart, data.Format);
        const string triples = "Mars Hill College : joined : 1973 | Mars Hill College : location : Mars Hill, North Carolina";
        Assert.Equal(new Example(triples + "\nDescription:", " A school from Mars Hill, North Carolina, joined in 1973.", null, triples), data.Examples[0]);
    }

    [Fact]
    public void DartGivesOneExamplePerAnnotationAndGroupsByTheTripleSet()
    {
        var data = Load(temp.Write("dart.json", Dart));
        Assert.Equal(4, data.Examples.Count);
        Assert.Equal(" Mars Hill College joined in 1973.", data.Examples[1].Completion);
        Assert.Equal(data.Examples[0].Group, data.Examples[1].Group);
        Assert.Equal("Newberry College : nickname : Wolves", data.Examples[2].Group);
        // The third entry repeats the first triple set (relations differing only in case): one group, as LoRA's
        // decoder keys references by the linearised context.
        Assert.Equal(data.Examples[0].Group, data.Examples[3].Group);
        Assert.Equal(2, data.Examples.Select(e => e.Group).Distinct().Count());
    }

    [Fact]
    public void WebNlgKeepsGoodLexicalisationsAndTheTriplesAsWritten()
    {
        var data = Load(temp.Write("dev.json", WebNlg));
        Assert.Equal(DataFormat.WebNlg, data.Format);
        Assert.Equal(new Example("Aarhus : leaderName : Jacob_Bundsgaard\nDescription:", " The leader of Aarhus is Jacob Bundsgaard.", null,
            "Aarhus : leaderName : Jacob_Bundsgaard"), data.Examples[0]);
        // Entry 2 has only a "toFix" lexicalisation and gives nothing; entry 3 gives its two "good" ones.
        Assert.Equal(3, data.Examples.Count);
        const string airport = "Aarhus_Airport : runwayLength : 2702.0 | Aarhus_Airport : officialName : \"Aarhus Airport\"";
        Assert.Equal([airport, airport], data.Examples.Skip(1).Select(e => e.Group));
        Assert.Equal([" Aarhus Airport's runway length is 2702.0.", " The Aarhus Airport has a runway length of 2702.0."],
            data.Examples.Skip(1).Select(e => e.Completion));
        Assert.DoesNotContain(data.Examples, e => e.Prompt.Contains("Japan", StringComparison.Ordinal));
    }

    [Fact]
    public void LinearisationJoinsTriplesWithBars()
    {
        Assert.Equal("a : b : c", DataTemplates.LineariseTriples([("a", "b", "c")]));
        Assert.Equal("a : b : c | d : e : f", DataTemplates.LineariseTriples([("a", "b", "c"), ("d", "e", "f")]));
    }

    [Fact]
    public void LimitStopsInsideAnEntry()
    {
        Assert.Single(Load(temp.Write("dart.json", Dart), limit: 1).Examples);
        Assert.Equal(3, Load(temp.Write("dart.json", Dart), limit: 3).Examples.Count);
        Assert.Equal(2, Load(temp.Write("web.json", WebNlg), limit: 2).Examples.Count);
    }

    [Fact]
    public void DetectionReadsTheJsonLayout()
    {
        Assert.Equal(DataFormat.Dart, DatasetLoader.Detect("d.json", Dart));
        Assert.Equal(DataFormat.WebNlg, DatasetLoader.Detect("w.json", WebNlg));
        // Other .json layouts keep their detection: an array of records, and JSON lines.
        Assert.Equal(DataFormat.PromptCompletion, DatasetLoader.Detect("p.json", "[{\"prompt\": \"a\", \"completion\": \" b\"}]"));
        Assert.Equal(DataFormat.Text, DatasetLoader.Detect("t.json", "{\"text\": \"a\"}\n{\"text\": \"entries\"}\n"));
        // An object with "entries" that are not WebNLG's is refused rather than guessed.
        var unclear = Error(() => DatasetLoader.Detect("x.json", "{\"entries\": [{\"1\": {\"triples\": []}}]}"));
        Assert.Contains("x.json: cannot tell the format", unclear);
        Assert.Contains("'modifiedtripleset'", unclear);
    }

    [Fact]
    public void FormatOptionReadsAnyExtension()
    {
        var data = Load(temp.Write("dart.txt", Dart), DataFormat.Dart);
        Assert.Equal(4, data.Examples.Count);
        Assert.Equal(DataFormat.WebNlg, DataFormats.Parse("WebNLG", "--format"));
        Assert.Equal(DataFormat.WebNlg, DataFormats.Parse("web-nlg", "--format"));
        Assert.Equal(DataFormat.Dart, DataFormats.Parse("dart", "--format"));
    }

    [Fact]
    public void DataToTextIsScoredByBleu()
    {
        Assert.Equal(TaskMetric.Bleu, TaskEvaluation.DefaultMetric(DataFormat.Dart));
        Assert.Equal(TaskMetric.Bleu, TaskEvaluation.DefaultMetric(DataFormat.WebNlg));
    }

    [Fact]
    public void RefusalsNameTheFileAndTheEntry()
    {
        var dart = temp.Write("dev.json", """[{"tripleset": [["a", "B", "c"]], "annotations": [{"text": "x"}]}, {"tripleset": [], "annotations": []}]""");
        Assert.Equal($"{dart}: entry 2: 'tripleset' is empty", Error(() => Load(dart)));
        var webNlg = temp.Write("web.json", """{"entries": [{"1": {"modifiedtripleset": [{"subject": "a", "property": "b", "object": 3}], "lexicalisations": []}}]}""");
        Assert.Equal($"{webNlg}: entry 1: triple 1: field 'object' must be a string, not a number", Error(() => Load(webNlg)));
        var noGood = temp.Write("none.json", """{"entries": [{"1": {"modifiedtripleset": [{"subject": "a", "property": "b", "object": "c"}], "lexicalisations": [{"comment": "toFix", "lex": "x"}]}}]}""");
        Assert.Equal($"{noGood}: no examples", Error(() => Load(noGood)));
    }
}
