using System.Text.Json;
using LayerCard.Common;
using Native = Tokenizers.DotNet;

namespace LayerCard.Tokenizers;

/// <summary>
/// A HuggingFace tokenizer.json run by the Rust tokenizers library (through Tokenizers.DotNet), so normalizers,
/// pre-tokenizers, added tokens and byte fallback behave exactly as in transformers. The file is also read here
/// to know the vocabulary, the special tokens and BOS/EOS, which the wrapper does not expose.
/// </summary>
public sealed class HfTokenizer : ITokenizer, IDisposable
{
    // Ids far beyond any real vocabulary would make callers size embedding tables from a hostile file.
    internal const int MaxId = 1 << 24;
    private static readonly string[] SupportedModels = ["BPE", "WordPiece", "WordLevel", "Unigram"];
    private static readonly string[] BosCandidates = ["<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>"];
    private static readonly string[] EosCandidates = ["</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>"];

    private readonly Native.Tokenizer _native;
    private readonly Dictionary<int, string> _pieces;
    private readonly Dictionary<string, int> _ids;
    private readonly HashSet<int> _added;
    private readonly HashSet<int> _special;
    private readonly bool _byteLevel;

    /// <summary>The file the tokenizer was read from, used in messages (for GPT-2 files, "vocab.json + merges.txt").</summary>
    public string Path { get; }
    /// <summary>The tokenizer.json model type: BPE, WordPiece, WordLevel or Unigram.</summary>
    public string ModelType { get; }
    /// <summary>The largest id in the vocabulary or the added tokens, plus one.</summary>
    public int VocabSize { get; }
    /// <summary>The BOS id: from tokenizer_config.json when given, else the template post-processor's first special token, else the first of &lt;s&gt;, &lt;|begin_of_text|&gt;, &lt;bos&gt;, &lt;|startoftext|&gt; in the vocabulary; null when none applies.</summary>
    public int? BosId { get; private set; }
    /// <summary>The EOS id, found as <see cref="BosId"/> is (the template's last special token; &lt;/s&gt;, &lt;|end_of_text|&gt;, &lt;eos&gt;, &lt;|endoftext|&gt;).</summary>
    public int? EosId { get; private set; }

    private HfTokenizer(string path, Native.Tokenizer native, Vocabulary vocabulary)
    {
        Path = path;
        _native = native;
        _pieces = vocabulary.Pieces;
        _ids = vocabulary.Ids;
        _added = vocabulary.Added;
        _special = vocabulary.Special;
        _byteLevel = vocabulary.ByteLevel;
        ModelType = vocabulary.ModelType;
        VocabSize = _pieces.Count == 0 ? 0 : _pieces.Keys.Max() + 1;
    }

    /// <summary>Loads a tokenizer.json; BOS and EOS come from <paramref name="configPath"/> (tokenizer_config.json) when given.</summary>
    public static HfTokenizer Load(string path, string? configPath = null)
    {
        var bytes = ReadFile(path);
        using var document = ParseJson(path, bytes);
        // What the library would panic on rather than reject is refused first: a panic aborts the process.
        TokenizerJsonChecks.RefuseNumbersOutOfRange(path, document.RootElement);
        var vocabulary = Vocabulary.Read(path, document.RootElement);
        TokenizerJsonChecks.RefuseMergesShorterThanPrefix(path, document.RootElement);
        TokenizerJsonChecks.RefusePanickingSections(path, document.RootElement);

        // The wrapper always encodes with add_special_tokens, so a post-processor that adds tokens (Llama's
        // TemplateProcessing adds BOS) is dropped and BOS is added here only when asked for.
        var root = document.RootElement;
        var addsTokens = root.TryGetProperty("post_processor", out var post) && post.ValueKind == JsonValueKind.Object
            && !(post.TryGetProperty("type", out var postType) && postType.ValueKind == JsonValueKind.String && postType.ValueEquals("ByteLevel"));
        var tokenizer = addsTokens
            ? WithTempFile(WithoutPostProcessor(root), temp => LoadNative(path, temp, vocabulary))
            : LoadNative(path, path, vocabulary);
        tokenizer.SetBosEos(configPath, TemplateSpecial(post, first: true), TemplateSpecial(post, first: false));
        return tokenizer;
    }

