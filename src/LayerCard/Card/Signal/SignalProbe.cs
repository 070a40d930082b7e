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
/// The residual-signal pass of the Layer Card, one layer at a time from the top (<see cref="LayerSweep"/>): one
/// forward records every layer's input, then each layer's modules get zero probes (output + z, z = 0 requiring
/// grad, so the gradient of z is the module's output gradient D) while that layer alone runs forward and backward
/// from its recorded input and the gradient from above. Per module input it gathers Sigma = H'H/N and per module
/// G = D'H/N (by features, or the token rows themselves when there are fewer positions than input features, see
/// <see cref="TokenKernel"/>), reduces them to resnorm, the gradient norm and the activation energy, and the
/// per-example first-order loss change δ of the layer's optimal update ΔW* = −G Sigma_λ⁻¹, whose empirical Fisher
/// gives the coupling. A layer's statistics are freed before the next layer starts: memory does not grow with depth.
/// </summary>
public static partial class SignalProbe
{
    /// <summary>
    /// Pass an empty target list to probe every linear module of every layer. With <paramref name="freshGradient"/>
    /// the pass also gathers the fresh-adapter gradient the function-space pass starts from (its modules must be
    /// probed here).
    /// </summary>
    public static SignalResult Run(CausalLM model, TokenizedSet calibration, IReadOnlyList<string> targets, SignalOptions options, Device device, IProgress<string>? progress = null,
        FreshLoraGradient? freshGradient = null)
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

