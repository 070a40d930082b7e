using System.Buffers.Binary;
using LayerCard.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Models.Checkpoints;

/// <summary>
/// Karpathy's llama2.c legacy (version 0) checkpoint: seven int32 header fields, then fp32 arrays in a fixed
/// order. Weights are renamed to their Hugging Face Llama names so one model implementation serves both. The
/// exact file size follows from the header, so it is checked before anything is allocated.
/// </summary>
public static class Llama2cCheckpoint
{
    private const int HeaderBytes = 7 * sizeof(int);
    // Later llama2.c export versions start with this magic ("ak42") and use a different layout.
    private const uint VersionedMagic = 0x616b3432;

    private sealed record Header(int Dim, int Hidden, int Layers, int Heads, int KvHeads, int Vocab, int SeqLen, bool Shared)
    {
        /// <summary>Width of one attention head: dim / n_heads.</summary>
        public int HeadSize => Dim / Heads;
        /// <summary>Width of the key and value projections: head size x n_kv_heads.</summary>
        public int KvDim => Dim / Heads * KvHeads;
    }

    /// <summary>Reads a legacy llama2.c file into a config and fp32 tensors under Hugging Face Llama names (the caller disposes them). The header is range-checked and the file size must match it exactly; the stored freq_cis tables are skipped.</summary>
    public static (ModelConfig Config, Dictionary<string, Tensor> Tensors) Read(string path)
    {
        using var stream = OpenRead(path);
        var header = ReadHeader(stream, path);
        long expected = ExpectedBytes(header, path);
        if (stream.Length != expected)
            throw BadInputException.InFile(path,
                $"llama2.c checkpoint should be {expected} bytes for its header (dim {header.Dim}, hidden {header.Hidden}, layers {header.Layers}, " +
                $"heads {header.Heads}/{header.KvHeads}, vocab {header.Vocab}, seq {header.SeqLen}) but is {stream.Length} bytes ({(stream.Length < expected ? "truncated" : "trailing data")})");

        var config = new ModelConfig(ModelConfig.Llama, "llama2c", header.Layers, header.Dim, header.Heads, header.KvHeads,
            header.HeadSize, header.Hidden, header.Vocab, header.SeqLen, NormEps: 1e-5, RopeTheta: 10000,
            TiedEmbeddings: header.Shared, QkvBias: false, QkNorm: false, InterleavedRope: true, Activation: "silu").Validate(path);

        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, shape) in Layout(header))
            {
                if (name == null)
                {
                    // freq_cis tables: llama2.c precomputed RoPE; recomputed from RopeTheta instead.
                    stream.Seek(checked(shape.Aggregate(1L, (a, b) => a * b) * sizeof(float)), SeekOrigin.Current);
                    continue;
                }
                var tensor = torch.empty(shape, ScalarType.Float32);
                tensors.Add(name, tensor);
                TensorBytes.ReadInto(tensor, stream, path);
            }
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return (config, tensors);
    }

    /// <summary>
    /// Writes a legacy llama2.c file (tests and exports). Tied embeddings when there is no lm_head.weight.
    /// The freq_cis tables are filled the way llama2.c's export computes them, so llama2.c's run.c can load it.
    /// </summary>
    public static void Write(string path, ModelConfig config, IReadOnlyDictionary<string, Tensor> tensors)
    {
        bool shared = !tensors.ContainsKey("lm_head.weight");
        var header = new Header(config.Hidden, config.Intermediate, config.Layers, config.Heads, config.KvHeads, config.Vocab, config.MaxPositions, shared);
        AtomicFile.Write(path, stream =>
        {
            Span<byte> fields = stackalloc byte[HeaderBytes];
            int[] values = [header.Dim, header.Hidden, header.Layers, header.Heads, header.KvHeads, shared ? header.Vocab : -header.Vocab, header.SeqLen];
            for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(fields[(i * 4)..], values[i]);
            stream.Write(fields);
            bool cosDone = false;
            foreach (var (name, shape) in Layout(header))
            {
                using var scope = torch.NewDisposeScope();
                Tensor data;
                if (name == null)
                {
                    data = FreqCis(header, cosine: !cosDone);
                    cosDone = true;
                }
                else
                {
                    if (!tensors.TryGetValue(name, out var source)) throw new ArgumentException($"missing tensor '{name}'", nameof(tensors));
                    if (!source.shape.SequenceEqual(shape))
                        throw new ArgumentException($"tensor '{name}' has shape [{string.Join(", ", source.shape)}], expected [{string.Join(", ", shape)}]", nameof(tensors));
                    data = source.to(ScalarType.Float32).cpu().contiguous();
                }
                TensorBytes.WriteFrom(data, stream);
            }
        });
    }

    private static FileStream OpenRead(string path)
    {
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw BadInputException.InFile(path, $"cannot open llama2.c checkpoint: {e.Message}");
        }
    }

    private static Header ReadHeader(FileStream stream, string path)
    {
        if (stream.Length < HeaderBytes)
            throw BadInputException.InFile(path, $"llama2.c checkpoint is {stream.Length} bytes, shorter than its {HeaderBytes}-byte header");
        Span<byte> bytes = stackalloc byte[HeaderBytes];
        stream.ReadExactly(bytes);
        if (BinaryPrimitives.ReadUInt32LittleEndian(bytes) == VersionedMagic)
            throw BadInputException.InFile(path, "llama2.c export version 1 or later is not supported; export with --version 0 (legacy)");
        var v = new int[7];
        for (int i = 0; i < 7; i++) v[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes[(i * 4)..]);
        string[] names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"];
        for (int i = 0; i < 7; i++)
        {
            // vocab_size is signed: negative marks a separate classifier, so check its magnitude.
            long value = i == 5 ? Math.Abs((long)v[i]) : v[i];
            long limit = i == 2 ? 1000 : 1_000_000;
            if (value <= 0 || value >= limit)
                throw BadInputException.InFile(path, $"llama2.c header field {names[i]} = {v[i]} is out of range (1..{limit - 1}); not a llama2.c legacy checkpoint?");
        }
        var header = new Header(v[0], v[1], v[2], v[3], v[4], Math.Abs(v[5]), v[6], Shared: v[5] > 0);
        if (header.Dim % header.Heads != 0)
            throw BadInputException.InFile(path, $"llama2.c header: dim {header.Dim} is not divisible by n_heads {header.Heads}");
        if (header.Heads % header.KvHeads != 0)
            throw BadInputException.InFile(path, $"llama2.c header: n_heads {header.Heads} is not divisible by n_kv_heads {header.KvHeads}");
        if (header.HeadSize % 2 != 0)
            throw BadInputException.InFile(path, $"llama2.c header: head size {header.HeadSize} must be even for rotary embeddings");
        return header;
    }

    private static long ExpectedBytes(Header h, string path)
    {
        try
        {
            return checked(HeaderBytes + Layout(h).Sum(x => x.Shape.Aggregate(1L, (a, b) => checked(a * b)) * sizeof(float)));
        }
        catch (OverflowException)
        {
            throw BadInputException.InFile(path, "llama2.c header describes a model too large to address");
        }
    }

    /// <summary>The arrays in file order with their HF names; null names are the freq_cis tables (cos, then sin).</summary>
    private static IEnumerable<(string? Name, long[] Shape)> Layout(Header h)
    {
        long dim = h.Dim, hidden = h.Hidden, kv = h.KvDim;
        IEnumerable<(string?, long[])> PerLayer(string suffix, long rows, long cols) =>
            Enumerable.Range(0, h.Layers).Select(i => ((string?)$"model.layers.{i}.{suffix}", rows < 0 ? new[] { cols } : new[] { rows, cols }));

        yield return ("model.embed_tokens.weight", [h.Vocab, dim]);
        foreach (var x in PerLayer("input_layernorm.weight", -1, dim)) yield return x;
        foreach (var x in PerLayer("self_attn.q_proj.weight", dim, dim)) yield return x;
        foreach (var x in PerLayer("self_attn.k_proj.weight", kv, dim)) yield return x;
        foreach (var x in PerLayer("self_attn.v_proj.weight", kv, dim)) yield return x;
        foreach (var x in PerLayer("self_attn.o_proj.weight", dim, dim)) yield return x;
        foreach (var x in PerLayer("post_attention_layernorm.weight", -1, dim)) yield return x;
        foreach (var x in PerLayer("mlp.gate_proj.weight", hidden, dim)) yield return x;
        foreach (var x in PerLayer("mlp.down_proj.weight", dim, hidden)) yield return x;
        foreach (var x in PerLayer("mlp.up_proj.weight", hidden, dim)) yield return x;
        yield return ("model.norm.weight", [dim]);
        yield return (null, [h.SeqLen, h.HeadSize / 2]);
        yield return (null, [h.SeqLen, h.HeadSize / 2]);
        if (!h.Shared) yield return ("lm_head.weight", [h.Vocab, dim]);
    }

    private static Tensor FreqCis(Header h, bool cosine)
    {
        var freqs = 1.0 / torch.pow(10000.0, OwnedScalars.Arange(0, h.HeadSize, 2, ScalarType.Float32) / h.HeadSize);
        var angles = torch.outer(OwnedScalars.Arange(0, h.SeqLen, 1, ScalarType.Float32), freqs);
        return (cosine ? angles.cos() : angles.sin()).contiguous();
    }
}
