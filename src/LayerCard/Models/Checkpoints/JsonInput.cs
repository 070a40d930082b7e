using System.Text.Json;
using LayerCard.Common;

namespace LayerCard.Models.Checkpoints;

/// <summary>Checks shared by the readers of downloaded JSON (config.json, safetensors headers, indexes, tokenizers).</summary>
internal static class JsonInput
{
    /// <summary>
    /// JsonDocument accepts an escaped unpaired surrogate ("\ud800") and throws InvalidOperationException only when
    /// the string or property name is read; reading every one here turns that into a refusal naming the file.
    /// </summary>
    public static void RefuseInvalidStrings(string path, JsonElement root)
    {
        var pending = new Stack<JsonElement>([root]);
        try
        {
            while (pending.TryPop(out var element))
            {
                if (element.ValueKind == JsonValueKind.Object)
                    foreach (var property in element.EnumerateObject())
                    {
                        _ = property.Name;
                        pending.Push(property.Value);
                    }
                else if (element.ValueKind == JsonValueKind.Array)
                    foreach (var item in element.EnumerateArray()) pending.Push(item);
                else if (element.ValueKind == JsonValueKind.String)
                    _ = element.GetString();
            }
        }
        catch (InvalidOperationException e)
        {
            throw BadInputException.InFile(path, $"holds a string that is not valid text: {e.Message}");
        }
    }
}
