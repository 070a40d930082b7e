using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using LayerCard.Common;

namespace LayerCard.Tokenizers;

/// <summary>
/// The tokenizer.bin format of llama2.c (int32 max_token_length, then per token float32 score, int32 length and
/// the bytes), encoded and decoded exactly as llama2.c's run.c does.
/// </summary>
public sealed partial class Llama2cTokenizer : ITokenizer
{
    /// <summary>The id of &lt;s&gt;, fixed by the llama2.c format.</summary>
    public const int Bos = 1;
    /// <summary>The id of &lt;/s&gt;, fixed by the llama2.c format.</summary>
    public const int Eos = 2;
    private const int ByteOffset = 3;

    // run.c starts its best score at -1e10, so pairs scored below that never merge.
    private const float NoScore = -1e10f;

    private readonly byte[][] _pieces;
    private readonly float[] _scores;
    // Keys are the piece bytes as Latin-1 strings: a lossless byte-to-char mapping usable as a dictionary key.
    private readonly Dictionary<string, int> _lookup;

    /// <summary>The longest token in bytes, as the file's header states it.</summary>
    public int MaxTokenLength { get; }
    /// <summary>The number of tokens read from the file.</summary>
    public int VocabSize => _pieces.Length;
    /// <summary>Always <see cref="Bos"/>.</summary>
    public int? BosId => Bos;
    /// <summary>Always <see cref="Eos"/>.</summary>
    public int? EosId => Eos;

    private Llama2cTokenizer(byte[][] pieces, float[] scores, int maxTokenLength)
    {
        _pieces = pieces;
        _scores = scores;
        MaxTokenLength = maxTokenLength;
        _lookup = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        // run.c binary-searches a sorted copy, so a duplicated piece may map to either id; taking the first is stable.
        for (var i = 0; i < pieces.Length; i++) _lookup.TryAdd(Encoding.Latin1.GetString(pieces[i]), i);
    }

    /// <summary>
    /// Reads a llama2.c tokenizer. The file does not state its vocabulary size (run.c takes it from the model), so
    /// tokens are read to the end of the file; pass <paramref name="expectedVocabSize"/> to check the count.
    /// </summary>
    public static Llama2cTokenizer Load(string path, int? expectedVocabSize = null)
    {
        byte[] data;
        try
        {
            var length = new FileInfo(path).Length;
            if (length > int.MaxValue) throw BadInputException.InFile(path, $"{length} bytes is too large for a llama2.c tokenizer");
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw BadInputException.InFile(path, $"cannot read the llama2.c tokenizer: {e.Message}");
        }
        return Parse(path, data, expectedVocabSize);
    }

