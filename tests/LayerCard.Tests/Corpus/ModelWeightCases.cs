using System.Text;
using System.Text.Json.Nodes;
using static LayerCard.Tests.Corpus.CorpusFiles;
using static TorchSharp.torch;

namespace LayerCard.Tests.Corpus;

/// <summary>
/// Broken weight files: damaged or forged safetensors, checkpoints that disagree with their config, sharded
/// indexes that disagree with their shards, pickles, and llama2.c files.
/// </summary>
public static class ModelWeightCases
{
    private const string Norm = "model.norm.weight";
    private const string QProj = "model.layers.0.self_attn.q_proj.weight";

    /// <summary>A valid tiny model whose model.safetensors header is then edited.</summary>
    private static BadInputCase Header(string name, string fragment, Action<JsonObject, long> edit) =>
        new(name, root =>
        {
            var folder = TinyModel(root);
            var file = Safetensors(folder);
            long dataLength = DataLength(file);
            EditHeader(file, header => edit(header, dataLength));
            return Info(folder);
        }, fragment, "model.safetensors");

    /// <summary>A valid tiny model whose model.safetensors is replaced by raw bytes.</summary>
    private static BadInputCase Raw(string name, string fragment, Func<byte[], byte[]> corrupt) =>
        new(name, root =>
        {
            var folder = TinyModel(root);
            var file = Safetensors(folder);
            File.WriteAllBytes(file, corrupt(File.ReadAllBytes(file)));
            return Info(folder);
        }, fragment, "model.safetensors");

    private static BadInputCase Weights(string name, string fragment, Action<Dictionary<string, Tensor>> edit) =>
        new(name, root => Info(TinyModel(root, weights: edit)), fragment, "model");

    /// <summary>A valid 3-shard model whose index is then edited.</summary>
    private static BadInputCase Index(string name, string fragment, Action<string> damage, string? file = "model.safetensors.index.json") =>
        new(name, root =>
        {
            var folder = TinyModel(root, shards: 3);
            damage(folder);
            return Info(folder);
        }, fragment, file);

    private static void EditIndex(string folder, Action<JsonObject> edit)
    {
        var path = Path.Combine(folder, "model.safetensors.index.json");
        var index = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(index["weight_map"]!.AsObject());
        File.WriteAllText(path, index.ToJsonString());
    }

    private static byte[] Header(string json) => Encoding.UTF8.GetBytes(json);

    private static byte[] Padded(string header, int dataBytes)
    {
        var bytes = Header(header);
        return WithLength((ulong)bytes.Length, [.. bytes, .. new byte[dataBytes]]);
    }

    private static byte[] WithLength(ulong length, byte[] rest) =>
        [.. BitConverter.GetBytes(length), .. rest];

