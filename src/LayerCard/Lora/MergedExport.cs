using System.Text.Json.Nodes;
using LayerCard.Common;
using LayerCard.Models;
using LayerCard.Models.Checkpoints;
using static TorchSharp.torch;

namespace LayerCard.Lora;

/// <summary>
/// Writes a model (typically with adapters merged into its weights) as a Hugging Face model folder:
/// config.json, model.safetensors and the tokenizer files, replacing the target folder atomically.
/// </summary>
public static class MergedExport
{
    /// <summary>Writes <paramref name="loaded"/>'s base weights as float32 model.safetensors (llama2.c q/k rows reordered to HF's rotary layout), a config.json (the source's own with torch_dtype float32, or one built for Llama), and the tokenizer files found beside the source; the whole folder is replaced atomically. Adapters not merged first are not included.</summary>
    public static void Write(string directory, LoadedModel loaded)
    {
        var config = loaded.Config;
        AtomicFile.WriteDirectory(directory, temporary =>
        {
            var tensors = new Dictionary<string, Tensor>();
            using var scope = NewDisposeScope();
            foreach (var (name, parameter) in loaded.Model.BaseParameters())
            {
                var value = parameter.detach().cpu();
                // llama2.c rotates adjacent pairs; HF Llama rotates halves. Permuting q/k rows per head, as
                // llama2.c's own HF export does, makes the same model under HF's convention.
                if (config.InterleavedRope && (name.EndsWith("q_proj.weight", StringComparison.Ordinal) || name.EndsWith("k_proj.weight", StringComparison.Ordinal)))
                    value = InterleavedToHalves(value, config.HeadDim);
                tensors[name] = value;
            }
            HfCheckpoint.WriteSingle(temporary, tensors, new Dictionary<string, string> { ["format"] = "pt" });
            AtomicFile.WriteAllText(Path.Combine(temporary, "config.json"), ConfigJson(loaded).ToJsonString(new() { WriteIndented = true }));
            CopyTokenizer(loaded, temporary);
        });
    }

    /// <summary>Reorders each head's output rows from (x0, y0, x1, y1, ...) pairs to (x0, x1, ..., y0, y1, ...) halves.</summary>
    public static Tensor InterleavedToHalves(Tensor weight, int headDim)
    {
        var rows = weight.shape[0];
        var heads = rows / headDim;
        return weight.reshape(heads, headDim / 2, 2, weight.shape[1]).transpose(1, 2).reshape(rows, weight.shape[1]).contiguous();
    }

    private static JsonObject ConfigJson(LoadedModel loaded)
    {
        var source = Directory.Exists(loaded.Source) ? Path.Combine(loaded.Source, "config.json") : null;
        if (source != null && File.Exists(source) && JsonNode.Parse(File.ReadAllText(source)) is JsonObject original)
        {
            original["torch_dtype"] = "float32";
            return original;
        }
        var c = loaded.Config;
        return new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_size"] = c.Hidden,
            ["intermediate_size"] = c.Intermediate,
            ["num_hidden_layers"] = c.Layers,
            ["num_attention_heads"] = c.Heads,
            ["num_key_value_heads"] = c.KvHeads,
            ["head_dim"] = c.HeadDim,
            ["vocab_size"] = c.Vocab,
            ["max_position_embeddings"] = c.MaxPositions,
            ["rms_norm_eps"] = c.NormEps,
            ["rope_theta"] = c.RopeTheta,
            ["tie_word_embeddings"] = c.TiedEmbeddings,
            ["hidden_act"] = "silu",
            ["bos_token_id"] = 1,
            ["eos_token_id"] = 2,
            ["torch_dtype"] = "float32",
        };
    }

    private static void CopyTokenizer(LoadedModel loaded, string target)
    {
        var folder = Directory.Exists(loaded.Source) ? loaded.Source : Path.GetDirectoryName(loaded.Source)!;
        var names = new[] { "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json", "generation_config.json", "tokenizer.bin" };
        foreach (var name in names)
        {
            var file = Path.Combine(folder, name);
            if (File.Exists(file)) File.Copy(file, Path.Combine(target, name));
        }
        foreach (var file in Directory.GetFiles(folder, "tok*.bin"))
            if (!File.Exists(Path.Combine(target, Path.GetFileName(file)))) File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
    }
}
