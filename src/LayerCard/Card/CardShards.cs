using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LayerCard.Common;
using LayerCard.Tokenizers;

namespace LayerCard.Card;

/// <summary>Which part of the calibration batches a card shard measures (every Count-th batch from the Index-th).</summary>
/// <param name="Index">0-based part.</param>
/// <param name="Count">Number of parts.</param>
public sealed record ShardSpec(int Index, int Count)
{
    /// <summary>The whole pass: one part.</summary>
    public static ShardSpec Whole { get; } = new(0, 1);

    /// <summary>Parses "i/n" (0 ≤ i &lt; n), refusing anything else with a <see cref="BadInputException"/> naming <paramref name="field"/>.</summary>
    public static ShardSpec Parse(string text, string field)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count >= 1 && index < count)
            return new ShardSpec(index, count);
        throw BadInputException.ForField(field, $"'{text}' is not i/n with 0 <= i < n (for example 0/4 ... 3/4)");
    }
}

/// <summary>
/// One shard of a Layer Card, written by `layercard card --shard i/n --stats-out DIR` and combined by `layercard card
/// merge`. The residual-signal pass and the function-space gradient need every calibration batch (the gradient fixes
/// the direction every shard measures along), so each shard runs them whole; the function-space finite differences
/// (one partial forward per layer and batch: the bulk of a deep card's signal) are split, and the shard keeps them
/// as sums. Merging adds the sums, which gives the card of a single pass; shards of another model, tokenizer, target
/// set, rank, data or settings are refused.
/// </summary>
/// <param name="Index">This shard's part.</param>
/// <param name="Count">The number of shards.</param>
/// <param name="TokenizerSha256">A fingerprint of the tokenizer (<see cref="TokenizerFingerprint"/>).</param>
/// <param name="Card">The card as this shard alone measured it (its function space from its own part).</param>
/// <param name="FunctionSpace">This part's function-space sums.</param>
public sealed record CardShard(int Index, int Count, string TokenizerSha256, CardDocument Card, FunctionSpacePart FunctionSpace)
{
    /// <summary>The file name of shard i of n in a stats folder.</summary>
    public static string FileName(int index, int count) => $"shard-{index}-of-{count}.json";

