namespace LayerCard.Data;

/// <summary>Dataset format names as users write them (options, experiment configs).</summary>
public static class DataFormats
{
    /// <summary>The format a name means, case-insensitive and ignoring dashes ("prompt-completion", "tsv" for classification, "txt" for plain text, "web-nlg"); null means auto. An unknown name is a <see cref="Common.BadInputException"/> starting with <paramref name="where"/>.</summary>
    public static DataFormat Parse(string? text, string where) => text?.ToLowerInvariant().Replace("-", "") switch
    {
        null or "auto" => DataFormat.Auto,
        "text" => DataFormat.Text,
        "promptcompletion" => DataFormat.PromptCompletion,
        "alpaca" => DataFormat.Alpaca,
        "gsm8k" => DataFormat.Gsm8k,
        "classification" or "tsv" => DataFormat.Classification,
        "e2e" => DataFormat.E2e,
        "dart" => DataFormat.Dart,
        "webnlg" => DataFormat.WebNlg,
        "plain" or "plaintext" or "txt" => DataFormat.PlainText,
        var f => throw new Common.BadInputException($"{where} {f}: expected text, prompt-completion, alpaca, gsm8k, classification, e2e, dart, webnlg or plain"),
    };
}
