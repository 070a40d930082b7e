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

    private static List<InputGroup> Group(IReadOnlyList<ZeroProbe.Observation> seen, IReadOnlyList<ModuleEntry> modules)
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
                group = new InputGroup(entry.Layer, new InputAccumulator(entry.Module.InFeatures));
                groups.Add(group);
            }
            group.Members.Add(new GroupMember(entry, slot, new SignalAccumulator(group.Input, entry.Module.OutFeatures)));
        }
        var missing = modules.Where(m => !seen.Any(s => ReferenceEquals(s.Module, m.Module))).ToList();
        if (missing.Count > 0) throw new InvalidOperationException($"the forward pass never called {missing[0].Module.Path}");
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

    private sealed record GroupMember(ModuleEntry Entry, int Slot, SignalAccumulator Signal);

    private sealed class InputGroup(int layer, InputAccumulator input) : IDisposable
    {
        /// <summary>The layer the shared input belongs to.</summary>
        public int Layer { get; } = layer;
        /// <summary>The running second moment of the shared input.</summary>
        public InputAccumulator Input { get; } = input;
        /// <summary>The modules that read this input, with their gradient accumulators.</summary>
        public List<GroupMember> Members { get; } = [];

        /// <summary>Frees the members' accumulators and the input's.</summary>
        public void Dispose()
        {
            foreach (var m in Members) m.Signal.Dispose();
            Input.Dispose();
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
            return output + zero;
        }
    }
}
