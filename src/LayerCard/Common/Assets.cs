using System.Net.Http;
using System.Security.Cryptography;

namespace LayerCard.Common;

/// <summary>One file of a known asset, with where it comes from and its sha256.</summary>
/// <param name="RelativePath">Where the file sits under an assets folder.</param>
/// <param name="Url">Its upstream download address; null for a file that exists only in the shared assets (it is never downloaded).</param>
/// <param name="Sha256">The sha256 of its bytes, checked after a download.</param>
public sealed record AssetFile(string RelativePath, string? Url, string Sha256);

/// <summary>A named asset (a model, a tokenizer or a dataset) that options can refer to by short name.</summary>
public sealed record KnownAsset(string Name, string Kind, string Folder, IReadOnlyList<AssetFile> Files)
{
    /// <summary>The file that a bare reference to this asset means (a model's checkpoint, a dataset's train split).</summary>
    public string PrimaryFile => Files[0].RelativePath;

    /// <summary>True when every file has an upstream address, so a missing copy can be downloaded into the cache.</summary>
    public bool Downloadable => Files.All(f => f.Url != null);
}

/// <summary>
/// Resolves a path or the short name of a known asset. Names are looked up in $LAYERCARD_ASSETS, then
/// ../shared/assets beside the repository root, then ~/.cache/layercard, where a missing asset is downloaded
/// from its upstream address and its sha256 checked. An asset without an upstream address (stories12L) must be
/// present in one of those folders.
/// </summary>
public static class Assets
{
    /// <summary>The environment variable naming an extra assets folder, searched first.</summary>
    public const string EnvironmentVariable = "LAYERCARD_ASSETS";

    private const string Tinyllamas = "https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/";
    private const string Glue = "https://raw.githubusercontent.com/forest-snow/alps/3c7ef2c9/data/SST-2/";
    private const string Gsm8k = "https://raw.githubusercontent.com/openai/grade-school-math/3101c7d5/grade_school_math/data/";
    private const string E2e = "https://raw.githubusercontent.com/microsoft/LoRA/c4593f06/examples/NLG/data/e2e/";
    private const string Dart = "https://raw.githubusercontent.com/microsoft/LoRA/c4593f06/examples/NLG/data/dart/";
    private const string WebNlg = "https://raw.githubusercontent.com/microsoft/LoRA/c4593f06/examples/NLG/data/webnlg_challenge_2017/";

