using LayerCard.Common;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Models.Checkpoints;

/// <summary>The safetensors dtype names, their sizes, and which of them torch can hold.</summary>
public static class SafetensorsDType
{
    // F8 and unsigned wide types are valid safetensors dtypes that TorchSharp has no ScalarType for: a file that
    // holds them still opens (its other tensors may be all we need), only reading those tensors is refused.
    private static readonly Dictionary<string, (int Size, ScalarType? Torch)> Known = new(StringComparer.Ordinal)
    {
        ["F64"] = (8, ScalarType.Float64),
        ["F32"] = (4, ScalarType.Float32),
        ["F16"] = (2, ScalarType.Float16),
        ["BF16"] = (2, ScalarType.BFloat16),
        ["I64"] = (8, ScalarType.Int64),
        ["I32"] = (4, ScalarType.Int32),
        ["I16"] = (2, ScalarType.Int16),
        ["I8"] = (1, ScalarType.Int8),
        ["U8"] = (1, ScalarType.Byte),
        ["BOOL"] = (1, ScalarType.Bool),
        ["U64"] = (8, null),
        ["U32"] = (4, null),
        ["U16"] = (2, null),
        ["F8_E4M3"] = (1, null),
        ["F8_E5M2"] = (1, null),
    };

    /// <summary>The size in bytes of one element of <paramref name="dtype"/>; false for a name safetensors does not define.</summary>
    public static bool TryGetItemSize(string dtype, out int size)
    {
        var found = Known.TryGetValue(dtype, out var info);
        size = info.Size;
        return found;
    }

    /// <summary>The torch type a safetensors dtype loads as, or null for unknown names and for types TorchSharp cannot hold (F8, U16, U32, U64).</summary>
    public static ScalarType? ToScalarType(string dtype) => Known.TryGetValue(dtype, out var info) ? info.Torch : null;

    /// <summary>The safetensors name of a torch type; types safetensors cannot store are an <see cref="ArgumentException"/>.</summary>
    public static string FromScalarType(ScalarType type)
    {
        foreach (var (name, info) in Known)
            if (info.Torch == type) return name;
        throw new ArgumentException($"tensors of type {type} cannot be stored in safetensors", nameof(type));
    }

    /// <summary>Every known dtype name, comma separated, for refusal messages.</summary>
    public static string SupportedList => string.Join(", ", Known.Keys);
}

/// <summary>
/// Moves bytes between files and tensor storage without a managed copy. Tensor.bytes is a Span, so its length is
/// an int; larger tensors are handled through narrowed views of at most <see cref="ChunkBytes"/> each.
/// </summary>
internal static class TensorBytes
{
    private const long ChunkBytes = 1L << 30;

    /// <summary>Calls <paramref name="action"/> on consecutive spans covering the storage of a contiguous CPU tensor.</summary>
    public static void ForEachChunk(Tensor tensor, Action<Span<byte>> action)
    {
        if (!tensor.is_contiguous() || tensor.device_type != DeviceType.CPU)
            throw new ArgumentException("tensor must be a contiguous CPU tensor", nameof(tensor));
        long count = tensor.numel();
        if (count == 0) return;
        long itemSize = tensor.ElementSize;
        if (count * itemSize <= ChunkBytes)
        {
            action(tensor.bytes);
            return;
        }
        using var scope = torch.NewDisposeScope();
        var flat = tensor.view(-1);
        long perChunk = ChunkBytes / itemSize;
        for (long start = 0; start < count; start += perChunk)
            action(flat.narrow(0, start, Math.Min(perChunk, count - start)).bytes);
    }

    /// <summary>Fills a tensor from a file region; a short read means the file shrank after it was validated.</summary>
    public static void ReadInto(Tensor tensor, SafeFileHandle file, long offset, string path)
    {
        long position = offset;
        ForEachChunk(tensor, span =>
        {
            while (!span.IsEmpty)
            {
                int read = RandomAccess.Read(file, span, position);
                if (read <= 0) throw BadInputException.InFile(path, $"file ended at byte {position} while reading tensor data (was it truncated while open?)");
                position += read;
                span = span[read..];
            }
        });
    }

    /// <summary>Fills a contiguous CPU tensor from the stream's current position; a stream that ends early is a <see cref="BadInputException"/> naming <paramref name="path"/>.</summary>
    public static void ReadInto(Tensor tensor, Stream stream, string path)
    {
        ForEachChunk(tensor, span =>
        {
            try { stream.ReadExactly(span); }
            catch (EndOfStreamException) { throw BadInputException.InFile(path, "file ended while reading tensor data (was it truncated while open?)"); }
        });
    }

    /// <summary>Writes a contiguous CPU tensor's raw bytes to the stream.</summary>
    public static void WriteFrom(Tensor tensor, Stream stream) => ForEachChunk(tensor, span => stream.Write(span));
}
