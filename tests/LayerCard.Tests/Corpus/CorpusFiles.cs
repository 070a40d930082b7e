using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using LayerCard.Common;
using LayerCard.Models.Checkpoints;
using LayerCard.Tests.Foundation;
using LayerCard.Tests.Models;
using static TorchSharp.torch;

namespace LayerCard.Tests.Corpus;

/// <summary>Builders the cases share: a valid tiny model to break, and byte-level edits of the files it consists of.</summary>
public static class CorpusFiles
{
    /// <summary>
    /// A valid one-layer Llama folder (vocab 97, untied) under <paramref name="root"/>, with an optional edit of
    /// config.json and of the tensors before they are written. Each case breaks one thing in it.
    /// </summary>
    public static string TinyModel(string root, Action<JsonObject>? config = null, Action<Dictionary<string, Tensor>>? weights = null, int shards = 1)
    {
        var (modelConfig, tensors) = HfModelFolder.Tiny();
        weights?.Invoke(tensors);
        return HfModelFolder.Write(Path.Combine(root, "model"), modelConfig, tensors, shards, config);
    }

    /// <summary>config.json written verbatim, beside valid weights, for configs that JsonObject cannot express.</summary>
    public static string TinyModelWithConfigText(string root, string configText)
    {
        var folder = TinyModel(root);
        File.WriteAllText(Path.Combine(folder, "config.json"), configText);
        return folder;
    }

    /// <summary>The real llama2.c tokenizer of stories260K, for cases that damage a copy of it.</summary>
    public static string TokBin => Path.Combine(Assets.Resolve("stories260K", "--tokenizer"), "tok512.bin");

    public static string[] Info(string model, params string[] extra) => ["info", "--model", model, .. extra];

    public static string Safetensors(string folder) => Path.Combine(folder, HfCheckpoint.SingleFileName);

    public static (JsonObject Header, byte[] Data) ReadSafetensors(string path)
    {
        var bytes = File.ReadAllBytes(path);
        int headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        var header = JsonNode.Parse(bytes.AsSpan(8, headerLength))!.AsObject();
        return (header, bytes[(8 + headerLength)..]);
    }

    public static void WriteSafetensors(string path, ulong headerLength, byte[] header, byte[] data)
    {
        var prefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, headerLength);
        File.WriteAllBytes(path, [.. prefix, .. header, .. data]);
    }

    /// <summary>Rewrites a header entry in place, keeping the data section byte for byte.</summary>
    public static void EditHeader(string path, Action<JsonObject> edit)
    {
        var (header, data) = ReadSafetensors(path);
        edit(header);
        var text = Encoding.UTF8.GetBytes(header.ToJsonString());
        WriteSafetensors(path, (ulong)text.Length, text, data);
    }

    public static void SetOffsets(JsonObject header, string tensor, long begin, long end) =>
        header[tensor]!["data_offsets"] = new JsonArray(begin, end);

    public static long DataLength(string path) => ReadSafetensors(path).Data.LongLength;

    /// <summary>A valid tiny llama2.c legacy checkpoint (tied head, vocab 97).</summary>
    public static string TinyLlama2c(string root, string name = "model.bin")
    {
        var config = TinyModels.Llama(layers: 1, hidden: 16, heads: 2, kvHeads: 1, intermediate: 24, tied: true) with { Architecture = "llama2c", InterleavedRope = true };
        var path = Path.Combine(root, name);
        Llama2cCheckpoint.Write(path, config, TinyModels.RandomWeights(config, seed: 2));
        return path;
    }

    public static string Llama2cHeader(string root, string name, params int[] fields)
    {
        var bytes = new byte[fields.Length * 4 + 64];
        for (int i = 0; i < fields.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 4), fields[i]);
        var path = Path.Combine(root, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>The start of a legacy torch.save file: pickle protocol 2, then the LONG1 magic number torch writes first.</summary>
    public static readonly byte[] LegacyPickle =
        [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, 0x80, 0x02, 0x4d, 0xe9, 0x03, 0x2e];

    /// <summary>The start of a current torch.save file, which is a zip archive.</summary>
    public static readonly byte[] ZipPickle = [(byte)'P', (byte)'K', 0x03, 0x04, 0x14, 0x00, 0x00, 0x08, 0x08, .. "archive/data.pkl"u8];

    public static string WriteFile(string root, string name, byte[] bytes)
    {
        var path = Path.Combine(root, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public static string WriteFile(string root, string name, string text) => WriteFile(root, name, Encoding.UTF8.GetBytes(text));
}
