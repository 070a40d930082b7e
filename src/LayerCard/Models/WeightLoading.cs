using LayerCard.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Models;

/// <summary>Named tensors from somewhere (a safetensors checkpoint, a llama2.c file, memory).</summary>
public interface ITensorSource
{
    /// <summary>What to name in error messages (a file or folder).</summary>
    string Origin { get; }
    /// <summary>Every tensor name the source holds.</summary>
    IReadOnlyCollection<string> Names { get; }
    /// <summary>The shape of tensor <paramref name="name"/>, without reading it.</summary>
    long[] Shape(string name);
    /// <summary>Reads tensor <paramref name="name"/> as a new tensor of <paramref name="dtype"/>.</summary>
    Tensor Read(string name, ScalarType dtype);
}

/// <summary>Tensors already in memory (llama2.c files, tests).</summary>
public sealed class InMemoryTensorSource(string origin, IReadOnlyDictionary<string, Tensor> tensors) : ITensorSource
{
    /// <summary>The name used in refusals.</summary>
    public string Origin => origin;
    /// <summary>The names of the tensors held.</summary>
    public IReadOnlyCollection<string> Names => tensors.Keys.ToList();
    /// <summary>A held tensor's shape.</summary>
    public long[] Shape(string name) => tensors[name].shape;
    /// <summary>A held tensor converted to <paramref name="dtype"/>.</summary>
    public Tensor Read(string name, ScalarType dtype) => tensors[name].to(dtype);
}

/// <summary>Builds models from configs and fills them from checkpoints.</summary>
public static class WeightLoading
{
    /// <summary>
    /// Copies every checkpoint tensor into the model's parameter of the same name. Strict: a tensor the model
    /// has no parameter for, a parameter the checkpoint lacks, or a shape that differs from what the config
    /// implies is bad input, reported with the checkpoint's name.
    /// </summary>
    public static void LoadStrict(CausalLM model, ITensorSource source, Device device)
    {
        var parameters = model.BaseParameters();
        var loaded = new HashSet<string>();
        var dtype = ScalarType.Float32;
        foreach (var name in source.Names.OrderBy(n => n, StringComparer.Ordinal))
        {
            var target = model.ParameterNameFor(name);
            if (target is null) continue;
            if (target == "lm_head.weight" && model.Config.TiedEmbeddings) continue;
            if (!parameters.TryGetValue(target, out var parameter))
                throw BadInputException.InFile(source.Origin, $"unexpected tensor '{name}': {model.Config.Architecture} with this config has no such parameter");
            var shape = source.Shape(name);
            if (!shape.SequenceEqual(parameter.shape))
                throw BadInputException.InFile(source.Origin, $"tensor '{name}' has shape [{string.Join(", ", shape)}] but config.json implies [{string.Join(", ", parameter.shape)}]");
            using var scope = torch.NewDisposeScope();
            using (torch.no_grad())
                parameter.copy_(source.Read(name, dtype).to(device));
            loaded.Add(target);
        }
        var missing = parameters.Keys.Where(p => !loaded.Contains(p)).OrderBy(p => p, StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
            throw BadInputException.InFile(source.Origin, $"tensor '{missing[0]}' is missing" + (missing.Count > 1 ? $" (and {missing.Count - 1} more)" : ""));
    }

    /// <summary>Builds the model class for a config.</summary>
    public static CausalLM Create(ModelConfig config) => config.Family switch
    {
        "gpt2" => new Gpt2LMHeadModel(config),
        "llama" => new LlamaForCausalLM(config),
        _ => throw new BadInputException($"unsupported model family '{config.Family}'"),
    };
}
