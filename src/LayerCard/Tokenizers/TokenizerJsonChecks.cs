using System.Text.Json;
using LayerCard.Common;

namespace LayerCard.Tokenizers;

/// <summary>
/// Refusals for tokenizer.json content that the Rust tokenizers library (0.22.2, bundled by Tokenizers.DotNet 1.4.1)
/// does not reject but panics on, at load or later when encoding or decoding. A Rust panic crosses the P/Invoke
/// boundary as an abort of the whole process, with no exception to catch, so such files are refused here before
/// the library sees them, each with a one-line message naming the section.
/// </summary>
internal static class TokenizerJsonChecks
{
    /// <summary>
    /// The tokenizers library re-parses some sections (e.g. the decoder) through an intermediate value and unwraps
    /// the result, so a number serde_json cannot hold (1e400) there is a Rust panic that aborts the whole process
    /// rather than an error; such numbers are refused here, wherever they are.
    /// </summary>
    public static void RefuseNumbersOutOfRange(string path, JsonElement root)
    {
        var pending = new Stack<JsonElement>([root]);
        while (pending.TryPop(out var element))
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject()) pending.Push(property.Value);
                    break;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray()) pending.Push(item);
                    break;
                case JsonValueKind.Number when !element.TryGetDouble(out var value) || !double.IsFinite(value):
                    throw BadInputException.InFile(path, $"number {Short(element.GetRawText())} is out of range");
            }
        }
    }

    /// <summary>
    /// The library's BPE builder cuts continuing_subword_prefix off each merge's second part by byte length without
    /// checking it, so a second part shorter than the prefix (or split mid-character) is a panic that aborts the process.
    /// </summary>
    public static void RefuseMergesShorterThanPrefix(string path, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object
            || !model.TryGetProperty("continuing_subword_prefix", out var prefixElement) || prefixElement.ValueKind != JsonValueKind.String
            || !model.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
            return;
        int prefix = System.Text.Encoding.UTF8.GetByteCount(prefixElement.GetString()!);
        if (prefix == 0) return;
        foreach (var merge in merges.EnumerateArray())
        {
            string? second = merge.ValueKind switch
            {
                JsonValueKind.String when merge.GetString()!.Split(' ') is [_, var b] => b,
                JsonValueKind.Array when merge.GetArrayLength() == 2 && merge[1].ValueKind == JsonValueKind.String => merge[1].GetString(),
                _ => null,
            };
            if (second == null) continue;
            var bytes = System.Text.Encoding.UTF8.GetBytes(second);
            if (bytes.Length < prefix || (bytes.Length > prefix && (bytes[prefix] & 0xC0) == 0x80))
                throw BadInputException.InFile(path,
                    $"merge {merge.GetRawText()}: its second token is shorter than continuing_subword_prefix {prefixElement.GetRawText()}");
        }
    }

    /// <summary>
    /// Checks every decoder Strip, pre-tokenizer FixedLength and normalizer Precompiled (and normalizer Strip),
    /// wherever it sits under "decoder", "pre_tokenizer" and "normalizer": the library reaches nested ones through
    /// Sequences, and even objects without a "type" through its untagged fallback, so every object of those
    /// subtrees is looked at, not just the top one.
    /// </summary>
    public static void RefusePanickingSections(string path, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) return;
        if (root.TryGetProperty("decoder", out var decoder)) Walk(decoder, "decoder", (o, at) => CheckDecoder(path, o, at));
        if (root.TryGetProperty("pre_tokenizer", out var pre)) Walk(pre, "pre_tokenizer", (o, at) => CheckPreTokenizer(path, o, at));
        if (root.TryGetProperty("normalizer", out var normalizer)) Walk(normalizer, "normalizer", (o, at) => CheckNormalizer(path, o, at));
    }

    /// <summary>
    /// Decoder Strip cuts up to "start" leading and "stop" trailing copies of "content" off each token, but walks
    /// back from the end without a bound: any stop above 0 panics on a token made only of content that is shorter
    /// than start + stop, the empty token included (reached e.g. through Fuse, or a vocabulary entry ""). Which
    /// tokens reach the Strip depends on the decoders before it, so only stop 0 is safe to accept; real files
    /// (transformers' converters write Strip(content=" ", left=1)) always have it. The untagged fallback builds a
    /// Strip from any object with content, start and stop, so "stop" alone marks one.
    /// </summary>
    private static void CheckDecoder(string path, JsonElement o, string at)
    {
        if (!HasType(o, "Strip") && !o.TryGetProperty("stop", out _)) return;
        foreach (var start in Properties(o, "start"))
            if (start.ValueKind != JsonValueKind.Number || !start.TryGetUInt64(out _))
                throw Refuse(path, at, "Strip", $"start {Short(start.GetRawText())} is not a whole number >= 0");
        foreach (var stop in Properties(o, "stop"))
            if (stop.ValueKind != JsonValueKind.Number || !stop.TryGetUInt64(out var count) || count != 0)
                throw Refuse(path, at, "Strip", $"stop {Short(stop.GetRawText())} is not 0: the tokenizers library panics, aborting the process, " +
                    "when it decodes a token made only of 'content' shorter than start + stop (an empty token included)");
    }

    /// <summary>FixedLength splits text into chunks of "length" characters with Rust's chunks(), which panics on 0 for any non-empty text; larger values are harmless.</summary>
    private static void CheckPreTokenizer(string path, JsonElement o, string at)
    {
        if (!HasType(o, "FixedLength")) return;
        foreach (var length in Properties(o, "length"))
        {
            if (length.ValueKind != JsonValueKind.Number || !length.TryGetUInt64(out var chars))
                throw Refuse(path, at, "FixedLength", $"length {Short(length.GetRawText())} is not a whole number >= 1");
            if (chars == 0)
                throw Refuse(path, at, "FixedLength", "length 0: the tokenizers library panics, aborting the process, when it splits text into chunks of 0 characters");
        }
    }

    /// <summary>
    /// Precompiled: the library unwraps the parse of precompiled_charsmap at load and indexes its trie without
    /// bounds checks when encoding (see <see cref="PrecompiledCharsmap"/>). The normalizer Strip only holds two
    /// booleans and has no panic; its fields are checked so that a wrong one is named here as for the others.
    /// </summary>
    private static void CheckNormalizer(string path, JsonElement o, string at)
    {
        if (HasType(o, "Strip"))
            foreach (var side in Properties(o, "strip_left").Concat(Properties(o, "strip_right")))
                if (side.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                    throw Refuse(path, at, "Strip", $"strip_left and strip_right must be true or false, got {Short(side.GetRawText())}");
        if (!HasType(o, "Precompiled") && !o.TryGetProperty("precompiled_charsmap", out _)) return;
        foreach (var charsmap in Properties(o, "precompiled_charsmap"))
        {
            var problem = charsmap.ValueKind == JsonValueKind.String
                ? PrecompiledCharsmap.Check(charsmap.GetString()!)
                : $"is {Short(charsmap.GetRawText())}, not a base64 string";
            if (problem != null)
                throw Refuse(path, at, "Precompiled", $"precompiled_charsmap {problem}; the tokenizers library would panic on it, aborting the process");
        }
    }

    private static BadInputException Refuse(string path, string at, string kind, string problem) =>
        BadInputException.InFile(path, $"{at} ({kind}): {problem}");

    /// <summary>Whether any "type" of the object (duplicates included: which one serde keeps depends on the path) is <paramref name="type"/>.</summary>
    private static bool HasType(JsonElement o, string type) =>
        Properties(o, "type").Any(t => t.ValueKind == JsonValueKind.String && t.ValueEquals(type));

    /// <summary>Every value of a property, duplicates included, so that no copy escapes the check.</summary>
    private static IEnumerable<JsonElement> Properties(JsonElement o, string name) =>
        o.EnumerateObject().Where(p => p.NameEquals(name)).Select(p => p.Value);

    /// <summary>Visits every object under <paramref name="element"/> with a JSON path naming it (decoder.decoders[1]).</summary>
    private static void Walk(JsonElement element, string at, Action<JsonElement, string> visit)
    {
        var pending = new Stack<(JsonElement Element, string At)>([(element, at)]);
        while (pending.TryPop(out var item))
        {
            if (item.Element.ValueKind == JsonValueKind.Object)
            {
                visit(item.Element, item.At);
                foreach (var property in item.Element.EnumerateObject())
                    if (property.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
                        pending.Push((property.Value, $"{item.At}.{Name(property.Name)}"));
            }
            else if (item.Element.ValueKind == JsonValueKind.Array)
            {
                int i = 0;
                foreach (var child in item.Element.EnumerateArray()) pending.Push((child, $"{item.At}[{i++}]"));
            }
        }
    }

    // Property names come from the file: quoted and cut when odd, so the message stays one readable line.
    private static string Name(string name) =>
        name.Length is > 0 and <= 40 && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') ? name : Short(JsonSerializer.Serialize(name));

    private static string Short(string text) => text.Length > 40 ? text[..40] + "..." : text;
}
