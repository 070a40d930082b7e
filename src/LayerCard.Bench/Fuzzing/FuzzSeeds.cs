using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using LayerCard.Models;
using LayerCard.Models.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Bench.Fuzzing;

/// <summary>What a fuzz case feeds to the loaders; each kind is a valid file set that mutations then damage.</summary>
public static class FuzzKinds
{
    /// <summary>A Llama model folder: config.json, one fp32 model.safetensors and tokenizer.json.</summary>
    public const string HfLlama = "hf-llama";
    /// <summary>A Qwen3 model folder sharded over three BF16 safetensors files with an index (explicit head_dim, q/k norms, tied head); no tokenizer.</summary>
    public const string HfSharded = "hf-sharded";
    /// <summary>A GPT-2 model folder with FP16 weights, vocab.json and merges.txt.</summary>
    public const string HfGpt2 = "hf-gpt2";
    /// <summary>A llama2.c model.bin with its tokenizer.bin.</summary>
    public const string Llama2c = "llama2c";
    /// <summary>A tokenizer.json (byte-level BPE) with tokenizer_config.json.</summary>
    public const string TokenizerJson = "tokenizer-json";
    /// <summary>GPT-2-style vocab.json and merges.txt.</summary>
    public const string VocabMerges = "vocab-merges";
    /// <summary>A llama2.c tokenizer file, tok300.bin.</summary>
    public const string TokenizerBin = "tokenizer-bin";

    /// <summary>Every kind, in the order seeds are written.</summary>
    public static IReadOnlyList<string> All { get; } = [HfLlama, HfSharded, HfGpt2, Llama2c, TokenizerJson, VocabMerges, TokenizerBin];

    /// <summary>The kinds that are a tokenizer alone, loaded with the tokenizer loader.</summary>
    public static IReadOnlyList<string> Tokenizers { get; } = [TokenizerJson, VocabMerges, TokenizerBin];

    /// <summary>
    /// Kinds from a comma-separated list of kind names, or "all", "models" or "tokenizers"; null when a name is
    /// unknown. Cases cycle through the kinds in the order given, so a case index names a case only with the same list.
    /// </summary>
    public static IReadOnlyList<string>? Parse(string list)
    {
        var kinds = new List<string>();
        foreach (var name in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            IEnumerable<string>? named = name switch
            {
                "all" => All,
                "models" => All.Where(IsModel),
                "tokenizers" => Tokenizers,
                _ => All.Contains(name) ? [name] : null,
            };
            if (named == null) return null;
            kinds.AddRange(named.Where(k => !kinds.Contains(k)));
        }
        return kinds.Count == 0 ? null : kinds;
    }

    /// <summary>Whether <paramref name="kind"/> is a model (loaded with the model loader) rather than a tokenizer alone.</summary>
    public static bool IsModel(string kind) => kind is HfLlama or HfSharded or HfGpt2 or Llama2c;
}

/// <summary>
/// Writes the valid seed file sets. Everything is tiny (a few KB per kind) so a case can copy its seed and
/// load it in milliseconds, and deterministic in the seed so a failing case can be rebuilt from SEED:INDEX.
/// </summary>
public static class FuzzSeeds
{
    /// <summary>The vocabulary size of every seed model, which the llama2.c tokenizer seed matches exactly.</summary>
    public const int Vocab = 300;

    /// <summary>Writes every kind under <paramref name="root"/>/KIND.</summary>
    public static void WriteAll(string root, long seed)
    {
        foreach (var kind in FuzzKinds.All) Write(Path.Combine(root, kind), kind, seed);
    }

    /// <summary>Writes the valid file set of <paramref name="kind"/> into <paramref name="folder"/>, its weights drawn from <paramref name="seed"/>.</summary>
    public static void Write(string folder, string kind, long seed)
    {
        Directory.CreateDirectory(folder);
        switch (kind)
        {
            case FuzzKinds.HfLlama:
            {
                var c = Config("llama", "LlamaForCausalLM", layers: 2, hidden: 16, heads: 4, kvHeads: 2, headDim: 4, intermediate: 24, positions: 64, tied: false);
                WriteHf(folder, c, seed, shards: 1, ScalarType.Float32);
                WriteTokenizerJson(folder);
                break;
            }
            case FuzzKinds.HfSharded:
            {
                // Qwen3: explicit head_dim (heads * head_dim != hidden), q/k norms, tied head, BF16 on disk.
                var c = Config("llama", "Qwen3ForCausalLM", layers: 2, hidden: 16, heads: 4, kvHeads: 2, headDim: 8, intermediate: 24, positions: 64, tied: true);
                WriteHf(folder, c, seed, shards: 3, ScalarType.BFloat16);
                break;
            }
            case FuzzKinds.HfGpt2:
            {
                var c = Config("gpt2", "GPT2LMHeadModel", layers: 2, hidden: 16, heads: 2, kvHeads: 2, headDim: 8, intermediate: 64, positions: 32, tied: true);
                WriteHf(folder, c, seed, shards: 1, ScalarType.Float16);
                WriteVocabMerges(folder);
                break;
            }
            case FuzzKinds.Llama2c:
            {
                var c = Config("llama", "llama2c", layers: 2, hidden: 16, heads: 2, kvHeads: 1, headDim: 8, intermediate: 24, positions: 32, tied: true)
                    with { InterleavedRope = true };
                using (var scope = torch.NewDisposeScope())
                    Llama2cCheckpoint.Write(Path.Combine(folder, "model.bin"), c, Weights(c, seed));
                WriteTokenizerBin(Path.Combine(folder, "tokenizer.bin"));
                break;
            }
            case FuzzKinds.TokenizerJson: WriteTokenizerJson(folder); break;
            case FuzzKinds.VocabMerges: WriteVocabMerges(folder); break;
            case FuzzKinds.TokenizerBin: WriteTokenizerBin(Path.Combine(folder, "tok300.bin")); break;
            default: throw new ArgumentException($"unknown fuzz kind '{kind}'", nameof(kind));
        }
    }

