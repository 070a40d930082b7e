namespace LayerCard.Data;

/// <summary>
/// One training or evaluation pair. The model sees <see cref="Prompt"/> and learns (or is scored on)
/// <see cref="Completion"/>; the two are tokenized separately so the loss can be restricted to the completion.
/// </summary>
/// <param name="Label">The class index for classification data (an index into <see cref="TaskDataset.Labels"/>).</param>
/// <param name="Group">Examples that share an input, e.g. the E2E meaning representation: BLEU scores a
/// generation against every reference of its group, and the held-out split never separates a group.</param>
public sealed record Example(string Prompt, string Completion, int? Label = null, string? Group = null);

/// <summary>
/// How a data file is read. <see cref="Auto"/> picks from the extension and, for JSON, from the fields of the
/// first record. The prompt templates live in <see cref="DataTemplates"/>.
/// </summary>
public enum DataFormat
{
    /// <summary>Decide from the file: the extension, and for JSON the fields of the first record.</summary>
    Auto,
    /// <summary>JSON records with "text": an empty prompt and the text as completion (every token is trained).</summary>
    Text,
    /// <summary>JSON records with "prompt" and "completion", used verbatim.</summary>
    PromptCompletion,
    /// <summary>JSON records with "instruction", optional "input", and "output".</summary>
    Alpaca,
    /// <summary>JSON records with "question" and "answer" (the answer ends with "#### final").</summary>
    Gsm8k,
    /// <summary>A TSV file with a "sentence" and an integer "label" column; label words come from the options.</summary>
    Classification,
    /// <summary>Text lines "meaning representation||reference".</summary>
    E2e,
    /// <summary>DART's JSON list of entries, each with a "tripleset" of [subject, relation, object] and "annotations" ({source, text} references).</summary>
    Dart,
    /// <summary>WebNLG 2017's JSON object whose "entries" hold a "modifiedtripleset" of {subject, property, object} and "lexicalisations" (the "good" ones are the references).</summary>
    WebNlg,
    /// <summary>The whole file is one document, cut into windows at tokenization.</summary>
    PlainText,
}

/// <summary>How a data file is read: its format, its label words, and how many examples to keep.</summary>
/// <param name="Labels">Label words in index order for classification (the sst2 asset defaults to negative, positive).</param>
/// <param name="Limit">Keep only the first N examples in file order (eval); runs limit their parts in <see cref="DataPlan"/> instead.</param>
public sealed record DataOptions(
    DataFormat Format = DataFormat.Auto,
    IReadOnlyList<string>? Labels = null,
    int? Limit = null);

/// <summary>
/// The prompt templates. They end without a trailing space and the completions start with one, so that the
/// boundary between prompt and completion falls where a word tokenizer puts it (" positive" is one token).
/// </summary>
public static class DataTemplates
{
    /// <summary>"Review: {sentence}\nSentiment:" → " {label word}".</summary>
    public static Example Classification(string sentence, int label, IReadOnlyList<string> labels) =>
        new($"Review: {sentence}\nSentiment:", " " + labels[label], label);

    /// <summary>"Question: {question}\nAnswer:" → " {answer}", the raw answer with its "#### final" line.</summary>
    public static Example Gsm8k(string question, string answer) => new($"Question: {question}\nAnswer:", " " + answer);

    /// <summary>The Stanford Alpaca layout; the input block is left out when the input is empty.</summary>
    public static Example Alpaca(string instruction, string input, string output) =>
        new(string.IsNullOrWhiteSpace(input)
                ? $"### Instruction:\n{instruction}\n\n### Response:\n"
                : $"### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
            output);

    /// <summary>"{mr}\nDescription:" → " {reference}", grouped by the meaning representation.</summary>
    public static Example E2e(string meaningRepresentation, string reference) =>
        new($"{meaningRepresentation}\nDescription:", " " + reference, null, meaningRepresentation);

    /// <summary>
    /// A triple set as the LoRA paper's DART and WebNLG converters write it: "subject : relation : object" for each
    /// triple, joined by " | ", every part as given.
    /// </summary>
    public static string LineariseTriples(IEnumerable<(string Subject, string Relation, string Object)> triples) =>
        string.Join(" | ", triples.Select(t => $"{t.Subject} : {t.Relation} : {t.Object}"));

    /// <summary>The E2E template on a linearised triple set (DART, WebNLG): "{triples}\nDescription:" → " {reference}", grouped by the triple set.</summary>
    public static Example Triples(string linearisedTriples, string reference) => E2e(linearisedTriples, reference);

    /// <summary>Language modelling on the whole text: nothing is given, everything is predicted.</summary>
    public static Example Text(string text) => new("", text);
}
