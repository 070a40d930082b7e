using System.Text.Json.Nodes;
using LayerCard.Models;
using LayerCard.Models.Checkpoints;
using LayerCard.Tests.Models;
using static TorchSharp.torch;

namespace LayerCard.Tests.Foundation;

/// <summary>
/// Writes tiny checkpoints laid out as the Hugging Face Hub publishes them: config.json with each
/// architecture's own field names (not LayerCard's), and the weights as model.safetensors or shards.
/// The config is built from the test's ModelConfig independently of HfConfig, so a field the loader
/// misreads shows up as a logits mismatch rather than being mirrored.
/// </summary>
public static class HfModelFolder
{
    public static JsonObject Config(ModelConfig c)
    {
        if (c.Family == ModelConfig.Gpt2)
        {
            // The fields of openai-community/gpt2's config.json, dropout and summary fields included.
            return new JsonObject
            {
                ["activation_function"] = "gelu_new",
                ["architectures"] = new JsonArray("GPT2LMHeadModel"),
                ["attn_pdrop"] = 0.1, ["embd_pdrop"] = 0.1, ["resid_pdrop"] = 0.1,
                ["bos_token_id"] = c.Vocab - 1, ["eos_token_id"] = c.Vocab - 1,
                ["initializer_range"] = 0.02,
                ["layer_norm_epsilon"] = c.NormEps,
                ["model_type"] = "gpt2",
                ["n_ctx"] = c.MaxPositions,
                ["n_embd"] = c.Hidden,
                ["n_head"] = c.Heads,
                ["n_layer"] = c.Layers,
                ["n_positions"] = c.MaxPositions,
                ["summary_activation"] = null,
                ["summary_first_dropout"] = 0.1,
                ["summary_proj_to_labels"] = true,
                ["summary_type"] = "cls_index",
                ["summary_use_proj"] = true,
                ["task_specific_params"] = new JsonObject { ["text-generation"] = new JsonObject { ["do_sample"] = true, ["max_length"] = 50 } },
                ["vocab_size"] = c.Vocab,
            };
        }
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray(c.Architecture),
            ["attention_dropout"] = 0.0,
            ["bos_token_id"] = 1,
            ["eos_token_id"] = 2,
            ["hidden_act"] = "silu",
            ["hidden_size"] = c.Hidden,
            ["initializer_range"] = 0.02,
            ["intermediate_size"] = c.Intermediate,
            ["max_position_embeddings"] = c.MaxPositions,
            ["model_type"] = ModelType(c.Architecture),
            ["num_attention_heads"] = c.Heads,
            ["num_hidden_layers"] = c.Layers,
            ["num_key_value_heads"] = c.KvHeads,
            ["rms_norm_eps"] = c.NormEps,
            ["rope_scaling"] = null,
            ["rope_theta"] = c.RopeTheta,
            ["tie_word_embeddings"] = c.TiedEmbeddings,
            ["torch_dtype"] = "float32",
            ["transformers_version"] = "4.51.0",
            ["use_cache"] = true,
            ["vocab_size"] = c.Vocab,
        };
        switch (c.Architecture)
        {
            case "LlamaForCausalLM":
                config["attention_bias"] = false;
                config["mlp_bias"] = false;
                config["pretraining_tp"] = 1;
                break;
            case "MistralForCausalLM":
                config["sliding_window"] = null;
                break;
            case "Qwen2ForCausalLM":
                // Qwen2 has q/k/v biases without any config switch for them.
                config["use_sliding_window"] = false;
                config["sliding_window"] = 32768;
                config["max_window_layers"] = c.Layers;
                break;
            case "Qwen3ForCausalLM":
                config["attention_bias"] = false;
                config["head_dim"] = c.HeadDim;
                config["use_sliding_window"] = false;
                config["sliding_window"] = null;
                config["max_window_layers"] = c.Layers;
                break;
        }
        return config;
    }

    private static string ModelType(string architecture) => architecture switch
    {
        "LlamaForCausalLM" => "llama",
        "MistralForCausalLM" => "mistral",
        "Qwen2ForCausalLM" => "qwen2",
        "Qwen3ForCausalLM" => "qwen3",
        _ => throw new ArgumentException(architecture),
    };

    public static void WriteConfig(string folder, JsonObject config)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>
    /// Writes config.json and the weights (as given: names and dtypes untouched) in one file or
    /// <paramref name="shards"/> files with an index. Returns the folder.
    /// </summary>
    public static string Write(string folder, ModelConfig c, IReadOnlyDictionary<string, Tensor> weights, int shards = 1, Action<JsonObject>? editConfig = null)
    {
        var config = Config(c);
        editConfig?.Invoke(config);
        WriteConfig(folder, config);
        if (shards == 1) HfCheckpoint.WriteSingle(folder, weights);
        else HfCheckpoint.WriteSharded(folder, weights, shards);
        return folder;
    }

    /// <summary>
    /// GPT-2 weights as openai-community/gpt2's model.safetensors stores them: no "transformer." prefix, and
    /// the causal-mask buffer attn.bias [1, 1, n_positions, n_positions] saved alongside each block.
    /// </summary>
    public static Dictionary<string, Tensor> Gpt2HubNames(ModelConfig c, IReadOnlyDictionary<string, Tensor> weights)
    {
        var result = weights.ToDictionary(w => w.Key.StartsWith("transformer.", StringComparison.Ordinal) ? w.Key["transformer.".Length..] : w.Key, w => w.Value);
        for (int i = 0; i < c.Layers; i++)
            result[$"h.{i}.attn.bias"] = ones(c.MaxPositions, c.MaxPositions).tril().view(1, 1, c.MaxPositions, c.MaxPositions);
        return result;
    }

    /// <summary>A tiny Llama checkpoint that bad-input cases start from before breaking one thing.</summary>
    public static (ModelConfig Config, Dictionary<string, Tensor> Weights) Tiny(string architecture = "LlamaForCausalLM", bool tied = false)
    {
        var config = TinyModels.Llama(architecture, layers: 1, hidden: 16, heads: 2, kvHeads: 1, intermediate: 24, tied: tied);
        return (config, TinyModels.RandomWeights(config, seed: 1));
    }
}
