using System.Diagnostics;
using System.Globalization;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Lora;
using LayerCard.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>
/// The probe pass of the Layer Card: two forward+backward passes of the frozen model over calibration batches.
/// Pass 1 accumulates Sigma = H'H/N per module input and G = D'H/N per target module, giving resnorm, the
/// gradient norm and the activation energy; pass 2 projects every token onto each layer's optimal correction
/// ΔW* = −G Sigma_λ⁻¹ to get per-example first-order loss changes, whose empirical Fisher gives the coupling.
/// The gradient D w.r.t. each module output comes without hooks: the probe returns output + z for a zero z
/// that requires grad, and one autograd.grad call after the forward returns every module's D.
/// </summary>
public static partial class SignalProbe
{
    /// <summary>Pass an empty target list to probe every linear module of every layer.</summary>
    public static SignalResult Run(CausalLM model, TokenizedSet calibration, IReadOnlyList<string> targets, SignalOptions options, Device device, IProgress<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var set = Calibration(model, calibration, options);
        var modules = ResolveTargets(model, targets);
        int layers = model.Config.Layers;
        var adapted = Enumerable.Range(0, layers).SelectMany(l => model.LayerLinears(l).Values).FirstOrDefault(m => m.Adapter != null);
        if (adapted != null) throw new InvalidOperationException($"the signal pass needs the frozen model without adapters, but {adapted.Path} has one");

        MemoryMeter.ResetPeak();
        var probe = new ZeroProbe(modules.Select(m => m.Module));
        var groups = new List<InputGroup>();
        var updates = new List<Tensor>();
        int savedStart = model.GradientStartLayer;
        var installed = new List<AdaptableLinear>();
        try
        {
            foreach (var m in modules)
            {
                if (m.Module.Probe != null) throw new InvalidOperationException($"{m.Module.Path} already has a probe");
                m.Module.Probe = probe;
                installed.Add(m.Module);
            }
            model.GradientStartLayer = 0;
            using var grad = torch.enable_grad();
            var batches = BatchSampler.Batches(set, options.BatchSize).ToList();
            var clock = Stopwatch.StartNew();
            var (tokens, targetTokens) = FirstPass(model, batches, modules, groups, probe, device, progress);
            if (targetTokens == 0) throw BadInputException.InFile(set.Source, "the calibration examples have no target tokens");
            var (moduleSignals, energies) = Solve(model, groups, updates, options, device);
            double firstSeconds = clock.Elapsed.TotalSeconds; // pass 1 and the solves

            clock.Restart();
            var (fisher, deltaSums) = SecondPass(model, batches, groups, updates, probe, device, progress);
            double secondSeconds = clock.Elapsed.TotalSeconds;

            var result = Assemble(model, modules, groups, energies, moduleSignals, fisher, tokens, targetTokens, set.Examples.Count,
                firstSeconds, secondSeconds);
            ReportCheck(result, deltaSums, tokens, progress);
            return result;
        }
        finally
        {
            foreach (var module in installed) module.Probe = null;
            model.GradientStartLayer = savedStart;
            foreach (var group in groups) group.Dispose();
            foreach (var t in updates) t.Dispose();
        }
    }

    /// <summary>Pass 1: Sigma = H'H per module input and G = D'H per target module, over every calibration batch.</summary>
    private static (long Tokens, long TargetTokens) FirstPass(CausalLM model, IReadOnlyList<Batch> batches, IReadOnlyList<ModuleEntry> modules,
        List<InputGroup> groups, ZeroProbe probe, Device device, IProgress<string>? progress)
    {
        // Pass 1: Sigma per input, G per module.
        long tokens = 0, targetTokens = 0;
        for (int b = 0; b < batches.Count; b++)
        {
            using var scope = torch.NewDisposeScope();
            var batch = batches[b];
            var valid = ValidPositions(batch);
            var (seen, grads) = ForwardBackward(model, batch, device, probe);
            if (groups.Count == 0) groups.AddRange(Group(seen, modules));
            else CheckGrouping(seen, groups);
            var index = torch.tensor(valid.Flat, device: device);
            using (torch.no_grad())
            {
                foreach (var group in groups)
                {
                    var first = seen[group.Members[0].Slot];
                    var h = first.Input.detach().reshape(-1, first.Module.InFeatures).index_select(0, index);
                    group.Input.Add(h);
                    foreach (var member in group.Members)
                        member.Signal.AddGradient(h, grads[member.Slot].reshape(-1, member.Entry.Module.OutFeatures).index_select(0, index));
                }
            }
            tokens += valid.Flat.Length;
            targetTokens += batch.TargetTokens;
            progress?.Report($"signal pass 1/2: batch {b + 1}/{batches.Count}");
        }
        return (tokens, targetTokens);
    }

