using System.Text.RegularExpressions;
using LayerCard.Card;
using LayerCard.Common;
using LayerCard.Data;
using LayerCard.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Bench.Planted;

/// <summary>A benchmark base model and how its input sequences are drawn.</summary>
/// <param name="Name">The model as the options name it ("stories260K", "random12", ...).</param>
/// <param name="Model">The loaded model; disposed with this record.</param>
/// <param name="SampleInputs">True: inputs are the model's own samples from BOS (a trained model, so inputs are
/// in distribution); false: uniform random token ids (a random model has no distribution of its own).</param>
/// <param name="Bos">Token id the sampled inputs start from (unused for random inputs).</param>
public sealed record PlantedBase(string Name, CausalLM Model, bool SampleInputs, int Bos) : IDisposable
{
    /// <summary>Disposes the model.</summary>
    public void Dispose() => Model.Dispose();
}

/// <summary>The base models of the benchmark, and the planted low-rank change that turns a base into a teacher.</summary>
public static partial class PlantedModels
{
    [GeneratedRegex("^random([0-9]+)$")]
    private static partial Regex RandomName();

    /// <summary>Loads a base model: "random&lt;L&gt;" (2 to 64 layers) builds <see cref="RandomLlama"/> with uniform random inputs; any other name is loaded as a model reference, its inputs sampled from BOS.</summary>
    public static PlantedBase Load(string name, Device device)
    {
        var random = RandomName().Match(name);
        if (!random.Success)
        {
            var loaded = ModelLoader.Load(name, null, device);
            return new PlantedBase(name, loaded.Model, true, loaded.Tokenizer?.BosId ?? 1);
        }
        var layers = int.Parse(random.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        if (layers < 2 || layers > 64) throw new BadInputException($"--models {name}: a random model needs 2 to 64 layers");
        return new PlantedBase(name, RandomLlama(layers, seed: 12345, device), false, 0);
    }

    /// <summary>
    /// A random Llama (hidden 64, 4 heads, vocab 256) reconditioned to behave like a trained model: embeddings of
    /// unit RMS, a confident head (logit scale ~8) and residual branches (o_proj, down_proj) 10× smaller than the
    /// other projections, as in GPT-2's init. With branches as large as the stream the gradient roughly doubles
    /// per layer towards the input and every gradient-based signal ranks layer 0 first whatever is planted
    /// (docs/layer-card.md, "Caveat"); the same reconditioning is used by the card's planted-layer unit test.
    /// </summary>
    public static CausalLM RandomLlama(int layers, long seed, Device device)
    {
        var config = new ModelConfig(ModelConfig.Llama, "LlamaForCausalLM", layers, 64, 4, 4, 16, 172, 256, 256,
            1e-6, 10000.0, false, false, false, false, "silu");
        var model = WeightLoading.Create(config);
        var generator = new TorchSharp.torch.Generator((ulong)seed);
        var weights = new Dictionary<string, Tensor>();
        try
        {
            foreach (var (name, parameter) in model.BaseParameters().OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                var noise = randn(parameter.shape, generator: generator);
                weights[name] = name switch
                {
                    _ when name.EndsWith("norm.weight", StringComparison.Ordinal) => OwnedScalars.Plus(0.1f * noise, 1),
                    _ when name.Contains("embed_tokens", StringComparison.Ordinal) || name.StartsWith("lm_head", StringComparison.Ordinal) => noise,
                    _ when name.EndsWith("o_proj.weight", StringComparison.Ordinal) || name.EndsWith("down_proj.weight", StringComparison.Ordinal) => 0.02f * noise,
                    _ => 0.2f * noise,
                };
            }
            WeightLoading.LoadStrict(model, new InMemoryTensorSource($"random{layers}", weights), CPU);
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
        if (device.type != DeviceType.CPU) model.to(device);
        model.eval();
        return model;
    }

    /// <summary>
    /// A rank-r change U V' for each plant target of <paramref name="layer"/>, of Frobenius norm equal to the
    /// module weight's, so that a scale s means "s times the weight's size" in every module and layer.
    /// </summary>
    public static List<(AdaptableLinear Module, Tensor Direction)> Directions(CausalLM model, int layer, IReadOnlyList<string> targets, int rank, Generator generator)
    {
        var modules = SignalProbe.ResolveTargets(model, targets).Where(m => m.Layer == layer).Select(m => m.Module).ToList();
        var result = new List<(AdaptableLinear, Tensor)>();
        using var noGrad = no_grad();
        foreach (var module in modules)
        {
            var weight = module.Weight;
            var u = randn([weight.shape[0], rank], generator: generator);
            var v = randn([rank, weight.shape[1]], generator: generator);
            var delta = u.matmul(v);
            delta = (delta * (weight.norm() / delta.norm())).to(weight.device).DetachFromDisposeScope();
            result.Add((module, delta));
        }
        return result;
    }

    /// <summary>Adds scale × direction to the weights while <paramref name="run"/> executes, then restores the exact original values.</summary>
    public static T WithPlant<T>(IEnumerable<(AdaptableLinear Module, Tensor Direction, double Scale)> plant, Func<T> run)
    {
        var saved = new List<(AdaptableLinear Module, Tensor Original)>();
        try
        {
            using (no_grad())
            {
                foreach (var (module, direction, scale) in plant)
                {
                    saved.Add((module, module.Weight.detach().clone()));
                    using var alpha = scale.ToScalar();
                    module.Weight.add_(direction, alpha: alpha);
                }
            }
            return run();
        }
        finally
        {
            using (no_grad())
                foreach (var (module, original) in saved)
                {
                    module.Weight.copy_(original);
                    original.Dispose();
                }
        }
    }

    /// <summary>Greedy next-token predictions [examples, length] of the model for every input position.</summary>
    public static long[][] Greedy(CausalLM model, IReadOnlyList<int[]> inputs, int batchSize) => Predict(model, inputs, batchSize, null);

    /// <summary>Next-token labels drawn from the model's distribution at every position.</summary>
    public static long[][] Sampled(CausalLM model, IReadOnlyList<int[]> inputs, int batchSize, long seed) =>
        Predict(model, inputs, batchSize, new TorchSharp.torch.Generator((ulong)seed));

    private static long[][] Predict(CausalLM model, IReadOnlyList<int[]> inputs, int batchSize, Generator? sample)
    {
        var device = model.parameters().First().device;
        var result = new List<long[]>();
        using var noGrad = no_grad();
        for (int start = 0; start < inputs.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var rows = inputs.Skip(start).Take(batchSize).ToList();
            var ids = tensor(rows.SelectMany(r => r.Select(t => (long)t)).ToArray(), [rows.Count, rows[0].Length], device: device);
            var logits = model.Forward(ids).cpu();
            var predicted = sample is null ? logits.argmax(-1)
                : multinomial(softmax(logits.reshape(-1, logits.shape[2]), -1), 1, generator: sample).reshape(rows.Count, -1);
            for (int r = 0; r < rows.Count; r++) result.Add(predicted[r].data<long>().ToArray());
        }
        return result.ToArray();
    }

    /// <summary>Share of positions where two prediction tables differ.</summary>
    public static double Flips(long[][] a, long[][] b)
    {
        long differ = 0, total = 0;
        for (int i = 0; i < a.Length; i++)
            for (int t = 0; t < a[i].Length; t++) { total++; if (a[i][t] != b[i][t]) differ++; }
        return total == 0 ? 0 : (double)differ / total;
    }

    /// <summary>
    /// The smallest scale (to ~5 %) at which the layer's change alone flips <paramref name="flips"/> of the base
    /// model's greedy predictions on <paramref name="inputs"/>. Layers differ widely in how much a change of the
    /// same norm moves the outputs; equal effect makes every planted layer equally real, so a column cannot pass
    /// by finding only the loudest one.
    /// </summary>
    public static double CalibrateScale(CausalLM model, List<(AdaptableLinear Module, Tensor Direction)> directions, IReadOnlyList<int[]> inputs, long[][] basePredictions, double flips, int batchSize)
    {
        double FlipsAt(double s) => WithPlant(directions.Select(d => (d.Module, d.Direction, s)), () => Flips(Greedy(model, inputs, batchSize), basePredictions));
        double low = 0, high = 0.25;
        while (FlipsAt(high) < flips)
        {
            low = high;
            high *= 2;
            if (high > 64) throw new RuntimeFailureException($"a planted change of 64× the weight norm flips fewer than {flips:P0} of the predictions");
        }
        while (high - low > 0.05 * high)
        {
            var mid = (low + high) / 2;
            if (FlipsAt(mid) >= flips) high = mid; else low = mid;
        }
        return high;
    }

    /// <summary>Sequences of <paramref name="length"/> tokens: the base model's own samples from BOS, or uniform random ids.</summary>
    public static List<int[]> Inputs(PlantedBase model, int count, int length, long seed, int batchSize = 32)
    {
        var vocab = model.Model.Config.Vocab;
        var generator = new TorchSharp.torch.Generator((ulong)seed);
        if (!model.SampleInputs)
        {
            using var ids = randint(1, vocab, [count, length], generator: generator);
            return Enumerable.Range(0, count).Select(i => ids[i].data<long>().Select(x => (int)x).ToArray()).ToList();
        }
        var device = model.Model.parameters().First().device;
        var result = new List<int[]>();
        using var noGrad = no_grad();
        for (int start = 0; start < count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            int rows = Math.Min(batchSize, count - start);
            using var bos = model.Bos.ToScalar();
            var ids = full([rows, 1], bos, dtype: ScalarType.Int64, device: device);
            // Full recompute per step (no KV cache): for these tiny models a batched forward is cheaper than per-row decoding.
            while (ids.shape[1] < length)
            {
                var logits = model.Model.Forward(ids)[.., -1].cpu();
                var next = multinomial(softmax(logits, -1), 1, generator: generator).to(device);
                ids = cat([ids, next], 1);
            }
            var cpu = ids.cpu();
            for (int r = 0; r < rows; r++) result.Add(cpu[r].data<long>().Select(x => (int)x).ToArray());
        }
        return result;
    }

    /// <summary>Labels every position with the teacher's greedy next-token prediction (hard distillation).</summary>
    public static TokenizedSet Labelled(string name, IReadOnlyList<int[]> inputs, long[][] teacherPredictions, int firstIndex = 0)
    {
        var examples = inputs.Select((ids, i) => new TokenizedExample(ids, teacherPredictions[i].Select(x => (int)x).ToArray(), firstIndex + i)).ToList();
        return new TokenizedSet(name, examples, 0, 0, $"{examples.Count} teacher-labelled sequences of {inputs[0].Length} tokens");
    }
}