    public static IEnumerable<BadInputCase> Cases =>
    [
        // Damaged files.
        Raw("shorter-than-length-prefix", "shorter than the 8-byte header length", bytes => bytes[..5]),
        Raw("truncated-data", "lie outside the", bytes => bytes[..^100]),
        Raw("truncated-header", "runs past the end", bytes => bytes[..40]),
        Raw("empty-file", "0 bytes is shorter", _ => []),
        Raw("header-length-beyond-file", "runs past the end", bytes => WithLength(5000, bytes[8..600])),
        Raw("header-length-huge", "exceeds the", bytes => WithLength(ulong.MaxValue - 7, bytes[8..])),
        Raw("header-not-json", "header is not valid JSON", _ => WithLength(16, Header("this is not json"))),
        Raw("header-json-array", "header must be a JSON object", _ => WithLength(8, Header("[1,2,3] "))),
        Raw("duplicate-tensor", "lists tensor 'a' twice", _ => Padded(
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8)),
        Raw("metadata-not-strings", "'__metadata__' value 'format' must be a string", _ => Padded("{\"__metadata__\":{\"format\":1}}", 0)),
        // Forged or inconsistent headers.
        Header("offsets-beyond-data", "lie outside the", (h, length) => SetOffsets(h, Norm, length - 32, length + 32)),
        Header("offsets-reversed", "lie outside the", (h, _) => SetOffsets(h, Norm, 64, 0)),
        Header("offsets-overlap", "overlap", (h, _) => SetOffsets(h, Norm, 0, 64)),
        Header("offsets-not-integers", "'data_offsets' must be two integers", (h, _) => h[Norm]!["data_offsets"] = new JsonArray("0", "64")),
        Header("dtype-size-mismatch", "data_offsets span", (h, _) => h[Norm]!["dtype"] = "F16"),
        Header("unknown-dtype", "unknown dtype 'F12'", (h, _) => h[Norm]!["dtype"] = "F12"),
        Header("dtype-torch-cannot-hold", "has dtype U32, which cannot be loaded", (h, _) => h[Norm]!["dtype"] = "U32"),
        Header("negative-dim", "is negative", (h, _) => h[Norm]!["shape"] = new JsonArray(-16)),
        Header("shape-overflows", "overflows", (h, _) => h[Norm]!["shape"] = new JsonArray(1L << 40, 1L << 40)),
        Header("missing-dtype", "missing 'dtype'", (h, _) => h[Norm]!.AsObject().Remove("dtype")),
        // Valid files that do not fit the config.
        Weights("q_proj-wrong-width", "tensor 'model.layers.0.self_attn.q_proj.weight' has shape [24, 16] but config.json implies [16, 16]",
            w => w[QProj] = zeros(24, 16)),
        Weights("tensor-missing", "tensor 'model.norm.weight' is missing", w => w.Remove(Norm)),
        Weights("untied-without-lm_head", "tensor 'lm_head.weight' is missing", w => w.Remove("lm_head.weight")),
        Weights("unexpected-tensor", "unexpected tensor 'model.layers.1.mlp.up_proj.weight'", w => w["model.layers.1.mlp.up_proj.weight"] = zeros(24, 16)),
        // Sharded checkpoints whose index and shards disagree.
        Index("missing-shard", "shard 'model-00002-of-00003.safetensors'", f => File.Delete(Path.Combine(f, "model-00002-of-00003.safetensors"))),
        Index("index-invalid-json", "not valid JSON", f => File.WriteAllText(Path.Combine(f, "model.safetensors.index.json"), "{\"weight_map\": {")),
        Index("index-without-weight_map", "missing the 'weight_map' object", f => File.WriteAllText(Path.Combine(f, "model.safetensors.index.json"), "{\"metadata\": {}}")),
        Index("index-empty-weight_map", "weight_map is empty", f => EditIndex(f, m => m.Clear())),
        Index("index-entry-not-a-string", $"weight_map entry '{Norm}' must be a file name string", f => EditIndex(f, m => m[Norm] = 3)),
        Index("index-path-traversal", "is not a plain file name", f => EditIndex(f, m => m[Norm] = "../model-00003-of-00003.safetensors")),
        Index("index-forgets-a-tensor", $"holds tensor '{Norm}', which model.safetensors.index.json does not list", f => EditIndex(f, m => m.Remove(Norm)),
            file: "model-00003-of-00003.safetensors"),
        Index("index-wrong-shard", "that shard does not contain it", f => EditIndex(f, m => m[Norm] = "model-00001-of-00003.safetensors")),
        // Folders without loadable weights.
        new("config-without-weights", root =>
        {
            var folder = TinyModel(root);
            File.Delete(Safetensors(folder));
            return Info(folder);
        }, "no model.safetensors or model.safetensors.index.json", "model"),
        new("empty-folder", root => Info(Directory.CreateDirectory(Path.Combine(root, "empty")).FullName),
            "no config.json (Hugging Face model folder) and no llama2.c .bin checkpoint", "empty"),
        new("pickle-only-with-config", root =>
        {
            var folder = TinyModel(root);
            File.Delete(Safetensors(folder));
            WriteFile(folder, "pytorch_model.bin", LegacyPickle);
            return Info(folder);
        }, "only pickled PyTorch weights found (pytorch_model.bin)", "model"),
        new("zip-pickle-only", root =>
        {
            WriteFile(root, "m/pytorch_model.bin", ZipPickle);
            return Info(Path.Combine(root, "m"));
        }, "is a pickled PyTorch file", "pytorch_model.bin"),
        new("pt-file-given-directly", root => Info(WriteFile(root, "model.pt", LegacyPickle)), "is a pickled PyTorch file", "model.pt"),
        new("pth-not-even-a-pickle", root => Info(WriteFile(root, "weights.pth", "hello")), "never unpickles", "weights.pth"),
        new("tokenizer-bin-as-model", root => Info(WriteFile(root, "tok512.bin", File.ReadAllBytes(TokBin))), "not a llama2.c legacy checkpoint?", "tok512.bin"),
        new("json-as-model", root => Info(WriteFile(root, "vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2, \"abc\": 3}")), "not a llama2.c legacy checkpoint?", "vocab.json"),
        new("generate-with-corrupt-weights", root =>
        {
            var folder = TinyModel(root);
            File.WriteAllBytes(Safetensors(folder), File.ReadAllBytes(Safetensors(folder))[..^8]);
            return ["generate", "--model", folder, "--tokenizer", "stories260K", "--max-new-tokens", "3"];
        }, "lie outside the", "model.safetensors"),
        // llama2.c checkpoints.
        new("llama2c-truncated", root =>
        {
            var path = TinyLlama2c(root);
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes[..^40]);
            return Info(path);
        }, "truncated", "model.bin"),
        new("llama2c-trailing-data", root =>
        {
            var path = TinyLlama2c(root);
            File.AppendAllText(path, "extra");
            return Info(path);
        }, "trailing data", "model.bin"),
        new("llama2c-zero-layers", root => Info(Llama2cHeader(root, "model.bin", 16, 24, 0, 2, 1, 97, 128)), "n_layers = 0 is out of range", "model.bin"),
        new("llama2c-header-only", root => Info(WriteFile(root, "model.bin", new byte[12])), "shorter than its 28-byte header", "model.bin"),
        new("llama2c-version-1", root => Info(Llama2cHeader(root, "model.bin", 0x616b3432, 1, 16, 24, 1, 2, 1)), "version 1 or later is not supported", "model.bin"),
        new("llama2c-two-in-folder", root =>
        {
            TinyLlama2c(root, "a.bin");
            TinyLlama2c(root, "b.bin");
            return Info(root);
        }, "several llama2.c checkpoints (a.bin, b.bin)"),
    ];
}
