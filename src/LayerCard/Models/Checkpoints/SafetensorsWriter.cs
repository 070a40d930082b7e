using System.Buffers.Binary;
using System.Text.Json;
using LayerCard.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Models.Checkpoints;

/// <summary>
/// Writes safetensors files that the Hugging Face library reads: keys in ordinal order, contiguous data with no
/// gaps, and the header padded with spaces to a multiple of 8 bytes so every tensor starts 8-byte aligned.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>
    /// Writes each tensor in its own dtype (F32, BF16, F16 and the integer/bool types); other types are refused.
    /// The file appears atomically: a crash leaves the previous file or none.
    /// </summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = tensors.Keys.OrderBy(x => x, StringComparer.Ordinal).ToList();
        var entries = new List<TensorEntry>(names.Count);
        long offset = 0;
        foreach (var name in names)
        {
            if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor", nameof(tensors));
            var tensor = tensors[name];
            var dtype = SafetensorsDType.FromScalarType(tensor.dtype);
            long bytes = checked(tensor.numel() * tensor.ElementSize);
            entries.Add(new TensorEntry(name, dtype, tensor.shape, offset, offset + bytes));
            offset = checked(offset + bytes);
        }
        var header = BuildHeader(entries, metadata);

        AtomicFile.Write(path, stream =>
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            stream.Write(header);
            foreach (var name in names)
            {
                using var scope = torch.NewDisposeScope();
                var source = tensors[name];
                var cpu = source.device_type == DeviceType.CPU ? source : source.cpu();
                TensorBytes.WriteFrom(cpu.contiguous(), stream);
            }
        });
    }

    internal static byte[] BuildHeader(IReadOnlyList<TensorEntry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata.OrderBy(x => x.Key, StringComparer.Ordinal))
                    json.WriteString(key, value);
                json.WriteEndObject();
            }
            foreach (var entry in entries)
            {
                json.WriteStartObject(entry.Name);
                json.WriteString("dtype", entry.DType);
                json.WriteStartArray("shape");
                foreach (var dim in entry.Shape) json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(entry.Begin);
                json.WriteNumberValue(entry.End);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        int padding = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < padding; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }
}
