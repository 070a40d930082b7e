using System.Text.Json.Nodes;
using LayerCard.Models;
using LayerCard.Models.Checkpoints;
using static TorchSharp.torch;

namespace LayerCard.Tests.Models;

/// <summary>Writes tiny random models as real Hugging Face folders (config.json + safetensors + a byte tokenizer).</summary>
public static class TinyHfDirectory
{
    public static string Write(string directory, ModelConfig c, Dictionary<string, Tensor> weights, int shards = 1, bool withTokenizer = true)
    {
        Directory.CreateDirectory(directory);
        if (shards > 1) HfCheckpoint.WriteSharded(directory, weights, shards);
        else HfCheckpoint.WriteSingle(directory, weights);
        File.WriteAllText(Path.Combine(directory, "config.json"), ConfigJson(c).ToJsonString());
        if (withTokenizer) WriteByteTokenizer(directory, c.Vocab);
        return directory;
    }

    public static JsonObject ConfigJson(ModelConfig c) => c.Family == "gpt2"
        ? new JsonObject
        {
            ["architectures"] = new JsonArray("GPT2LMHeadModel"), ["model_type"] = "gpt2", ["n_embd"] = c.Hidden, ["n_layer"] = c.Layers,
            ["n_head"] = c.Heads, ["n_positions"] = c.MaxPositions, ["vocab_size"] = c.Vocab, ["layer_norm_epsilon"] = c.NormEps,
            ["activation_function"] = "gelu_new", ["n_inner"] = null,
        }
        : new JsonObject
        {
            ["architectures"] = new JsonArray(c.Architecture), ["hidden_size"] = c.Hidden, ["intermediate_size"] = c.Intermediate,
            ["num_hidden_layers"] = c.Layers, ["num_attention_heads"] = c.Heads, ["num_key_value_heads"] = c.KvHeads,
            ["head_dim"] = c.HeadDim, ["vocab_size"] = c.Vocab, ["max_position_embeddings"] = c.MaxPositions,
            ["rms_norm_eps"] = c.NormEps, ["rope_theta"] = c.RopeTheta, ["tie_word_embeddings"] = c.TiedEmbeddings,
            ["attention_bias"] = c.QkvBias, ["torch_dtype"] = "float32",
        };

    /// <summary>
    /// A byte-level BPE tokenizer.json with no merges: ids 0..(vocab-1) map to the first byte symbols, so any
    /// ASCII text tokenizes one id per character. Enough for training and evaluation tests.
    /// </summary>
    public static void WriteByteTokenizer(string directory, int vocab)
    {
        var symbols = ByteSymbols();
        var entries = new JsonObject();
        // Printable ASCII first so that text tokenizes inside a small vocabulary; the last id is EOS.
        var order = Enumerable.Range(32, 95).Concat([10]).Select(b => symbols[b]).Distinct().Take(vocab - 1).ToList();
        for (int i = 0; i < order.Count; i++) entries[order[i]] = i;
        var eos = "<|endoftext|>";
        var json = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(new JsonObject { ["id"] = vocab - 1, ["content"] = eos, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = null,
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject { ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false, ["vocab"] = entries, ["merges"] = new JsonArray() },
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), json.ToJsonString());
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), new JsonObject { ["eos_token"] = eos, ["bos_token"] = null }.ToJsonString());
    }

    private static Dictionary<int, string> ByteSymbols()
    {
        var bytes = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToList();
        var chars = bytes.ToList();
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            if (bytes.Contains(b)) continue;
            bytes.Add(b);
            chars.Add(256 + n++);
        }
        return bytes.Zip(chars).ToDictionary(p => p.First, p => ((char)p.Second).ToString());
    }
}
