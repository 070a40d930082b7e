using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LayerCard.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Models.Checkpoints;

/// <summary>
/// The weights of a Hugging Face model folder: one model.safetensors, or shards listed by
/// model.safetensors.index.json. Pickled PyTorch files (*.bin, *.pt, *.pth) are refused outright because
/// unpickling runs arbitrary code from the file.
/// </summary>
public sealed class HfCheckpoint : IDisposable
{
    /// <summary>The weights file of an unsharded model folder.</summary>
    public const string SingleFileName = "model.safetensors";
    /// <summary>The index of a sharded model folder, mapping each tensor to its shard file.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, SafetensorsFile> _owner;

    /// <summary>The model folder the checkpoint was opened from.</summary>
    public string Directory { get; }
    /// <summary>Every tensor name across all files.</summary>
    public IReadOnlyCollection<string> Names => _owner.Keys;
    /// <summary>Paths of the safetensors files, one or one per shard.</summary>
    public IReadOnlyList<string> Files => _files.Select(f => f.Path).ToList();

    private HfCheckpoint(string directory, List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> owner)
    {
        Directory = directory;
        _files = files;
        _owner = owner;
    }

    /// <summary>Opens the safetensors weights of <paramref name="modelDirectory"/>: the index and its shards when there is an index, else model.safetensors. Shards that disagree with the index, shard names that are paths, or only pickled weights are refused.</summary>
    public static HfCheckpoint Open(string modelDirectory)
    {
        if (!System.IO.Directory.Exists(modelDirectory))
            throw BadInputException.InFile(modelDirectory, "model folder does not exist");
        var index = Path.Combine(modelDirectory, IndexFileName);
        if (File.Exists(index)) return OpenSharded(modelDirectory, index);
        var single = Path.Combine(modelDirectory, SingleFileName);
        if (File.Exists(single))
        {
            var file = SafetensorsFile.Open(single);
            return new HfCheckpoint(modelDirectory, [file], file.Tensors.Keys.ToDictionary(x => x, _ => file, StringComparer.Ordinal));
        }
        var pickled = System.IO.Directory.EnumerateFiles(modelDirectory)
            .Where(f => f.EndsWith(".bin", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".pt", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".pth", StringComparison.OrdinalIgnoreCase))
            .Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        if (pickled.Count > 0)
            throw BadInputException.InFile(modelDirectory,
                $"only pickled PyTorch weights found ({string.Join(", ", pickled)}); pickled files are never loaded because unpickling can execute code. " +
                "Convert them to safetensors first (e.g. load in Python and call model.save_pretrained(dir, safe_serialization=True))");
        throw BadInputException.InFile(modelDirectory, $"no {SingleFileName} or {IndexFileName} in the model folder");
    }

    private static HfCheckpoint OpenSharded(string directory, string indexPath)
    {
        var weightMap = ReadWeightMap(indexPath);
        var files = new List<SafetensorsFile>();
        try
        {
            var owner = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (var shardGroup in weightMap.GroupBy(x => x.Value, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var shardPath = Path.Combine(directory, shardGroup.Key);
                if (!File.Exists(shardPath))
                    throw BadInputException.InFile(indexPath, $"shard '{shardGroup.Key}' (holding e.g. '{shardGroup.First().Key}') does not exist");
                var shard = SafetensorsFile.Open(shardPath);
                files.Add(shard);
                foreach (var (name, _) in shardGroup)
                {
                    if (!shard.Tensors.ContainsKey(name))
                        throw BadInputException.InFile(indexPath, $"tensor '{name}' is mapped to '{shardGroup.Key}' but that shard does not contain it");
                    owner.Add(name, shard);
                }
                // A tensor the map does not list (or lists under another shard) means the index and shards
                // come from different saves; trusting either could load the wrong weights.
                foreach (var name in shard.Tensors.Keys)
                    if (!weightMap.TryGetValue(name, out var mapped) || mapped != shardGroup.Key)
                        throw BadInputException.InFile(shardPath, $"holds tensor '{name}', which {IndexFileName} " +
                            (mapped == null ? "does not list" : $"maps to '{mapped}'"));
            }
            return new HfCheckpoint(directory, files, owner);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        var bytes = File.ReadAllBytes(indexPath);
        // JsonDocument checks UTF-8 only when a string is read, and then throws InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
            throw BadInputException.InFile(indexPath, "not valid UTF-8 text");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw BadInputException.InFile(indexPath, $"not valid JSON: {e.Message}");
        }
        using (document)
        {
            JsonInput.RefuseInvalidStrings(indexPath, document.RootElement);
            if (document.RootElement.ValueKind != JsonValueKind.Object ||
                !document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw BadInputException.InFile(indexPath, "missing the 'weight_map' object");
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var item in map.EnumerateObject())
            {
                if (item.Value.ValueKind != JsonValueKind.String)
                    throw BadInputException.InFile(indexPath, $"weight_map entry '{item.Name}' must be a file name string");
                var shard = item.Value.GetString()!;
                // Shard names come from a downloaded file; a path in them could read files outside the model folder.
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or ".." || shard.Contains('\\'))
                    throw BadInputException.InFile(indexPath, $"weight_map entry '{item.Name}' names '{shard}', which is not a plain file name");
                if (!result.TryAdd(item.Name, shard))
                    throw BadInputException.InFile(indexPath, $"weight_map lists '{item.Name}' twice");
            }
            if (result.Count == 0) throw BadInputException.InFile(indexPath, "weight_map is empty");
            return result;
        }
    }

