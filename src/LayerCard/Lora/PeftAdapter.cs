using System.Text.Json;
using System.Text.Json.Nodes;
using LayerCard.Common;
using LayerCard.Models;
using LayerCard.Models.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Lora;

/// <summary>
/// Reads and writes Hugging Face PEFT adapter folders: adapter_config.json (a LoraConfig) and
/// adapter_model.safetensors with keys base_model.model.&lt;module path&gt;.lora_A.weight [r, in] and
/// .lora_B.weight [out, r], so adapters trained here load in PEFT and adapters trained anywhere load here.
/// </summary>
public static class PeftAdapter
{
    /// <summary>PEFT's settings file in an adapter folder.</summary>
    public const string ConfigFile = "adapter_config.json";
    /// <summary>PEFT's weights file in an adapter folder.</summary>
    public const string WeightsFile = "adapter_model.safetensors";
    private const string KeyPrefix = "base_model.model.";

    /// <summary>PEFT's LoraConfig fields for this adapter (also what a plan exports for other trainers).</summary>
    public static JsonObject ConfigJson(LoraConfig config, CausalLM model, string baseModel) =>
        ConfigJson(config, model.LayersPattern, model.Config.Family == "gpt2", baseModel);

    /// <summary>PEFT's LoraConfig fields for <paramref name="config"/> on a model whose layers PEFT finds under <paramref name="layersPattern"/>; <paramref name="baseModel"/> becomes base_model_name_or_path.</summary>
    /// <param name="fanInFanOut">True for GPT-2, whose Conv1D weights are stored [in, out].</param>
    public static JsonObject ConfigJson(LoraConfig config, string layersPattern, bool fanInFanOut, string baseModel) => new()
    {
        ["peft_type"] = "LORA",
        ["task_type"] = "CAUSAL_LM",
        ["base_model_name_or_path"] = baseModel,
        ["r"] = config.Rank,
        ["lora_alpha"] = config.Alpha,
        ["lora_dropout"] = config.Dropout,
        ["target_modules"] = new JsonArray(config.Targets.Select(t => (JsonNode)t).ToArray()),
        ["layers_to_transform"] = new JsonArray(config.Layers.Order().Select(l => (JsonNode)l).ToArray()),
        ["layers_pattern"] = layersPattern,
        ["use_rslora"] = config.UseRsLora,
        ["bias"] = "none",
        ["fan_in_fan_out"] = fanInFanOut,
        ["inference_mode"] = true,
        ["init_lora_weights"] = true,
        ["modules_to_save"] = null,
        ["use_dora"] = false,
        ["rank_pattern"] = new JsonObject(),
        ["alpha_pattern"] = new JsonObject(),
        ["revision"] = null,
    };

