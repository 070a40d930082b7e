using System.Text.Json;
using LayerCard.Common;
using LayerCard.Models;
using LayerCard.Models.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Bench.Benchmarks;

/// <summary>
/// Random-weight models of real shapes, written as Hugging Face folders so that benchmarks go through the same
/// loader as real checkpoints. Speed and memory depend on shapes, not on what the weights have learned.
/// </summary>
public static class RandomModels
{
    /// <summary>GPT-2 small's shape: 12 layers, hidden 768, 12 heads, vocab 50257, 1024 positions (124M parameters).</summary>
    public static ModelConfig Gpt2Small { get; } = new(
        ModelConfig.Gpt2, "GPT2LMHeadModel", 12, 768, 12, 12, 64, 3072, 50257, 1024, 1e-5, 0.0, true, true, false, false, "gelu_new");

    /// <summary>The cache folder name of the random GPT-2-small model.</summary>
    public const string Gpt2SmallName = "gpt2-small-random";

    /// <summary>The folder a cached random model called <paramref name="name"/> lives in, under the asset cache.</summary>
    public static string CacheFolder(string name) => Path.Combine(Assets.CacheRoot(), "bench", name);

    /// <summary>
    /// The cached random GPT-2-small folder (with the real GPT-2 tokenizer), built on first use. Building takes
    /// a while and writes about 500 MB, so it happens once per machine.
    /// </summary>
    public static string EnsureGpt2Small(Action<string>? log = null) =>
        Ensure(Gpt2SmallName, Gpt2Small, seed: 0, folder =>
        {
            var tokenizer = Assets.Resolve("gpt2", "--tokenizer");
            foreach (var file in new[] { "vocab.json", "merges.txt" })
                File.Copy(Path.Combine(tokenizer, file), Path.Combine(folder, file));
        }, log);

    /// <summary>
    /// Returns the folder of a cached random model, writing it first when it is missing. The folder appears
    /// atomically, so a run killed while building leaves no half model for the next run to load.
    /// </summary>
    public static string Ensure(string name, ModelConfig config, long seed, Action<string> writeTokenizer, Action<string>? log = null)
    {
        var folder = CacheFolder(name);
        if (File.Exists(Path.Combine(folder, "config.json")) && File.Exists(Path.Combine(folder, HfCheckpoint.SingleFileName)))
            return folder;
        log?.Invoke($"building {name} in {folder} (once)");
        AtomicFile.WriteDirectory(folder, temporary => Write(temporary, config, seed, writeTokenizer));
        return folder;
    }

    /// <summary>Writes config.json, model.safetensors (fp32, weights ~ N(0, 0.02), norms 1, biases 0) and the tokenizer.</summary>
    public static void Write(string folder, ModelConfig config, long seed, Action<string> writeTokenizer)
    {
        Directory.CreateDirectory(folder);
        // Shapes and names come from the model class itself, so they match what the loader checks for any family.
        using (var model = WeightLoading.Create(config))
        {
            var generator = new torch.Generator((ulong)seed);
            var tensors = new Dictionary<string, Tensor>();
            using (torch.no_grad())
            {
                foreach (var (name, parameter) in model.named_parameters())
                {
                    if (parameter.dim() >= 2) parameter.normal_(0, 0.02, generator);
                    else if (name.EndsWith(".bias", StringComparison.Ordinal)) parameter.zero_();
                    else parameter.fill_(OwnedScalars.One);
                    tensors[name] = parameter;
                }
            }
            HfCheckpoint.WriteSingle(folder, tensors);
        }
        AtomicFile.WriteAllText(Path.Combine(folder, "config.json"), ConfigJson(config));
        writeTokenizer(folder);
    }

    /// <summary>A config.json for <paramref name="c"/> in the naming of its family (GPT-2's n_embd/n_layer or Llama's hidden_size/num_hidden_layers).</summary>
    public static string ConfigJson(ModelConfig c)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("architectures");
            json.WriteStringValue(c.Architecture);
            json.WriteEndArray();
            if (c.Family == ModelConfig.Gpt2)
            {
                json.WriteString("model_type", "gpt2");
                json.WriteNumber("n_embd", c.Hidden);
                json.WriteNumber("n_layer", c.Layers);
                json.WriteNumber("n_head", c.Heads);
                json.WriteNumber("n_inner", c.Intermediate);
                json.WriteNumber("n_positions", c.MaxPositions);
                json.WriteNumber("vocab_size", c.Vocab);
                json.WriteNumber("layer_norm_epsilon", c.NormEps);
                json.WriteString("activation_function", c.Activation);
            }
            else
            {
                json.WriteNumber("hidden_size", c.Hidden);
                json.WriteNumber("intermediate_size", c.Intermediate);
                json.WriteNumber("num_hidden_layers", c.Layers);
                json.WriteNumber("num_attention_heads", c.Heads);
                json.WriteNumber("num_key_value_heads", c.KvHeads);
                json.WriteNumber("head_dim", c.HeadDim);
                json.WriteNumber("vocab_size", c.Vocab);
                json.WriteNumber("max_position_embeddings", c.MaxPositions);
                json.WriteNumber("rms_norm_eps", c.NormEps);
                json.WriteNumber("rope_theta", c.RopeTheta);
                json.WriteBoolean("tie_word_embeddings", c.TiedEmbeddings);
                json.WriteBoolean("attention_bias", c.QkvBias);
            }
            json.WriteString("torch_dtype", "float32");
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
