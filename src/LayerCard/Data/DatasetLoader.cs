using System.Security.Cryptography;
using System.Text;
using LayerCard.Common;

namespace LayerCard.Data;

/// <summary>
/// Loads a data file given as a path, a known dataset name ("sst2", "gsm8k", "e2e", "dart", "webnlg", "tinyshakespeare"), or
/// "name:split" ("sst2:test", "e2e:test"). Every problem with the data is a <see cref="BadInputException"/>
/// naming the file and, where there is one, the line.
/// </summary>
public static class DatasetLoader
{
    /// <summary>
    /// Reads the data <paramref name="reference"/> names as <paramref name="options"/> say. Options no load can use
    /// are refused naming the field ("limit", "labels"); problems in the data name the file and line.
    /// </summary>
    public static TaskDataset Load(string reference, DataOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Limit is <= 0) throw BadInputException.ForField("limit", $"must be a positive number, not {options.Limit}");
        var (path, asset) = ResolveReference(reference);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw BadInputException.InFile(path, $"cannot read the file ({e.Message})");
        }
        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var text = Decode(path, bytes);
        var format = options.Format == DataFormat.Auto ? Detect(path, text) : options.Format;
        if (options.Labels != null && format != DataFormat.Classification)
            throw BadInputException.Naming("labels", n => $"{path}: {n("labels")} applies to classification data only, and this is {format} data");

        if (format == DataFormat.PlainText)
        {
            if (string.IsNullOrWhiteSpace(text)) throw BadInputException.InFile(path, "no examples (the file has no text)");
            return new TaskDataset(path, format, [], text, null, hash);
        }
        IReadOnlyList<string>? labels = null;
        List<Example> examples;
        switch (format)
        {
            case DataFormat.Classification:
                labels = ResolveLabels(path, asset, options.Labels);
                examples = DataReaders.Classification(path, text, labels, options.Limit);
                break;
            case DataFormat.E2e:
                examples = DataReaders.E2e(path, text, options.Limit);
                break;
            case DataFormat.Dart:
                examples = TripleReaders.Dart(path, text, options.Limit);
                break;
            case DataFormat.WebNlg:
                examples = TripleReaders.WebNlg(path, text, options.Limit);
                break;
            case DataFormat.Text or DataFormat.PromptCompletion or DataFormat.Alpaca or DataFormat.Gsm8k:
                examples = DataReaders.Json(path, text, format, options.Limit);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), $"unknown data format {options.Format}");
        }
        if (examples.Count == 0) throw BadInputException.InFile(path, "no examples");
        return new TaskDataset(path, format, examples, null, labels, hash);
    }

    /// <summary>The format a file would be read as under <see cref="DataFormat.Auto"/>: by extension, and for JSON by
    /// its fields (a .json list whose first item has "tripleset" is DART, an object whose "entries" hold
    /// "modifiedtripleset" is WebNLG).</summary>
    public static DataFormat Detect(string path, string text)
    {
        var extension = Path.GetExtension(path).ToLowerInvariant();
        switch (extension)
        {
            case ".json":
                // DART's list and WebNLG's object first: WebNLG's one multi-line object is no JSON lines file.
                return TripleReaders.Detect(path, text) ?? DataReaders.DetectJson(path, text);
            case ".jsonl":
                return DataReaders.DetectJson(path, text);
            case ".tsv":
                return DataFormat.Classification;
            case ".txt":
                var first = DataReaders.Lines(text).FirstOrDefault();
                return first.Text != null && first.Text.Contains("||", StringComparison.Ordinal) ? DataFormat.E2e : DataFormat.PlainText;
            default:
                throw BadInputException.Naming("format", n =>
                    $"{path}: cannot tell the data format from the extension '{extension}' (known: .jsonl, .json, .tsv, .txt); name it with {n("format")}");
        }
    }

    /// <summary>
    /// A path wins over a name. A known dataset name means its first file (its train split; for e2e, whose train
    /// file is not distributed here, the valid split; for dart and webnlg, their only file, dev); "name:split" picks the file of that stem.
    /// </summary>
    public static (string Path, KnownAsset? Asset) ResolveReference(string reference)
    {
        if (string.IsNullOrWhiteSpace(reference)) throw BadInputException.Naming("data", n => $"{n("data")}: no data file given");
        if (File.Exists(reference)) return (Path.GetFullPath(reference), null);
        if (Directory.Exists(reference))
            throw BadInputException.InFile(reference, "is a folder; give a data file (.jsonl, .json, .tsv or .txt) or a dataset name");

        var colon = reference.LastIndexOf(':');
        var name = colon > 0 ? reference[..colon] : reference;
        var split = colon > 0 ? reference[(colon + 1)..] : null;
        var asset = Assets.Find(name);
        if (asset == null || asset.Kind != "dataset")
            throw BadInputException.InFile(reference, $"no such file, and not a known dataset ({KnownNames()})");

        AssetFile file;
        if (split == null) file = asset.Files[0];
        else
        {
            var match = asset.Files.FirstOrDefault(f =>
                string.Equals(Path.GetFileNameWithoutExtension(f.RelativePath), split, StringComparison.OrdinalIgnoreCase));
            file = match ?? throw BadInputException.ForField("data",
                $"{reference}: {asset.Name} has no split '{split}' (it has {string.Join(", ", asset.Files.Select(Stem))})");
        }
        var folder = Assets.ResolveAsset(asset);
        return (Path.Combine(folder, Path.GetFileName(file.RelativePath)), asset);
    }

    private static string Stem(AssetFile f) => Path.GetFileNameWithoutExtension(f.RelativePath);

    private static string KnownNames() => string.Join(", ", Assets.Known.Where(a => a.Kind == "dataset")
        .Select(a => a.Files.Count == 1 ? a.Name : $"{a.Name}[:{string.Join("|", a.Files.Select(Stem))}]"));

    /// <summary>SST-2's label words in index order (0 negative, 1 positive), used when SST-2 data (by name, or a file of the sst2 asset) is loaded without labels.</summary>
    public static readonly IReadOnlyList<string> Sst2Labels = ["negative", "positive"];

    private static IReadOnlyList<string> ResolveLabels(string path, KnownAsset? asset, IReadOnlyList<string>? given)
    {
        if (given != null)
        {
            var words = given.Select(w => w.Trim()).ToList();
            if (words.Count == 0 || words.Any(w => w.Length == 0))
                throw BadInputException.Naming("labels", n => $"{n("labels")}: give the label words in index order, separated by commas, none empty");
            var duplicate = words.GroupBy(w => w, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
            if (duplicate != null) throw BadInputException.Naming("labels", n => $"{n("labels")}: '{duplicate.Key}' appears twice");
            return words;
        }
        if (asset?.Name == "sst2" || IsAssetFile(path, "sst2")) return Sst2Labels;
        throw BadInputException.Naming("labels", n => $"{path}: classification data needs {n("labels")} (the label words in index order, e.g. negative,positive)");
    }

    // A path straight into the shared sst2 folder deserves the same defaults as the name.
    private static bool IsAssetFile(string path, string assetName)
    {
        var asset = Assets.Find(assetName);
        if (asset == null) return false;
        var full = Path.GetFullPath(path);
        return Assets.SearchRoots().Any(root => asset.Files.Any(f =>
            string.Equals(Path.GetFullPath(Path.Combine(root, f.RelativePath)), full, StringComparison.Ordinal)));
    }

    private static string Decode(string path, byte[] bytes)
    {
        try
        {
            var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            return text.Length > 0 && text[0] == '\uFEFF' ? text[1..] : text;
        }
        catch (DecoderFallbackException)
        {
            throw BadInputException.InFile(path, "not valid UTF-8 text");
        }
    }
}
