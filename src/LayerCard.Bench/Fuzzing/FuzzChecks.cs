using LayerCard.Models;
using LayerCard.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Bench.Fuzzing;

/// <summary>
/// What "loaded" must mean: the parameters have exactly the shapes the config describes (derived here
/// independently of the model classes), a short forward pass gives finite logits of the right shape, and a
/// tokenizer encodes and decodes within its own vocabulary. Each check returns null or the problem.
/// </summary>
public static class FuzzChecks
{
    private const string Sample = "Hello world, the thing: ñ 🙂\n";

    /// <summary>Checks a loaded model: every parameter has the shape the config implies and no other exists, a forward over up to three tokens gives logits of shape [1, positions, vocab] that are finite unless the file holds extreme weights, and its tokenizer passes <see cref="Tokenizer"/>. <paramref name="note"/> describes what loaded.</summary>
    public static string? Model(LoadedModel loaded, out string note)
    {
        // The forward pass and the checks make temporaries; the loaded parameters were created outside this scope.
        using var scope = torch.NewDisposeScope();
        var c = loaded.Config;
        note = $"{c.Architecture} {c.Layers}x{c.Hidden}, vocab {c.Vocab}";
        var expected = ExpectedShapes(c);
        var actual = loaded.Model.BaseParameters();
        foreach (var (name, shape) in expected)
        {
            if (!actual.TryGetValue(name, out var parameter)) return $"config implies parameter '{name}' but the model has none";
            if (!parameter.shape.SequenceEqual(shape))
                return $"'{name}' has shape [{string.Join(", ", parameter.shape)}], config implies [{string.Join(", ", shape)}]";
        }
        var extra = actual.Keys.Except(expected.Keys).FirstOrDefault();
        if (extra != null) return $"model has parameter '{extra}' that the config does not imply";

        int positions = (int)Math.Min(3, c.MaxPositions);
        using var ids = tensor(Enumerable.Range(1, positions).Select(i => (long)(i % c.Vocab)).ToArray(), [1, positions]);
        using var logits = loaded.Model.Forward(ids);
        long[] want = [1, positions, c.Vocab];
        if (!logits.shape.SequenceEqual(want))
            return $"forward gave logits [{string.Join(", ", logits.shape)}], expected [{string.Join(", ", want)}]";
        if (!logits.isfinite().all().item<bool>())
        {
            // Damaged data bytes load faithfully: a flipped exponent bit is a huge or non-finite weight, not a reader bug.
            bool extreme = actual.Values.Any(p => !p.isfinite().all().item<bool>() || p.abs().max().item<float>() > 1e4f);
            if (!extreme) return "forward gave non-finite logits although every weight is finite and moderate";
            note += "; non-finite logits from extreme weights in the file";
        }
        if (loaded.Tokenizer is { } tokenizer)
        {
            var problem = Tokenizer(tokenizer, c.Vocab);
            if (problem != null) return $"tokenizer: {problem}";
            note += $"; {tokenizer.GetType().Name} {tokenizer.VocabSize} tokens";
        }
        return null;
    }

    /// <summary>Checks a tokenizer: a positive vocabulary no larger than <paramref name="modelVocab"/> (when given), BOS and EOS inside it, and a sample text with accents and an emoji that encodes to ids inside it and decodes without throwing.</summary>
    public static string? Tokenizer(ITokenizer tokenizer, int? modelVocab)
    {
        int size = tokenizer.VocabSize;
        if (size <= 0) return $"vocabulary size {size}";
        if (modelVocab is int rows && size > rows) return $"{size} tokens but the model's embedding has {rows} rows";
        foreach (var (what, id) in new[] { ("BOS", tokenizer.BosId), ("EOS", tokenizer.EosId) })
            if (id is int special && (special < 0 || special >= size)) return $"{what} id {special} outside 0..{size - 1}";
        int[] ids;
        try { ids = tokenizer.Encode(Sample, addBos: true); }
        catch (Exception e) { return $"Encode threw {Fuzzer.Describe(e)}"; }
        var outside = ids.Where(id => id < 0 || id >= size).ToList();
        if (outside.Count > 0) return $"Encode gave id {outside[0]} outside 0..{size - 1}";
        try
        {
            tokenizer.Decode(ids);
            foreach (var id in ids) tokenizer.TokenText(id);
        }
        catch (Exception e) { return $"Decode/TokenText threw {Fuzzer.Describe(e)}"; }
        return null;
    }

    /// <summary>Every parameter a config implies, by its Hugging Face name.</summary>
    public static Dictionary<string, long[]> ExpectedShapes(ModelConfig c)
    {
        long v = c.Vocab, h = c.Hidden, q = (long)c.Heads * c.HeadDim, kv = (long)c.KvHeads * c.HeadDim, inter = c.Intermediate;
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        if (c.Family == ModelConfig.Gpt2)
        {
            shapes["transformer.wte.weight"] = [v, h];
            shapes["transformer.wpe.weight"] = [c.MaxPositions, h];
            for (int i = 0; i < c.Layers; i++)
            {
                var p = $"transformer.h.{i}.";
                foreach (var ln in new[] { "ln_1", "ln_2" }) { shapes[p + ln + ".weight"] = [h]; shapes[p + ln + ".bias"] = [h]; }
                shapes[p + "attn.c_attn.weight"] = [h, 3 * h]; shapes[p + "attn.c_attn.bias"] = [3 * h];
                shapes[p + "attn.c_proj.weight"] = [h, h]; shapes[p + "attn.c_proj.bias"] = [h];
                shapes[p + "mlp.c_fc.weight"] = [h, inter]; shapes[p + "mlp.c_fc.bias"] = [inter];
                shapes[p + "mlp.c_proj.weight"] = [inter, h]; shapes[p + "mlp.c_proj.bias"] = [h];
            }
            shapes["transformer.ln_f.weight"] = [h];
            shapes["transformer.ln_f.bias"] = [h];
            return shapes;
        }
        shapes["model.embed_tokens.weight"] = [v, h];
        for (int i = 0; i < c.Layers; i++)
        {
            var p = $"model.layers.{i}.";
            shapes[p + "input_layernorm.weight"] = [h];
            shapes[p + "post_attention_layernorm.weight"] = [h];
            shapes[p + "self_attn.q_proj.weight"] = [q, h];
            shapes[p + "self_attn.k_proj.weight"] = [kv, h];
            shapes[p + "self_attn.v_proj.weight"] = [kv, h];
            shapes[p + "self_attn.o_proj.weight"] = [h, q];
            if (c.QkvBias)
            {
                shapes[p + "self_attn.q_proj.bias"] = [q];
                shapes[p + "self_attn.k_proj.bias"] = [kv];
                shapes[p + "self_attn.v_proj.bias"] = [kv];
            }
            if (c.QkNorm)
            {
                shapes[p + "self_attn.q_norm.weight"] = [c.HeadDim];
                shapes[p + "self_attn.k_norm.weight"] = [c.HeadDim];
            }
            shapes[p + "mlp.gate_proj.weight"] = [inter, h];
            shapes[p + "mlp.up_proj.weight"] = [inter, h];
            shapes[p + "mlp.down_proj.weight"] = [h, inter];
        }
        shapes["model.norm.weight"] = [h];
        if (!c.TiedEmbeddings) shapes["lm_head.weight"] = [v, h];
        return shapes;
    }
}
