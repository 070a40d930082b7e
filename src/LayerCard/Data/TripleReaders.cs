using System.Text;
using System.Text.Json;
using LayerCard.Common;

namespace LayerCard.Data;

/// <summary>
/// Readers for the LoRA paper's two other GPT-2 data-to-text tasks, in their own JSON layouts: DART (a JSON list of
/// entries with "tripleset" and "annotations") and WebNLG 2017 (an object whose "entries" hold "modifiedtripleset"
/// and "lexicalisations"). As microsoft/LoRA's format converters do, the triples are linearised by
/// <see cref="DataTemplates.LineariseTriples"/> (DART relations lower-cased, WebNLG properties as written) and every
/// reference becomes one example; WebNLG keeps only the lexicalisations commented "good". The examples of a triple
/// set share it as their group, so BLEU scores against all its references and no split separates them.
/// A problem names the file and the entry, counted from 1 (as WebNLG numbers them).
/// </summary>
internal static class TripleReaders
{
    /// <summary>Where an entry sits, for messages: "FILE: entry N: ...".</summary>
    private readonly record struct Entry(string Path, int Number)
    {
        public BadInputException Error(string problem) => BadInputException.InFile(Path, $"entry {Number}: {problem}");
    }

    /// <summary>
    /// DART or WebNLG when a .json file's first tokens say so unambiguously: a list whose first item has
    /// "tripleset", or an object with "entries" whose first entry holds "modifiedtripleset"; null for anything else
    /// (including text that is not JSON, which the other readers then report). Only the start of the file is read.
    /// </summary>
    public static DataFormat? Detect(string path, string text)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(text));
        try
        {
            if (!reader.Read()) return null;
            if (reader.TokenType == JsonTokenType.StartArray)
                return reader.Read() && reader.TokenType == JsonTokenType.StartObject && SeekProperty(ref reader, "tripleset") ? DataFormat.Dart : null;
            if (reader.TokenType != JsonTokenType.StartObject || !SeekProperty(ref reader, "entries")) return null;
            // entries: [ { "1": { ..., "modifiedtripleset": ... } }, ... ]
            bool webNlg = reader.Read() && reader.TokenType == JsonTokenType.StartArray
                && reader.Read() && reader.TokenType == JsonTokenType.StartObject
                && reader.Read() && reader.TokenType == JsonTokenType.PropertyName
                && reader.Read() && reader.TokenType == JsonTokenType.StartObject
                && SeekProperty(ref reader, "modifiedtripleset");
            return webNlg ? DataFormat.WebNlg : throw BadInputException.Naming("format", n =>
                $"{path}: cannot tell the format: an object with 'entries', but its first entry holds no 'modifiedtripleset' (WebNLG); name the format with {n("format")}");
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // From a StartObject token, reads members until one is called name (true, on its PropertyName) or the object ends (false).
    private static bool SeekProperty(ref Utf8JsonReader reader, string name)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals(name)) return true;
            reader.Skip();
        }
        return false;
    }

    /// <summary>Reads DART's JSON list, one example per annotation, stopping after <paramref name="limit"/> examples.</summary>
    public static List<Example> Dart(string path, string text, int? limit)
    {
        var root = Parse(path, text);
        if (root.ValueKind != JsonValueKind.Array)
            throw BadInputException.InFile(path, $"expected DART's JSON list of entries, not {DataReaders.Kind(root)}");
        var examples = new List<Example>();
        int number = 0;
        foreach (var item in root.EnumerateArray())
        {
            if (examples.Count >= limit) break;
            var entry = new Entry(path, ++number);
            RequireObject(entry, item, "");
            var triples = NonEmptyList(entry, item, "tripleset", "");
            var linear = DataTemplates.LineariseTriples(triples.Select((t, i) => DartTriple(entry, t, i + 1)));
            var references = NonEmptyList(entry, item, "annotations", " (no references)")
                .Select((a, i) => Reference(entry, a, $"annotation {i + 1}", "text")).ToList();
            Add(examples, linear, references, limit);
        }
        return examples;
    }

    /// <summary>Reads WebNLG's "entries", one example per "good" lexicalisation, stopping after <paramref name="limit"/> examples.
    /// An entry whose lexicalisations are all commented otherwise gives no example, as the LoRA converter skips it.</summary>
    public static List<Example> WebNlg(string path, string text, int? limit)
    {
        var root = Parse(path, text);
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("entries", out var entries))
            throw BadInputException.InFile(path, $"expected WebNLG's JSON object with 'entries', not {Describe(root)}");
        if (entries.ValueKind != JsonValueKind.Array)
            throw BadInputException.InFile(path, $"'entries' must be a list, not {DataReaders.Kind(entries)}");
        var examples = new List<Example>();
        int number = 0;
        foreach (var item in entries.EnumerateArray())
        {
            if (examples.Count >= limit) break;
            var entry = new Entry(path, ++number);
            var record = Unwrap(entry, item);
            var triples = NonEmptyList(entry, record, "modifiedtripleset", "");
            var linear = DataTemplates.LineariseTriples(triples.Select((t, i) => WebNlgTriple(entry, t, i + 1)));
            var references = new List<string>();
            int index = 0;
            foreach (var lexicalisation in NonEmptyList(entry, record, "lexicalisations", " (no references)"))
            {
                var where = $"lexicalisation {++index}";
                RequireObject(entry, lexicalisation, where + ": ");
                if (Field(entry, lexicalisation, where, "comment") == "good") references.Add(Reference(entry, lexicalisation, where, "lex"));
            }
            Add(examples, linear, references, limit);
        }
        return examples;
    }

    private static void Add(List<Example> examples, string linearisedTriples, List<string> references, int? limit)
    {
        foreach (var reference in references)
        {
            if (examples.Count >= limit) return;
            examples.Add(DataTemplates.Triples(linearisedTriples, reference));
        }
    }

    // A WebNLG entry is wrapped in an object with one member named by its number: {"17": {...}}.
    private static JsonElement Unwrap(Entry entry, JsonElement item)
    {
        if (item.ValueKind != JsonValueKind.Object)
            throw entry.Error($"expected an object holding the numbered entry ({{\"{entry.Number}\": {{...}}}}), not {DataReaders.Kind(item)}");
        var members = item.EnumerateObject().ToList();
        if (members.Count != 1)
            throw entry.Error($"expected an object with one member, the numbered entry ({{\"{entry.Number}\": {{...}}}}), not {members.Count}");
        RequireObject(entry, members[0].Value, $"'{members[0].Name}': ");
        return members[0].Value;
    }

    private static (string, string, string) DartTriple(Entry entry, JsonElement triple, int index)
    {
        var what = $"triple {index} must be a list of 3 strings [subject, relation, object]";
        if (triple.ValueKind != JsonValueKind.Array) throw entry.Error($"{what}, not {DataReaders.Kind(triple)}");
        var parts = triple.EnumerateArray().ToList();
        if (parts.Count != 3) throw entry.Error($"{what}, not a list of {parts.Count}");
        var odd = parts.FindIndex(p => p.ValueKind != JsonValueKind.String);
        if (odd >= 0) throw entry.Error($"{what}; its item {odd + 1} is {DataReaders.Kind(parts[odd])}");
        // As format_converting_dart.py: the relation lower-cased (Python's str.lower, not locale-dependent).
        return (parts[0].GetString()!, parts[1].GetString()!.ToLowerInvariant(), parts[2].GetString()!);
    }

    private static (string, string, string) WebNlgTriple(Entry entry, JsonElement triple, int index)
    {
        var where = $"triple {index}";
        if (triple.ValueKind != JsonValueKind.Object)
            throw entry.Error($"{where} must be an object with 'subject', 'property' and 'object', not {DataReaders.Kind(triple)}");
        return (Field(entry, triple, where, "subject"), Field(entry, triple, where, "property"), Field(entry, triple, where, "object"));
    }

    // A reference's text, trimmed; blank text is refused as E2E's empty reference is.
    private static string Reference(Entry entry, JsonElement holder, string where, string name)
    {
        RequireObject(entry, holder, where + ": ");
        var text = Field(entry, holder, where, name).Trim();
        return text.Length > 0 ? text : throw entry.Error($"{where}: '{name}' is empty");
    }

    private static List<JsonElement> NonEmptyList(Entry entry, JsonElement record, string name, string emptyMeans)
    {
        if (!record.TryGetProperty(name, out var value)) throw entry.Error($"missing field '{name}'");
        if (value.ValueKind != JsonValueKind.Array) throw entry.Error($"field '{name}' must be a list, not {DataReaders.Kind(value)}");
        var items = value.EnumerateArray().ToList();
        return items.Count > 0 ? items : throw entry.Error($"'{name}' is empty{emptyMeans}");
    }

    private static string Field(Entry entry, JsonElement record, string where, string name)
    {
        if (!record.TryGetProperty(name, out var value)) throw entry.Error($"{where}: missing field '{name}'");
        if (value.ValueKind != JsonValueKind.String) throw entry.Error($"{where}: field '{name}' must be a string, not {DataReaders.Kind(value)}");
        return value.GetString()!;
    }

    private static void RequireObject(Entry entry, JsonElement value, string prefix)
    {
        if (value.ValueKind != JsonValueKind.Object) throw entry.Error($"{prefix}expected a JSON object, not {DataReaders.Kind(value)}");
    }

    private static string Describe(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) return DataReaders.Kind(root);
        var names = root.EnumerateObject().Select(p => $"'{p.Name}'").ToList();
        return names.Count == 0 ? "an object with no fields"
            : $"an object with {string.Join(", ", names.Take(5))}{(names.Count > 5 ? $" and {names.Count - 5} more" : "")}";
    }

    private static JsonElement Parse(string path, string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw BadInputException.InFile(path, $"not valid JSON ({DataReaders.OneLine(e.Message)})");
        }
    }
}