    /// <summary>Per module: resnorm from the ridged input; per input group: the activation energy; and ΔW* for pass 2 (into <paramref name="updates"/>).</summary>
    private static (List<(ModuleEntry Entry, ResidualSignal Signal, int Slot)> Signals, List<ActivationEnergy> Energies) Solve(CausalLM model,
        List<InputGroup> groups, List<Tensor> updates, SignalOptions options, Device device)
    {
        // Signals, energies and the fixed optimal updates for pass 2. The float64 sums and factors are freed
        // before pass 2, which holds only ΔW* (float32, one copy of the probed weights).
        var moduleSignals = new List<(ModuleEntry Entry, ResidualSignal Signal, int Slot)>();
        var energies = new List<ActivationEnergy>();
        foreach (var group in groups)
        {
            using var r = RidgedInput.From(group.Input, options.RidgeEps);
            energies.Add(r.Energy(model.LayerPrefix(group.Layer) + string.Join("+", group.Members.Select(m => m.Entry.Name))));
            foreach (var member in group.Members)
            {
                moduleSignals.Add((member.Entry, ResidualSignal.From(member.Signal, r, options.Rank), member.Slot));
                using var update = ResidualSignal.OptimalUpdate(member.Signal, r);
                updates.Add(update.to_type(ScalarType.Float32).to(device).DetachFromDisposeScope());
            }
            group.Dispose();
        }
        return (moduleSignals, energies);
    }

    /// <summary>Pass 2: per-example first-order loss changes δ of each layer's optimal update, and their empirical Fisher F = Σ_e δ_e δ_e'.</summary>
    private static (double[,] Fisher, double[] DeltaSums) SecondPass(CausalLM model, IReadOnlyList<Batch> batches, List<InputGroup> groups,
        List<Tensor> updates, ZeroProbe probe, Device device, IProgress<string>? progress)
    {
        int layers = model.Config.Layers;
        // Pass 2: δ_{l,e} = Σ_m Σ_{t∈e} d_t' ΔW*_m h_t, F = Σ_e δ_e δ_e'.
        var fisher = new double[layers, layers];
        var deltaSums = new double[layers];
        for (int b = 0; b < batches.Count; b++)
        {
            using var scope = torch.NewDisposeScope();
            var batch = batches[b];
            var valid = ValidPositions(batch);
            var (seen, grads) = ForwardBackward(model, batch, device, probe);
            CheckGrouping(seen, groups);
            var index = torch.tensor(valid.Flat, device: device);
            var rows = torch.tensor(valid.Rows, device: device);
            var delta = torch.zeros([layers, batch.BatchSize], dtype: ScalarType.Float64, device: device);
            using (torch.no_grad())
            {
                int u = 0;
                foreach (var group in groups)
                {
                    var first = seen[group.Members[0].Slot];
                    var h = first.Input.detach().reshape(-1, first.Module.InFeatures).index_select(0, index);
                    foreach (var member in group.Members)
                    {
                        var d = grads[member.Slot].reshape(-1, member.Entry.Module.OutFeatures).index_select(0, index);
                        var projected = h.matmul(updates[u++].t());
                        var perToken = (d * projected).sum(1).to_type(ScalarType.Float64);
                        delta[member.Entry.Layer].index_add_(0, rows, perToken, 1);
                    }
                }
                var f = delta.matmul(delta.t()).cpu();
                var sums = delta.sum(1).cpu();
                for (int i = 0; i < layers; i++)
                {
                    deltaSums[i] += sums[i].item<double>();
                    for (int j = 0; j < layers; j++) fisher[i, j] += f[i, j].item<double>();
                }
            }
            progress?.Report($"signal pass 2/2: batch {b + 1}/{batches.Count}");
        }
        return (fisher, deltaSums);
    }

