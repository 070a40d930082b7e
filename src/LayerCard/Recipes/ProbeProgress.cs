using System.Text.Json;
using LayerCard.Card;
using LayerCard.Common;

namespace LayerCard.Recipes;

/// <summary>
/// Finished single-layer probes of a card in the making, saved after each layer (atomically) so that a card
/// killed midway resumes without redoing them. Keyed by the card's cache key: other settings start afresh.
/// </summary>
internal static class ProbeProgress
{
    private sealed record Saved(string Key, List<LayerProbe> Probes);

    /// <summary>The probes saved for the card <paramref name="key"/>; none when the file is missing, unreadable or of another card.</summary>
    public static IReadOnlyList<LayerProbe> Load(string? path, string key)
    {
        if (path is null || !File.Exists(path)) return [];
        try
        {
            var saved = JsonSerializer.Deserialize<Saved>(File.ReadAllText(path), CardDocument.Json);
            return saved is not null && saved.Key == key ? saved.Probes : [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    /// <summary>Saves the finished probes atomically (no-op without a path).</summary>
    public static void Save(string? path, string key, IReadOnlyList<LayerProbe> probes)
    {
        if (path is null) return;
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new Saved(key, probes.ToList()), CardDocument.Json));
    }

    /// <summary>Removes the progress file once the card is done.</summary>
    public static void Clear(string? path)
    {
        if (path != null && File.Exists(path)) File.Delete(path);
    }
}
