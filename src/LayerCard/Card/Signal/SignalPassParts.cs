using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>The signal pass's plumbing: valid positions, the forward+backward with zero probes, and input groups.</summary>
public static partial class SignalProbe
{
    /// <summary>
    /// Flat indices (row * Length + t) of the valid positions: t at or before the row's last labelled position.
    /// Later positions are padding (or trailing prompt) and affect no loss. Rows holds each valid position's row.
    /// </summary>
    internal static (long[] Flat, long[] Rows) ValidPositions(Batch batch)
    {
        var flat = new List<long>();
        var rows = new List<long>();
        for (int b = 0; b < batch.BatchSize; b++)
        {
            int last = -1;
            for (int t = batch.Length - 1; t >= 0; t--)
                if (batch.Labels[b * batch.Length + t] != Tokenization.IgnoreLabel) { last = t; break; }
            for (int t = 0; t <= last; t++)
            {
                flat.Add((long)b * batch.Length + t);
                rows.Add(b);
            }
        }
        return (flat.ToArray(), rows.ToArray());
    }

    private static (IReadOnlyList<ZeroProbe.Observation> Seen, List<Tensor> Grads) ForwardBackward(CausalLM model, Batch batch, Device device, ZeroProbe probe)
    {
        probe.Begin();
        var loss = CompletionLoss.Sum(model, batch, device);
        var seen = probe.End();
        var zs = seen.Select(s => s.Zero).ToList();
        var grads = torch.autograd.grad([loss], zs, allow_unused: true).ToList();
        for (int i = 0; i < grads.Count; i++)
            if (grads[i] is null || grads[i].IsInvalid) grads[i] = torch.zeros_like(zs[i]);
        return (seen, grads);
    }

    /// <summary>Runs the sweep's current layer on batch <paramref name="batch"/> with the probe on its modules: the observations and each one's output gradient D.</summary>
    private static (IReadOnlyList<ZeroProbe.Observation> Seen, IReadOnlyList<Tensor> Grads) ProbedBackward(LayerSweep sweep, int batch, ZeroProbe probe)
    {
        IReadOnlyList<ZeroProbe.Observation> seen = [];
        probe.Begin();
        var grads = sweep.Backward(batch, () =>
        {
            seen = probe.End();
            return seen.Select(s => s.Zero).ToList();
        });
        return (seen, grads);
    }

    /// <summary>
    /// Adds each token's first-order loss change under ΔW*, d_t'ΔW* h_t, to <paramref name="deltas"/> (float64, CPU)
    /// at its example in <paramref name="exampleIds"/>; <paramref name="h"/> and <paramref name="d"/> are the input
    /// and output-gradient rows at the same positions.
    /// </summary>
    private static void AddFirstOrderChanges(Tensor deltas, Tensor exampleIds, Tensor h, Tensor d, Tensor update) =>
        deltas.index_add_(0, exampleIds, (d * h.matmul(update.t())).sum(1).to_type(ScalarType.Float64).cpu(), OwnedScalars.One);

    private static List<InputGroup> Group(IReadOnlyList<ZeroProbe.Observation> seen, IReadOnlyList<ModuleEntry> modules, long tokens, SignalForm form, long featureRowBytes)
    {
        var entryOf = modules.ToDictionary(m => m.Module.Path, m => m, StringComparer.Ordinal);
        var groups = new List<InputGroup>();
        for (int slot = 0; slot < seen.Count; slot++)
        {
            var observation = seen[slot];
            var entry = entryOf[observation.Module.Path];
            // Same layer and the very same input tensor: one Sigma.
            var group = groups.FirstOrDefault(g => g.Layer == entry.Layer && ReferenceEquals(seen[g.Members[0].Slot].Input, observation.Input));
            if (group is null)
            {
                // Keep whichever is smaller: the d_in x d_in sums or the N token rows.
                var chosen = form != SignalForm.Auto ? form : tokens <= entry.Module.InFeatures ? SignalForm.Tokens : SignalForm.Features;
                group = new InputGroup(entry.Layer, entry.Module.InFeatures, chosen);
                groups.Add(group);
            }
            group.Members.Add(new GroupMember(entry, slot, group.Form == SignalForm.Features ? new SignalAccumulator(group.Input!, entry.Module.OutFeatures) : null));
        }
        var missing = modules.Where(m => !seen.Any(s => ReferenceEquals(s.Module, m.Module))).ToList();
        if (missing.Count > 0) throw new InvalidOperationException($"the forward pass never called {missing[0].Module.Path}");
        // Features-form groups keep their rows too (float32) while the layer's rows all fit the budget.
        long budget = featureRowBytes;
        foreach (var group in groups.Where(g => g.Form == SignalForm.Features))
        {
            long bytes = 4 * tokens * (group.Members[0].Entry.Module.InFeatures + group.Members.Sum(m => (long)m.Entry.Module.OutFeatures));
            if (bytes > budget) continue;
            group.KeepRows = true;
            budget -= bytes;
        }
        return groups;
    }