    /// <summary>
    /// The assets that can be referred to by name: the stories260K and stories12L models, the gpt2 and qwen3
    /// tokenizers, and the sst2, gsm8k, e2e, dart, webnlg and tinyshakespeare datasets, each file pinned to a sha256
    /// and, except stories12L (pretrained for this project's depth studies and shared only as a file), to an upstream address.
    /// </summary>
    public static IReadOnlyList<KnownAsset> Known { get; } =
    [
        new("stories260K", "model", "models/stories260K",
        [
            new("models/stories260K/stories260K.bin", Tinyllamas + "stories260K.bin", "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696"),
            new("models/stories260K/tok512.bin", Tinyllamas + "tok512.bin", "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312"),
        ]),
        // 12 layers (dim 128, 8 heads, 4 kv heads, vocab 512, context 128), for depth studies; no upstream address.
        new("stories12L", "model", "models/stories12L",
        [
            new("models/stories12L/stories12L.bin", null, "19665edf1b406f2582fbfe9295b3db64de0f08d46bb76fb43202e58fb7cce4e2"),
            new("models/stories12L/tok512.bin", null, "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312"),
        ]),
        new("gpt2", "tokenizer", "tokenizers/gpt2",
        [
            new("tokenizers/gpt2/vocab.json", "https://huggingface.co/openai-community/gpt2/resolve/main/vocab.json", "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"),
            new("tokenizers/gpt2/merges.txt", "https://huggingface.co/openai-community/gpt2/resolve/main/merges.txt", "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"),
        ]),
        new("qwen3", "tokenizer", "tokenizers/qwen3",
        [
            new("tokenizers/qwen3/tokenizer.json", "https://huggingface.co/Qwen/Qwen3-8B/resolve/main/tokenizer.json", "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"),
            new("tokenizers/qwen3/tokenizer_config.json", "https://huggingface.co/Qwen/Qwen3-8B/resolve/main/tokenizer_config.json", "5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63"),
        ]),
        new("sst2", "dataset", "datasets/sst2",
        [
            new("datasets/sst2/train.tsv", Glue + "train.tsv", "920e317b2c52e12cd22db1da2c6708312bd7dc4f3712b9bbf1b50ee6c2c792ba"),
            new("datasets/sst2/dev.tsv", Glue + "dev.tsv", "92353770071a2a889f75d000a38a9e541ea8f0a5499e50f040b17917a5cbf66f"),
            new("datasets/sst2/test.tsv", Glue + "test.tsv", "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0"),
        ]),
        new("gsm8k", "dataset", "datasets/gsm8k",
        [
            new("datasets/gsm8k/train.jsonl", Gsm8k + "train.jsonl", "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465"),
            new("datasets/gsm8k/test.jsonl", Gsm8k + "test.jsonl", "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14"),
        ]),
        new("e2e", "dataset", "datasets/e2e",
        [
            new("datasets/e2e/valid.txt", E2e + "valid.txt", "ba963113c8401d3d26216c0dc0a6dae1ea6ea927de3bf830e32c41f65401c80d"),
            new("datasets/e2e/test.txt", E2e + "test.txt", "81b1bcd40c4f12845ec4eb61a77bf43765d112483cd9b2f91ef10bfc1b3d8f13"),
        ]),
        // DART and WebNLG: only the dev split is distributed here; the upstream file names differ from the local ones.
        new("dart", "dataset", "datasets/dart",
        [
            new("datasets/dart/dev.json", Dart + "dart-v1.1.1-full-dev.json", "5038f3543b6d59b94ac4e3f69d15a0b01d8578913f862142e7c560200dd6e434"),
        ]),
        new("webnlg", "dataset", "datasets/webnlg",
        [
            new("datasets/webnlg/dev.json", WebNlg + "dev.json", "50f5a2c24d760bc84ba3e852707cd3b43b0cf2da035b425f87945a2440880488"),
        ]),
        new("tinyshakespeare", "dataset", "datasets/tinyshakespeare",
        [
            new("datasets/tinyshakespeare/input.txt", "https://raw.githubusercontent.com/karpathy/char-rnn/6f9487a6/data/tinyshakespeare/input.txt", "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),
        ]),
    ];

    /// <summary>The known asset called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static KnownAsset? Find(string name) =>
        Known.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The folders searched for named assets, in order.</summary>
    public static IReadOnlyList<string> SearchRoots()
    {
        var roots = new List<string>();
        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment)) roots.Add(Path.GetFullPath(fromEnvironment));
        var repository = RepositoryRoot();
        if (repository != null) roots.Add(Path.GetFullPath(Path.Combine(repository, "..", "shared", "assets")));
        roots.Add(CacheRoot());
        return roots.Distinct().ToList();
    }

    /// <summary>The download cache, ~/.cache/layercard (under the temporary folder when there is no home folder).</summary>
    public static string CacheRoot()
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(string.IsNullOrEmpty(home) ? Path.GetTempPath() : home, ".cache", "layercard");
    }

    /// <summary>The repository root: the nearest folder holding LayerCard.sln above the working folder or the program.</summary>
    public static string? RepositoryRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var folder = new DirectoryInfo(start); folder != null; folder = folder.Parent)
                if (File.Exists(Path.Combine(folder.FullName, "LayerCard.sln"))) return folder.FullName;
        }
        return null;
    }

    /// <summary>
    /// Returns an existing path as it is; otherwise treats the reference as an asset name and returns the
    /// asset's folder (every file present), downloading into the cache when needed. A reference that is neither
    /// is a <see cref="BadInputException"/> about <paramref name="field"/>, the request field it came from
    /// ("model", "tokenizer", "init_adapter").
    /// </summary>
    public static string Resolve(string reference, string field)
    {
        if (File.Exists(reference) || Directory.Exists(reference)) return Path.GetFullPath(reference);
        var asset = Find(reference);
        if (asset == null)
        {
            var names = string.Join(", ", Known.Select(a => a.Name));
            throw BadInputException.ForField(field, $"{reference}: no such file or folder, and not a known asset name ({names})");
        }
        return ResolveAsset(asset);
    }

    /// <summary>
    /// The folder of <paramref name="asset"/> in the first search root holding all its files; otherwise downloads the
    /// missing files into the cache, checking each sha256. A failed download is a <see cref="BadInputException"/> that
    /// says where to put the files; so is a missing asset that has no upstream address, naming the folders searched.
    /// </summary>
    public static string ResolveAsset(KnownAsset asset)
    {
        ArgumentNullException.ThrowIfNull(asset);
        var roots = SearchRoots();
        foreach (var root in roots)
        {
            if (asset.Files.All(f => File.Exists(Path.Combine(root, f.RelativePath))))
                return Path.Combine(root, asset.Folder);
        }
        var cache = CacheRoot();
        var files = string.Join(" and ", asset.Files.Select(f => Path.GetFileName(f.RelativePath)));
        if (!asset.Downloadable)
            throw new BadInputException(
                $"asset '{asset.Name}' not found in {string.Join(", ", roots)}, and it has no download address (it is shared only as files): " +
                $"put {files} into {asset.Folder} under one of those folders or under ${EnvironmentVariable}");
        try
        {
            foreach (var file in asset.Files)
            {
                var target = Path.Combine(cache, file.RelativePath);
                if (!File.Exists(target)) Download(file, target);
            }
            return Path.Combine(cache, asset.Folder);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException or UnauthorizedAccessException)
        {
            throw new BadInputException(
                $"asset '{asset.Name}' not found in {string.Join(", ", roots)} and could not be downloaded ({e.Message}); " +
                $"get {string.Join(" and ", asset.Files.Select(f => f.Url))} into {Path.Combine(cache, asset.Folder)} or set ${EnvironmentVariable}");
        }
    }

    private static void Download(AssetFile file, string target)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
        var url = file.Url ?? throw new IOException($"{file.RelativePath} has no download address");
        var bytes = client.GetByteArrayAsync(url).GetAwaiter().GetResult();
        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (hash != file.Sha256)
            throw new IOException($"{url}: sha256 {hash} does not match the expected {file.Sha256}");
        AtomicFile.WriteAllBytes(target, bytes);
    }
}
