using System.Buffers.Binary;
using System.Text.Json;
using LayerCard.Common;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Models.Checkpoints;

/// <summary>One tensor's header entry; Begin and End are byte offsets relative to the start of the data section.</summary>
public sealed record TensorEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements: the product of the shape (1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A safetensors file opened for reading. Every header field is validated on open, before any size taken from the
/// file is used to allocate, so a hostile or damaged file yields one BadInputException naming the file. Tensor
/// data is read one tensor at a time straight into tensor storage; files of many GB never sit in memory.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>Real headers are a few MB even for the largest models; the cap stops a forged length from allocating.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    private readonly SafeFileHandle _handle;
    private readonly long _dataStart;

    /// <summary>The file's path, named in refusals.</summary>
    public string Path { get; }
    /// <summary>The file's size in bytes.</summary>
    public long FileLength { get; }
    /// <summary>Header entries by tensor name.</summary>
    public IReadOnlyDictionary<string, TensorEntry> Tensors { get; }
    /// <summary>The header's __metadata__ strings (e.g. "format": "pt"); empty when absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The raw header JSON, kept so that checkpoint hashes can cover it without re-reading.</summary>
    internal byte[] HeaderBytes { get; }

    private SafetensorsFile(string path, SafeFileHandle handle, long length, byte[] header,
        Dictionary<string, TensorEntry> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        FileLength = length;
        HeaderBytes = header;
        _dataStart = 8 + header.LongLength;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Opens and validates a safetensors file: header length and JSON, dtypes, shapes, and offsets that fit the data section without overlapping. The handle stays open for reads until disposed.</summary>
    public static SafetensorsFile Open(string path)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw BadInputException.InFile(path, $"cannot open safetensors file: {e.Message}");
        }
        try
        {
            long length = RandomAccess.GetLength(handle);
            if (length < 8)
                throw BadInputException.InFile(path, $"not a safetensors file: {length} bytes is shorter than the 8-byte header length");
            Span<byte> prefix = stackalloc byte[8];
            ReadExactly(handle, prefix, 0, path);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > MaxHeaderBytes)
                throw BadInputException.InFile(path, $"header length {headerLength} bytes exceeds the {MaxHeaderBytes}-byte limit (not a safetensors file?)");
            if ((long)headerLength > length - 8)
                throw BadInputException.InFile(path, $"header length {headerLength} bytes runs past the end of the {length}-byte file (truncated?)");
            var header = new byte[headerLength];
            ReadExactly(handle, header, 8, path);
            long dataLength = length - 8 - (long)headerLength;
            var (tensors, metadata) = ParseHeader(path, header, dataLength);
            return new SafetensorsFile(path, handle, length, header, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads a tensor as a new CPU tensor of <paramref name="dtype"/>; the caller owns it.</summary>
    public Tensor Read(string name, ScalarType dtype = ScalarType.Float32)
    {
        if (!Tensors.TryGetValue(name, out var entry))
            throw BadInputException.InFile(Path, $"no tensor named '{name}'");
        var stored = SafetensorsDType.ToScalarType(entry.DType)
            ?? throw BadInputException.InFile(Path, $"tensor '{name}' has dtype {entry.DType}, which cannot be loaded into torch");
        using var scope = torch.NewDisposeScope();
        var raw = torch.empty(entry.Shape, stored);
        TensorBytes.ReadInto(raw, _handle, _dataStart + entry.Begin, Path);
        // torch's own conversion is exact for BF16/F16 -> F32 (BF16 is the top half of an F32; F16 widens losslessly).
        var result = stored == dtype ? raw : raw.to(dtype);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Samples raw bytes of the data section; used for cheap content fingerprints.</summary>
    internal int ReadDataSample(Span<byte> buffer, long dataOffset)
    {
        long dataLength = FileLength - _dataStart;
        if (dataOffset >= dataLength) return 0;
        int count = (int)Math.Min(buffer.Length, dataLength - dataOffset);
        ReadExactly(_handle, buffer[..count], _dataStart + dataOffset, Path);
        return count;
    }

    internal long DataLength => FileLength - _dataStart;

    /// <summary>Closes the file.</summary>
    public void Dispose() => _handle.Dispose();

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset, string path)
    {
        while (!buffer.IsEmpty)
        {
            int read = RandomAccess.Read(handle, buffer, offset);
            if (read <= 0) throw BadInputException.InFile(path, $"file ended at byte {offset}");
            buffer = buffer[read..];
            offset += read;
        }
    }

    private static (Dictionary<string, TensorEntry>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataLength)
    {
        // JsonDocument checks UTF-8 only when a string is read, and then throws InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw BadInputException.InFile(path, "header is not valid UTF-8 text");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw BadInputException.InFile(path, $"header is not valid JSON: {e.Message}");
        }
        using (document)
        {
            var root = document.RootElement;
            JsonInput.RefuseInvalidStrings(path, root);
            if (root.ValueKind != JsonValueKind.Object)
                throw BadInputException.InFile(path, $"header must be a JSON object, got {root.ValueKind}");
            var tensors = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (var property in root.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    if (sawMetadata) throw BadInputException.InFile(path, "header has '__metadata__' twice");
                    sawMetadata = true;
                    ParseMetadata(path, property.Value, metadata);
                    continue;
                }
                if (tensors.ContainsKey(property.Name))
                    throw BadInputException.InFile(path, $"header lists tensor '{property.Name}' twice");
                tensors.Add(property.Name, ParseEntry(path, property.Name, property.Value, dataLength));
            }
            CheckNoOverlap(path, tensors.Values);
            return (tensors, metadata);
        }
    }

    private static void ParseMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw BadInputException.InFile(path, "'__metadata__' must be an object of strings");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw BadInputException.InFile(path, $"'__metadata__' value '{item.Name}' must be a string, got {item.Value.ValueKind}");
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static TensorEntry ParseEntry(string path, string name, JsonElement value, long dataLength)
    {
        string Where() => $"tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object)
            throw BadInputException.InFile(path, $"{Where()}: entry must be an object, got {value.ValueKind}");
        if (!value.TryGetProperty("dtype", out var dtypeElement))
            throw BadInputException.InFile(path, $"{Where()}: missing 'dtype'");
        if (!value.TryGetProperty("shape", out var shapeElement))
            throw BadInputException.InFile(path, $"{Where()}: missing 'shape'");
        if (!value.TryGetProperty("data_offsets", out var offsetsElement))
            throw BadInputException.InFile(path, $"{Where()}: missing 'data_offsets'");

        if (dtypeElement.ValueKind != JsonValueKind.String)
            throw BadInputException.InFile(path, $"{Where()}: 'dtype' must be a string");
        var dtype = dtypeElement.GetString()!;
        if (!SafetensorsDType.TryGetItemSize(dtype, out int itemSize))
            throw BadInputException.InFile(path, $"{Where()}: unknown dtype '{dtype}' (known: {SafetensorsDType.SupportedList})");

        if (shapeElement.ValueKind != JsonValueKind.Array)
            throw BadInputException.InFile(path, $"{Where()}: 'shape' must be an array of integers");
        var shape = new long[shapeElement.GetArrayLength()];
        long elements = 1;
        int i = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long size))
                throw BadInputException.InFile(path, $"{Where()}: shape entry {i} is not an integer");
            if (size < 0)
                throw BadInputException.InFile(path, $"{Where()}: shape entry {i} is negative ({size})");
            shape[i++] = size;
            try { elements = checked(elements * size); }
            catch (OverflowException) { throw BadInputException.InFile(path, $"{Where()}: shape [{string.Join(", ", shape[..i])}...] overflows the element count"); }
        }
        long byteSize;
        try { byteSize = checked(elements * itemSize); }
        catch (OverflowException) { throw BadInputException.InFile(path, $"{Where()}: shape [{string.Join(", ", shape)}] overflows the byte size"); }

        if (offsetsElement.ValueKind != JsonValueKind.Array || offsetsElement.GetArrayLength() != 2)
            throw BadInputException.InFile(path, $"{Where()}: 'data_offsets' must be an array of two integers");
        var begin = offsetsElement[0];
        var end = offsetsElement[1];
        if (begin.ValueKind != JsonValueKind.Number || !begin.TryGetInt64(out long b) ||
            end.ValueKind != JsonValueKind.Number || !end.TryGetInt64(out long e))
            throw BadInputException.InFile(path, $"{Where()}: 'data_offsets' must be two integers");
        if (b < 0 || e < b || e > dataLength)
            throw BadInputException.InFile(path, $"{Where()}: data_offsets [{b}, {e}] lie outside the {dataLength}-byte data section");
        if (e - b != byteSize)
            throw BadInputException.InFile(path, $"{Where()}: data_offsets span {e - b} bytes but {dtype} shape [{string.Join(", ", shape)}] needs {byteSize}");
        return new TensorEntry(name, dtype, shape, b, e);
    }

    private static void CheckNoOverlap(string path, IEnumerable<TensorEntry> entries)
    {
        // Empty tensors occupy no bytes, so they cannot collide with anything wherever their offsets point.
        TensorEntry? previous = null;
        foreach (var entry in entries.Where(x => x.End > x.Begin).OrderBy(x => x.Begin))
        {
            if (previous != null && entry.Begin < previous.End)
                throw BadInputException.InFile(path,
                    $"tensors '{previous.Name}' [{previous.Begin}, {previous.End}] and '{entry.Name}' [{entry.Begin}, {entry.End}] overlap");
            previous = entry;
        }
    }
}
