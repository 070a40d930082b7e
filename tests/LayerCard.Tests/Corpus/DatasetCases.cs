using static LayerCard.Tests.Corpus.CorpusFiles;
using static LayerCard.Tests.Corpus.TrainingCorpusFiles;

namespace LayerCard.Tests.Corpus;

/// <summary>
/// Data files that are broken, in every format `train` and `eval` read: JSON lines (text, prompt+completion,
/// alpaca, gsm8k), TSV classification, E2E, DART, WebNLG and plain text; and data references that name nothing.
/// Each refusal names the file and, where there is one, the line (the entry for DART and WebNLG).
/// </summary>
public static class DatasetCases
{
    private static readonly string Good = PromptCompletion("after a comes", " b");

    /// <summary>`train` on a file of the given lines.</summary>
    private static BadInputCase Data(string name, string file, string[] lines, string fragment, params string[] extra) =>
        new(name, root => Train(root, Lines(root, file, lines), extra), fragment, file);

    private static BadInputCase Bytes(string name, string file, byte[] bytes, string fragment, params string[] extra) =>
        new(name, root => Train(root, WriteFile(root, file, bytes), extra), fragment, file);

    // DART: a JSON list of entries; WebNLG: {"entries": [{"N": {...}}]}. Each builds one valid entry to break.
    private static string DartEntry(string tripleset = "[[\"Aarhus\", \"LEADER\", \"Jacob\"]]", string annotations = "[{\"source\": \"e2e\", \"text\": \"Jacob leads Aarhus.\"}]") =>
        $"{{\"tripleset\": {tripleset}, \"annotations\": {annotations}}}";

    private static string[] DartFile(params string[] entries) => ["[", string.Join(",\n", entries), "]"];

    private static string WebNlgEntry(int number, string triples = "[{\"subject\": \"Aarhus\", \"property\": \"leaderName\", \"object\": \"Jacob\"}]",
        string lexicalisations = "[{\"comment\": \"good\", \"lex\": \"Jacob leads Aarhus.\"}]") =>
        $"{{\"{number}\": {{\"category\": \"City\", \"modifiedtripleset\": {triples}, \"lexicalisations\": {lexicalisations}}}}}";

    private static string[] WebNlgFile(params string[] entries) => ["{\"entries\": [", string.Join(",\n", entries), "]}"];