        // One layer's statistics at a time only bounds the memory if freed blocks really leave the process.
        using var boundedMemory = LayerSweep.BoundedMemory(model);
        MemoryMeter.ResetPeak();
        var batches = BatchSampler.Batches(set, options.BatchSize).ToList();
        var positions = batches.Select(ValidPositions).ToList();
        long tokens = positions.Sum(p => (long)p.Flat.Length), targetTokens = batches.Sum(b => (long)b.TargetTokens);
        if (targetTokens == 0) throw BadInputException.InFile(set.Source, "the calibration examples have no target tokens");
        // The example each valid position belongs to, numbered across batches (the Fisher is over examples).
        var examplesOf = new List<long[]>();
        int offset = 0;
        foreach (var (batch, p) in batches.Zip(positions))
        {
            examplesOf.Add(p.Rows.Select(r => r + offset).ToArray());
            offset += batch.BatchSize;
        }
        var deltas = new double[layers, offset];
        var signals = new List<(ModuleEntry Entry, ResidualSignal Signal)>();
        var energies = new List<(int Layer, ActivationEnergy Energy)>();
        var clock = Stopwatch.StartNew();
        double secondSeconds = 0;
        using var sweep = LayerSweep.Record(model, batches, device);
        for (int layer = layers - 1; layer >= 0; layer--)
        {
            var mine = modules.Where(m => m.Layer == layer).ToList();
            if (mine.Count == 0) CarryDown(sweep);
            else secondSeconds += ProbeLayer(model, sweep, mine, positions, examplesOf, tokens, options, device, signals, energies, deltas, freshGradient);
            if (layer > 0) sweep.Descend();
            progress?.Report($"signal pass: layer {layer} done ({layers - layer}/{layers})");
        }
        var fisher = new double[layers, layers];
        var deltaSums = new double[layers];
        for (int i = 0; i < layers; i++)
        {
            for (int e = 0; e < offset; e++) deltaSums[i] += deltas[i, e];
            for (int j = 0; j < layers; j++)
                for (int e = 0; e < offset; e++) fisher[i, j] += deltas[i, e] * deltas[j, e];
        }
        // Energies in forward order (the sweep met the layers top down; within a layer they are in call order).
        var result = Assemble(model, modules, energies.OrderBy(e => e.Layer).ToList(), signals, fisher, tokens, targetTokens, set.Examples.Count,
            clock.Elapsed.TotalSeconds - secondSeconds, secondSeconds);
        ReportCheck(result, deltaSums, tokens, progress);
        return result;
    }

    /// <summary>
    /// The features form's second run of the sweep's current layer over every batch: per token of each features-form
    /// module, d_t'ΔW* h_t, added to <paramref name="deltas"/> by example.
    /// </summary>
    private static void SecondRun(LayerSweep sweep, ZeroProbe probe, List<InputGroup> groups, List<Tensor> updates,
        IReadOnlyList<(long[] Flat, long[] Rows)> positions, IReadOnlyList<long[]> examplesOf, Device device, Tensor deltas)
    {
        for (int b = 0; b < sweep.Batches.Count; b++)
        {
            using var scope = torch.NewDisposeScope();
            var (seen, grads) = ProbedBackward(sweep, b, probe);
            CheckGrouping(seen, groups);
            var index = torch.tensor(positions[b].Flat, device: device);
            var exampleIds = torch.tensor(examplesOf[b]);
            using var noGrad = torch.no_grad();
            int u = 0;
            // ΔW* was kept, in order, for the members of the features-form groups only.
            foreach (var group in groups.Where(g => g.Form == SignalForm.Features && !g.KeepRows))
            {
                var first = seen[group.Members[0].Slot];
                var h = first.Input.detach().reshape(-1, first.Module.InFeatures).index_select(0, index);
                foreach (var member in group.Members)
                {
                    var d = grads[member.Slot].reshape(-1, member.Entry.Module.OutFeatures).index_select(0, index);
                    AddFirstOrderChanges(deltas, exampleIds, h, d, updates[u++]);
                }
            }
        }
    }

    /// <summary>A layer without probed modules still passes the gradient down.</summary>
    private static void CarryDown(LayerSweep sweep)
    {
        for (int b = 0; b < sweep.Batches.Count; b++)
        {
            using var scope = torch.NewDisposeScope();
            sweep.Backward(b, () => []);
        }
    }

    /// <summary>
    /// One layer: its modules' statistics over every batch, reduced to signals, energies and per-example δ. Returns the
    /// seconds of the second sweep over the layer that the features form needs for δ (none for the token form).
    /// </summary>
    private static double ProbeLayer(CausalLM model, LayerSweep sweep, IReadOnlyList<ModuleEntry> mine, IReadOnlyList<(long[] Flat, long[] Rows)> positions,
        IReadOnlyList<long[]> examplesOf, long tokens, SignalOptions options, Device device,
        List<(ModuleEntry, ResidualSignal)> signals, List<(int, ActivationEnergy)> energies, double[,] deltas, FreshLoraGradient? freshGradient)
    {
        var probe = new ZeroProbe(mine.Select(m => m.Module));
        var installed = new List<AdaptableLinear>();
        var groups = new List<InputGroup>();
        var updates = new List<Tensor>();
        try
        {
            foreach (var m in mine)
            {
                if (m.Module.Probe != null) throw new InvalidOperationException($"{m.Module.Path} already has a probe");
                m.Module.Probe = probe;
                installed.Add(m.Module);
            }
            for (int b = 0; b < sweep.Batches.Count; b++)
            {
                using var scope = torch.NewDisposeScope();
                var (seen, grads) = ProbedBackward(sweep, b, probe);
                if (groups.Count == 0) groups.AddRange(Group(seen, mine, tokens, options.Form, options.FeatureRowBytes));
                else CheckGrouping(seen, groups);
                var index = torch.tensor(positions[b].Flat, device: device);
                var exampleIds = torch.tensor(examplesOf[b], device: device);
                using var noGrad = torch.no_grad();
                foreach (var group in groups)
                {
                    var first = seen[group.Members[0].Slot];
                    var h = first.Input.detach().reshape(-1, first.Module.InFeatures).index_select(0, index);
                    var rows = group.Members.Select(m => grads[m.Slot].reshape(-1, m.Entry.Module.OutFeatures).index_select(0, index)).ToList();
                    if (freshGradient != null)
                        foreach (var (member, d) in group.Members.Zip(rows))
                            if (freshGradient.Covers(member.Entry.Module.Path)) freshGradient.Add(member.Entry.Module.Path, h, d, sweep.Batches[b].TargetTokens);
                    group.Add(h, rows, exampleIds);
                }
            }
            int layer = mine[0].Layer;
            var layerDeltas = torch.zeros(deltas.GetLength(1), dtype: ScalarType.Float64);
            foreach (var group in groups)
            {
                var name = model.LayerPrefix(layer) + string.Join("+", group.Members.Select(m => m.Entry.Name));
                energies.Add((layer, group.Reduce(name, options, signals, updates, layerDeltas)));
            }
            var clock = Stopwatch.StartNew();
            // The features form keeps no token: δ needs the layer's modules once more, now with ΔW* fixed.
            if (updates.Count > 0) SecondRun(sweep, probe, groups, updates, positions, examplesOf, device, layerDeltas);
            var values = layerDeltas.data<double>().ToArray();
            for (int e = 0; e < values.Length; e++) deltas[layer, e] = values[e];
            layerDeltas.Dispose();
            return updates.Count > 0 ? clock.Elapsed.TotalSeconds : 0;
        }
        finally
        {
            foreach (var module in installed) module.Probe = null;
            foreach (var group in groups) group.Dispose();
            foreach (var t in updates) t.Dispose();
        }
    }

    /// <summary>
    /// Seconds for one plain forward+backward over the same calibration batches (the gradient reaches every layer,
    /// as in LoRA training, but nothing is accumulated), so the card can report the signal pass's cost ratio. With
    /// <paramref name="maxBatches"/> only that many batches run and the time is scaled to all of them (the batches
    /// have one size, so the scaling is proportional).
    /// </summary>
    public static double TimeForwardBackward(CausalLM model, TokenizedSet calibration, SignalOptions options, Device device, int maxBatches = int.MaxValue)
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
            ArgumentOutOfRangeException.ThrowIfLessThan(maxBatches, 1);
            var batches = BatchSampler.Batches(set, options.BatchSize).ToList();
            var timed = batches.Take(maxBatches).ToList();
            var clock = Stopwatch.StartNew();
            foreach (var batch in timed)
            {
                using var scope = torch.NewDisposeScope();
                ForwardBackward(model, batch, device, probe);
            }
            long all = batches.Sum(b => (long)b.BatchSize * b.Length), run = timed.Sum(b => (long)b.BatchSize * b.Length);
            return clock.Elapsed.TotalSeconds * all / Math.Max(run, 1);
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

    private static SignalResult Assemble(CausalLM model, IReadOnlyList<ModuleEntry> modules, IReadOnlyList<(int Layer, ActivationEnergy Energy)> energies,
        List<(ModuleEntry Entry, ResidualSignal Signal)> signals, double[,] fisher, long tokens, long targetTokens, int examples,
        double firstSeconds, double secondSeconds)
    {
        int layers = model.Config.Layers;
        double gainScale = 0.5 * tokens / targetTokens;
        var firstEnergy = new ActivationEnergy?[layers];
        foreach (var (layer, energy) in energies) firstEnergy[layer] ??= energy;

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
        return new SignalResult(layerResults, moduleResults, energies.Select(e => e.Energy).ToList(), coupling, signed, tokens, targetTokens, examples,
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
