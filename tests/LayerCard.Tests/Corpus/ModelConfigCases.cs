using System.Text.Json.Nodes;
using LayerCard.Tests.Foundation;
using LayerCard.Tests.Models;
using static LayerCard.Tests.Corpus.CorpusFiles;

namespace LayerCard.Tests.Corpus;

/// <summary>config.json mistakes: hand edits, configs of other architectures, and shapes no model can have.</summary>
public static class ModelConfigCases
{
    private static BadInputCase Config(string name, string fragment, Action<JsonObject> edit) =>
        new(name, root => Info(TinyModel(root, config: edit)), fragment, "config.json");

    public static IEnumerable<BadInputCase> Cases =>
    [
        Config("missing-hidden_size", "missing field 'hidden_size'", c => c.Remove("hidden_size")),
        Config("missing-architectures", "missing field 'architectures'", c => c.Remove("architectures")),
        Config("empty-architectures", "'architectures' must be a non-empty array", c => c["architectures"] = new JsonArray()),
        Config("unknown-architecture", "architecture 'FalconForCausalLM' is not supported", c => c["architectures"] = new JsonArray("FalconForCausalLM")),
        Config("layers-as-string", "field 'num_hidden_layers' must be an integer", c => c["num_hidden_layers"] = "1"),
        Config("fractional-hidden_size", "field 'hidden_size' must be an integer", c => c["hidden_size"] = 16.5),
        Config("tie-as-string", "field 'tie_word_embeddings' must be true or false", c => c["tie_word_embeddings"] = "yes"),
        Config("eps-as-string", "field 'rms_norm_eps' must be a number", c => c["rms_norm_eps"] = "1e-6"),
        Config("rope-scaling", "rope_scaling is not supported", c => c["rope_scaling"] = new JsonObject { ["type"] = "linear", ["factor"] = 2.0 }),
        Config("zero-layers", "layers must be positive, got 0", c => c["num_hidden_layers"] = 0),
        Config("negative-vocab", "vocab size must be positive, got -97", c => c["vocab_size"] = -97),
        Config("heads-not-dividing-hidden", "hidden size 16 is not divisible by 3 attention heads", c => c["num_attention_heads"] = 3),
        Config("kv-heads-not-dividing-heads", "2 attention heads are not divisible by 3 key/value heads", c => c["num_key_value_heads"] = 3),
        Config("zero-rope-theta", "rope theta must be a positive number", c => c["rope_theta"] = 0),
        // Dimensions far beyond the weights: the model would be allocated before any shape is compared.
        Config("vocab-huge", "describes a model of at least", c => c["vocab_size"] = int.MaxValue),
        Config("hidden-huge", "describes a model of at least", c => { c["hidden_size"] = 1 << 24; c["num_attention_heads"] = 1 << 20; c["num_key_value_heads"] = 1 << 20; }),
        Config("layers-huge", "describes a model of at least", c => c["num_hidden_layers"] = 100_000),
        Config("intermediate-huge", "describes a model of at least", c => c["intermediate_size"] = int.MaxValue),
        new("gpt2-positions-huge", root =>
        {
            var config = TinyModels.Gpt2(layers: 1, hidden: 16, heads: 2);
            var folder = HfModelFolder.Write(Path.Combine(root, "gpt2"), config, TinyModels.RandomWeights(config, 1), editConfig: c => c["n_positions"] = 1 << 30);
            return Info(folder);
        }, "describes a model of at least", "config.json"),
        new("invalid-json", root => Info(TinyModelWithConfigText(root, "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 16,")),
            "not valid JSON", "config.json"),
        new("empty-file", root => Info(TinyModelWithConfigText(root, "")), "not valid JSON", "config.json"),
        new("not-an-object", root => Info(TinyModelWithConfigText(root, "[\"LlamaForCausalLM\"]")), "must be a JSON object", "config.json"),
        new("gpt2-missing-n_embd", root =>
        {
            var config = TinyModels.Gpt2(layers: 1, hidden: 16, heads: 2);
            var folder = HfModelFolder.Write(Path.Combine(root, "gpt2"), config, TinyModels.RandomWeights(config, 1), editConfig: c => c.Remove("n_embd"));
            return Info(folder);
        }, "missing field 'n_embd'", "config.json"),
    ];
}
