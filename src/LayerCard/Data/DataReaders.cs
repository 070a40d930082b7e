using System.Globalization;
using System.Text.Json;
using LayerCard.Common;

namespace LayerCard.Data;

/// <summary>The per-format parsers behind <see cref="DatasetLoader"/>. Blank lines are skipped everywhere.</summary>
internal static class DataReaders
{
    /// <summary>Non-blank lines with their 1-based numbers; a trailing '\r' is dropped so CRLF files read alike.</summary>
    public static IEnumerable<(int Line, string Text)> Lines(string text)
    {
        int number = 0, start = 0;
        while (start <= text.Length)
        {
            int end = text.IndexOf('\n', start);
            if (end < 0) end = text.Length;
            number++;
            var line = text[start..end];
            if (line.EndsWith('\r')) line = line[..^1];
            if (!string.IsNullOrWhiteSpace(line)) yield return (number, line);
            start = end + 1;
        }
    }

    // ---- JSON lines (or one JSON array) ----

    /// <summary>Where a JSON record sits, for messages: "FILE:LINE" for JSON lines, "FILE: item N" in an array.</summary>
    private readonly record struct Place(string Path, int Line, int Item)
    {
        /// <summary>A refusal naming this place.</summary>
        public BadInputException Error(string problem) =>
            Item > 0 ? BadInputException.InFile(Path, $"item {Item}: {problem}") : BadInputException.AtLine(Path, Line, problem);
    }

    private static IEnumerable<(Place Place, JsonElement Record)> JsonRecords(string path, string text)
    {
        if (text.TrimStart().StartsWith('['))
        {
            // A .json file holding one array of records; JSON lines never start with '['.
            JsonElement array;
            try { using var document = JsonDocument.Parse(text); array = document.RootElement.Clone(); }
            catch (JsonException e) { throw BadInputException.InFile(path, $"not valid JSON ({OneLine(e.Message)})"); }
            int item = 0;
            foreach (var element in array.EnumerateArray()) yield return (new Place(path, 0, ++item), element);
            yield break;
        }
        foreach (var (number, line) in Lines(text))
        {
            var place = new Place(path, number, 0);
            JsonElement record;
            try { using var document = JsonDocument.Parse(line); record = document.RootElement.Clone(); }
            catch (JsonException e) { throw place.Error($"not valid JSON ({OneLine(e.Message)})"); }
            yield return (place, record);
        }
    }

    /// <summary>The JSON format the first record's fields indicate: prompt+completion, instruction+output (Alpaca), question+answer (GSM8K), or text.</summary>
    public static DataFormat DetectJson(string path, string text)
    {
        foreach (var (place, record) in JsonRecords(path, text))
        {
            RequireObject(place, record);
            bool Has(string name) => record.TryGetProperty(name, out _);
            if (Has("prompt") && Has("completion")) return DataFormat.PromptCompletion;
            if (Has("instruction") && Has("output")) return DataFormat.Alpaca;
            if (Has("question") && Has("answer")) return DataFormat.Gsm8k;
            if (Has("text")) return DataFormat.Text;
            var fields = string.Join(", ", record.EnumerateObject().Select(p => p.Name));
            throw place.Error($"cannot tell the format from the fields ({fields}): expected text, prompt+completion, " +
                              "instruction(+input)+output, question+answer, or a .json list with tripleset (DART)");
        }
        throw BadInputException.InFile(path, "no examples");
    }

    /// <summary>Reads JSON lines, or one JSON array of records, in <paramref name="format"/>, stopping after <paramref name="limit"/> examples.</summary>
    public static List<Example> Json(string path, string text, DataFormat format, int? limit)
    {
        var examples = new List<Example>();
        foreach (var (place, record) in JsonRecords(path, text))
        {
            if (examples.Count >= limit) break;
            RequireObject(place, record);
            examples.Add(format switch
            {
                DataFormat.Text => DataTemplates.Text(Field(place, record, "text")),
                DataFormat.PromptCompletion => new Example(Field(place, record, "prompt"), Field(place, record, "completion")),
                DataFormat.Alpaca => DataTemplates.Alpaca(Field(place, record, "instruction"),
                    Field(place, record, "input", optional: true), Field(place, record, "output")),
                DataFormat.Gsm8k => DataTemplates.Gsm8k(Field(place, record, "question"), Field(place, record, "answer")),
                _ => throw new ArgumentOutOfRangeException(nameof(format), format, "not a JSON format"),
            });
        }
        return examples;
    }