    private static void CheckGrouping(IReadOnlyList<ZeroProbe.Observation> seen, List<InputGroup> groups)
    {
        foreach (var group in groups)
        {
            var input = seen[group.Members[0].Slot].Input;
            foreach (var member in group.Members)
            {
                if (!ReferenceEquals(seen[member.Slot].Module, member.Entry.Module) || !ReferenceEquals(seen[member.Slot].Input, input))
                    throw new InvalidOperationException($"the forward pass called the modules differently from the first batch (at {member.Entry.Module.Path})");
            }
        }
    }

    /// <summary>A probed module: its layer, its name inside the layer ("self_attn.q_proj") and the module.</summary>
    public sealed record ModuleEntry(int Layer, string Name, AdaptableLinear Module);

    private sealed record GroupMember(ModuleEntry Entry, int Slot, SignalAccumulator? Signal)
    {
        /// <summary>The token form's output-gradient rows, batch by batch.</summary>
        public List<Tensor> Rows { get; } = [];
    }

    /// <summary>The modules of one layer that read the same input, with their statistics in the form chosen for them.</summary>
    private sealed class InputGroup : IDisposable
    {
        private readonly List<Tensor> inputRows = [];
        private readonly List<Tensor> exampleIds = [];

        public InputGroup(int layer, int dim, SignalForm form)
        {
            Layer = layer;
            Form = form;
            Input = form == SignalForm.Features ? new InputAccumulator(dim) : null;
        }

        /// <summary>The layer the shared input belongs to.</summary>
        public int Layer { get; }
        /// <summary>Features (running sums) or tokens (the rows).</summary>
        public SignalForm Form { get; }
        /// <summary>The running second moment of the shared input (features form).</summary>
        public InputAccumulator? Input { get; }
        /// <summary>The modules that read this input.</summary>
        public List<GroupMember> Members { get; } = [];
        /// <summary>Features form only: the token rows are kept as well, so δ needs no second run.</summary>
        public bool KeepRows { get; set; }

        /// <summary>Adds one batch: the input rows, each member's gradient rows (same positions) and each row's example (CPU).</summary>
        public void Add(Tensor h, IReadOnlyList<Tensor> gradients, Tensor examples)
        {
            if (Form == SignalForm.Features)
            {
                Input!.Add(h);
                for (int i = 0; i < Members.Count; i++) Members[i].Signal!.AddGradient(h, gradients[i]);
                if (!KeepRows) return;
            }
            // The rows are the caller's fresh index_select results: kept as they are, not copied again.
            inputRows.Add(h.detach().DetachFromDisposeScope());
            exampleIds.Add(examples.cpu().DetachFromDisposeScope());
            for (int i = 0; i < Members.Count; i++) Members[i].Rows.Add(gradients[i].detach().DetachFromDisposeScope());
        }

