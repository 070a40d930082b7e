using LayerCard.Common;
using LayerCard.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LayerCard.Lora;

/// <summary>
/// Adapters injected into a frozen model at the configured layers and targets. Injection also tells the
/// model where the lowest adapted layer is, so nothing below it runs under autograd.
/// </summary>
public sealed class LoraModel : IDisposable
{
    private readonly Dictionary<string, LoraAdapter> adapters;

    private LoraModel(CausalLM model, LoraConfig config, Dictionary<string, LoraAdapter> adapters)
    {
        Model = model;
        Config = config;
        this.adapters = adapters;
    }

    /// <summary>The model the adapters are injected into.</summary>
    public CausalLM Model { get; }
    /// <summary>The LoRA settings the adapters were made with.</summary>
    public LoraConfig Config { get; }
    /// <summary>Whether the adapters are currently folded into the base weights (see <see cref="Merge"/>).</summary>
    public bool Merged { get; private set; }

    /// <summary>Where the adapters' dropout masks come from (reseeded by the trainer at every step).</summary>
    public DropoutSource Dropout { get; private init; } = new();

    /// <summary>Adapters by the HF path of the module they wrap ("model.layers.3.self_attn.q_proj").</summary>
    public IReadOnlyDictionary<string, LoraAdapter> Adapters => adapters;

    /// <summary>Trainable parameters across all adapters (A and B of each).</summary>
    public long TrainableParameterCount => adapters.Values.Sum(a => a.ParameterCount);

    /// <summary>The A and B of every adapter, ordered by module path so optimizer state lines up between runs.</summary>
    public IEnumerable<Parameter> TrainableParameters() =>
        adapters.OrderBy(a => a.Key, StringComparer.Ordinal).SelectMany(a => new[] { a.Value.A, a.Value.B });

    /// <summary>
    /// Puts an adapter on every target module of the configured layers (seeded initialisation). A layer outside
    /// the model or a target that names no module is a <see cref="BadInputException"/> about "layers" or "targets".
    /// </summary>
    public static LoraModel Inject(CausalLM model, LoraConfig config, long seed)
    {
        config.Validate();
        using var generator = new torch.Generator((ulong)seed);
        var dropout = new DropoutSource();
        var adapters = new Dictionary<string, LoraAdapter>();
        var unmatched = new HashSet<string>(config.Targets);
        foreach (var layer in config.Layers)
        {
            if (layer < 0 || layer >= model.Config.Layers)
                throw BadInputException.Naming("layers", n => $"{n("layers")}: layer {layer} is out of range (the model has {model.Config.Layers} layers: 0-{model.Config.Layers - 1})");
            foreach (var (name, module) in model.LayerLinears(layer).OrderBy(m => m.Key, StringComparer.Ordinal))
            {
                var matching = config.Targets.Where(t => MatchesTarget(name, t)).ToList();
                if (matching.Count == 0) continue;
                unmatched.ExceptWith(matching);
                if (module.Adapter != null) throw new InvalidOperationException($"{module.Path} already has an adapter");
                var adapter = new LoraAdapter(module, config.Rank, config.Scaling, config.Dropout, generator, dropout);
                module.Adapter = adapter;
                adapters[module.Path] = adapter;
            }
        }
        if (unmatched.Count > 0)
        {
            var available = string.Join(" ", model.LayerLinears(0).Keys);
            throw BadInputException.Naming("targets", n => $"{n("targets")}: '{unmatched.First()}' names no module of {model.Config.Architecture} (modules: {available})");
        }
        model.GradientStartLayer = config.Layers.Min();
        return new LoraModel(model, config, adapters) { Dropout = dropout };
    }

    /// <summary>PEFT's rule: a target matches a module whose path equals it or ends with "." + target.</summary>
    public static bool MatchesTarget(string modulePath, string target) =>
        modulePath == target || modulePath.EndsWith("." + target, StringComparison.Ordinal);

    /// <summary>Folds every adapter into its base weight (W += scaling B A) and stops applying them separately.</summary>
    public void Merge()
    {
        if (Merged) return;
        Fold(merge: true);
        Merged = true;
    }

    /// <summary>Subtracts the folded adapters from the base weights again and applies them separately, as before <see cref="Merge"/>.</summary>
    public void Unmerge()
    {
        if (!Merged) return;
        Fold(merge: false);
        Merged = false;
    }

    private void Fold(bool merge)
    {
        using var noGrad = torch.no_grad();
        foreach (var adapter in adapters.Values)
        {
            using var scope = torch.NewDisposeScope();
            if (merge) adapter.Target.Weight.add_(adapter.WeightDelta(), OwnedScalars.One);
            else adapter.Target.Weight.sub_(adapter.WeightDelta());
            adapter.Target.Adapter = merge ? null : adapter;
        }
    }

    /// <summary>Takes the adapters out, leaving the base model as it was loaded.</summary>
    public void Dispose()
    {
        if (Merged) Unmerge();
        foreach (var adapter in adapters.Values)
        {
            adapter.Target.Adapter = null;
            adapter.Dispose();
        }
        adapters.Clear();
        Model.GradientStartLayer = 0;
    }
}