    /// <summary>Writes the shard into <paramref name="folder"/> (created if needed) atomically; returns its path.</summary>
    public string Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, FileName(Index, Count));
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, CardDocument.Json));
        return path;
    }

    /// <summary>Reads a shard file, refusing (as <see cref="BadInputException"/>) anything that is not one.</summary>
    public static CardShard Load(string path)
    {
        if (!File.Exists(path)) throw BadInputException.InFile(path, "no such shard file");
        try
        {
            var shard = JsonSerializer.Deserialize<CardShard>(File.ReadAllText(path), CardDocument.Json);
            if (shard?.Card is null || shard.FunctionSpace is null || shard.TokenizerSha256 is null) throw BadInputException.InFile(path, "not a card shard (card, function_space or tokenizer_sha256 missing)");
            if (shard.Card.Schema != CardDocument.SchemaName || shard.Card.SchemaVersion != CardDocument.CurrentSchemaVersion)
                throw BadInputException.InFile(path, $"a shard of card schema {shard.Card.SchemaVersion}; this LayerCard merges schema {CardDocument.CurrentSchemaVersion}");
            return shard;
        }
        catch (JsonException e)
        {
            throw BadInputException.InFile(path, $"not a card shard ({e.Message})");
        }
    }

    /// <summary>The shard files in <paramref name="paths"/>: files as given, folders by their shard-*-of-*.json files.</summary>
    public static IReadOnlyList<string> Find(IEnumerable<string> paths)
    {
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path)) files.AddRange(Directory.GetFiles(path, "shard-*-of-*.json").Order(StringComparer.Ordinal));
            else if (File.Exists(path)) files.Add(path);
            else throw BadInputException.InFile(path, "no such shard file or folder");
        }
        if (files.Count == 0) throw new BadInputException($"no shard-*-of-*.json files in {string.Join(", ", paths)}");
        return files;
    }

    /// <summary>
    /// The card of a single pass from every shard of one card: the function-space sums added, each layer's predicted gain
    /// recomputed from them, compute times added. Refuses, naming the file, a missing or repeated shard and a shard of
    /// another model, tokenizer, target set, rank, data or settings, or one whose whole-pass signals differ.
    /// </summary>
    public static CardDocument Merge(IReadOnlyList<(string Path, CardShard Shard)> shards)
    {
        ArgumentNullException.ThrowIfNull(shards);
        if (shards.Count == 0) throw new BadInputException("no shards to merge");
        var (firstPath, first) = shards[0];
        foreach (var (path, shard) in shards.Skip(1)) RequireSameCard(path, shard, firstPath, first);
        var seen = new HashSet<int>();
        foreach (var (path, shard) in shards)
            if (!seen.Add(shard.Index)) throw BadInputException.InFile(path, $"shard {shard.Index} of {shard.Count} is given twice");
        var missing = Enumerable.Range(0, first.Count).Where(i => !seen.Contains(i)).ToList();
        if (missing.Count > 0) throw BadInputException.InFile(firstPath, $"shard {missing[0]} of {first.Count} is missing ({missing.Count} of {first.Count} missing); merge needs all of them");

        var combined = FunctionSpacePart.Combine(shards.OrderBy(s => s.Shard.Index).Select(s => s.Shard.FunctionSpace).ToList()).ForCard();
        var card = first.Card;
        double signal = shards.Sum(s => s.Shard.Card.Timing.SignalSeconds), total = shards.Sum(s => s.Shard.Card.Timing.CardSeconds);
        return card with
        {
            Created = DateTimeOffset.UtcNow,
            FunctionSpace = CardFunctionSpace.From(combined),
            Layers = card.Layers.Select(r => r with { PredictedGain = combined.SetGain([r.Layer]) }).ToList(),
            Timing = card.Timing with
            {
                SignalSeconds = signal, CardSeconds = total, SignalOverForwardBackward = signal / Math.Max(card.Timing.ForwardBackwardSeconds, 1e-9),
                CardOverFullFineTune = card.Timing.FullFineTuneSeconds is double full ? total / full : null,
            },
        };
    }

    private static void RequireSameCard(string path, CardShard shard, string firstPath, CardShard first)
    {
        string other = Path.GetFileName(firstPath);
        void Require(bool same, string why)
        {
            if (!same) throw BadInputException.InFile(path, $"not a shard of the same card as {other}: {why}");
        }
        Require(shard.Count == first.Count, $"one of {shard.Count} shards, not {first.Count}");
        var (a, b) = (shard.Card, first.Card);
        Require(a.Model.ContentSha256 == b.Model.ContentSha256 && a.Model.Layers == b.Model.Layers, $"another model (weights sha256 {Short(a.Model.ContentSha256)}, not {Short(b.Model.ContentSha256)})");
        Require(shard.TokenizerSha256 == first.TokenizerSha256, $"another tokenizer (fingerprint {Short(shard.TokenizerSha256)}, not {Short(first.TokenizerSha256)})");
        Require(a.Lora.Targets.SequenceEqual(b.Lora.Targets), $"other target modules ({string.Join(",", a.Lora.Targets)}, not {string.Join(",", b.Lora.Targets)})");
        Require(a.Lora.Rank == b.Lora.Rank, $"rank {a.Lora.Rank}, not {b.Lora.Rank}");
        Require(a.Lora.Alpha.Equals(b.Lora.Alpha), $"alpha {a.Lora.Alpha}, not {b.Lora.Alpha}");
        Require(a.Dataset.Sha256 == b.Dataset.Sha256, $"other data (sha256 {Short(a.Dataset.Sha256)}, not {Short(b.Dataset.Sha256)})");
        Require(a.CacheKey == b.CacheKey && shard.FunctionSpace.Direction == first.FunctionSpace.Direction,
            "other card settings (calibration examples, seed, batch size, ridge, step direction or data plan)");
        // The whole-pass parts must agree: a mismatch means nondeterministic kernels or another build.
        for (int l = 0; l < a.Layers.Count; l++)
            Require(Close(a.Layers[l].ResNorm, b.Layers[l].ResNorm) && Close(a.Layers[l].FisherTrace ?? 0, b.Layers[l].FisherTrace ?? 0),
                $"another residual signal at layer {l} (resnorm {a.Layers[l].ResNorm}, not {b.Layers[l].ResNorm})");
    }

    private static bool Close(double x, double y) => Math.Abs(x - y) <= 1e-9 * Math.Max(Math.Abs(x), Math.Abs(y)) || (double.IsNaN(x) && double.IsNaN(y));

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash;

    /// <summary>
    /// A fingerprint of what a tokenizer does: its vocabulary size, special ids and the ids it gives a fixed text with
    /// letters, digits, spaces, punctuation and non-ASCII characters. Two tokenizers that agree on all of it are
    /// treated as the same.
    /// </summary>
    public static string TokenizerFingerprint(ITokenizer? tokenizer)
    {
        if (tokenizer is null) return "none";
        const string Probe = "The quick brown fox, 12 345 times: naïve café — 日本語 ok?\nNew line\tand tab.";
        var ids = tokenizer.Encode(Probe);
        var text = $"{tokenizer.VocabSize}|{tokenizer.BosId}|{tokenizer.EosId}|{string.Join(",", ids)}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}
