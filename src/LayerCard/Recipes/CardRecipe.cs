using LayerCard.Card;
using LayerCard.Data;
using LayerCard.Models;
using static TorchSharp.torch;

namespace LayerCard.Recipes;

/// <summary>Everything `layercard card` needs, already parsed.</summary>
public sealed record CardRequest : TaskRequest
{
    /// <summary>What the card measures and spends.</summary>
    public CardSettings Card { get; init; } = new();
    /// <summary>How the data is cut (the card calibrates on the training part and probes on the validation part).</summary>
    public DataPlan DataPlan { get; init; } = new() { MaxLength = 128 };
    /// <summary>Where partial probe results go, so a killed card resumes where it stopped.</summary>
    public string? ProgressPath { get; init; }
    /// <summary>Finished cards by cache key; the same model, data and settings reuse one.</summary>
    public string? CacheFolder { get; init; }
}

/// <summary>The card recipe: load the model and data once, reuse a cached card or build one (resuming interrupted probes), cache it.</summary>
public static class CardRecipe
{
    /// <summary>Builds the card a request asks for, or returns the cached one (Reused true).</summary>
    public static (CardDocument Card, bool Reused) Execute(CardRequest request, Device device, IProgress<string>? progress = null)
    {
        request.Card.Validate();
        request.DataPlan.Validate();
        using var loaded = ModelLoader.Load(request.Model, request.Tokenizer, device);
        var data = RecipeData.Load(request, request.DataPlan, loaded.RequireTokenizer(), evalDataIsTest: false);
        return Build(loaded, request.Model, request.Data, data, request.Card, request.CacheFolder, request.ProgressPath, device, progress);
    }

    /// <summary>
    /// Builds shard <paramref name="shard"/> of the card a request asks for and writes it into <paramref name="statsFolder"/>
    /// (no cache: each shard is one job's output); returns the shard and the file written.
    /// </summary>
    public static (CardShard Shard, string Path) ExecuteShard(CardRequest request, ShardSpec shard, string statsFolder, Device device, IProgress<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Card.Validate();
        CardBuilder.RequireShardable(request.Card);
        request.DataPlan.Validate();
        using var loaded = ModelLoader.Load(request.Model, request.Tokenizer, device);
        var data = RecipeData.Load(request, request.DataPlan, loaded.RequireTokenizer(), evalDataIsTest: false);
        var targets = CardBuilder.Targets(request.Card, loaded.Model);
        var key = CardBuilder.CacheKey(loaded.ContentHash, loaded.Config.Layers, data, request.Card, targets);
        var result = CardBuilder.BuildShard(loaded, request.Model, request.Data, data, request.Card, key, shard, device, progress);
        return (result, result.Save(statsFolder));
    }

    /// <summary>Merges the shards found in <paramref name="paths"/> (files or folders) into the card of one pass and writes it to <paramref name="output"/>.</summary>
    public static CardDocument Merge(IReadOnlyList<string> paths, string output)
    {
        var files = CardShard.Find(paths);
        var card = CardShard.Merge(files.Select(f => (f, CardShard.Load(f))).ToList());
        card.Save(output);
        return card;
    }

    /// <summary>The card of an already loaded model on already prepared data, through the cache and the probe journal.</summary>
    public static (CardDocument Card, bool Reused) Build(LoadedModel loaded, string modelReference, string dataReference, TaskData data, CardSettings settings,
        string? cacheFolder, string? progressPath, Device device, IProgress<string>? progress)
    {
        var targets = CardBuilder.Targets(settings, loaded.Model);
        var key = CardBuilder.CacheKey(loaded.ContentHash, loaded.Config.Layers, data, settings, targets);
        var cachePath = cacheFolder is null ? null : Path.Combine(cacheFolder, key + ".json");
        if (cachePath != null && File.Exists(cachePath))
        {
            try { return (CardDocument.Load(cachePath), true); }
            catch (Common.BadInputException) { progress?.Report($"ignoring an unreadable cached card {cachePath}"); }
        }
        var journal = new ProbeJournal(ProbeProgress.Load(progressPath, key), probes => ProbeProgress.Save(progressPath, key, probes));
        var card = CardBuilder.Build(loaded, modelReference, dataReference, data, settings, key, device, progress, journal);
        ProbeProgress.Clear(progressPath);
        if (cachePath != null) card.Save(cachePath);
        return (card, false);
    }
}
