using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace LayerCard.Bench.Fuzzing;

/// <summary>
/// Damage to JSON files and merges.txt. JsonNode cannot hold what a hostile file may contain (NaN, 1e400,
/// duplicate keys, 100 000 nested brackets), so such values are placeholders that <see cref="Serialize"/>
/// splices in as raw text.
/// </summary>
internal static partial class JsonMutations
{
    /// <summary>Field names worth adding, and strings worth using as values, for one kind of file.</summary>
    public sealed record Hints(IReadOnlyList<string> Keys, IReadOnlyList<string> Strings);

    /// <summary>Hints for a JSON file of unknown role.</summary>
    public static readonly Hints Generic = new(["type", "vocab", "id"], ["BPE", "x"]);

    /// <summary>Hints for config.json: the fields the config reader looks at, and architecture, activation and dtype names.</summary>
    public static readonly Hints ConfigHints = new(
        ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size",
         "max_position_embeddings", "rms_norm_eps", "rope_theta", "tie_word_embeddings", "attention_bias", "architectures", "rope_scaling",
         "n_embd", "n_layer", "n_head", "n_positions", "n_inner", "layer_norm_epsilon", "hidden_act", "activation_function", "torch_dtype", "dtype"],
        ["LlamaForCausalLM", "Qwen3ForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM", "GPT2LMHeadModel", "BertModel", "gelu", "relu", "float8", "bfloat16"]);

    /// <summary>Hints for tokenizer.json and tokenizer_config.json: model, pre-tokenizer and special-token fields and values.</summary>
    public static readonly Hints TokenizerHints = new(
        ["model", "vocab", "merges", "type", "added_tokens", "pre_tokenizer", "decoder", "post_processor", "normalizer", "unk_token", "byte_fallback",
         "bos_token", "eos_token", "special", "content", "id", "single"],
        ["BPE", "WordPiece", "WordLevel", "Unigram", "Sentencepiece", "ByteLevel", "Metaspace", "TemplateProcessing", "<s>", "</s>", "<|endoftext|>",
         "Ġ t", "h e", "a b c", "zz qq", "Ġ", "<unk>"]);

    /// <summary>Hints for model.safetensors.index.json.</summary>
    public static readonly Hints IndexHints = new(["weight_map", "metadata", "total_size"], ["model-00001-of-00003.safetensors"]);

    /// <summary>The hints for a file, by its name.</summary>
    public static Hints For(string fileName) => fileName switch
    {
        "config.json" => ConfigHints,
        "model.safetensors.index.json" => IndexHints,
        _ when fileName.EndsWith(".json", StringComparison.Ordinal) => TokenizerHints,
        _ => Generic,
    };

    private const string RawMark = "@@RAW";
    private const string DupMark = "@@DUP";

    /// <summary>A placeholder that <see cref="Serialize"/> replaces by <paramref name="text"/> as it is, for JSON that JsonNode cannot hold.</summary>
    internal static JsonNode Raw(string text) => JsonValue.Create($"{RawMark}{Convert.ToHexString(Encoding.UTF8.GetBytes(text))}@@")!;

    /// <summary>The JSON text with every placeholder replaced by the raw text or duplicate key it stands for.</summary>
    public static string Serialize(JsonNode? root)
    {
        var text = root?.ToJsonString() ?? "null";
        return Placeholder().Replace(text, m =>
        {
            var payload = Encoding.UTF8.GetString(Convert.FromHexString(m.Groups[2].Value));
            return m.Groups[1].Value == "RAW" ? payload : JsonSerializer.Serialize(payload);
        });
    }

    [GeneratedRegex("\"@@(RAW|DUP)([0-9A-F]*)@@[0-9]*\"")]
    private static partial Regex Placeholder();

    /// <summary>
    /// Parses and materialises the whole tree: JsonObject builds its dictionary lazily and throws on a duplicate key
    /// only when first touched, which must happen here rather than halfway through a mutation. Such documents get
    /// byte-level damage instead.
    /// </summary>
    public static bool TryParse(byte[] bytes, out JsonNode? root)
    {
        try
        {
            root = JsonNode.Parse(bytes);
            var pending = new Stack<JsonNode?>([root]);
            while (pending.TryPop(out var node))
                if (node != null)
                    foreach (var (_, child) in Children(node)) pending.Push(child);
            // Writing unescapes every string, which throws on an escaped lone surrogate left by an earlier mutation.
            root?.ToJsonString();
            return true;
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            root = null;
            return false;
        }
    }

    /// <summary>Parses, damages and rewrites a JSON file; an unparsable file (an earlier mutation) gets byte damage instead.</summary>
    public static string MutateFile(string path, Random rng)
    {
        var name = Path.GetFileName(path);
        if (!TryParse(File.ReadAllBytes(path), out var root)) return BinaryMutations.Generic(path, rng);
        string text, description;
        if (name == "config.json" && root is JsonObject config && rng.Next(2) == 0)
        {
            description = ConfigField(config, rng);
            text = Serialize(config);
        }
        else if (name == "tokenizer.json" && root is JsonObject tokenizer && rng.Next(3) == 0)
        {
            description = SectionMutations.Mutate(tokenizer, rng);
            text = Serialize(tokenizer);
        }
        else (text, description) = MutateDocument(root, rng, For(name));
        File.WriteAllText(path, text);
        return $"{name}: {description}";
    }

    /// <summary>Damages a parsed document: one time in seven (or when it is null) replaces the whole text with a hostile document, otherwise damages one node; returns the new text and what was done.</summary>
    public static (string Text, string Description) MutateDocument(JsonNode? root, Random rng, Hints hints)
    {
        if (root is null || rng.Next(7) == 0)
        {
            var original = Serialize(root);
            (string, string)[] documents =
            [
                ("", "empty"), ("null", "null"), ("[]", "[]"), ("{}", "{}"), ("\"text\"", "a string"), ("42", "a number"), ("NaN", "NaN"),
                ($"[{original}]", "wrapped in an array"), (new string('[', 100_000) + new string(']', 100_000), "100000 nested arrays"),
                (new string('[', 100_000), "100000 unclosed arrays"), (Nested(1000, objects: true), "1000 nested objects"),
                (original + "} junk", "trailing garbage"), ("\uFEFF" + original, "byte order mark"), ("// comment\n" + original, "a comment"),
                (original + original, "the document twice"), (original.Replace(",", ",,", StringComparison.Ordinal), "doubled commas"),
            ];
            var (text, what) = documents[rng.Next(documents.Length)];
            return (text, $"document := {what}");
        }
        var description = MutateNode(root, rng, hints).Description;
        return (Serialize(root), description);
    }

    /// <summary>Damages one node found by a random walk from <paramref name="root"/>, which favours shallow nodes.</summary>
    public static (JsonNode Root, string Description) MutateNode(JsonNode root, Random rng, Hints hints)
    {
        JsonNode node = root;
        string path = "$";
        while (Children(node) is { Count: > 0 } children && (node == root || rng.Next(3) != 0))
        {
            var (key, child) = children[rng.Next(children.Count)];
            path += node is JsonArray ? $"[{key}]" : $".{key}";
            if (child is null)
            {
                SetChild(node, key, Odd(null, rng, hints));
                return (root, $"{path} (null) := {Describe(node, key)}");
            }
            node = child;
        }
        if (node == root)
        {
            if (root is JsonObject o) return (root, AddKey(o, path, rng, hints));
            return (root, $"{path}: unchanged (scalar root)");
        }
        var parent = node.Parent!;
        string ownKey = parent is JsonArray array ? array.IndexOf(node).ToString(CultureInfo.InvariantCulture) : node.GetPropertyName();
        switch (rng.Next(10))
        {
            case 0:
            case 1:
                if (parent is JsonObject po) po.Remove(ownKey);
                else ((JsonArray)parent).RemoveAt(int.Parse(ownKey, CultureInfo.InvariantCulture));
                return (root, $"{path}: removed");
            case 2:
                if (parent is JsonObject dup)
                {
                    var copy = rng.Next(2) == 0 ? node.DeepClone() : Odd(node, rng, hints);
                    dup[$"{DupMark}{Convert.ToHexString(Encoding.UTF8.GetBytes(ownKey))}@@{rng.Next(1_000_000)}"] = copy;
                    return (root, $"{path}: duplicate key with {Short(Serialize(copy))}");
                }
                goto default;
            case 3:
                return (root, AddKey(parent as JsonObject ?? (node as JsonObject) ?? root as JsonObject ?? new JsonObject(), path, rng, hints));
            default:
                var before = Short(Serialize(node));
                SetChild(parent, ownKey, Odd(node, rng, hints));
                return (root, $"{path} {before} := {Describe(parent, ownKey)}");
        }
    }

    private static string AddKey(JsonObject target, string path, Random rng, Hints hints)
    {
        var key = hints.Keys[rng.Next(hints.Keys.Count)];
        target[key] = Odd(target[key], rng, hints);
        return $"{path}: set '{key}' := {Describe(target, key)}";
    }

    private static List<(string Key, JsonNode? Child)> Children(JsonNode node) => node switch
    {
        JsonObject o => o.Select(p => (p.Key, p.Value)).ToList(),
        JsonArray a => a.Select((c, i) => (i.ToString(CultureInfo.InvariantCulture), c)).ToList(),
        _ => [],
    };

    private static void SetChild(JsonNode parent, string key, JsonNode? value)
    {
        if (parent is JsonObject o) o[key] = value;
        else ((JsonArray)parent)[int.Parse(key, CultureInfo.InvariantCulture)] = value;
    }

    private static string Describe(JsonNode parent, string key) =>
        Short(Serialize(parent is JsonObject o ? o[key] : ((JsonArray)parent)[int.Parse(key, CultureInfo.InvariantCulture)]));

    private static string Short(string text) => text.Length <= 60 ? text : $"{text[..40]}...({text.Length} chars)";

    private static string Nested(int depth, bool objects) => objects
        ? string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth)
        : new string('[', depth) + new string(']', depth);

    /// <summary>A value of the wrong type, size or syntax; near the current value when it is a number.</summary>
    public static JsonNode? Odd(JsonNode? current, Random rng, Hints hints)
    {
        if (current is JsonValue v && v.TryGetValue<double>(out var d) && rng.Next(3) == 0)
        {
            double[] near = [d + 1, d - 1, d * 2, -d, Math.Floor(d / 2), d + 0.5];
            return JsonValue.Create(near[rng.Next(near.Length)]);
        }
        return rng.Next(8) switch
        {
            0 => JsonValue.Create(new long[] { 0, -1, 1, 2, 3, 7, 65536, 1_000_000_000, int.MaxValue, 2147483648L, -2147483649L, long.MaxValue, long.MinValue }[rng.Next(13)]),
            1 => Raw(new[] { "18446744073709551616", "1e400", "-1e400", "1e-400", "1e300", "4096.0", "-0.0", "1.5", "123456789012345678901234567890" }[rng.Next(9)]),
            2 => Raw(new[] { "NaN", "Infinity", "-Infinity", "undefined", "'x'", "0x10", "01", "+1", ".5", "1.", "tru", "\"\\ud800\"", "\"\\x\"" }[rng.Next(13)]),
            3 => JsonValue.Create(new[] { "", "x", "4", "true", "../../../etc/passwd", "/etc/passwd", "a\u0000b", new string('x', 100_000) }[rng.Next(8)]),
            4 => JsonValue.Create(hints.Strings[rng.Next(hints.Strings.Count)]),
            5 => rng.Next(4) switch { 0 => new JsonObject(), 1 => new JsonArray(), 2 => new JsonArray(1, 2, 3), _ => new JsonObject { ["a"] = 1 } },
            6 => Raw(Nested(new[] { 20, 65, 129, 200, 5000 }[rng.Next(5)], objects: rng.Next(2) == 0)),
            _ => rng.Next(3) switch { 0 => JsonValue.Create(true), 1 => JsonValue.Create(false), _ => null },
        };
    }

    /// <summary>config.json: one shape field set to a boundary value, or a switch flipped.</summary>
    private static string ConfigField(JsonObject config, Random rng)
    {
        string[] numeric = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
            "vocab_size", "max_position_embeddings", "n_embd", "n_layer", "n_head", "n_positions", "n_inner"];
        var present = numeric.Where(config.ContainsKey).ToList();
        var key = present.Count > 0 && rng.Next(5) != 0 ? present[rng.Next(present.Count)] : numeric[rng.Next(numeric.Length)];
        long v = config[key] is JsonValue jv && jv.TryGetValue<long>(out var l) ? l : 0;
        if (rng.Next(6) == 0)
        {
            string[] other = ["tie_word_embeddings", "attention_bias", "rms_norm_eps", "rope_theta", "layer_norm_epsilon", "rope_scaling", "architectures"];
            key = other[rng.Next(other.Length)];
            JsonNode? value = key switch
            {
                "tie_word_embeddings" or "attention_bias" => JsonValue.Create(rng.Next(2) == 0),
                "architectures" => new JsonArray(ConfigHints.Strings[rng.Next(5)]),
                "rope_scaling" => new JsonObject { ["type"] = "linear", ["factor"] = 2.0 },
                _ => Raw(new[] { "0", "-1e-6", "1e-300", "1e300", "0.5", "1e400" }[rng.Next(6)]),
            };
            config[key] = value;
            return $"{key} := {Short(Serialize(value))}";
        }
        long[] values = [0, -1, 1, 2, 3, v + 1, v - 1, v * 2, v / 2, v * 3, int.MaxValue, int.MinValue, 1 << 20, 65536, 46341, 1_000_000_000];
        long forged = values[rng.Next(values.Length)];
        config[key] = forged;
        return $"{key} {v} := {forged}";
    }

    /// <summary>Sharded index: shard names that are missing, escape the folder or belong to another tensor.</summary>
    public static string IndexFile(string path, Random rng)
    {
        var folder = Path.GetDirectoryName(path)!;
        if (!TryParse(File.ReadAllBytes(path), out var node)) return BinaryMutations.Generic(path, rng);
        var root = node as JsonObject;
        if (root?["weight_map"] is not JsonObject map || map.Count == 0 || rng.Next(3) == 0) return MutateFile(path, rng);
        var shards = Directory.GetFiles(folder, "*.safetensors").Select(Path.GetFileName).ToList();
        var tensor = map.ElementAt(rng.Next(map.Count)).Key;
        string[] names =
        [
            "model-00009-of-00009.safetensors", "../model-00001-of-00003.safetensors", "/etc/passwd", "..", ".", "", "sub/model.safetensors",
            "a\\b.safetensors", "model.safetensors", "config.json", "tokenizer.json", "model-00001-of-00003.safetensors\u0000", .. shards!,
        ];
        string what;
        switch (rng.Next(4))
        {
            case 0:
                var name = names[rng.Next(names.Length)];
                map[tensor] = name;
                what = $"'{tensor}' -> {JsonSerializer.Serialize(name)}";
                break;
            case 1:
                map.Remove(tensor);
                what = $"'{tensor}' removed from weight_map";
                break;
            case 2:
                map["model.layers.9.mlp.up_proj.weight"] = shards.Count > 0 ? shards[rng.Next(shards.Count)] : "x";
                what = "weight_map lists a tensor no shard holds";
                break;
            default:
                var victim = shards.Count > 0 ? shards[rng.Next(shards.Count)] : null;
                if (victim != null) File.Delete(Path.Combine(folder, victim));
                return $"delete shard {victim}";
        }
        File.WriteAllText(path, Serialize(root));
        return $"{Path.GetFileName(path)}: {what}";
    }

    /// <summary>merges.txt: line-level edits and bytes that are not UTF-8.</summary>
    public static string MergesText(string path, Random rng)
    {
        var name = Path.GetFileName(path);
        var lines = File.ReadAllText(path).Split('\n').ToList();
        int Line() => rng.Next(Math.Max(1, lines.Count));
        string what;
        switch (rng.Next(8))
        {
            case 0: { int i = Line(); lines.Insert(i, lines.Count > 0 ? lines[Math.Min(i, lines.Count - 1)] : ""); what = $"duplicate line {i + 1}"; break; }
            case 1: { int i = Line(); if (lines.Count > 0) lines.RemoveAt(Math.Min(i, lines.Count - 1)); what = $"remove line {i + 1}"; break; }
            case 2:
            {
                string[] bad = ["a b c", "ab", " ", "a  b", "zz qq", "Ġ\tt", "h e ", "#version: 0.2", "he llo", new string('x', 100_000) + " y", "\r"];
                var text = bad[rng.Next(bad.Length)];
                int i = Line();
                lines.Insert(i, text);
                what = $"insert {JsonSerializer.Serialize(text.Length > 20 ? text[..20] + "..." : text)} at line {i + 1}";
                break;
            }
            case 3: lines.Reverse(); what = "reverse the lines"; break;
            case 4: lines = lines.Select(l => l + "\r").ToList(); what = "CRLF line ends"; break;
            case 5: lines = Enumerable.Repeat(lines.Count > 1 ? lines[1] : "h e", 200_000).ToList(); what = "200000 copies of one merge"; break;
            case 6:
            {
                var bytes = File.ReadAllBytes(path);
                int o = rng.Next(bytes.Length + 1);
                File.WriteAllBytes(path, [.. bytes[..o], 0xC3, 0x28, 0xFF, .. bytes[o..]]);
                return $"{name}: invalid UTF-8 at byte {o}";
            }
            default: return BinaryMutations.Generic(path, rng);
        }
        File.WriteAllText(path, string.Join('\n', lines));
        return $"{name}: {what}";
    }
}