    private static ModelConfig Config(string family, string architecture, int layers, int hidden, int heads, int kvHeads, int headDim,
        int intermediate, int positions, bool tied) =>
        new(family, architecture, layers, hidden, heads, kvHeads, headDim, intermediate, Vocab, positions,
            family == "gpt2" ? 1e-5 : 1e-6, family == "gpt2" ? 0 : 10000.0, tied,
            QkvBias: family == "gpt2", QkNorm: architecture == "Qwen3ForCausalLM", InterleavedRope: false,
            Activation: family == "gpt2" ? "gelu_new" : "silu");

    private static void WriteHf(string folder, ModelConfig c, long seed, int shards, ScalarType dtype)
    {
        using (var scope = torch.NewDisposeScope())
        {
            var weights = Weights(c, seed).ToDictionary(p => p.Key, p => p.Value.to(dtype));
            if (shards > 1) HfCheckpoint.WriteSharded(folder, weights, shards);
            else HfCheckpoint.WriteSingle(folder, weights);
        }
        File.WriteAllText(Path.Combine(folder, "config.json"), ConfigJson(c).ToJsonString());
    }

    /// <summary>
    /// Random weights under the names the model itself declares, so the seed always matches what the loader
    /// expects. Values come from System.Random, not torch's global generator, so parallel tests stay deterministic.
    /// </summary>
    private static Dictionary<string, Tensor> Weights(ModelConfig c, long seed)
    {
        using var model = WeightLoading.Create(c);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, parameter) in model.BaseParameters().OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var random = new Random(unchecked((int)seed * 31 + StableHash(name)));
            var values = new float[parameter.numel()];
            bool norm = name.Contains("norm", StringComparison.Ordinal) || name.Contains(".ln_", StringComparison.Ordinal);
            for (int i = 0; i < values.Length; i++)
                values[i] = norm && name.EndsWith(".weight", StringComparison.Ordinal)
                    ? 1f + (float)(random.NextDouble() - 0.5) * 0.2f
                    : (float)(random.NextDouble() - 0.5) * 0.6f;
            result[name] = torch.tensor(values, parameter.shape);
        }
        return result;
    }

    private static int StableHash(string text)
    {
        unchecked
        {
            int hash = 17;
            foreach (char ch in text) hash = hash * 31 + ch;
            return hash;
        }
    }

    private static JsonObject ConfigJson(ModelConfig c) => c.Family == "gpt2"
        ? new JsonObject
        {
            ["architectures"] = new JsonArray("GPT2LMHeadModel"), ["model_type"] = "gpt2", ["n_embd"] = c.Hidden, ["n_layer"] = c.Layers,
            ["n_head"] = c.Heads, ["n_positions"] = c.MaxPositions, ["vocab_size"] = c.Vocab, ["layer_norm_epsilon"] = c.NormEps,
            ["activation_function"] = "gelu_new", ["n_inner"] = null, ["torch_dtype"] = "float16",
        }
        : new JsonObject
        {
            ["architectures"] = new JsonArray(c.Architecture), ["model_type"] = c.Architecture == "Qwen3ForCausalLM" ? "qwen3" : "llama",
            ["hidden_size"] = c.Hidden, ["intermediate_size"] = c.Intermediate, ["num_hidden_layers"] = c.Layers,
            ["num_attention_heads"] = c.Heads, ["num_key_value_heads"] = c.KvHeads, ["head_dim"] = c.HeadDim, ["vocab_size"] = c.Vocab,
            ["max_position_embeddings"] = c.MaxPositions, ["rms_norm_eps"] = c.NormEps, ["rope_theta"] = c.RopeTheta,
            ["tie_word_embeddings"] = c.TiedEmbeddings, ["attention_bias"] = false, ["hidden_act"] = "silu", ["rope_scaling"] = null,
            ["torch_dtype"] = c.Architecture == "Qwen3ForCausalLM" ? "bfloat16" : "float32",
        };

    // A handful of byte-level BPE merges, so encoding really merges; every part and result is in the vocabulary.
    private static readonly string[] Merges =
        ["Ġ t", "h e", "Ġt he", "l l", "e ll", "h ell", "hell o", "o r", "w or", "l d", "wor ld", "Ġ w", "Ġ world", "i n", "in g"];

    /// <summary>The end-of-text token of the BPE seeds (EOS in tokenizer_config.json).</summary>
    public const string EndOfText = "<|endoftext|>";

    /// <summary>The 256 byte symbols (ids 0..255), then one id per merge result, then &lt;|endoftext|&gt;.</summary>
    private static List<string> BpeVocabulary()
    {
        var symbols = ByteSymbols();
        var vocab = Enumerable.Range(0, 256).Select(b => symbols[b]).ToList();
        foreach (var merge in Merges) vocab.Add(merge.Replace(" ", "", StringComparison.Ordinal));
        return vocab;
    }

    /// <summary>GPT-2's bytes_to_unicode table, so every byte has a printable symbol.</summary>
    private static string[] ByteSymbols()
    {
        var table = new string[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = ((char)(printable ? b : next++)).ToString();
        }
        return table;
    }

    /// <summary>Writes a byte-level BPE tokenizer.json (256 byte symbols, a few merges, &lt;|endoftext|&gt; as a special added token) and a tokenizer_config.json with no BOS and &lt;|endoftext|&gt; as EOS.</summary>
    public static void WriteTokenizerJson(string folder)
    {
        var vocabulary = BpeVocabulary();
        var vocab = new JsonObject();
        for (int i = 0; i < vocabulary.Count; i++) vocab[vocabulary[i]] = i;
        JsonObject ByteLevel() => new() { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true };
        var json = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(new JsonObject
            {
                ["id"] = vocabulary.Count, ["content"] = EndOfText, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = ByteLevel(),
            ["post_processor"] = ByteLevel(),
            ["decoder"] = ByteLevel(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["vocab"] = vocab, ["merges"] = new JsonArray(Merges.Select(m => (JsonNode)m).ToArray()),
            },
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), json.ToJsonString());
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"),
            new JsonObject { ["bos_token"] = null, ["eos_token"] = EndOfText, ["model_max_length"] = 64 }.ToJsonString());
    }

    /// <summary>Writes the same BPE vocabulary, &lt;|endoftext|&gt; included, as vocab.json and merges.txt.</summary>
    public static void WriteVocabMerges(string folder)
    {
        var vocabulary = BpeVocabulary();
        vocabulary.Add(EndOfText);
        var vocab = new JsonObject();
        for (int i = 0; i < vocabulary.Count; i++) vocab[vocabulary[i]] = i;
        File.WriteAllText(Path.Combine(folder, "vocab.json"), vocab.ToJsonString());
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n" + string.Join("\n", Merges) + "\n");
    }

    /// <summary>
    /// A minimal llama2.c tokenizer: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256 byte tokens, then the letters and a few
    /// merged pieces with scores, so run.c's merge loop has work to do.
    /// </summary>
    public static void WriteTokenizerBin(string path)
    {
        var pieces = new List<(string Text, float Score)> { ("<unk>", 0), ("\n<s>\n", 0), ("\n</s>\n", 0) };
        for (int b = 0; b < 256; b++) pieces.Add(($"<0x{b:X2}>", 0));
        pieces.Add((" ", -1));
        for (char ch = 'a'; ch <= 'z'; ch++) pieces.Add((ch.ToString(), -2));
        // 3 + 256 + 27 + 14 = 300 tokens: exactly the seed models' vocabulary.
        string[] merged = [" t", "he", " the", "ll", "ell", "hell", "hello", " h", " hello", "or", "ld", "orld", " w", " world"];
        for (int i = 0; i < merged.Length; i++) pieces.Add((merged[i], -3 - i * 0.5f));
        var bytes = new List<byte>();
        var buffer = new byte[4];
        void Int(int v) { BinaryPrimitives.WriteInt32LittleEndian(buffer, v); bytes.AddRange(buffer); }
        Int(pieces.Max(p => Encoding.UTF8.GetByteCount(p.Text)));
        foreach (var (text, score) in pieces)
        {
            BinaryPrimitives.WriteSingleLittleEndian(buffer, score);
            bytes.AddRange(buffer);
            var utf8 = Encoding.UTF8.GetBytes(text);
            Int(utf8.Length);
            bytes.AddRange(utf8);
        }
        File.WriteAllBytes(path, bytes.ToArray());
    }
}