    /// <summary>
    /// Seconds for one plain forward+backward over the same calibration batches (the gradient reaches every layer,
    /// as in LoRA training, but nothing is accumulated), so the card can report the signal pass's cost ratio.
    /// </summary>
    public static double TimeForwardBackward(CausalLM model, TokenizedSet calibration, SignalOptions options, Device device)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var set = Calibration(model, calibration, options);
        // One zero offset on the first linear module of layer 0: backward then runs through every layer.
        var first = model.LayerLinears(0).Values.First();
        if (first.Probe != null) throw new InvalidOperationException($"{first.Path} already has a probe");
        var probe = new ZeroProbe([first]);
        int savedStart = model.GradientStartLayer;
        try
        {
            first.Probe = probe;
            model.GradientStartLayer = 0;
            using var grad = torch.enable_grad();
            var batches = BatchSampler.Batches(set, options.BatchSize).ToList();
            var clock = Stopwatch.StartNew();
            foreach (var batch in batches)
            {
                using var scope = torch.NewDisposeScope();
                ForwardBackward(model, batch, device, probe);
            }
            return clock.Elapsed.TotalSeconds;
        }
        finally
        {
            first.Probe = null;
            model.GradientStartLayer = savedStart;
        }
    }

    /// <summary>
    /// The modules probed: those of every layer matching a target by PEFT's rule (every linear module when the
    /// list is empty), in the layer's forward order.
    /// </summary>
    public static IReadOnlyList<ModuleEntry> ResolveTargets(CausalLM model, IReadOnlyList<string> targets)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(targets);
        var result = new List<ModuleEntry>();
        var unmatched = new HashSet<string>(targets);
        for (int layer = 0; layer < model.Config.Layers; layer++)
        {
            foreach (var (name, module) in model.LayerLinears(layer))
            {
                var matching = targets.Where(t => LoraModel.MatchesTarget(name, t)).ToList();
                if (targets.Count > 0 && matching.Count == 0) continue;
                unmatched.ExceptWith(matching);
                result.Add(new ModuleEntry(layer, name, module));
            }
        }
        if (unmatched.Count > 0)
        {
            var available = string.Join(" ", model.LayerLinears(0).Keys);
            throw BadInputException.Naming("targets", n => $"{n("targets")}: '{unmatched.First()}' names no module of {model.Config.Architecture} (modules: {available})");
        }
        return result;
    }

    private static TokenizedSet Calibration(CausalLM model, TokenizedSet calibration, SignalOptions options)
    {
        var examples = options.MaxExamples is int max && max < calibration.Examples.Count
            ? calibration.Examples.Take(max).ToList()
            : calibration.Examples;
        int layers = model.Config.Layers;
        if (examples.Count < layers)
        {
            var need = $"the model's {layers} layers; the coupling needs at least {layers}";
            throw ReferenceEquals(examples, calibration.Examples)
                ? BadInputException.InFile(calibration.Source, $"only {examples.Count} calibration examples, fewer than {need}")
                : BadInputException.ForField("max_examples", $"{examples.Count}: fewer examples than {need}");
        }
        return ReferenceEquals(examples, calibration.Examples)
            ? calibration
            : new TokenizedSet(calibration.Source, examples, 0, 0, $"the first {examples.Count} of {calibration.Summary}");
    }

    private static SignalResult Assemble(CausalLM model, IReadOnlyList<ModuleEntry> modules, List<InputGroup> groups, List<ActivationEnergy> energies,
        List<(ModuleEntry Entry, ResidualSignal Signal, int Slot)> signals, double[,] fisher, long tokens, long targetTokens, int examples,
        double firstSeconds, double secondSeconds)
    {
        int layers = model.Config.Layers;
        double gainScale = 0.5 * tokens / targetTokens;
        var firstEnergy = new ActivationEnergy?[layers];
        for (int g = 0; g < groups.Count; g++) firstEnergy[groups[g].Layer] ??= energies[g];

        // Report modules in the layers' dictionary order (the order of ResolveTargets), not the call order.
        var order = modules.Select((m, i) => (m.Module.Path, i)).ToDictionary(x => x.Path, x => x.i, StringComparer.Ordinal);
        var sorted = signals.OrderBy(s => order[s.Entry.Module.Path]).ToList();
        var moduleResults = sorted.Select(s => new ModuleSignal(s.Entry.Layer, s.Entry.Name, s.Entry.Module.InFeatures, s.Entry.Module.OutFeatures,
            s.Signal.ResNorm, s.Signal.ResNormRankR, s.Signal.GradNorm, gainScale * s.Signal.ResNormSquared)).ToList();
        var layerResults = new List<LayerSignal>();
        for (int l = 0; l < layers; l++)
        {
            var mine = sorted.Where(s => s.Entry.Layer == l).Select(s => s.Signal).ToList();
            double res2 = mine.Sum(s => s.ResNormSquared), rank2 = mine.Sum(s => s.ResNormSquaredRankR), grad2 = mine.Sum(s => s.GradNormSquared);
            layerResults.Add(new LayerSignal(l, Math.Sqrt(res2), Math.Sqrt(rank2), Math.Sqrt(grad2), gainScale * res2,
                firstEnergy[l] ?? throw new InvalidOperationException($"layer {l} has no probed module")));
        }

        var coupling = new double[layers, layers];
        var signed = new double[layers, layers];
        for (int i = 0; i < layers; i++)
        {
            for (int j = 0; j < layers; j++)
            {
                double norm = Math.Sqrt(fisher[i, i] * fisher[j, j]);
                double rho = i == j ? 1 : norm > 0 ? Math.Clamp(fisher[i, j] / norm, -1, 1) : 0;
                signed[i, j] = rho;
                coupling[i, j] = Math.Abs(rho);
            }
        }
        return new SignalResult(layerResults, moduleResults, energies, coupling, signed, tokens, targetTokens, examples,
            firstSeconds, secondSeconds, MemoryMeter.PeakBytes());
    }

    /// <summary>
    /// Σ_e δ_{l,e} must equal −N · resnorm²_l (the same G enters both passes); the largest relative difference
    /// over layers is reported as a check of the second pass.
    /// </summary>
    private static void ReportCheck(SignalResult result, double[] deltaSums, long tokens, IProgress<string>? progress)
    {
        if (progress is null) return;
        double worst = 0;
        foreach (var layer in result.Layers)
        {
            double expected = -tokens * layer.ResNorm * layer.ResNorm;
            if (expected == 0) continue;
            worst = Math.Max(worst, Math.Abs(deltaSums[layer.Layer] - expected) / Math.Abs(expected));
        }
        progress.Report(string.Create(CultureInfo.InvariantCulture, $"signal pass check: max relative error {worst:E2}"));
    }
}