    private static void RequireObject(Place place, JsonElement record)
    {
        if (record.ValueKind != JsonValueKind.Object) throw place.Error($"expected a JSON object, not {Kind(record)}");
    }

    private static string Field(Place place, JsonElement record, string name, bool optional = false)
    {
        if (!record.TryGetProperty(name, out var value))
            return optional ? "" : throw place.Error($"missing field '{name}'");
        if (optional && value.ValueKind == JsonValueKind.Null) return "";
        if (value.ValueKind != JsonValueKind.String) throw place.Error($"field '{name}' must be a string, not {Kind(value)}");
        return value.GetString()!;
    }

    /// <summary>A JSON value's kind as messages say it: "an object", "an array", "a number", ...</summary>
    internal static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "a string",
    };

    /// <summary>A JsonException message on one line. Positions are relative to the single line we parsed, so its "LineNumber: 0" only misleads.</summary>
    internal static string OneLine(string message) =>
        message.Replace("LineNumber: 0 | ", "", StringComparison.Ordinal).ReplaceLineEndings(" ").Trim();

    // ---- TSV classification ----

    /// <summary>A header naming "sentence" and "label" columns (any order, other columns ignored), then rows
    /// with an integer label that indexes <paramref name="labels"/>. Sentences are trimmed: SST-2 pads them.</summary>
    public static List<Example> Classification(string path, string text, IReadOnlyList<string> labels, int? limit)
    {
        var examples = new List<Example>();
        int sentenceColumn = -1, labelColumn = -1, columns = 0;
        foreach (var (number, line) in Lines(text))
        {
            var cells = line.Split('\t');
            if (columns == 0)
            {
                var names = cells.Select(c => c.Trim().ToLowerInvariant()).ToList();
                sentenceColumn = names.IndexOf("sentence");
                labelColumn = names.IndexOf("label");
                if (sentenceColumn < 0 || labelColumn < 0)
                    throw BadInputException.AtLine(path, number,
                        $"expected a header with tab-separated 'sentence' and 'label' columns, found '{Shorten(line.Replace("\t", "\\t"))}'");
                columns = cells.Length;
                continue;
            }
            if (examples.Count >= limit) break;
            if (cells.Length != columns)
                throw BadInputException.AtLine(path, number, cells.Length == 1
                    ? $"no tab: expected {columns} tab-separated columns like the header"
                    : $"expected {columns} tab-separated columns like the header, found {cells.Length}");
            var labelText = cells[labelColumn].Trim();
            if (!int.TryParse(labelText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var label))
                throw BadInputException.AtLine(path, number, $"label '{Shorten(labelText)}' is not an integer");
            if (label < 0 || label >= labels.Count)
                throw BadInputException.Naming("labels", n =>
                    $"{path}:{number}: label {label} is outside {n("labels")} ({string.Join(",", labels)}: indexes 0 to {labels.Count - 1})");
            var sentence = cells[sentenceColumn].Trim();
            if (sentence.Length == 0) throw BadInputException.AtLine(path, number, "empty sentence");
            examples.Add(DataTemplates.Classification(sentence, label, labels));
        }
        if (columns == 0) throw BadInputException.InFile(path, "no examples");
        return examples;
    }

    // ---- E2E ----

    /// <summary>Reads "meaning representation||reference" lines, stopping after <paramref name="limit"/> examples.</summary>
    public static List<Example> E2e(string path, string text, int? limit)
    {
        var examples = new List<Example>();
        foreach (var (number, line) in Lines(text))
        {
            if (examples.Count >= limit) break;
            var bar = line.IndexOf("||", StringComparison.Ordinal);
            if (bar < 0) throw BadInputException.AtLine(path, number, "expected 'meaning representation||reference'");
            var meaning = line[..bar].Trim();
            var reference = line[(bar + 2)..].Trim();
            if (meaning.Length == 0) throw BadInputException.AtLine(path, number, "empty meaning representation before '||'");
            if (reference.Length == 0) throw BadInputException.AtLine(path, number, "empty reference after '||'");
            examples.Add(DataTemplates.E2e(meaning, reference));
        }
        return examples;
    }

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