    /// <summary>Loads a tokenizer built in memory (GPT-2's vocab.json and merges.txt converted to tokenizer.json form).</summary>
    internal static HfTokenizer FromJson(string displayPath, byte[] json, string? configPath, string? defaultBosEos)
    {
        using var document = ParseJson(displayPath, json);
        var vocabulary = Vocabulary.Read(displayPath, document.RootElement);
        var tokenizer = WithTempFile(json, temp => LoadNative(displayPath, temp, vocabulary));
        tokenizer.SetBosEos(configPath, defaultBosEos, defaultBosEos);
        return tokenizer;
    }

    internal static byte[] ReadFile(string path)
    {
        try
        {
            var length = new FileInfo(path).Length;
            if (length > int.MaxValue) throw BadInputException.InFile(path, $"{length} bytes is too large for a tokenizer file");
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw BadInputException.InFile(path, $"cannot read: {e.Message}");
        }
    }

    internal static JsonDocument ParseJson(string path, byte[] bytes)
    {
        // JsonDocument checks UTF-8 only when a string is read, and then throws InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw BadInputException.InFile(path, "not valid UTF-8 text");
        JsonDocument document;
        try { document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 }); }
        catch (JsonException e) { throw BadInputException.InFile(path, $"invalid JSON: {e.Message}"); }
        try
        {
            LayerCard.Models.Checkpoints.JsonInput.RefuseInvalidStrings(path, document.RootElement);
        }
        catch
        {
            document.Dispose();
            throw;
        }
        return document;
    }

    private static HfTokenizer LoadNative(string displayPath, string nativePath, Vocabulary vocabulary)
    {
        Native.Tokenizer native;
        try { native = new Native.Tokenizer(nativePath); }
        catch (Native.TokenizerException e) { throw BadInputException.InFile(displayPath, $"the tokenizers library rejects it: {e.Message}"); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or BadImageFormatException)
        {
            throw new RuntimeFailureException(
                $"cannot load the HuggingFace tokenizers native library (libhf_tokenizers from Tokenizers.DotNet.runtime): {e.Message}", e);
        }
        return new HfTokenizer(displayPath, native, vocabulary);
    }

    private static HfTokenizer WithTempFile(byte[] json, Func<string, HfTokenizer> load)
    {
        var temp = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"layercard-tokenizer-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllBytes(temp, json);
            return load(temp);
        }
        finally
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static byte[] WithoutPostProcessor(JsonElement root)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            foreach (var property in root.EnumerateObject())
            {
                if (property.NameEquals("post_processor")) writer.WriteNull(property.Name);
                else property.WriteTo(writer);
            }
            writer.WriteEndObject();
        }
        return stream.ToArray();
    }

    /// <summary>The special token a TemplateProcessing puts first (BOS) or last (EOS) around a single sequence.</summary>
    private static string? TemplateSpecial(JsonElement post, bool first)
    {
        if (post.ValueKind != JsonValueKind.Object || !post.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array) return null;
        var items = single.EnumerateArray().ToList();
        if (items.Count == 0) return null;
        var item = first ? items[0] : items[^1];
        return item.ValueKind == JsonValueKind.Object && item.TryGetProperty("SpecialToken", out var special)
            && special.ValueKind == JsonValueKind.Object && special.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String
            ? id.GetString() : null;
    }

    private void SetBosEos(string? configPath, string? defaultBos, string? defaultEos)
    {
        string? bos = defaultBos ?? BosCandidates.FirstOrDefault(_ids.ContainsKey);
        string? eos = defaultEos ?? EosCandidates.FirstOrDefault(_ids.ContainsKey);
        if (configPath != null && File.Exists(configPath))
        {
            using var config = ParseJson(configPath, ReadFile(configPath));
            if (config.RootElement.ValueKind != JsonValueKind.Object)
                throw BadInputException.InFile(configPath, "expected a JSON object");
            if (config.RootElement.TryGetProperty("bos_token", out var b)) bos = ConfigToken(configPath, "bos_token", b);
            if (config.RootElement.TryGetProperty("eos_token", out var e)) eos = ConfigToken(configPath, "eos_token", e);
        }
        BosId = IdOf(bos, configPath);
        EosId = IdOf(eos, configPath);
    }

    private static string? ConfigToken(string configPath, string name, JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Object when value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String => content.GetString(),
        _ => throw BadInputException.InFile(configPath, $"{name} should be a string, an object with 'content', or null"),
    };

    private int? IdOf(string? token, string? configPath)
    {
        if (token == null) return null;
        if (_ids.TryGetValue(token, out var id)) return id;
        throw BadInputException.InFile(configPath ?? Path, $"special token '{token}' is not in the vocabulary of {Path}");
    }

    /// <summary>Encodes with the tokenizers library; the file's post-processor is not applied, so BOS is added only when <paramref name="addBos"/> is set. Text the library cannot encode is an <see cref="ArgumentException"/>.</summary>
    public int[] Encode(string text, bool addBos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        uint[] ids;
        try { ids = text.Length == 0 ? [] : _native.Encode(text); }
        catch (Native.TokenizerException e) { throw new ArgumentException($"cannot encode the text: {e.Message}", nameof(text), e); }
        var offset = addBos && BosId.HasValue ? 1 : 0;
        var result = new int[ids.Length + offset];
        if (offset == 1) result[0] = BosId!.Value;
        for (var i = 0; i < ids.Length; i++) result[i + offset] = checked((int)ids[i]);
        return result;
    }

    /// <summary>
    /// Special tokens are kept as their text (the wrapper always skips them), so text holding &lt;|im_start|&gt;
    /// round-trips; the runs between them are decoded by the library.
    /// </summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new System.Text.StringBuilder();
        var run = new List<uint>();
        void Flush()
        {
            if (run.Count == 0) return;
            text.Append(_native.Decode(run.ToArray()));
            run.Clear();
        }
        foreach (var id in ids)
        {
            CheckId(id);
            if (_special.Contains(id)) { Flush(); text.Append(_pieces[id]); }
            else run.Add((uint)id);
        }
        Flush();
        return text.ToString();
    }

    /// <summary>One token as readable text: added tokens as written, byte-level pieces decoded to text (partial UTF-8 characters as &lt;0xXX&gt;), and SentencePiece's ▁ shown as a space.</summary>
    public string TokenText(int id)
    {
        CheckId(id);
        var piece = _pieces[id];
        if (_added.Contains(id)) return piece;
        return _byteLevel ? ByteLevel.ToText(piece) : piece.Replace('\u2581', ' ');
    }

    /// <summary>The token's string as the vocabulary spells it (byte-level characters, ▁ for spaces).</summary>
    public string Piece(int id)
    {
        CheckId(id);
        return _pieces[id];
    }

    /// <summary>Whether the id is an added token marked special in tokenizer.json.</summary>
    public bool IsSpecial(int id) => _special.Contains(id);

    /// <summary>The id of a token spelled as in the vocabulary or the added tokens, or null.</summary>
    public int? IdOf(string piece) => _ids.TryGetValue(piece, out var id) ? id : null;

    private void CheckId(int id)
    {
        if (!_pieces.ContainsKey(id))
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id not in the vocabulary of {Path}");
    }

    /// <summary>Releases the native tokenizer.</summary>
    public void Dispose() => _native.Dispose();

    /// <summary>What tokenizer.json says about ids, read here since the wrapper only encodes and decodes.</summary>
    private sealed record Vocabulary(
        string ModelType, Dictionary<int, string> Pieces, Dictionary<string, int> Ids, HashSet<int> Added, HashSet<int> Special, bool ByteLevel)
    {
        /// <summary>Reads the vocabulary, the added tokens and whether the decoder is byte-level from a parsed tokenizer.json, refusing ids outside 0..2^24-1 and unsupported model types.</summary>
        public static Vocabulary Read(string path, JsonElement root)
        {
            if (root.ValueKind != JsonValueKind.Object) throw BadInputException.InFile(path, "expected a JSON object (a tokenizer.json)");
            if (!root.TryGetProperty("model", out var model)) throw BadInputException.InFile(path, "no 'model' field: not a tokenizer.json");
            if (model.ValueKind != JsonValueKind.Object) throw BadInputException.InFile(path, "'model' should be an object");
            string? type = null;
            if (model.TryGetProperty("type", out var typeElement))
            {
                type = typeElement.ValueKind == JsonValueKind.String ? typeElement.GetString() : null;
                if (type == null || !SupportedModels.Contains(type))
                    throw BadInputException.InFile(path, $"unsupported model type {typeElement.GetRawText()} (supported: {string.Join(", ", SupportedModels)})");
            }
            if (!model.TryGetProperty("vocab", out var vocab)) throw BadInputException.InFile(path, "'model' has no 'vocab'");

            var pieces = new Dictionary<int, string>();
            var ids = new Dictionary<string, int>(StringComparer.Ordinal);
            if (vocab.ValueKind == JsonValueKind.Object && type != "Unigram")
            {
                foreach (var entry in vocab.EnumerateObject())
                {
                    if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id) || id < 0 || id >= MaxId)
                        throw BadInputException.InFile(path, $"vocab entry {JsonSerializer.Serialize(entry.Name)} has id {entry.Value.GetRawText()}, not an integer in 0..{MaxId - 1}");
                    pieces.TryAdd(id, entry.Name);
                    ids.TryAdd(entry.Name, id);
                }
            }
            else if (vocab.ValueKind == JsonValueKind.Array && type is null or "Unigram")
            {
                var id = 0;
                foreach (var entry in vocab.EnumerateArray())
                {
                    if (entry.ValueKind != JsonValueKind.Array || entry.GetArrayLength() < 1 || entry[0].ValueKind != JsonValueKind.String)
                        throw BadInputException.InFile(path, $"Unigram vocab entry {id} should be [piece, score]");
                    if (id >= MaxId) throw BadInputException.InFile(path, $"more than {MaxId} vocab entries");
                    var piece = entry[0].GetString()!;
                    pieces[id] = piece;
                    ids.TryAdd(piece, id);
                    id++;
                }
            }
            else throw BadInputException.InFile(path, $"'model.vocab' has the wrong shape for model type {type ?? "(none)"}");

            var added = new HashSet<int>();
            var special = new HashSet<int>();
            if (root.TryGetProperty("added_tokens", out var addedTokens) && addedTokens.ValueKind != JsonValueKind.Null)
            {
                if (addedTokens.ValueKind != JsonValueKind.Array) throw BadInputException.InFile(path, "'added_tokens' should be an array");
                foreach (var token in addedTokens.EnumerateArray())
                {
                    if (token.ValueKind != JsonValueKind.Object
                        || !token.TryGetProperty("id", out var idElement) || idElement.ValueKind != JsonValueKind.Number || !idElement.TryGetInt32(out var id) || id < 0 || id >= MaxId
                        || !token.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                        throw BadInputException.InFile(path, $"added token {token.GetRawText()} needs an integer 'id' in 0..{MaxId - 1} and a string 'content'");
                    var text = content.GetString()!;
                    pieces[id] = text;
                    ids[text] = id;
                    added.Add(id);
                    if (token.TryGetProperty("special", out var isSpecial) && isSpecial.ValueKind == JsonValueKind.True) special.Add(id);
                }
            }

            var byteLevel = root.TryGetProperty("decoder", out var decoder) && decoder.GetRawText().Contains("\"ByteLevel\"", StringComparison.Ordinal);
            return new Vocabulary(type ?? (vocab.ValueKind == JsonValueKind.Array ? "Unigram" : "BPE"), pieces, ids, added, special, byteLevel);
        }
    }
}