        /// <summary>
        /// Reduces the statistics to each member's signal (into <paramref name="signals"/>) and the input's energy.
        /// The token form, and the features form with its rows kept, add each token's first-order loss change to
        /// <paramref name="deltas"/> by example; otherwise the features form leaves ΔW* (float32) in
        /// <paramref name="updates"/> for a second sweep over the layer. The sums or rows are freed.
        /// </summary>
        public ActivationEnergy Reduce(string name, SignalOptions options, List<(ModuleEntry, ResidualSignal)> signals, List<Tensor> updates, Tensor deltas)
        {
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            ActivationEnergy energy;
            if (Form == SignalForm.Features)
            {
                using var r = RidgedInput.From(Input!, options.RidgeEps);
                energy = r.Energy(name);
                var h = KeepRows ? torch.cat(inputRows) : null;
                var examples = KeepRows ? torch.cat(exampleIds) : null;
                foreach (var member in Members)
                {
                    signals.Add((member.Entry, ResidualSignal.From(member.Signal!, r, options.Rank)));
                    using var update = ResidualSignal.OptimalUpdate(member.Signal!, r);
                    var update32 = update.to_type(ScalarType.Float32).to(member.Entry.Module.Weight.device);
                    if (!KeepRows)
                    {
                        updates.Add(update32.DetachFromDisposeScope());
                        continue;
                    }
                    // δ per token, d_t'ΔW* h_t, from the kept rows: what the second run would compute.
                    var d = torch.cat(member.Rows);
                    AddFirstOrderChanges(deltas, examples!, h!, d, update32);
                }
            }
            else
            {
                using var kernel = TokenKernel.From(torch.cat(inputRows), options.RidgeEps, name);
                energy = kernel.Energy;
                var examples = torch.cat(exampleIds);
                foreach (var member in Members)
                {
                    var rows = torch.cat(member.Rows);
                    signals.Add((member.Entry, kernel.Signal(rows, options.Rank)));
                    deltas.index_add_(0, examples, kernel.FirstOrderChanges(rows).cpu(), OwnedScalars.One);
                }
            }
            Dispose();
            return energy;
        }

        /// <summary>Frees the members' statistics and the input's (idempotent).</summary>
        public void Dispose()
        {
            foreach (var m in Members)
            {
                m.Signal?.Dispose();
                foreach (var t in m.Rows) t.Dispose();
                m.Rows.Clear();
            }
            Input?.Dispose();
            foreach (var t in inputRows.Concat(exampleIds)) t.Dispose();
            inputRows.Clear();
            exampleIds.Clear();
        }
    }

    /// <summary>Returns output + z with z = 0 requiring grad, and remembers (module, input, z) in call order.</summary>
    private sealed class ZeroProbe : ILinearProbe
    {
        private readonly HashSet<string> modules;
        private List<Observation> seen = [];

        /// <summary>A probe that offsets only the modules in <paramref name="modules"/> (by path); others pass through unchanged.</summary>
        public ZeroProbe(IEnumerable<AdaptableLinear> modules) => this.modules = new HashSet<string>(modules.Select(m => m.Path), StringComparer.Ordinal);

        /// <summary>One probed call: the module, its input [batch, positions, in] and the zero offset whose gradient is the output gradient D.</summary>
        public sealed record Observation(AdaptableLinear Module, Tensor Input, Tensor Zero);

        /// <summary>Starts a forward pass: forgets earlier observations.</summary>
        public void Begin() => seen = [];

        /// <summary>Ends a forward pass and returns its observations in call order.</summary>
        public IReadOnlyList<Observation> End()
        {
            var result = seen;
            seen = [];
            return result;
        }

        /// <summary>For a probed module, returns output + a fresh zero tensor requiring grad and records the call; a module called twice in one pass is an <see cref="InvalidOperationException"/>.</summary>
        public Tensor Observe(AdaptableLinear module, Tensor input, Tensor output)
        {
            if (!modules.Contains(module.Path)) return output;
            if (seen.Any(s => ReferenceEquals(s.Module, module)))
                throw new InvalidOperationException($"{module.Path} was called twice in one forward pass");
            var zero = torch.zeros_like(output, requires_grad: true);
            seen.Add(new Observation(module, input, zero));
            return OwnedScalars.Add(output, zero);
        }
    }
}
