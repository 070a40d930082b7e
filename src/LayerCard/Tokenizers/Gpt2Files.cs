using System.Text;
using System.Text.Json;
using LayerCard.Common;

namespace LayerCard.Tokenizers;

/// <summary>
/// GPT-2's original vocab.json and merges.txt, turned into the tokenizer.json that transformers would build from
/// them (byte-level BPE, no prefix space, &lt;|endoftext|&gt; special) so the same library encodes both.
/// </summary>
internal static class Gpt2Files
{
    /// <summary>GPT-2's end-of-text token, its only special token; it serves as both BOS and EOS.</summary>
    public const string EndOfText = "<|endoftext|>";

    /// <summary>Builds a tokenizer from vocab.json and merges.txt, refusing ids or merges that do not fit the vocabulary (naming the file and line). BOS and EOS are &lt;|endoftext|&gt; when the vocabulary has it, unless <paramref name="configPath"/> (tokenizer_config.json) says otherwise.</summary>
    public static HfTokenizer Load(string vocabPath, string mergesPath, string? configPath)
    {
        var vocab = ReadVocab(vocabPath);
        var merges = ReadMerges(mergesPath, vocab);
        var json = BuildTokenizerJson(vocabPath, vocab, merges);
        var display = $"{vocabPath} + {Path.GetFileName(mergesPath)}";
        return HfTokenizer.FromJson(display, json, configPath, vocab.ContainsKey(EndOfText) ? EndOfText : null);
    }

    private static Dictionary<string, int> ReadVocab(string path)
    {
        using var document = HfTokenizer.ParseJson(path, HfTokenizer.ReadFile(path));
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw BadInputException.InFile(path, "expected a JSON object mapping tokens to ids");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in document.RootElement.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id) || id < 0 || id >= HfTokenizer.MaxId)
                throw BadInputException.InFile(path, $"token {JsonSerializer.Serialize(entry.Name)} has id {entry.Value.GetRawText()}, not an integer in 0..{HfTokenizer.MaxId - 1}");
            vocab[entry.Name] = id;
        }
        if (vocab.Count == 0) throw BadInputException.InFile(path, "empty vocabulary");
        return vocab;
    }

    /// <summary>The library refuses merges whose parts or result are not in the vocabulary; checking here names the line.</summary>
    private static List<string> ReadMerges(string path, Dictionary<string, int> vocab)
    {
        string[] lines;
        // Encoding.UTF8 replaces bad bytes silently; the strict decoder is what makes the catch below reachable.
        try { lines = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(HfTokenizer.ReadFile(path)).Split('\n'); }
        catch (DecoderFallbackException) { throw BadInputException.InFile(path, "not UTF-8 text"); }
        var merges = new List<string>(lines.Length);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw BadInputException.AtLine(path, i + 1, "expected two tokens separated by one space");
            foreach (var token in new[] { parts[0], parts[1], parts[0] + parts[1] })
                if (!vocab.ContainsKey(token))
                    throw BadInputException.AtLine(path, i + 1, $"token {JsonSerializer.Serialize(token)} of this merge is not in the vocabulary");
            merges.Add(line);
        }
        return merges;
    }

    private static byte[] BuildTokenizerJson(string vocabPath, Dictionary<string, int> vocab, List<string> merges)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            if (vocab.TryGetValue(EndOfText, out var endId))
            {
                w.WriteStartObject();
                w.WriteNumber("id", endId);
                w.WriteString("content", EndOfText);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", true);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNull("normalizer");
            WriteByteLevel(w, "pre_tokenizer");
            w.WriteNull("post_processor");
            WriteByteLevel(w, "decoder");
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteNull("unk_token");
            w.WriteString("continuing_subword_prefix", "");
            w.WriteString("end_of_word_suffix", "");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WriteStartObject("vocab");
            foreach (var (token, id) in vocab) w.WriteNumber(token, id);
            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var merge in merges) w.WriteStringValue(merge);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return stream.ToArray();
    }

    private static void WriteByteLevel(Utf8JsonWriter w, string name)
    {
        w.WriteStartObject(name);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
    }
}