    /// <summary>Writes the adapters' A and B (on the CPU, under PEFT's key names) and adapter_config.json into <paramref name="directory"/>; <paramref name="baseModel"/> is recorded as base_model_name_or_path.</summary>
    public static void Save(string directory, LoraModel lora, string baseModel)
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (path, adapter) in lora.Adapters)
        {
            tensors[$"{KeyPrefix}{path}.lora_A.weight"] = adapter.A.detach().cpu();
            tensors[$"{KeyPrefix}{path}.lora_B.weight"] = adapter.B.detach().cpu();
        }
        var json = ConfigJson(lora.Config, lora.Model, baseModel).ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        Directory.CreateDirectory(directory);
        SafetensorsWriter.Write(Path.Combine(directory, WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteAllText(Path.Combine(directory, ConfigFile), json);
    }

    /// <summary>Reads adapter_config.json into a LoraConfig (layers from layers_to_transform, else from the weights' keys).</summary>
    public static LoraConfig ReadConfig(string directory, CausalLM model)
    {
        var path = Path.Combine(directory, ConfigFile);
        if (!File.Exists(path)) throw BadInputException.InFile(directory, $"not a PEFT adapter folder: no {ConfigFile}");
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw BadInputException.InFile(path, $"not valid JSON ({e.Message})"); }
        if (root is not JsonObject o) throw BadInputException.InFile(path, "expected a JSON object");
        string Str(string name) => o[name]?.GetValueKind() == JsonValueKind.String ? o[name]!.GetValue<string>() : throw BadInputException.InFile(path, $"field '{name}' must be a string");
        double Num(string name, double? fallback = null) => o[name] is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? v.GetValue<double>()
            : fallback ?? throw BadInputException.InFile(path, $"field '{name}' must be a number");
        if (!string.Equals(Str("peft_type"), "LORA", StringComparison.OrdinalIgnoreCase))
            throw BadInputException.InFile(path, $"peft_type is '{Str("peft_type")}'; only LORA adapters are supported");
        if (o["use_dora"]?.GetValueKind() == JsonValueKind.True) throw BadInputException.InFile(path, "DoRA adapters (use_dora) are not supported");
        var targets = o["target_modules"] switch
        {
            JsonArray a when a.All(t => t?.GetValueKind() == JsonValueKind.String) => a.Select(t => t!.GetValue<string>()).ToList(),
            JsonValue v when v.GetValueKind() == JsonValueKind.String => [v.GetValue<string>()],
            _ => throw BadInputException.InFile(path, "field 'target_modules' must be a list of module names"),
        };
        var layers = o["layers_to_transform"] switch
        {
            null => LayersFromWeights(directory, model),
            JsonValue v when v.GetValueKind() == JsonValueKind.Null => LayersFromWeights(directory, model),
            JsonArray a when a.All(IsInteger) => a.Select(l => (int)l!.GetValue<double>()).ToList(),
            JsonValue v when IsInteger(v) => [(int)v.GetValue<double>()],
            _ => throw BadInputException.InFile(path, "field 'layers_to_transform' must be a layer index or a list of layer indices"),
        };
        foreach (var layer in layers)
            if (layer < 0 || layer >= model.Config.Layers)
                throw BadInputException.InFile(path, $"layers_to_transform names layer {layer} but the model has {model.Config.Layers} layers");
        var useRs = o["use_rslora"]?.GetValueKind() == JsonValueKind.True;
        if (!IsInteger(o["r"]) || o["r"]!.GetValue<double>() <= 0) throw BadInputException.InFile(path, $"field 'r' must be a positive integer, got {o["r"]?.ToJsonString() ?? "nothing"}");
        var alpha = Num("lora_alpha");
        if (!(alpha > 0)) throw BadInputException.InFile(path, $"field 'lora_alpha' must be positive, got {alpha}");
        var dropout = Num("lora_dropout", 0);
        if (!(dropout >= 0 && dropout < 1)) throw BadInputException.InFile(path, $"field 'lora_dropout' must be in [0, 1), got {dropout}");
        if (targets.Count == 0) throw BadInputException.InFile(path, "field 'target_modules' names no module");
        return new LoraConfig((int)o["r"]!.GetValue<double>(), alpha, dropout, useRs, targets, layers.Distinct().Order().ToList());
    }

    /// <summary>A JSON number that is a whole int (PEFT writes 8, some tools 8.0).</summary>
    private static bool IsInteger(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue;

    /// <summary>Injects the adapter in <paramref name="directory"/> into the model and loads its weights.</summary>
    public static LoraModel Load(string directory, CausalLM model)
    {
        var config = ReadConfig(directory, model);
        var weightsPath = Path.Combine(directory, WeightsFile);
        if (!File.Exists(weightsPath))
        {
            var pickled = Path.Combine(directory, "adapter_model.bin");
            throw BadInputException.InFile(File.Exists(pickled) ? pickled : directory, File.Exists(pickled)
                ? "is a pickled PyTorch file; LayerCard never unpickles (it can execute code): save the adapter as safetensors"
                : $"no {WeightsFile}");
        }
        using var file = SafetensorsFile.Open(weightsPath);
        var lora = LoraModel.Inject(model, config, seed: 0);
        try
        {
            var expected = new HashSet<string>();
            using var noGrad = no_grad();
            foreach (var (path, adapter) in lora.Adapters)
            {
                foreach (var (suffix, parameter) in new[] { ("lora_A.weight", adapter.A), ("lora_B.weight", adapter.B) })
                {
                    var key = $"{KeyPrefix}{path}.{suffix}";
                    expected.Add(key);
                    if (!file.Tensors.TryGetValue(key, out var entry))
                        throw BadInputException.InFile(weightsPath, $"tensor '{key}' is missing");
                    if (!entry.Shape.SequenceEqual(parameter.shape))
                        throw BadInputException.InFile(weightsPath, $"tensor '{key}' has shape [{string.Join(", ", entry.Shape)}] but r={config.Rank} on this model needs [{string.Join(", ", parameter.shape)}]");
                    using var scope = NewDisposeScope();
                    parameter.copy_(file.Read(key));
                }
            }
            var unexpected = file.Tensors.Keys.FirstOrDefault(k => !expected.Contains(k));
            if (unexpected != null)
                throw BadInputException.InFile(weightsPath, $"unexpected tensor '{unexpected}' (not a LoRA weight of the configured layers and targets)");
            return lora;
        }
        catch
        {
            lora.Dispose();
            throw;
        }
    }

    private static List<int> LayersFromWeights(string directory, CausalLM model)
    {
        var weightsPath = Path.Combine(directory, WeightsFile);
        if (!File.Exists(weightsPath)) throw BadInputException.InFile(directory, $"no {WeightsFile}");
        using var file = SafetensorsFile.Open(weightsPath);
        var layers = new SortedSet<int>();
        foreach (var key in file.Tensors.Keys)
        {
            for (int layer = 0; layer < model.Config.Layers; layer++)
                if (key.StartsWith(KeyPrefix + model.LayerPrefix(layer), StringComparison.Ordinal)) layers.Add(layer);
        }
        return layers.ToList();
    }
}