    private static Llama2cTokenizer Parse(string path, byte[] data, int? expectedVocabSize)
    {
        if (data.Length < 4) throw BadInputException.InFile(path, $"truncated llama2.c tokenizer: {data.Length} bytes, no max_token_length header");
        var maxTokenLength = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (maxTokenLength <= 0)
            throw BadInputException.InFile(path, $"not a llama2.c tokenizer: max_token_length is {maxTokenLength}");

        var pieces = new List<byte[]>();
        var scores = new List<float>();
        var offset = 4;
        while (offset < data.Length)
        {
            var index = pieces.Count;
            if (data.Length - offset < 8)
                throw BadInputException.InFile(path, $"truncated llama2.c tokenizer: token {index} at byte {offset} has no complete score and length");
            var score = BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(offset));
            var length = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(offset + 4));
            offset += 8;
            if (length < 0) throw BadInputException.InFile(path, $"token {index} has a negative length {length}");
            if (length > maxTokenLength)
                throw BadInputException.InFile(path, $"token {index} is {length} bytes long, more than max_token_length {maxTokenLength}");
            if (length > data.Length - offset)
                throw BadInputException.InFile(path, $"truncated llama2.c tokenizer: token {index} needs {length} bytes at byte {offset}, the file has {data.Length - offset} left");
            if (float.IsNaN(score)) throw BadInputException.InFile(path, $"token {index} has a NaN score");
            pieces.Add(data.AsSpan(offset, length).ToArray());
            scores.Add(score);
            offset += length;
        }

        // Byte fallback maps byte b to id b + 3, so a tokenizer without the 256 byte tokens there cannot encode.
        if (pieces.Count < ByteOffset + 256)
            throw BadInputException.InFile(path, $"truncated or not a llama2.c tokenizer: {pieces.Count} tokens, fewer than the 259 of <unk>, <s>, </s> and the 256 byte tokens");
        for (var b = 0; b < 256; b++)
        {
            var expected = $"<0x{b:X2}>";
            if (Encoding.Latin1.GetString(pieces[b + ByteOffset]) != expected)
                throw BadInputException.InFile(path, $"not a llama2.c tokenizer: token {b + ByteOffset} should be the byte token {expected}");
        }
        if (expectedVocabSize is int expectedCount && expectedCount != pieces.Count)
            throw BadInputException.InFile(path, $"has {pieces.Count} tokens but the model's vocabulary size is {expectedCount}");
        return new Llama2cTokenizer(pieces.ToArray(), scores.ToArray(), maxTokenLength);
    }

    /// <summary>Encodes as run.c does: a space is put in front of non-empty text, each UTF-8 character is looked up (unknown ones fall back to byte tokens, id = byte + 3), then the highest-scoring adjacent pairs are merged.</summary>
    public int[] Encode(string text, bool addBos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new List<int>();
        if (addBos) tokens.Add(Bos);
        var bytes = Encoding.UTF8.GetBytes(text);
        if (bytes.Length > 0) AddPiece(tokens, " "u8);

        // As run.c: a run of a lead byte and up to three continuation bytes is one codepoint to look up.
        var start = 0;
        while (start < bytes.Length)
        {
            var end = start + 1;
            while (end < bytes.Length && (bytes[end] & 0xC0) == 0x80 && end - start < 4) end++;
            AddPiece(tokens, bytes.AsSpan(start, end - start));
            start = end;
        }
        return Merge(tokens);
    }

    private void AddPiece(List<int> tokens, ReadOnlySpan<byte> piece)
    {
        if (_lookup.TryGetValue(Encoding.Latin1.GetString(piece), out var id)) { tokens.Add(id); return; }
        foreach (var b in piece) tokens.Add(b + ByteOffset);
    }

    /// <summary>
    /// run.c repeatedly merges the adjacent pair with the highest score, the leftmost on ties. A heap ordered by
    /// (score, position of the left token) with stale entries skipped gives the same merges in O(n log n).
    /// </summary>
    private int[] Merge(List<int> initial)
    {
        var n = initial.Count;
        if (n < 2) return initial.ToArray();
        var ids = initial.ToArray();
        var next = new int[n];
        var prev = new int[n];
        var version = new int[n];
        var alive = new bool[n];
        for (var i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; alive[i] = true; }

        var heap = new PriorityQueue<(int Left, int Right, int Merged, int LeftVersion, int RightVersion), (float, int)>(
            Comparer<(float Score, int Position)>.Create((a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Position.CompareTo(b.Position)));
        void Consider(int left)
        {
            var right = next[left];
            if (right < 0) return;
            var key = Encoding.Latin1.GetString(_pieces[ids[left]]) + Encoding.Latin1.GetString(_pieces[ids[right]]);
            if (_lookup.TryGetValue(key, out var merged) && _scores[merged] > NoScore)
                heap.Enqueue((left, right, merged, version[left], version[right]), (_scores[merged], left));
        }
        for (var i = 0; i < n - 1; i++) Consider(i);

        while (heap.TryDequeue(out var pair, out _))
        {
            var (left, right, merged, leftVersion, rightVersion) = pair;
            if (!alive[left] || !alive[right] || next[left] != right || version[left] != leftVersion || version[right] != rightVersion) continue;
            ids[left] = merged;
            version[left]++;
            alive[right] = false;
            next[left] = next[right];
            if (next[right] >= 0) prev[next[right]] = left;
            if (prev[left] >= 0) Consider(prev[left]);
            Consider(left);
        }

        var result = new List<int>(n);
        for (var i = 0; i >= 0; i = next[i]) result.Add(ids[i]);
        return result.ToArray();
    }

    /// <summary>
    /// As run.c's decode: a piece's leading space is dropped after BOS, and byte tokens become raw bytes. The space
    /// that Encode prefixes is dropped too, and BOS and EOS give no text, so Decode(Encode(x)) == x.
    /// </summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        var previous = Bos;
        foreach (var id in ids)
        {
            CheckId(id);
            if (id is Bos or Eos) { previous = id; continue; }
            var piece = _pieces[id];
            if (ByteValue(piece) is byte raw) bytes.Add(raw);
            else bytes.AddRange(previous == Bos && piece.Length > 0 && piece[0] == (byte)' ' ? piece[1..] : piece);
            previous = id;
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>The token's bytes as UTF-8 text; byte tokens read as &lt;0xXX&gt;.</summary>
    public string TokenText(int id)
    {
        CheckId(id);
        return Encoding.UTF8.GetString(_pieces[id]);
    }

    /// <summary>The token's merge score from the file; higher scores merge first.</summary>
    public float Score(int id)
    {
        CheckId(id);
        return _scores[id];
    }

    private static byte? ByteValue(byte[] piece)
    {
        if (piece.Length != 6) return null;
        var match = BytePiece().Match(Encoding.Latin1.GetString(piece));
        return match.Success ? Convert.ToByte(match.Groups[1].Value, 16) : null;
    }

    private void CheckId(int id)
    {
        if (id < 0 || id >= _pieces.Length)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary of {_pieces.Length}");
    }

    [GeneratedRegex("^<0x([0-9A-Fa-f]{2})>$")]
    private static partial Regex BytePiece();
}