    /// <summary>The header entry (dtype, shape, offsets) of tensor <paramref name="name"/>; an unknown name is a <see cref="BadInputException"/>.</summary>
    public TensorEntry Entry(string name) => Owner(name).Tensors[name];

    /// <summary>Reads tensor <paramref name="name"/> converted to <paramref name="dtype"/>, from whichever file holds it.</summary>
    public Tensor Read(string name, ScalarType dtype) => Owner(name).Read(name, dtype);

    private SafetensorsFile Owner(string name) =>
        _owner.TryGetValue(name, out var file) ? file : throw BadInputException.InFile(Directory, $"checkpoint has no tensor named '{name}'");

    /// <summary>The on-disk dtype holding the most elements, e.g. "BF16"; what the model was saved in.</summary>
    public string FileDType =>
        _files.SelectMany(f => f.Tensors.Values)
            .GroupBy(e => e.DType)
            .OrderByDescending(g => g.Sum(e => e.ElementCount)).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => g.Key).FirstOrDefault() ?? "F32";

    /// <summary>
    /// A fingerprint of the weights that costs a few reads instead of hashing GBs: every header, every file size,
    /// and 16 evenly spaced 4 KiB samples of each data section. Headers alone would collide for two fine-tunes of
    /// the same base model (same names, shapes and offsets); the samples tell them apart.
    /// </summary>
    public string ContentHash()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var sample = new byte[4096];
        foreach (var file in _files.OrderBy(f => Path.GetFileName(f.Path), StringComparer.Ordinal))
        {
            sha.AppendData(Encoding.UTF8.GetBytes($"{Path.GetFileName(file.Path)}\n{file.FileLength}\n"));
            sha.AppendData(file.HeaderBytes);
            const int samples = 16;
            long step = Math.Max(1, file.DataLength / samples);
            for (int i = 0; i < samples; i++)
            {
                int read = file.ReadDataSample(sample, i * step);
                sha.AppendData(sample, 0, read);
            }
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>Closes every file.</summary>
    public void Dispose()
    {
        foreach (var file in _files) file.Dispose();
    }

    /// <summary>Writes tensors as model.safetensors (tests and exports).</summary>
    public static void WriteSingle(string directory, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        System.IO.Directory.CreateDirectory(directory);
        SafetensorsWriter.Write(Path.Combine(directory, SingleFileName), tensors, metadata ?? new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>Writes tensors split over <paramref name="shards"/> files plus the index, in the HF naming scheme.</summary>
    public static void WriteSharded(string directory, IReadOnlyDictionary<string, Tensor> tensors, int shards)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        System.IO.Directory.CreateDirectory(directory);
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToList();
        // An empty shard would be listed by no index entry, so never more shards than tensors.
        shards = Math.Max(1, Math.Min(shards, names.Count));
        int perShard = Math.Max(1, (names.Count + shards - 1) / shards);
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        long totalSize = 0;
        for (int s = 0; s < shards; s++)
        {
            var fileName = $"model-{s + 1:D5}-of-{shards:D5}.safetensors";
            var part = names.Skip(s * perShard).Take(perShard).ToDictionary(n => n, n => tensors[n], StringComparer.Ordinal);
            SafetensorsWriter.Write(Path.Combine(directory, fileName), part, new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var (name, tensor) in part)
            {
                weightMap[name] = fileName;
                totalSize += tensor.numel() * tensor.ElementSize;
            }
        }
        // Utf8JsonWriter rather than JsonSerializer: no reflection, so nothing breaks under trimming.
        AtomicFile.Write(Path.Combine(directory, IndexFileName), stream =>
        {
            using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            json.WriteStartObject();
            json.WriteStartObject("metadata");
            json.WriteNumber("total_size", totalSize);
            json.WriteEndObject();
            json.WriteStartObject("weight_map");
            foreach (var (name, file) in weightMap) json.WriteString(name, file);
            json.WriteEndObject();
            json.WriteEndObject();
        });
    }
}
