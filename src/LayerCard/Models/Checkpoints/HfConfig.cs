using System.Text.Json;
using LayerCard.Common;

namespace LayerCard.Models.Checkpoints;

/// <summary>
/// The fields of a Hugging Face config.json that LayerCard needs, read under either naming scheme (Llama-style
/// hidden_size/num_hidden_layers or GPT-2-style n_embd/n_layer). Defaults follow the transformers config
/// classes of each architecture, so a config that loads there means the same model here.
/// </summary>
/// <param name="Path">The config.json read, named in refusals.</param>
/// <param name="Architecture">The first entry of "architectures", one of <see cref="SupportedArchitectures"/>.</param>
/// <param name="HeadDim">head_dim when the config sets it (Qwen3 does), else null and hidden size / heads is used.</param>
/// <param name="AttentionBias">The attention projections have biases: always for Qwen2 and GPT-2, attention_bias otherwise.</param>
/// <param name="TorchDtype">torch_dtype (or dtype) as written, or null.</param>
/// <param name="Activation">hidden_act or activation_function; read but not used by the model classes.</param>
public sealed record HfConfig(
    string Path,
    string Architecture,
    string? ModelType,
    int HiddenSize,
    int IntermediateSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int NumKeyValueHeads,
    int? HeadDim,
    int VocabSize,
    int MaxPositionEmbeddings,
    double NormEps,
    double RopeTheta,
    bool TieWordEmbeddings,
    bool AttentionBias,
    string? TorchDtype,
    string Activation)
{
    /// <summary>The architectures LayerCard can build; any other is refused.</summary>
    public static readonly IReadOnlyList<string> SupportedArchitectures =
        ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "GPT2LMHeadModel"];

    /// <summary>Whether this is GPT-2, whose fields use the n_embd/n_layer names.</summary>
    public bool IsGpt2 => Architecture == "GPT2LMHeadModel";

    /// <summary>Reads config.json; <paramref name="path"/> may be the file or the model folder holding it.</summary>
    public static HfConfig Load(string path)
    {
        if (System.IO.Directory.Exists(path)) path = System.IO.Path.Combine(path, "config.json");
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw BadInputException.InFile(path, $"cannot read model config: {e.Message}");
        }
        return Parse(text, path);
    }

    /// <summary>Parses config.json text, applying each architecture's transformers defaults; <paramref name="path"/> names the file in refusals. Scaled rotary embeddings (rope_scaling) are refused.</summary>
    public static HfConfig Parse(string json, string path)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(json); }
        catch (JsonException e) { throw BadInputException.InFile(path, $"not valid JSON: {e.Message}"); }
        using (document)
        {
            var root = document.RootElement;
            JsonInput.RefuseInvalidStrings(path, root);
            if (root.ValueKind != JsonValueKind.Object)
                throw BadInputException.InFile(path, "must be a JSON object");
            var fields = new Fields(root, path);
            var architecture = ReadArchitecture(fields, path);
            if (!fields.IsNull("rope_scaling"))
                throw BadInputException.InFile(path, "rope_scaling is not supported (the model uses scaled rotary embeddings)");
            var modelType = fields.OptionalString("model_type");
            var dtype = fields.OptionalString("torch_dtype") ?? fields.OptionalString("dtype");
            return architecture == "GPT2LMHeadModel"
                ? ParseGpt2(fields, path, architecture, modelType, dtype)
                : ParseLlamaFamily(fields, path, architecture, modelType, dtype);
        }
    }

    private static string ReadArchitecture(Fields fields, string path)
    {
        if (!fields.Root.TryGetProperty("architectures", out var list) || list.ValueKind == JsonValueKind.Null)
            throw BadInputException.InFile(path, "missing field 'architectures'");
        if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0 || list[0].ValueKind != JsonValueKind.String)
            throw BadInputException.InFile(path, "field 'architectures' must be a non-empty array of strings");
        var architecture = list[0].GetString()!;
        if (!SupportedArchitectures.Contains(architecture))
            throw BadInputException.InFile(path, $"architecture '{architecture}' is not supported (supported: {string.Join(", ", SupportedArchitectures)})");
        return architecture;
    }

    private static HfConfig ParseLlamaFamily(Fields f, string path, string architecture, string? modelType, string? dtype)
    {
        int heads = f.RequiredInt("num_attention_heads");
        bool qwen2 = architecture == "Qwen2ForCausalLM";
        int defaultPositions = architecture switch
        {
            "LlamaForCausalLM" => 2048,
            "MistralForCausalLM" => 4096 * 32,
            _ => 32768,
        };
        return new HfConfig(
            path, architecture, modelType,
            HiddenSize: f.RequiredInt("hidden_size"),
            IntermediateSize: f.RequiredInt("intermediate_size"),
            NumHiddenLayers: f.RequiredInt("num_hidden_layers"),
            NumAttentionHeads: heads,
            NumKeyValueHeads: f.OptionalInt("num_key_value_heads") ?? heads,
            HeadDim: f.OptionalInt("head_dim"),
            VocabSize: f.RequiredInt("vocab_size"),
            MaxPositionEmbeddings: f.OptionalInt("max_position_embeddings") ?? defaultPositions,
            NormEps: f.OptionalDouble("rms_norm_eps") ?? 1e-6,
            RopeTheta: f.OptionalDouble("rope_theta") ?? 10000,
            TieWordEmbeddings: f.OptionalBool("tie_word_embeddings") ?? false,
            // Qwen2 always has q/k/v biases; its config class has no switch for them.
            AttentionBias: qwen2 || (f.OptionalBool("attention_bias") ?? false),
            TorchDtype: dtype,
            Activation: f.OptionalString("hidden_act") ?? "silu");
    }

    private static HfConfig ParseGpt2(Fields f, string path, string architecture, string? modelType, string? dtype)
    {
        int hidden = f.RequiredInt("n_embd");
        int heads = f.RequiredInt("n_head");
        int? inner = f.OptionalInt("n_inner");
        if (inner == null && hidden > int.MaxValue / 4)
            throw BadInputException.InFile(path, $"field 'n_embd' ({hidden}) is too large");
        return new HfConfig(
            path, architecture, modelType,
            HiddenSize: hidden,
            IntermediateSize: inner ?? 4 * hidden,
            NumHiddenLayers: f.RequiredInt("n_layer"),
            NumAttentionHeads: heads,
            NumKeyValueHeads: heads,
            HeadDim: null,
            VocabSize: f.RequiredInt("vocab_size"),
            MaxPositionEmbeddings: f.OptionalInt("n_positions") ?? 1024,
            NormEps: f.OptionalDouble("layer_norm_epsilon") ?? 1e-5,
            RopeTheta: 0,
            TieWordEmbeddings: f.OptionalBool("tie_word_embeddings") ?? true,
            AttentionBias: true,
            TorchDtype: dtype,
            Activation: f.OptionalString("activation_function") ?? "gelu_new");
    }

    /// <summary>The architecture-independent shape, validated; q/k norm is on for Qwen3 only, and rotary embeddings use Hugging Face's halves layout.</summary>
    public ModelConfig ToModelConfig()
    {
        bool gpt2 = IsGpt2;
        int heads = NumAttentionHeads;
        int headDim = HeadDim ?? (heads > 0 && HiddenSize % heads == 0 ? HiddenSize / heads : 0);
        var config = new ModelConfig(
            Family: gpt2 ? ModelConfig.Gpt2 : ModelConfig.Llama,
            Architecture: Architecture,
            Layers: NumHiddenLayers,
            Hidden: HiddenSize,
            Heads: heads,
            KvHeads: NumKeyValueHeads,
            HeadDim: headDim,
            Intermediate: IntermediateSize,
            Vocab: VocabSize,
            MaxPositions: MaxPositionEmbeddings,
            NormEps: NormEps,
            RopeTheta: RopeTheta,
            TiedEmbeddings: TieWordEmbeddings,
            QkvBias: AttentionBias,
            QkNorm: Architecture == "Qwen3ForCausalLM",
            InterleavedRope: false,
            Activation: Activation);
        return config.Validate(Path, explicitHeadDim: HeadDim != null);
    }

    /// <summary>Typed access to top-level fields; every error names the file and the field.</summary>
    private sealed class Fields(JsonElement root, string path)
    {
        /// <summary>The config's root object.</summary>
        public JsonElement Root => root;

        /// <summary>True when the field is absent or null.</summary>
        public bool IsNull(string name) => !root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null;

        private JsonElement? Get(string name) =>
            root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        /// <summary>An integer field that must be present.</summary>
        public int RequiredInt(string name) =>
            OptionalInt(name) ?? throw BadInputException.InFile(path, $"missing field '{name}'");

        /// <summary>An integer field, or null when absent; integral floats such as 4096.0 are accepted.</summary>
        public int? OptionalInt(string name)
        {
            if (Get(name) is not { } v) return null;
            // Some exporters write integral floats ("hidden_size": 4096.0); anything else is a mistake.
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || d != Math.Floor(d) || d < int.MinValue || d > int.MaxValue)
                throw BadInputException.InFile(path, $"field '{name}' must be an integer, got {Describe(v)}");
            return (int)d;
        }

        /// <summary>A finite number field, or null when absent.</summary>
        public double? OptionalDouble(string name)
        {
            if (Get(name) is not { } v) return null;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d))
                throw BadInputException.InFile(path, $"field '{name}' must be a number, got {Describe(v)}");
            return d;
        }

        /// <summary>A true/false field, or null when absent.</summary>
        public bool? OptionalBool(string name)
        {
            if (Get(name) is not { } v) return null;
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw BadInputException.InFile(path, $"field '{name}' must be true or false, got {Describe(v)}"),
            };
        }

        /// <summary>A string field, or null when absent.</summary>
        public string? OptionalString(string name)
        {
            if (Get(name) is not { } v) return null;
            if (v.ValueKind != JsonValueKind.String)
                throw BadInputException.InFile(path, $"field '{name}' must be a string, got {Describe(v)}");
            return v.GetString();
        }

        private static string Describe(JsonElement v)
        {
            var text = v.GetRawText();
            if (text.Length > 40) text = text[..40] + "...";
            return $"{v.ValueKind.ToString().ToLowerInvariant()} {text}";
        }
    }
}
