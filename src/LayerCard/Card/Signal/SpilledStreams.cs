using static TorchSharp.torch;

namespace LayerCard.Card;

/// <summary>
/// Recorded residual streams kept on disk instead of in memory, one file per layer in a private temporary folder,
/// read back a layer at a time: a layer sweep over wide layers then holds one layer's streams whatever the depth
/// (36 layers × 4,096 tokens × 4,096 floats would be 2.4 GB). The folder is deleted on dispose.
/// </summary>
public sealed class SpilledStreams : IDisposable
{
    private readonly string folder;
    private readonly FileStream?[] files;
    private readonly List<(long[] Shape, ScalarType Type)>[] layouts;

    /// <summary>An empty spill for <paramref name="layers"/> layers, in a new folder under the system's temporary folder.</summary>
    public SpilledStreams(int layers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        folder = Directory.CreateTempSubdirectory("layercard-streams-").FullName;
        files = new FileStream?[layers];
        layouts = Enumerable.Range(0, layers).Select(_ => new List<(long[], ScalarType)>()).ToArray();
    }

    /// <summary>The private folder the layers' files are in (deleted on dispose).</summary>
    public string Folder => folder;

    /// <summary>Appends the next batch's stream entering <paramref name="layer"/> (any device; written from a CPU copy).</summary>
    public void Write(int layer, Tensor stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var file = files[layer] ??= new FileStream(Path.Combine(folder, $"layer-{layer}.bin"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20);
        using var cpu = stream.detach().cpu().contiguous();
        cpu.WriteBytesToStream(file);
        layouts[layer].Add((stream.shape, stream.dtype));
    }

    /// <summary>Reads back every batch's stream of <paramref name="layer"/>, in the order written, onto <paramref name="device"/>, and deletes its file.</summary>
    public List<Tensor> Read(int layer, Device device)
    {
        var file = files[layer] ?? throw new InvalidOperationException($"no stream of layer {layer} was written");
        file.Position = 0;
        var result = new List<Tensor>(layouts[layer].Count);
        foreach (var (shape, type) in layouts[layer])
        {
            var cpu = empty(shape, type);
            cpu.ReadBytesFromStream(file);
            if (device.type == TorchSharp.DeviceType.CPU) result.Add(cpu);
            else
            {
                result.Add(cpu.to(device));
                cpu.Dispose();
            }
        }
        file.Dispose();
        files[layer] = null;
        File.Delete(Path.Combine(folder, $"layer-{layer}.bin"));
        return result;
    }

    /// <summary>Closes the files and deletes the folder.</summary>
    public void Dispose()
    {
        foreach (var file in files) file?.Dispose();
        Array.Clear(files);
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // Already gone or held by another process: the system's temporary folder is cleaned eventually.
        }
    }
}