    public static IEnumerable<BadInputCase> Cases =>
    [
        // ---- JSON lines ----
        Data("jsonl-line-not-json", "data.jsonl", [Good, "{\"prompt\": \"after b comes\", "], "data.jsonl:2: not valid JSON"),
        Data("jsonl-line-plain-words", "data.jsonl", [Good, Good, "after c comes d"], "data.jsonl:3: not valid JSON"),
        Data("jsonl-missing-completion", "data.jsonl", [Good, Good, "{\"prompt\": \"after c comes\"}"], "data.jsonl:3: missing field 'completion'"),
        Data("jsonl-completion-is-number", "data.jsonl", [Good, "{\"prompt\": \"after c comes\", \"completion\": 4}"],
            "data.jsonl:2: field 'completion' must be a string, not a number"),
        Data("jsonl-prompt-is-object", "data.jsonl", [Good, "{\"prompt\": {\"text\": \"x\"}, \"completion\": \" d\"}"],
            "data.jsonl:2: field 'prompt' must be a string, not an object"),
        Data("jsonl-text-is-null", "data.jsonl", ["{\"text\": \"once upon a time\"}", "{\"text\": null}"],
            "data.jsonl:2: field 'text' must be a string, not null"),
        Data("jsonl-array-line", "data.jsonl", [Good, "[\"after c comes\", \" d\"]"], "data.jsonl:2: expected a JSON object, not an array"),
        Data("jsonl-string-line", "data.jsonl", [Good, "\"after c comes d\""], "data.jsonl:2: expected a JSON object, not a string"),
        Data("json-array-of-arrays", "data.json", ["[[\"after a comes\", \" b\"]]"], "data.json: item 1: expected a JSON object, not an array"),
        Data("json-array-truncated", "data.json", ["[" + Good + ","], "data.json: not valid JSON"),
        Data("jsonl-unknown-fields", "data.jsonl", ["{\"input\": \"after a comes\", \"target\": \" b\"}"], "cannot tell the format from the fields (input, target)"),
        Data("jsonl-empty-file", "data.jsonl", [], "data.jsonl: no examples"),
        Data("jsonl-only-blank-lines", "data.jsonl", ["", "   ", "\t", ""], "data.jsonl: no examples"),
        Bytes("jsonl-invalid-utf8", "data.jsonl", [.. "{\"text\": \"caf"u8, 0xC3, 0x28, .. "\"}\n"u8], "not valid UTF-8"),
        Bytes("jsonl-latin1", "data.jsonl", [.. "{\"prompt\": \"na"u8, 0xEF, .. "ve\", \"completion\": \" x\"}\n"u8], "not valid UTF-8"),
        Data("alpaca-without-output", "alpaca.jsonl", ["{\"instruction\": \"Name a colour.\", \"input\": \"\"}"], "alpaca.jsonl:1: missing field 'output'",
            "--format", "alpaca"),
        Data("alpaca-input-is-list", "alpaca.jsonl", ["{\"instruction\": \"Add.\", \"input\": [1, 2], \"output\": \"3\"}"],
            "alpaca.jsonl:1: field 'input' must be a string, not an array"),
        Data("gsm8k-without-answer", "gsm8k.jsonl", ["{\"question\": \"What is 2+2?\", \"answer\": \"#### 4\"}", "{\"question\": \"What is 3+3?\"}"],
            "gsm8k.jsonl:2: missing field 'answer'"),
        Data("gsm8k-answer-is-number", "gsm8k.jsonl", ["{\"question\": \"What is 2+2?\", \"answer\": 4}"],
            "gsm8k.jsonl:1: field 'answer' must be a string, not a number", "--format", "gsm8k"),
        Data("text-format-on-prompt-data", "data.jsonl", [Good], "data.jsonl:1: missing field 'text'", "--format", "text"),

        // ---- TSV classification ----
        Data("tsv-without-header", "data.tsv", ["a fine film\t1", "a dull film\t0"], "data.tsv:1: expected a header with tab-separated 'sentence' and 'label' columns",
            "--labels", "negative,positive"),
        Data("tsv-header-without-label", "data.tsv", ["sentence\tscore", "a fine film\t1"], "data.tsv:1: expected a header with tab-separated 'sentence' and 'label'",
            "--labels", "negative,positive"),
        Data("tsv-row-without-tab", "data.tsv", ["sentence\tlabel", "a fine film\t1", "a dull film 0"], "data.tsv:3: no tab",
            "--labels", "negative,positive"),
        Data("tsv-row-extra-column", "data.tsv", ["sentence\tlabel", "a fine film\t1\textra"], "data.tsv:2: expected 2 tab-separated columns like the header, found 3",
            "--labels", "negative,positive"),
        Data("tsv-label-not-integer", "data.tsv", ["sentence\tlabel", "a fine film\tpositive"], "data.tsv:2: label 'positive' is not an integer",
            "--labels", "negative,positive"),
        Data("tsv-label-outside-labels", "data.tsv", ["sentence\tlabel", "a fine film\t1", "a dull film\t2"], "data.tsv:3: label 2 is outside --labels",
            "--labels", "negative,positive"),
        Data("tsv-label-negative", "data.tsv", ["sentence\tlabel", "a fine film\t-1"], "data.tsv:2: label -1 is outside --labels",
            "--labels", "negative,positive"),
        Data("tsv-empty-sentence", "data.tsv", ["sentence\tlabel", " \t1"], "data.tsv:2: empty sentence", "--labels", "negative,positive"),
        Data("tsv-without-labels-option", "data.tsv", ["sentence\tlabel", "a fine film\t1"], "classification data needs --labels"),
        Data("tsv-header-only", "data.tsv", ["sentence\tlabel"], "data.tsv: no examples", "--labels", "negative,positive"),
        Data("tsv-empty-file", "data.tsv", [], "data.tsv: no examples", "--labels", "negative,positive"),
        Data("labels-on-json-data", "data.jsonl", [Good], "--labels applies to classification data only", "--labels", "negative,positive"),
        new("labels-duplicate", root => Train(root, Lines(root, "data.tsv", "sentence\tlabel", "a fine film\t1"), "--labels", "good,good"),
            "--labels: 'good' appears twice"),
        new("labels-empty-word", root => Train(root, Lines(root, "data.tsv", "sentence\tlabel", "a fine film\t1"), "--labels", ","),
            "--labels: give the label words"),

        // ---- E2E ----
        Data("e2e-line-without-bars", "e2e.txt", ["name[Alimentum], food[Thai]||Alimentum serves Thai food.", "name[Aromi], food[Thai] Aromi serves Thai."],
            "e2e.txt:2: expected 'meaning representation||reference'"),
        Data("e2e-empty-reference", "e2e.txt", ["name[Alimentum], food[Thai]||Alimentum serves Thai food.", "name[Aromi]||   "],
            "e2e.txt:2: empty reference after '||'"),
        Data("e2e-empty-meaning", "e2e.txt", ["||Alimentum serves Thai food."], "e2e.txt:1: empty meaning representation", "--format", "e2e"),
        Data("e2e-format-on-plain-text", "story.txt", ["Once upon a time there was a cat."], "story.txt:1: expected 'meaning representation||reference'", "--format", "e2e"),

        // ---- DART ----
        Data("dart-empty-tripleset", "dev.json", DartFile(DartEntry(), DartEntry(tripleset: "[]")), "dev.json: entry 2: 'tripleset' is empty"),
        Data("dart-missing-tripleset", "dev.json", DartFile(DartEntry(), "{\"annotations\": []}"), "dev.json: entry 2: missing field 'tripleset'", "--format", "dart"),
        Data("dart-tripleset-is-string", "dev.json", DartFile(DartEntry(tripleset: "\"Aarhus : leader : Jacob\"")),
            "dev.json: entry 1: field 'tripleset' must be a list, not a string"),
        Data("dart-triple-of-two", "dev.json", DartFile(DartEntry(), DartEntry(), DartEntry(tripleset: "[[\"a\", \"B\", \"c\"], [\"a\", \"B\"]]")),
            "dev.json: entry 3: triple 2 must be a list of 3 strings [subject, relation, object], not a list of 2"),
        Data("dart-triple-with-number", "dev.json", DartFile(DartEntry(tripleset: "[[\"Aarhus\", \"FOUNDED\", 1160]]")),
            "dev.json: entry 1: triple 1 must be a list of 3 strings [subject, relation, object]; its item 3 is a number"),
        Data("dart-triple-is-object", "dev.json", DartFile(DartEntry(tripleset: "[{\"subject\": \"a\"}]")),
            "dev.json: entry 1: triple 1 must be a list of 3 strings [subject, relation, object], not an object"),
        Data("dart-no-annotations", "dev.json", DartFile(DartEntry(), DartEntry(annotations: "[]")), "dev.json: entry 2: 'annotations' is empty (no references)"),
        Data("dart-missing-annotations", "dev.json", DartFile("{\"tripleset\": [[\"a\", \"B\", \"c\"]]}"), "dev.json: entry 1: missing field 'annotations'"),
        Data("dart-annotation-text-is-number", "dev.json", DartFile(DartEntry(annotations: "[{\"source\": \"e2e\", \"text\": \"A.\"}, {\"source\": \"e2e\", \"text\": 7}]")),
            "dev.json: entry 1: annotation 2: field 'text' must be a string, not a number"),
        Data("dart-annotation-blank-text", "dev.json", DartFile(DartEntry(annotations: "[{\"source\": \"e2e\", \"text\": \"  \"}]")),
            "dev.json: entry 1: annotation 1: 'text' is empty"),
        Data("dart-entry-is-array", "dev.json", DartFile(DartEntry(), "[[\"a\", \"B\", \"c\"]]"), "dev.json: entry 2: expected a JSON object, not an array", "--format", "dart"),
        Data("dart-format-on-jsonl", "data.jsonl", [Good, Good], "data.jsonl: not valid JSON", "--format", "dart"),
        Data("dart-format-on-one-record", "data.json", [Good], "data.json: expected DART's JSON list of entries, not an object", "--format", "dart"),
        Data("dart-format-on-object", "dev.json", WebNlgFile(WebNlgEntry(1)), "dev.json: expected DART's JSON list of entries, not an object", "--format", "dart"),
        Data("dart-truncated", "dev.json", ["[", DartEntry() + ","], "dev.json: not valid JSON"),
        Data("dart-one-triple-set-cannot-hold-out", "dev.json",
            DartFile(DartEntry(annotations: "[{\"text\": \"Jacob leads Aarhus.\"}, {\"text\": \"Aarhus is led by Jacob.\"}, {\"text\": \"Jacob is Aarhus's leader.\"}]")),
            "dev.json: cannot hold out 10%: the data has only one group of examples"),

        // ---- WebNLG ----
        Data("webnlg-empty-modifiedtripleset", "dev.json", WebNlgFile(WebNlgEntry(1), WebNlgEntry(2, triples: "[]")), "dev.json: entry 2: 'modifiedtripleset' is empty"),
        Data("webnlg-triple-missing-property", "dev.json", WebNlgFile(WebNlgEntry(1, triples: "[{\"subject\": \"Aarhus\", \"object\": \"Jacob\"}]")),
            "dev.json: entry 1: triple 1: missing field 'property'"),
        Data("webnlg-triple-is-list", "dev.json", WebNlgFile(WebNlgEntry(1), WebNlgEntry(2, triples: "[[\"Aarhus\", \"leaderName\", \"Jacob\"]]")),
            "dev.json: entry 2: triple 1 must be an object with 'subject', 'property' and 'object', not an array"),
        Data("webnlg-no-lexicalisations", "dev.json", WebNlgFile(WebNlgEntry(1), WebNlgEntry(2), WebNlgEntry(3, lexicalisations: "[]")),
            "dev.json: entry 3: 'lexicalisations' is empty (no references)"),
        Data("webnlg-lex-is-number", "dev.json", WebNlgFile(WebNlgEntry(1, lexicalisations: "[{\"comment\": \"good\", \"lex\": 12}]")),
            "dev.json: entry 1: lexicalisation 1: field 'lex' must be a string, not a number"),
        Data("webnlg-missing-comment", "dev.json", WebNlgFile(WebNlgEntry(1, lexicalisations: "[{\"comment\": \"good\", \"lex\": \"A.\"}, {\"lex\": \"B.\"}]")),
            "dev.json: entry 1: lexicalisation 2: missing field 'comment'"),
        Data("webnlg-entry-with-two-members", "dev.json", WebNlgFile(WebNlgEntry(1), "{\"2\": {}, \"3\": {}}"),
            "dev.json: entry 2: expected an object with one member, the numbered entry ({\"2\": {...}}), not 2", "--format", "webnlg"),
        Data("webnlg-entry-is-string", "dev.json", WebNlgFile(WebNlgEntry(1), "\"Aarhus\""),
            "dev.json: entry 2: expected an object holding the numbered entry", "--format", "webnlg"),
        Data("webnlg-entries-not-a-list", "dev.json", ["{\"entries\": {\"1\": {}}}"], "dev.json: 'entries' must be a list, not an object", "--format", "webnlg"),
        Data("webnlg-format-without-entries", "dev.json", ["{\"data\": []}"], "dev.json: expected WebNLG's JSON object with 'entries', not an object with 'data'",
            "--format", "webnlg"),
        Data("webnlg-only-tofix", "dev.json", WebNlgFile(WebNlgEntry(1, lexicalisations: "[{\"comment\": \"toFix\", \"lex\": \"Jacob lead Aarhus.\"}]")),
            "dev.json: no examples"),
        Data("webnlg-entries-of-another-layout", "dev.json", ["{\"entries\": [{\"1\": {\"triples\": []}}]}"],
            "dev.json: cannot tell the format: an object with 'entries', but its first entry holds no 'modifiedtripleset' (WebNLG); name the format with --format"),

        // ---- plain text ----
        Bytes("plain-too-short", "story.txt", "a"u8.ToArray(), "story.txt: the text is only 1 token(s)", "--holdout", "0"),
        Bytes("plain-too-short-to-hold-out", "story.txt", "a"u8.ToArray(), "story.txt: too little text to hold out 10%"),
        Data("plain-one-line-after-hold-out", "story.txt", ["a"], "story.txt: the text is only 1 token(s)"),
        Data("plain-only-blank-lines", "story.txt", ["", "  ", ""], "story.txt: no examples"),

        // ---- tokenization and splitting ----
        new("every-prompt-longer-than-max-length", root =>
            Train(root, Lines(root, "long.jsonl", [.. Enumerable.Range(0, 6).Select(i => PromptCompletion(new string((char)('a' + i), 40), " z"))]), "--max-length", "16"),
            "every example was dropped at --max-length 16", "long.jsonl"),
        Data("one-example-cannot-hold-out", "one.jsonl", [Good], "one.jsonl: cannot hold out 10%: the data has only one example"),
        new("holdout-above-one", root => TrainValid(root, "--holdout", "1.5"), "--holdout must be at least 0 and below 1, got 1.5"),
        new("max-length-one", root => TrainValid(root, "--max-length", "1"), "--max-length must be at least 2"),
        new("limit-zero", root => TrainValid(root, "--limit", "0"), "--limit must be a positive number"),

        // ---- references that name nothing ----
        new("unknown-format", root => TrainValid(root, "--format", "csv"), "--format csv: expected text, prompt-completion"),
        new("unknown-extension", root => Train(root, Lines(root, "data.csv", "sentence,label", "good,1")), "cannot tell the data format from the extension '.csv'", "data.csv"),
        new("data-is-a-folder", root => Train(root, Directory.CreateDirectory(Path.Combine(root, "datadir")).FullName), "is a folder", "datadir"),
        new("data-missing-file", root => Train(root, Path.Combine(root, "nope.jsonl")), "no such file, and not a known dataset", "nope.jsonl"),
        new("unknown-dataset-name", root => Train(root, "imdb"), "imdb: no such file, and not a known dataset (sst2"),
        new("unknown-dart-split", root => Train(root, "dart:train"), "--data dart:train: dart has no split 'train' (it has dev)"),
        new("unknown-split", root => Train(root, "sst2:nope"), "--data sst2:nope: sst2 has no split 'nope' (it has train, dev, test)"),
        new("eval-data-bad-line", root => TrainValid(root, "--eval-data", Lines(root, "valid.jsonl", Good, "{\"prompt\": 1, \"completion\": \" x\"}")),
            "valid.jsonl:2: field 'prompt' must be a string, not a number", "valid.jsonl"),
        new("eval-data-missing", root => TrainValid(root, "--eval-data", Path.Combine(root, "valid.jsonl")), "no such file", "valid.jsonl"),
        new("eval-command-bad-line", root => Eval(root, Lines(root, "test.jsonl", Good, "not json")), "test.jsonl:2: not valid JSON", "test.jsonl"),
        new("eval-command-tsv-bad-label", root => Eval(root, Lines(root, "test.tsv", "sentence\tlabel", "fine\t7"), "--labels", "negative,positive"),
            "test.tsv:2: label 7 is outside --labels", "test.tsv"),
    ];
}
